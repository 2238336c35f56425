"""Storage on both engines: migrations, model/migration parity, UTC, uniqueness, concurrent writers."""

from __future__ import annotations

import ast
import contextlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

import gridcell.migrations
import gridcell.models
from gridcell.app import create_app
from gridcell.core.db import Base, Database
from gridcell.exposure.models import OutboxRow
from gridcell.faults.models import ReceivedNotification
from gridcell.migrations import config, upgrade
from gridcell.tenancy.models import Organisation
from tests.conftest import (
    PLMN_A,
    Receiver,
    World,
    alarm,
    build_world,
    cell_dn,
    fresh_database,
    make_settings,
    private_database,
)


@pytest.fixture
def store(storage_url: str) -> Iterator[Database]:
    with private_database(storage_url) as url:
        db = fresh_database(url)
        yield db
        db.dispose()


@pytest.fixture
def client(store: Database) -> Iterator[TestClient]:
    app = create_app(make_settings(store.url, webhook_max_backoff_s=1.0), db=store, migrate=False)
    with TestClient(app) as c:
        yield c


def test_migrations_apply_cleanly_from_empty_and_reach_head(store: Database) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    heads = set(ScriptDirectory.from_config(config(store)).get_heads())  # one branch per capability
    with store.engine.connect() as conn:
        assert set(MigrationContext.configure(conn).get_current_heads()) == heads
    upgrade(store)  # a second upgrade is a no-op
    with store.engine.connect() as conn:
        assert set(MigrationContext.configure(conn).get_current_heads()) == heads


def test_models_and_migrations_agree(store: Database) -> None:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "render_as_batch": store.is_sqlite})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models differ from the migrations; run alembic revision --autogenerate: {diff}"


def test_migrations_import_no_runtime_code() -> None:
    """A migration is frozen: it must upgrade the same way whatever the application's code becomes."""
    versions = Path(gridcell.migrations.__file__).parent / "versions"
    offending = [f.name for f in sorted(versions.glob("*.py"))
                 if any(isinstance(node, ast.Import | ast.ImportFrom)
                        and any(name.split(".")[0] == "gridcell" for name in _imported(node))
                        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))))]
    assert len(list(versions.glob("*.py"))) > 10 and offending == []


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    return [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]


def test_datetimes_round_trip_as_utc(store: Database) -> None:
    cest = timezone(timedelta(hours=2))
    local = datetime(2026, 6, 1, 12, 30, 15, 123456, tzinfo=cest)
    with store.write() as s:
        s.add(Organisation(id="dso_tz", name="TZ", kind="dso", created_at=local))
        s.add(ReceivedNotification(org_id="dso_tz", notification_id="n1", received_at=datetime(2026, 1, 1, 0, 0)))
    with store.read() as s:
        org = s.get(Organisation, "dso_tz")
        assert org is not None
        assert org.created_at == local  # same instant …
        assert org.created_at.utcoffset() == timedelta(0)  # … expressed in UTC
        assert org.created_at == datetime(2026, 6, 1, 10, 30, 15, 123456, tzinfo=UTC)
        naive = s.scalar(select(ReceivedNotification.received_at))
        assert naive == datetime(2026, 1, 1, tzinfo=UTC)  # naive input is taken as UTC
        # Comparisons in SQL use the UTC value on both engines.
        assert s.scalar(select(Organisation.id).where(
            Organisation.created_at > datetime(2026, 6, 1, 10, 30, tzinfo=UTC))) == "dso_tz"
        assert s.scalar(select(Organisation.id).where(
            Organisation.created_at > datetime(2026, 6, 1, 11, 0, tzinfo=UTC))) is None


