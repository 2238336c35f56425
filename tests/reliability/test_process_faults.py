"""Faults a real `gridcell serve` process meets in the field, under load: killed with SIGKILL mid-ingest, and a
subscriber that fails for minutes. Each run ends with every acknowledged alarm stored, every notification of the
outbox delivered, and the backlog drained soon after the fault ends."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest
import sqlalchemy as sa

from gridcell.bench.exposure import Server, World, alarm, build_world
from gridcell.core.db import Database
from gridcell.tenancy import service as tenancy
from tests.conftest import IN_CI, Receiver
from tests.waiting import wait_until

# Five minutes as the field sees them in CI; a shorter outage elsewhere keeps a local run quick. Either is longer
# than the longest pause between attempts, so the subscriber is tried many times while down.
SUBSCRIBER_DOWN_S = float(os.environ.get("GRIDCELL_TEST_SUBSCRIBER_DOWN_S", "300" if IN_CI else "30"))
RECOVERY_S = 5.0


@dataclass
class Setup:
    url: str
    world: World
    dso_auth: dict[str, str]
    mno_auth: dict[str, str]
    sub_id: str = ""


@pytest.fixture
def setup(tmp_path: Path, receiver: Receiver) -> Iterator[Setup]:
    url = f"sqlite:///{tmp_path / 'gridcell.db'}"
    world = build_world(url, 1, receiver.url.rsplit("/", 1)[0])
    db = Database(url)
    try:
        with db.write() as s:
            dso = s.execute(sa.text("SELECT id FROM organisations WHERE kind = 'dso'")).scalar_one()
            _, token = tenancy.create_client(s, dso, "viewer", "test")
    finally:
        db.dispose()
    yield Setup(url, world, {"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer {world.mno_token}"})


@dataclass
class Load:
    """Alarms posted one request at a time from a thread, raised and cleared on cells in turn: each request is a
    status change of one site. Records what the server acknowledged."""

    base: str
    setup: Setup
    rate: float
    acked: list[str] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        cells = self.setup.world.cells
        n = 0
        with httpx.Client(base_url=self.base, headers=self.setup.mno_auth, timeout=30) as client:
            start = time.monotonic()
            while not self.stop.is_set():
                cell = n % len(cells)
                clear = (n // len(cells)) % 2 == 1
                alarm_id = f"L-{cell}"
                body = orjson.dumps([alarm(n + 1, alarm_id, cells[cell][1], clear=clear)])
                try:
                    r = client.post("/api/v1/ingest/notifications", content=body,
                                    headers={"Content-Type": "application/json"})
                except httpx.HTTPError:
                    self.errors += 1
                    if self.errors > 3:
                        return  # the server is gone
                    continue
                if r.status_code == 200:
                    self.acked.append(f"{alarm_id}/{'clear' if clear else 'new'}")
                else:
                    self.refused.append(r.status_code)
                n += 1
                pause = start + n / self.rate - time.monotonic()
                if pause > 0:
                    self.stop.wait(pause)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def _outbox(base: str, setup: Setup) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    while True:
        r = httpx.get(f"{base}/api/v1/subscriptions/{setup.sub_id}/deliveries", headers=setup.dso_auth,
                      params={"after": rows[-1]["sequenceNo"] if rows else 0, "limit": 1000}, timeout=30)
        assert r.status_code == 200, r.text
        if not r.json():
            return rows
        rows.extend(r.json())


def _subscription(base: str, setup: Setup) -> str:
    subs = httpx.get(f"{base}/api/v1/subscriptions", headers=setup.dso_auth, timeout=30).json()
    assert len(subs) == 1, subs
    return str(subs[0]["id"])


def _all_delivered(base: str, setup: Setup, receiver: Receiver) -> bool:
    rows = _outbox(base, setup)
    got = {r["body"]["notificationId"] for r in receiver.received}
    return bool(rows) and all(r["deliveredAt"] for r in rows) and {r["notificationId"] for r in rows} <= got


def _active_alarms(base: str, setup: Setup) -> set[str]:
    found: set[str] = set()
    while True:
        r = httpx.get(f"{base}/api/v1/alarms", headers=setup.mno_auth, params={"limit": 1000, "offset": len(found)},
                      timeout=30)
        assert r.status_code == 200, r.text
        if not r.json():
            return found
        found |= {a["id"] for a in r.json() if a["kind"] == "alarm"}


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_sigkill_mid_load_loses_nothing_acknowledged(tmp_path: Path, setup: Setup, receiver: Receiver) -> None:
    with Server(tmp_path, setup.url) as server:
        setup.sub_id = _subscription(server.base, setup)
        load = Load(server.base, setup, rate=100.0)
        wait_until(lambda: len(load.acked) >= 200, 120, "200 acknowledged alarms")
        assert server.proc is not None
        server.proc.kill()  # SIGKILL: no shutdown, no flush
        server.proc.wait(timeout=30)
        load.finish()
    acked = list(load.acked)
    assert not load.refused, load.refused
    with Server(tmp_path, setup.url) as server:
        up = time.monotonic()
        # Every acknowledged new alarm is stored (the load raised each cell's alarm once before any clear).
        raised = {a.split("/")[0] for a in acked if a.endswith("/new")}
        assert raised <= _active_alarms(server.base, setup)
        rows = _outbox(server.base, setup)
        assert len(rows) >= len(acked), (len(rows), len(acked))  # one site status change per acknowledged alarm
        wait_until(lambda: _all_delivered(server.base, setup, receiver), 60, "the outbox delivered after restart")
        print(f"{len(acked)} acknowledged before SIGKILL; {len(rows)} notifications delivered "
              f"{time.monotonic() - up:.1f} s after the restart")


# The outage itself lasts SUBSCRIBER_DOWN_S; the rest of the allowance is setup, the drain and a loaded machine.
@pytest.mark.timeout(int(SUBSCRIBER_DOWN_S) + 600)
def test_a_subscriber_down_for_minutes_under_load_gets_everything_soon_after(tmp_path: Path, setup: Setup,
                                                                             receiver: Receiver) -> None:
    receiver.fail_with = 503
    with Server(tmp_path, setup.url) as server:
        assert server.proc is not None
        setup.sub_id = _subscription(server.base, setup)
        rss_before = _rss_kib(server.proc.pid)
        load = Load(server.base, setup, rate=20.0)
        load.thread.join(timeout=SUBSCRIBER_DOWN_S)  # returns early only if the load stops
        assert load.thread.is_alive(), "the load stopped"
        load.finish()
        rss_growth_mib = (_rss_kib(server.proc.pid) - rss_before) / 1024
        assert not load.refused and load.errors == 0, (load.refused, load.errors)
        backlog = len(_outbox(server.base, setup))
        assert backlog >= len(load.acked) and not receiver.received
        receiver.fail_with = None
        up = time.monotonic()
        receiver.wait_for(lambda rs: len(rs) >= 1, timeout=60)
        first = time.monotonic() - up
        wait_until(lambda: _all_delivered(server.base, setup, receiver), 120, "the backlog drained")
        drained = time.monotonic() - up
    print(f"subscriber down {SUBSCRIBER_DOWN_S:.0f} s at 20 alarms/s: backlog {backlog}, first delivery "
          f"{first:.1f} s and all {drained:.1f} s after it answered again; server RSS +{rss_growth_mib:.0f} MiB")
    assert first <= RECOVERY_S, first
    assert rss_growth_mib < 200, rss_growth_mib  # the backlog waits in the outbox, not in memory
