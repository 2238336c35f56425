"""A PostgreSQL server of the test's own (initdb on a free port) stopped under load and started again: while it
is down every ingest is refused with 503 and Retry-After (never a 500, never an acknowledgement), /readyz says
so, and within seconds of its return ingest and delivery resume with nothing acknowledged lost."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gridcell.app import create_app
from tests.conftest import (
    IN_CI,
    PLMN_A,
    Receiver,
    alarm,
    build_world,
    cell_dn,
    free_port,
    fresh_database,
    make_settings,
)
from tests.waiting import wait_until


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class OwnPostgres:
    """initdb + pg_ctl as the postgres user (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gridcell-pg-"))
        self.port = free_port()
        self.data = self.dir / "data"
        shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        r = self._run(_bin("initdb") or "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        assert r.returncode == 0, r.stderr

    def start(self) -> None:
        r = self._run(_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-o",
                      f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")
        assert r.returncode == 0, r.stderr + (self.dir / "log").read_text()

    def stop(self) -> None:
        self._run(_bin("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    if _bin("initdb") is None or _bin("pg_ctl") is None:
        if IN_CI:
            raise AssertionError("CI has PostgreSQL installed: initdb and pg_ctl must be found")
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running PostgreSQL as root needs runuser")
    pg = OwnPostgres()
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.cleanup()


def test_postgres_stopped_under_load_gives_503_and_recovers(own_postgres: OwnPostgres, receiver: Receiver) -> None:
    db = fresh_database(own_postgres.url)
    app = create_app(make_settings(own_postgres.url, webhook_max_backoff_s=1.0), db=db, migrate=False)
    acknowledged: list[str] = []
    with TestClient(app) as client:
        world = build_world(client, db)
        r = client.post("/api/v1/subscriptions", json={"callbackUri": receiver.url, "plmns": [PLMN_A]},
                        headers=world.dso.auth())
        assert r.status_code == 201, r.text

        def post(name: str) -> int:
            r = client.post("/api/v1/ingest/notifications", headers=world.mno.auth(),
                            json=alarm("notifyNewAlarm", name, cell_dn(PLMN_A, len(acknowledged) % 3)))
            if r.status_code == 200:
                acknowledged.append(name)
            else:
                assert r.status_code == 503, r.text
                assert int(r.headers["Retry-After"]) >= 1 and "cause" in r.json()
            return r.status_code

        for i in range(5):
            assert post(f"UP-{i}") == 200
        own_postgres.stop()
        down = [post(f"DOWN-{i}") for i in range(5)]
        assert down == [503] * 5, down
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["components"]["database"]["ok"] is False
        own_postgres.start()
        back = time.monotonic()
        wait_until(lambda: client.get("/readyz").status_code == 200, 30, "readyz after PostgreSQL returns")
        wait_until(lambda: post(f"BACK-{int((time.monotonic() - back) * 1000)}") == 200, 30, "ingest accepted")
        recovered = time.monotonic() - back
        print(f"ingest accepted again {recovered:.1f} s after PostgreSQL started")
        assert recovered <= 10.0
        stored = {a["id"] for a in client.get("/api/v1/alarms", params={"active": "false", "limit": 1000},
                                              headers=world.mno.auth("viewer")).json()}
        assert set(acknowledged) <= stored and not any(a.startswith("DOWN-") for a in stored)
        # Every status change caused by an acknowledged alarm reaches the subscriber.
        receiver.wait_for(lambda rs: {x["body"]["site"]["id"] for x in rs} >= {"D1-S0"}, timeout=30)
    db.dispose()