def test_duplicate_notification_id_per_sender_is_deduplicated_but_not_across_senders(
        client: TestClient, store: Database) -> None:
    world = build_world(client, store)
    same_id = 424242
    a = alarm("notifyNewAlarm", "X-1", cell_dn(PLMN_A, 0), notificationId=same_id)
    r1 = client.post("/api/v1/ingest/notifications", json=a, headers=world.mno.auth()).json()
    r2 = client.post("/api/v1/ingest/notifications", json=a, headers=world.mno.auth()).json()
    # The same id from another MNO is another notification (an unknown DN for mno2: stored unmapped).
    b = alarm("notifyNewAlarm", "X-1", cell_dn(PLMN_A, 0), notificationId=same_id)
    r3 = client.post("/api/v1/ingest/notifications", json=b, headers=world.mno2.auth()).json()
    assert (r1["accepted"], r1["duplicates"]) == (1, 0)
    assert (r2["accepted"], r2["duplicates"]) == (0, 1)
    assert (r3["accepted"], r3["duplicates"]) == (1, 0)
    with store.read() as s:
        rows = s.execute(select(ReceivedNotification.org_id).where(
            ReceivedNotification.notification_id == str(same_id))).scalars().all()
    assert sorted(rows) == sorted([world.mno.id, world.mno2.id])
    # The store itself refuses a second row for the same sender and id.
    with pytest.raises(IntegrityError), store.write() as s:
        s.add(ReceivedNotification(org_id=world.mno.id, notification_id=str(same_id), received_at=datetime.now(UTC)))


def test_outbox_sequence_is_unique_per_subscription(client: TestClient, store: Database) -> None:
    world = build_world(client, store)
    sub = client.post("/api/v1/subscriptions", json={}, headers=world.dso.auth()).json()
    r = client.post("/api/v1/ingest/notifications", json=alarm("notifyNewAlarm", "Q-1", cell_dn(PLMN_A, 0)),
                    headers=world.mno.auth())
    assert r.status_code == 200
    with store.read() as s:
        row = s.scalars(select(OutboxRow).where(OutboxRow.subscription_id == sub["id"])).one()
    with pytest.raises(IntegrityError), store.write() as s:
        s.add(OutboxRow(subscription_id=sub["id"], seq=row.seq, notification_id="another", kind=row.kind,
                        payload="{}", created_at=row.created_at, attempts=0))


THREADS, PER_THREAD = 4, 50


