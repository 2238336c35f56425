"""gridcell as a TS 28.532 Fault MnS consumer, end to end on a real `gridcell serve` and a producer the test
starts (tests/feeds/producer_double.py, its traffic validated against the standard): it subscribes, follows the
notifications, is killed while the producer clears two alarms and raises one, restarts and reconciles to
exactly the producer's list; when the heartbeats stop, the feed is stale within two heartbeat periods and
DSOs see it on their statuses, until the producer speaks again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridcell.bench.exposure import Server
from gridcell.core import sealed
from gridcell.core.db import Database
from gridcell.exposure import status
from gridcell.migrations import upgrade
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topology
from tests.conftest import PLMN_A, cell_dn, dso_topology, mno_topology
from tests.feeds.producer_double import ProducerDouble
from tests.waiting import wait_until

KEY = sealed.new_key()  # the server seals the producer's credentials with it
PERIOD_S = 6  # heartbeats every 3 s; stale is due 9 s after the last one, and must come within 12 s


@dataclass
class Tokens:
    mno_admin: dict[str, str]
    mno_viewer: dict[str, str]
    dso_viewer: dict[str, str]


def _world(url: str) -> Tokens:
    db = Database(url, sqlite_synchronous="NORMAL")
    try:
        upgrade(db)
        with db.write() as s:
            mno, dso = tenancy.create_org(s, "Telco", "mno"), tenancy.create_org(s, "Grid", "dso")
            s.flush()
            tokens = Tokens(*({"Authorization": f"Bearer {tenancy.create_client(s, org, role)[1]}"}
                              for org, role in ((mno, "admin"), (mno, "viewer"), (dso, "viewer"))))
            tenancy.create_agreement(s, dso, mno, [PLMN_A], "cell")
        with db.write() as s:
            topology.import_topology(s, mno, mno_topology(PLMN_A, 3))
        with db.write() as s:
            topology.import_topology(s, dso, dso_topology("D1", 7.81))
            s.flush()
            status.rebuild_org(s, dso)
    finally:
        db.dispose()
    return tokens


@pytest.fixture
def producer() -> Iterator[ProducerDouble]:
    p = ProducerDouble(heartbeat_period_s=PERIOD_S)
    yield p
    p.close()


def _server(tmp_path: Path, url: str, like: Server | None = None) -> Server:
    server = Server(tmp_path, url)
    if like is not None:  # the same address: the producer's subscription still points there
        server.port, server.base = like.port, like.base
    server.settings = {"GRIDCELL_PUBLIC_URL": server.base, "GRIDCELL_TICK_INTERVAL_S": "0.25",
                       "GRIDCELL_SECRET_KEYS": KEY}
    return server


def _active(base: str, tokens: Tokens) -> set[str]:
    r = httpx.get(f"{base}/api/v1/alarms", params={"kind": "alarm", "limit": 1000}, headers=tokens.mno_viewer,
                  timeout=30)
    assert r.status_code == 200, r.text
    return {a["id"] for a in r.json()}


def _feed(base: str, tokens: Tokens, feed_id: str) -> dict[str, Any]:
    r = httpx.get(f"{base}/api/v1/feeds/{feed_id}", headers=tokens.mno_viewer, timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _stale_reasons(base: str, tokens: Tokens) -> list[dict[str, Any]]:
    r = httpx.get(f"{base}/api/v1/status/sites/D1-S0", headers=tokens.dso_viewer, timeout=30)
    assert r.status_code == 200, r.text
    return [reason for item in r.json() if item["plmn"] == PLMN_A for reason in item["reasons"]
            if reason["category"] == "mno_information_stale"]


def test_the_consumer_follows_the_producer_across_a_restart_and_sees_silence(tmp_path: Path,
                                                                              producer: ProducerDouble) -> None:
    url = f"sqlite:///{tmp_path / 'gridcell.db'}"
    tokens = _world(url)
    producer.raise_alarm("A0", cell_dn(PLMN_A, 0), push=False)  # active before gridcell connects
    first = _server(tmp_path, url)
    with first as server:
        r = httpx.post(f"{server.base}/api/v1/feeds", headers=tokens.mno_admin, timeout=30, json={
            "kind": "faultMns", "baseUrl": producer.base_url, "heartbeatPeriodS": PERIOD_S,
            "auth": {"type": "basic", "username": "gridcell", "password": "s3cret"}})
        assert r.status_code == 201, r.text
        feed = r.json()
        assert "password" not in r.text and feed["auth"] == {"type": "basic"}
        wait_until(lambda: [s["consumerReference"] for s in producer.subscriptions.values()]
                   == [feed["consumerReference"]], 60, "gridcell subscribed at the producer")
        wait_until(lambda: _active(server.base, tokens) == {"A0"}, 60, "the initial alignment")
        producer.start_heartbeats()
        for i, alarm_id in enumerate(("A1", "A2", "A3")):
            producer.raise_alarm(alarm_id, cell_dn(PLMN_A, i))
        wait_until(lambda: _active(server.base, tokens) == {"A0", "A1", "A2", "A3"}, 60, "notifications followed")
        assert server.proc is not None
        server.proc.kill()  # no shutdown: whatever the producer sends now is lost to gridcell
        server.proc.wait(timeout=30)
    producer.clear_alarm("A1")
    producer.clear_alarm("A2")
    producer.raise_alarm("A4", cell_dn(PLMN_A, 2))
    with _server(tmp_path, url, like=first) as server:
        restarted = datetime.now(UTC)
        wait_until(lambda: _active(server.base, tokens) == set(producer.alarms) == {"A0", "A3", "A4"}, 60,
                   f"reconciled to the producer's list after the restart: {server.log_tail()}")
        assert _feed(server.base, tokens, feed["id"])["lastReconcile"]["cleared"] == 2
        wait_until(lambda: datetime.fromisoformat(_feed(server.base, tokens, feed["id"]).get(
            "lastHeardAt", "1970-01-01T00:00:00Z")) > restarted, 60, "a heartbeat heard after the restart")
        # The heartbeats stop: stale within two periods of the last one heard.
        producer.stop_heartbeats()
        wait_until(lambda: _feed(server.base, tokens, feed["id"])["state"] == "stale", 60, "the feed stale")
        seen = _feed(server.base, tokens, feed["id"])
        silence = (datetime.fromisoformat(seen["changedAt"]) - datetime.fromisoformat(seen["lastHeardAt"]))
        assert silence.total_seconds() <= 2 * PERIOD_S, (seen, server.log_tail())
        wait_until(lambda: bool(_stale_reasons(server.base, tokens)), 60, "DSOs see the MNO's information stale")
        producer.start_heartbeats()
        wait_until(lambda: _feed(server.base, tokens, feed["id"])["state"] == "active", 60, "fresh again")
        wait_until(lambda: not _stale_reasons(server.base, tokens), 60, "the stale reason gone")
        r = httpx.delete(f"{server.base}/api/v1/feeds/{feed['id']}", headers=tokens.mno_admin, timeout=30)
        assert r.status_code == 204, r.text
        wait_until(lambda: not producer.subscriptions, 60, "the subscription removed at the producer")
    assert not producer.violations, producer.violations
    assert ("GET", "/FaultSupervisionMnS/v1/alarms") in producer.requests
