"""Shared fixtures: a store per backend, an app with a live test client, a populated two-DSO/two-MNO world."""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url, text

from gridcell.config import Settings
from gridcell.core.db import Base, Database
from gridcell.migrations import upgrade
from gridcell.tenancy import service as tenancy

pytest.register_assert_rewrite("tests.schema_gate")
pytest_plugins = ("tests.schema_gate",)  # every answer on a standards path and every notification, validated
from tests import schema_gate  # noqa: E402

PG_URL = os.environ.get("GRIDCELL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_available() -> str | None:
    """None when usable, else the one-line reason to skip (never skips in CI)."""
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=2):
            return None
    except Exception as exc:
        if IN_CI:
            raise
        return f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}"


def fresh_database(url: str) -> Database:
    db = Database(url, sqlite_synchronous="NORMAL")
    if not db.is_sqlite:
        import gridcell.models  # noqa: F401

        with db.engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(db)
    tenancy.token_cache.clear()
    return db


def database_at(url: str, revision: str) -> Database:
    """An empty store migrated only up to `revision`: for tests of what a later migration does to data."""
    db = Database(url, sqlite_synchronous="NORMAL")
    if db.is_sqlite:
        db.dispose()
        if os.path.exists(path := url.removeprefix("sqlite:///")):
            os.remove(path)
        db = Database(url, sqlite_synchronous="NORMAL")
    else:
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(db, revision)
    return db


@contextmanager
def private_database(url: str) -> Iterator[str]:
    """On PostgreSQL, a database of this test's own: the shared one is reset by whichever suite runs next to
    us, and an app started there picks up our subscriptions' backlog. SQLite files are private already."""
    if url.startswith("sqlite"):
        yield url
        return
    import psycopg

    name = f"gridcell_t{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:  # no CREATEDB privilege: share the configured database
        yield url
        return
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def _wall_clock_between_tests() -> Iterator[None]:
    """Tests (and the twin) may install a ManualClock; the next test starts on wall time again."""
    from gridcell.core.clock import SystemClock, set_clock

    yield
    set_clock(SystemClock())


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "postgresql":
        reason = postgres_available()
        if reason:
            pytest.skip(reason)
        return PG_URL
    return f"sqlite:///{tmp_path / 'gridcell.db'}"


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'gridcell.db'}"


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    database = fresh_database(sqlite_url)
    yield database
    database.dispose()


TEST_SECRET_KEY = "6H5qj8Fi2n0dWfVx9sQe3Yb7Kc1Ru4TzLmNoPaGhJkE="  # a Fernet key for credentials toward peers


def make_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": url, "allow_private_webhooks": True, "sqlite_synchronous": "NORMAL",
                              "tick_interval_s": 0.2, "secret_keys": TEST_SECRET_KEY}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def app_client(db: Database) -> Iterator[TestClient]:
    from gridcell.app import create_app

    app = create_app(make_settings(db.url), db=db, migrate=False)
    with TestClient(app) as client:
        yield client


