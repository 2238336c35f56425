"""Durable webhook delivery: a subscriber that is down for a while, and a server killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gridcell.app import create_app
from tests.conftest import (
    PLMN_A,
    Receiver,
    alarm,
    build_world,
    cell_dn,
    free_port,
    fresh_database,
    make_settings,
    private_database,
)
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
GRIDCELL = str(Path(sys.executable).with_name("gridcell"))


def outbox(client: Any, sub_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        r = client.get(f"/api/v1/subscriptions/{sub_id}/deliveries",
                       params={"after": rows[-1]["sequenceNo"] if rows else 0, "limit": 1000}, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        if not page:
            return rows
        rows.extend(page)


def assert_in_order_exactly_once(received: list[dict[str, Any]], expected_ids: list[str]) -> None:
    bodies = [r["body"] for r in received]
    seqs = [b["sequenceNo"] for b in bodies]
    assert seqs == sorted(seqs), f"out of order: {seqs}"
    assert sorted(set(seqs)) == list(range(1, len(expected_ids) + 1)), f"gaps: {sorted(set(seqs))}"
    by_seq: dict[int, str] = {}
    for b in bodies:  # a redelivery carries the same notificationId for the same sequence number
        assert by_seq.setdefault(b["sequenceNo"], b["notificationId"]) == b["notificationId"]
    assert [by_seq[s] for s in sorted(by_seq)] == expected_ids
    for r in received:
        assert r["headers"]["X-Gridcell-Notification-Id"] == r["body"]["notificationId"]


# ---- a: the subscriber answers 500 for a while, then recovers ------------------------------------------


def test_failing_subscriber_gets_everything_once_in_order_after_recovery(storage_url: str,
                                                                       receiver: Receiver) -> None:
    with private_database(storage_url) as url:
        _failing_subscriber(url, receiver)


def _failing_subscriber(url: str, receiver: Receiver) -> None:
    db = fresh_database(url)
    app = create_app(make_settings(url, webhook_max_backoff_s=1.0), db=db, migrate=False)
    try:
        with TestClient(app) as client:
            world = build_world(client, db)
            r = client.post("/api/v1/subscriptions", json={"callbackUri": receiver.url, "plmns": [PLMN_A]},
                            headers=world.dso.auth())
            assert r.status_code == 201, r.text
            sub_id = r.json()["id"]
            viewer = world.dso.auth("viewer")
            receiver.fail_with = 500

            # 4 rounds × (raise on the 3 cells, then clear them): 24 status changes over sites D1-S0..2.
            expected_changes: list[tuple[str, str]] = []
            for rnd in range(4):
                for kind, sev, status in (("notifyNewAlarm", "CRITICAL", "down"),
                                          ("notifyClearedAlarm", "CLEARED", "ok")):
                    for i in range(3):
                        r = client.post("/api/v1/ingest/notifications", headers=world.mno.auth(),
                                        json=alarm(kind, f"R{rnd}-C{i}", cell_dn(PLMN_A, i), severity=sev))
                        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
                        expected_changes.append((f"D1-S{i}", status))
            n = len(expected_changes)

            # The outbox holds every notification and records the failed attempts on the head of the line.
            rows = wait_until(lambda: (lambda rs: rs if rs and rs[0]["attempts"] >= 2 else None)(
                outbox(client, sub_id, viewer)), 15, "two failed attempts recorded in the outbox")
            assert [row["sequenceNo"] for row in rows] == list(range(1, n + 1))
            assert rows[0]["lastError"] == "HTTP 500"
            assert all(row["deliveredAt"] is None for row in rows)
            assert receiver.received == []
            assert client.get(f"/api/v1/subscriptions/{sub_id}", headers=viewer).json()["lastSequenceNo"] == n

            receiver.fail_with = None
            got = receiver.wait_for(lambda rs: len(rs) >= n, timeout=20)
            wait_until(lambda: all(row["deliveredAt"] for row in outbox(client, sub_id, viewer)), 10,
                       "every outbox row marked delivered")
            rows = outbox(client, sub_id, viewer)
            assert_in_order_exactly_once(got, [row["notificationId"] for row in rows])
            assert len(receiver.received) == n  # nothing redelivered after the acknowledgement
            assert [(g["body"]["site"]["id"], g["body"]["status"]) for g in got] == expected_changes

        # Restarted with nothing undelivered, the server resumes at the next sequence number: the next
        # change arrives as n + 1, and nothing delivered before comes again.
        again = create_app(make_settings(url, webhook_max_backoff_s=1.0), db=db, migrate=False)
        with TestClient(again) as client:
            r = client.post("/api/v1/ingest/notifications", headers=world.mno.auth(),
                            json=alarm("notifyNewAlarm", "AFTER-RESTART", cell_dn(PLMN_A, 0)))
            assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
            got = receiver.wait_for(lambda rs: len(rs) >= n + 1, timeout=20)
            assert [g["body"]["sequenceNo"] for g in got] == list(range(1, n + 2))
            assert (got[-1]["body"]["site"]["id"], got[-1]["body"]["status"]) == ("D1-S0", "down")
            wait_until(lambda: all(row["deliveredAt"] for row in outbox(client, sub_id, viewer)), 10,
                       "the new row marked delivered")
    finally:
        db.dispose()


# ---- b: SIGKILL mid-load, restart on the same database ---------------------------------------------------

N_CELLS = 10
BATCH = N_CELLS // 2
N_REQUESTS = 40  # 40 × 5 = 200 alarms, each raised in one request and cleared in the next


class Server:
    """`gridcell serve` in a subprocess."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([GRIDCELL, "serve", "--port", str(self.port)], env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)

        def healthy() -> bool:
            assert self.proc is not None and self.proc.poll() is None, \
                f"server exited: {self.log.read_text()[-3000:]}"
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, 30, "gridcell serve /healthz 200")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _cli(env: dict[str, str], *args: str) -> str:
    r = subprocess.run([GRIDCELL, "admin", *args], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and lines[0].strip() and " " not in lines[0], f"stdout must be the value only: {r.stdout!r}"
    return lines[0]


def _topologies() -> tuple[dict[str, Any], dict[str, Any]]:
    cells = [{"cellId": f"{PLMN_A}-C{i}", "plmn": PLMN_A, "azimuth": 90.0, "rangeM": 3000, "dn": cell_dn(PLMN_A, i)}
             for i in range(N_CELLS)]
    mno = {"ranSites": [{"id": "RAN-K", "name": "RAN site K", "lat": 48.0, "lon": 7.80,
                         "dn": f"SubNetwork=1,ManagedElement=gNB-{PLMN_A}", "cells": cells}]}
    sites = [{"id": f"K-S{i}", "name": f"substation {i}", "kind": "secondary_substation", "lat": 48.0,
              "lon": 7.81 + 0.001 * i, "cpes": [{"id": f"K-CPE{i}", "usims": [
                  {"plmn": PLMN_A, "role": "primary", "servingCellId": f"{PLMN_A}-C{i}"}]}]} for i in range(N_CELLS)]
    return mno, {"sites": sites}


@pytest.fixture
def kill_env(storage_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    with private_database(storage_url) as url:
        fresh_database(url).dispose()  # an empty, migrated store
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDCELL_")}
        env.update(GRIDCELL_DATABASE_URL=url, GRIDCELL_ALLOW_PRIVATE_WEBHOOKS="true",
                   GRIDCELL_WEBHOOK_MAX_BACKOFF_S="1.0", GRIDCELL_TICK_INTERVAL_S="0.5")
        yield env


def test_sigkill_mid_load_loses_no_acknowledged_alarm_and_no_notification(kill_env: dict[str, str],
                                                                          tmp_path: Path,
                                                                          receiver: Receiver) -> None:
    server = Server(kill_env, tmp_path / "server.log")
    try:
        server.start()
        dso = _cli(kill_env, "create-org", "Stadtwerke K", "--kind", "dso")
        mno = _cli(kill_env, "create-org", "Mobile K", "--kind", "mno")
        dso_token = _cli(kill_env, "create-client", dso, "--role", "operator")
        mno_token = _cli(kill_env, "create-client", mno, "--role", "operator")
        _cli(kill_env, "create-agreement", dso, mno, "--plmn", PLMN_A, "--level", "cell")
        dso_auth = {"Authorization": f"Bearer {dso_token}"}
        mno_auth = {"Authorization": f"Bearer {mno_token}"}

        with httpx.Client(base_url=server.url, timeout=10) as http:
            mno_topo, dso_topo = _topologies()
            for doc, auth in ((mno_topo, mno_auth), (dso_topo, dso_auth)):
                r = http.post("/api/v1/topology/import", json=doc, headers=auth)
                assert r.status_code == 200, r.text
            receiver.fail_with = 503  # the subscriber is down: notifications pile up in the outbox
            r = http.post("/api/v1/subscriptions", json={"callbackUri": receiver.url}, headers=dso_auth)
            assert r.status_code == 201, r.text
            sub_id = r.json()["id"]

        # Request k raises 5 new alarms on one half of the cells and clears request k-1's on the other half,
        # so each request changes the status of 10 sites. A second thread kills the server half-way.
        sent: set[str] = set()
        acked: set[str] = set()
        halfway = threading.Event()
        killer = threading.Thread(target=lambda: (halfway.wait(60), server.kill()), daemon=True)
        killer.start()
        previous: list[tuple[str, int]] = []
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for k in range(N_REQUESTS):
                half = (k % 2) * BATCH
                raised = [(f"K-{k}-{j}", half + j) for j in range(BATCH)]
                body = [alarm("notifyNewAlarm", aid, cell_dn(PLMN_A, c)) for aid, c in raised]
                body += [alarm("notifyClearedAlarm", aid, cell_dn(PLMN_A, c), severity="CLEARED")
                         for aid, c in previous]
                sent.update(aid for aid, _ in raised)
                try:
                    r = http.post("/api/v1/ingest/notifications", json=body, headers=mno_auth)
                except httpx.TransportError:
                    break
                assert r.status_code == 200, r.text
                assert r.json()["accepted"] == len(body)
                acked.update(aid for aid, _ in raised)
                previous = raised
                if k == N_REQUESTS // 2:
                    halfway.set()
        halfway.set()
        killer.join(15)
        assert server.proc is not None and server.proc.returncode == -signal.SIGKILL
        assert BATCH * (N_REQUESTS // 2) <= len(acked) < len(sent), "the kill must land mid-load"

        server.start()
        receiver.fail_with = None
        with httpx.Client(base_url=server.url, timeout=10) as http:
            r = http.get("/api/v1/alarms", params={"limit": 1000, "active": False}, headers=mno_auth)
            assert r.status_code == 200, r.text
            ids = [a["id"] for a in r.json()]
            assert len(ids) == len(set(ids)), "an alarm is stored twice"
            assert acked <= set(ids), f"acknowledged but lost: {sorted(acked - set(ids))}"
            assert set(ids) <= sent
            assert len(acked) <= len(ids) <= len(acked) + BATCH  # at most the request in flight at kill time

            # Every outbox row is delivered once the subscriber is back; unique ids, in order, no gaps.
            def undelivered() -> list[int]:
                return [row["sequenceNo"] for row in outbox(http, sub_id, dso_auth) if not row["deliveredAt"]]

            try:
                wait_until(lambda: not undelivered(), 30, "every outbox row delivered after the restart")
            except AssertionError as exc:
                left = undelivered()
                raise AssertionError(f"{exc}: {len(left)} undelivered from seq {left[:1]}, receiver got "
                                     f"{len(receiver.received)}") from None
            rows = outbox(http, sub_id, dso_auth)
            assert [row["sequenceNo"] for row in rows] == list(range(1, len(rows) + 1))
            last_seq = http.get(f"/api/v1/subscriptions/{sub_id}", headers=dso_auth).json()["lastSequenceNo"]
            assert last_seq == len(rows) >= 2 * len(acked) - BATCH
            expected_ids = [row["notificationId"] for row in rows]
            got = receiver.wait_for(lambda rs: {x["body"]["notificationId"] for x in rs} >= set(expected_ids),
                                    timeout=10)
            assert_in_order_exactly_once(got, expected_ids)

            # Acknowledged = processed: each site's status and its last notification agree with the alarms.
            active = {a["id"] for a in http.get("/api/v1/alarms", params={"limit": 1000},
                                                headers=mno_auth).json()}
            down_cells = {int(a.split("-")[2]) + (int(a.split("-")[1]) % 2) * BATCH for a in active}
            items = http.get("/api/v1/status", headers=dso_auth).json()["items"]
            status = {i["siteId"]: i["status"] for i in items}
            assert status == {f"K-S{c}": "down" if c in down_cells else "ok" for c in range(N_CELLS)}
            last: dict[str, str] = {}
            for g in got:
                last[g["body"]["site"]["id"]] = g["body"]["status"]
            assert {s: v for s, v in status.items() if v == "down"} == {s: v for s, v in last.items() if v == "down"}
    finally:
        server.stop()