def test_concurrent_ingest_loses_nothing_and_sequences_have_no_gaps(client: TestClient, store: Database,
                                                                     receiver: Receiver) -> None:
    # On PostgreSQL this caught a lost update (two ingests evaluating the same site from stale views);
    # status.recompute now serialises per DSO.
    world: World = build_world(client, store)
    subs = [client.post("/api/v1/subscriptions", json=body, headers=world.dso.auth()).json()
            for body in ({"callbackUri": receiver.url}, {"plmns": [PLMN_A]}, {"siteIds": ["D1-S0", "D1-S2"]})]
    errors: list[str] = []
    start = threading.Barrier(THREADS)

    def worker(t: int) -> None:
        # 25 alarms per thread, each raised then cleared; threads share the three cells.
        start.wait()
        for j in range(PER_THREAD // 2):
            aid, dn = f"T{t}-{j}", cell_dn(PLMN_A, (t + j) % 3)
            for kind, sev in (("notifyNewAlarm", "CRITICAL"), ("notifyClearedAlarm", "CLEARED")):
                r = client.post("/api/v1/ingest/notifications", headers=world.mno.auth(),
                                json=alarm(kind, aid, dn, severity=sev))
                if r.status_code != 200 or r.json()["accepted"] != 1:
                    errors.append(f"{aid} {kind}: {r.status_code} {r.text}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []

    listed = client.get("/api/v1/alarms", params={"limit": 1000, "active": False},
                        headers=world.mno.auth("viewer")).json()
    expected = {f"T{t}-{j}" for t in range(THREADS) for j in range(PER_THREAD // 2)}
    assert sorted(a["id"] for a in listed) == sorted(expected)
    assert all(a["clearedAt"] is not None for a in listed)
    with store.read() as s:
        assert s.scalar(text("SELECT count(*) FROM received_notifications WHERE org_id = :o"),
                        {"o": world.mno.id}) == THREADS * PER_THREAD

    # Everything was cleared: every site is back to ok, and each subscription tells a consistent story.
    items = client.get("/api/v1/status", params={"plmn": PLMN_A}, headers=world.dso.auth("viewer")).json()["items"]
    assert {i["siteId"]: i["status"] for i in items} == {f"D1-S{i}": "ok" for i in range(3)}
    for sub in subs:
        rows = _payloads(store, sub["id"])
        seqs = [p["sequenceNo"] for p in rows]
        assert seqs == list(range(1, len(rows) + 1)), f"{sub['id']}: gaps in {seqs}"
        last_seq = client.get(f"/api/v1/subscriptions/{sub['id']}", headers=world.dso.auth()).json()
        assert last_seq["lastSequenceNo"] == len(rows)
        assert len({p["notificationId"] for p in rows}) == len(rows)
        state: dict[str, str] = {}
        for p in rows:  # each change starts where the previous one for that site ended
            site = p["site"]["id"]
            assert p["previousStatus"] == state.get(site, "ok"), f"{sub['id']} seq {p['sequenceNo']}: {p}"
            state[site] = p["status"]
        assert set(state.values()) <= {"ok"}
    webhook = [p["notificationId"] for p in _payloads(store, subs[0]["id"])]
    got = receiver.wait_for(lambda rs: len(rs) >= len(webhook), timeout=20)
    assert [g["body"]["notificationId"] for g in got] == webhook


def _payloads(store: Database, sub_id: str) -> list[dict[str, Any]]:
    """The outbox of a subscription, in sequence order, as the notifications it carries."""
    with store.read() as s:
        rows = s.scalars(select(OutboxRow).where(OutboxRow.subscription_id == sub_id).order_by(OutboxRow.seq))
        return [json.loads(r.payload) for r in rows]


def test_ride_along_work_commits_with_a_unit_of_work_and_waits_again_after_a_rollback(store: Database) -> None:
    """`Database.ride_along`: bookkeeping (delivery marks) joins whatever unit of work commits next; when
    that unit of work fails, the bookkeeping is handed back and rides with the next one."""
    from gridcell.tenancy import service as tenancy

    waiting = ["carried org"]

    def hook(session: Any) -> Any:
        if not waiting:
            return None
        batch = list(waiting)
        waiting.clear()
        for name in batch:
            tenancy.create_org(session, name, "dso")

        def undo() -> None:
            waiting[:0] = batch
        return undo

    def names() -> set[str]:
        with store.read() as s:
            return set(s.scalars(select(Organisation.name)))

    remove = store.ride_along(hook)
    try:
        with pytest.raises(RuntimeError), store.write():
            raise RuntimeError("the unit of work fails")
        assert waiting == ["carried org"] and "carried org" not in names()
        with store.write() as s:
            tenancy.create_org(s, "own org", "mno")
        assert waiting == [] and {"carried org", "own org"} <= names()
    finally:
        remove()
    waiting.append("not carried")
    with store.write():
        pass
    assert "not carried" not in names()


def test_background_checkpoints_take_the_wal_off_the_writers_and_keep_up(tmp_path: Any) -> None:
    """With a checkpoint thread running, writer connections no longer checkpoint inside their commits
    (wal_autocheckpoint=0), yet what they commit reaches the database file itself, not just the WAL;
    stopping hands the job back to the writers."""
    import shutil
    import sqlite3
    import time

    from gridcell.tenancy import service as tenancy

    path = tmp_path / "wal.db"
    db = fresh_database(f"sqlite:///{path}")

    def writer_autocheckpoint() -> int:
        with db.write() as s:
            return int(s.connection().exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())

    def orgs_in_database_file() -> int:
        """The main file alone, copied without its WAL: only checkpointed pages are in it."""
        copy = tmp_path / "copy.db"
        shutil.copyfile(path, copy)
        try:
            with contextlib.closing(sqlite3.connect(copy)) as conn:
                return int(conn.execute("SELECT count(*) FROM organisations").fetchone()[0])
        except sqlite3.DatabaseError:  # copied mid-checkpoint: look again
            return -1

    try:
        assert writer_autocheckpoint() > 0  # SQLite's own default until a checkpointer runs
        checkpointer = db.start_background_checkpoints(interval_s=0.01)
        assert checkpointer is not None and db.start_background_checkpoints() is checkpointer
        assert writer_autocheckpoint() == 0
        for i in range(50):
            with db.write() as s:
                tenancy.create_org(s, f"org {i}", "dso")
        deadline = time.monotonic() + 10
        while (seen := orgs_in_database_file()) != 50:
            assert time.monotonic() < deadline, f"the database file holds {seen} of 50 organisations"
            time.sleep(0.02)
        assert checkpointer.checkpoints > 0
        db.stop_background_checkpoints()
        assert db.checkpointer is None and writer_autocheckpoint() > 0
    finally:
        db.dispose()