class Receiver:
    """A real HTTP webhook target on loopback that records what it is sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_with: int | None = None
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                schema_gate.notification(self.path, json.loads(body))
                status = receiver.fail_with or 204
                if status < 300:
                    with receiver.cond:
                        receiver.received.append({"body": json.loads(body), "raw": body, "path": self.path,
                                                  "headers": dict(self.headers.items())})
                        receiver.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.cond:
            ok = self.cond.wait_for(lambda: predicate(self.received), timeout=timeout)
        assert ok, f"webhook receiver: condition not met; got {[r['body'] for r in self.received]}"
        return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@dataclass
class Org:
    id: str
    kind: str
    tokens: dict[str, str] = field(default_factory=dict)
    client_ids: dict[str, str] = field(default_factory=dict)

    def auth(self, role: str = "operator") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def basic(self, role: str = "operator") -> tuple[str, str]:
        """HTTP basic credentials (client id, token) for agents configured with a user and a password."""
        return self.client_ids[role], self.tokens[role]


@dataclass
class World:
    dso: Org
    dso2: Org
    mno: Org
    mno2: Org


PLMN_A, PLMN_B = "26201", "26202"


def dso_topology(prefix: str, lon0: float) -> dict[str, Any]:
    """Three sites east of their cells; each CPE has two USIMs, one per PLMN."""
    sites = []
    for i in range(3):
        sites.append({"id": f"{prefix}-S{i}", "name": f"{prefix} substation {i}", "kind": "secondary_substation",
                      "lat": 48.0, "lon": lon0 + 0.001 * i, "customers": 100 * (i + 1), "criticality": "high",
                      "cpes": [{"id": f"{prefix}-CPE{i}", "usims": [
                          {"plmn": PLMN_A, "role": "primary", "servingCellId": f"{PLMN_A}-C{i}"},
                          {"plmn": PLMN_B, "role": "alternate", "servingCellId": f"{PLMN_B}-C0"}]}]})
    return {"sites": sites}


def mno_topology(plmn: str, n_cells: int) -> dict[str, Any]:
    cells = [{"cellId": f"{plmn}-C{i}", "plmn": plmn, "azimuth": 90.0, "rangeM": 3000,
              "dn": f"SubNetwork=1,ManagedElement=gNB-{plmn},GNBDUFunction=1,NRCellDU={i}"} for i in range(n_cells)]
    return {"ranSites": [{"id": f"RAN-{plmn}", "name": f"RAN site {plmn}", "lat": 48.0, "lon": 7.80,
                          "dn": f"SubNetwork=1,ManagedElement=gNB-{plmn}", "batteryCapacityWh": 9600,
                          "loadW": 2400, "depthOfDischarge": 0.8, "cells": cells}]}


def build_world(client: TestClient, db: Database, *, level: str = "cell", level2: str = "area") -> World:
    with db.write() as s:
        orgs = {name: Org(tenancy.create_org(s, name, kind), kind) for name, kind in
                (("dso", "dso"), ("dso2", "dso"), ("mno", "mno"), ("mno2", "mno"))}
        for org in orgs.values():
            for role in ("viewer", "operator", "admin"):
                org.client_ids[role], org.tokens[role] = tenancy.create_client(s, org.id, role)
        s.flush()
        tenancy.create_agreement(s, orgs["dso"].id, orgs["mno"].id, [PLMN_A], level)
        tenancy.create_agreement(s, orgs["dso"].id, orgs["mno2"].id, [PLMN_B], level2)
        tenancy.create_agreement(s, orgs["dso2"].id, orgs["mno"].id, [PLMN_A], "area")
    for org, doc in ((orgs["mno"], mno_topology(PLMN_A, 3)), (orgs["mno2"], mno_topology(PLMN_B, 1)),
                     (orgs["dso"], dso_topology("D1", 7.81)), (orgs["dso2"], dso_topology("D2", 7.82))):
        r = client.post("/api/v1/topology/import", json=doc, headers=org.auth())
        assert r.status_code == 200, r.text
    return World(orgs["dso"], orgs["dso2"], orgs["mno"], orgs["mno2"])


@pytest.fixture
def world(app_client: TestClient, db: Database) -> World:
    return build_world(app_client, db)


_counter = iter(range(1, 10**9))


def alarm(kind: str, alarm_id: str, dn: str, *, severity: str = "CRITICAL", cause: str = "EQUIPMENT_MALFUNCTION",
          at: datetime | None = None, **extra: Any) -> dict[str, Any]:
    when = (at or datetime.now(UTC)).isoformat()
    body = {"href": "https://oss.example/ProvMnS/v1/" + dn.replace(",", "/"), "notificationId": next(_counter),
            "notificationType": kind, "eventTime": when, "systemDN": "DC=mno.example,SubNetwork=1",
            "alarmId": alarm_id, "alarmType": "EQUIPMENT_ALARM", "probableCause": cause,
            "perceivedSeverity": severity}
    body.update(extra)
    return body


def cell_dn(plmn: str, i: int) -> str:
    return f"SubNetwork=1,ManagedElement=gNB-{plmn},GNBDUFunction=1,NRCellDU={i}"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
