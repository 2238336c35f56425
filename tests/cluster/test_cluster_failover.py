"""Two `gridcell serve --cluster` processes on one PostgreSQL and NATS JetStream; one is SIGKILLed mid-load.

An SSE stream on one process sees, within seconds, the rows committed by the other (NATS fan-out).

Alarms go alternately to both processes (a load balancer); a request that fails because its process died
is retried on the survivor. Afterwards: every acknowledged alarm is stored once, every outbox row reached
the webhook (unique notification ids, in order per subscription; a duplicate only for a row whose first
delivery happened before the kill), and the singleton jobs run on the survivor. Finally SIGTERM on the
survivor while a webhook POST is in flight: the POST completes and is recorded as delivered.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from gridcell.core.nats_bus import NatsBus
from tests import schema_gate
from tests.cluster.helpers import NATS_URL, nats_available, unique_prefix
from tests.conftest import (
    PG_URL,
    PLMN_A,
    alarm,
    cell_dn,
    free_port,
    fresh_database,
    postgres_available,
    private_database,
)
from tests.exposure.test_durability import GRIDCELL, ROOT, _cli, outbox
from tests.waiting import wait_until

N_CELLS = 8
N_SUBS = 4  # subscription j covers the sites of cells j and j + 4
N_REQUESTS = 40
KILL_SLACK_S = 0.25
SINGLETONS = {"job:exposure.status_tick", "job:failover.tick", "job:incidents.sweep", "job:problems.trend",
              "job:telemetry.retention"}


class Hooks:
    """A webhook target recording (arrival instant, body); `delay_s` holds each answer back."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        self.started: list[float] = []
        self.delay_s = 0.0
        self.lock = threading.Lock()
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.monotonic()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                schema_gate.notification(self.path, body)
                with hooks.lock:
                    hooks.started.append(arrived)
                if hooks.delay_s:
                    time.sleep(hooks.delay_s)
                assert self.headers["X-Gridcell-Notification-Id"] == body["notificationId"]
                with hooks.lock:
                    hooks.arrivals.append((arrived, body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[tuple[float, dict[str, Any]]]:
        with self.lock:
            return list(self.arrivals)


class Node:
    """`gridcell serve --cluster` in a subprocess."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([GRIDCELL, "serve", "--cluster", "--port", str(self.port)], env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)

        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, f"exited: {self.log.read_text()[-3000:]}"
            try:
                return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 40, f"{self.url}/readyz 200")

    def readyz(self) -> dict[str, Any]:
        r = httpx.get(f"{self.url}/readyz", timeout=5)
        body: dict[str, Any] = r.json()
        return body

    def held(self) -> set[str]:
        return set(self.readyz()["components"]["leases"]["held"])

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def cluster_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    for reason in (postgres_available(), nats_available()):
        if reason:
            pytest.skip(reason)
    prefix = unique_prefix()
    with private_database(PG_URL) as url:
        fresh_database(url).dispose()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDCELL_")}
        env.update(GRIDCELL_DATABASE_URL=url, GRIDCELL_ALLOW_PRIVATE_WEBHOOKS="true", GRIDCELL_CLUSTER="true",
                   GRIDCELL_BUS_URL=NATS_URL, GRIDCELL_BUS_PREFIX=prefix, GRIDCELL_LEASE_TTL_S="2",
                   GRIDCELL_WEBHOOK_MAX_BACKOFF_S="1.0", GRIDCELL_TICK_INTERVAL_S="0.5",
                   GRIDCELL_MQTT_ENABLED="false", GRIDCELL_SHUTDOWN_GRACE_S="10")
        try:
            yield env
        finally:
            bus = NatsBus(NATS_URL, prefix=prefix, node="cleanup")
            bus.start()
            bus.delete_streams()
            bus.close()


def _world(env: dict[str, str], node: Node, hooks: Hooks) -> tuple[dict[str, str], dict[str, str], list[str]]:
    dso = _cli(env, "create-org", "Stadtwerke C", "--kind", "dso")
    mno = _cli(env, "create-org", "Mobile C", "--kind", "mno")
    dso_auth = {"Authorization": f"Bearer {_cli(env, 'create-client', dso, '--role', 'operator')}"}
    mno_auth = {"Authorization": f"Bearer {_cli(env, 'create-client', mno, '--role', 'operator')}"}
    _cli(env, "create-agreement", dso, mno, "--plmn", PLMN_A, "--level", "cell")
    cells = [{"cellId": f"{PLMN_A}-C{i}", "plmn": PLMN_A, "azimuth": 90.0, "rangeM": 3000, "dn": cell_dn(PLMN_A, i)}
             for i in range(N_CELLS)]
    mno_topo = {"ranSites": [{"id": "RAN-C", "name": "RAN site C", "lat": 48.0, "lon": 7.80,
                              "dn": f"SubNetwork=1,ManagedElement=gNB-{PLMN_A}", "cells": cells}]}
    dso_topo = {"sites": [{"id": f"C-S{i}", "name": f"substation {i}", "kind": "secondary_substation", "lat": 48.0,
                           "lon": 7.81 + 0.001 * i, "cpes": [{"id": f"C-CPE{i}", "usims": [
                               {"plmn": PLMN_A, "role": "primary", "servingCellId": f"{PLMN_A}-C{i}"}]}]}
                          for i in range(N_CELLS)]}
    subs = []
    with httpx.Client(base_url=node.url, timeout=10) as http:
        for doc, auth in ((mno_topo, mno_auth), (dso_topo, dso_auth)):
            r = http.post("/api/v1/topology/import", json=doc, headers=auth)
            assert r.status_code == 200, r.text
        for j in range(N_SUBS):
            r = http.post("/api/v1/subscriptions", headers=dso_auth,
                          json={"callbackUri": hooks.url, "siteIds": [f"C-S{j}", f"C-S{j + N_SUBS}"]})
            assert r.status_code == 201, r.text
            subs.append(r.json()["id"])
    return dso_auth, mno_auth, subs


def _post(node: Node, body: list[dict[str, Any]], auth: dict[str, str]) -> bool:
    try:
        r = httpx.post(f"{node.url}/api/v1/ingest/notifications", json=body, headers=auth, timeout=10)
    except httpx.TransportError:
        return False
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] + r.json().get("duplicates", 0) == len(body), r.text
    return True


def test_sigkill_one_of_two_processes_loses_nothing_and_jobs_move(cluster_env: dict[str, str],
                                                                  tmp_path: Path) -> None:
    hooks = Hooks()
    a, b = Node(cluster_env, tmp_path / "a.log"), Node(cluster_env, tmp_path / "b.log")
    try:
        a.start()  # first up: takes every singleton job
        b.start()
        wait_until(lambda: a.held() >= SINGLETONS, 20, "the singleton jobs on the first process")
        assert not (SINGLETONS & b.held())
        dso_auth, mno_auth, subs = _world(cluster_env, a, hooks)

        # An SSE stream on b sees what a commits, woken through NATS (not by its 15 s outbox re-read).
        sse_ids: list[str] = []
        sse_open = threading.Event()

        def stream() -> None:
            with httpx.stream("GET", f"{b.url}/api/v1/subscriptions/{subs[0]}/events", headers=dso_auth,
                              timeout=30) as r:
                for line in r.iter_lines():
                    sse_open.set()
                    if line.startswith("id: "):
                        sse_ids.append(line[4:])
                        if len(sse_ids) >= 2:
                            return

        threading.Thread(target=stream, daemon=True).start()
        assert sse_open.wait(10), "SSE stream connected"

        # Warm-up: a raises the cells of subscriptions 0 and 2, then b those of 1 and 3, so each
        # process claims the delivery of the subscriptions it committed rows for first.
        acked: set[str] = set()
        for node, cells in ((a, [0, 2, 4, 6]), (b, [1, 3, 5, 7])):
            body = [alarm("notifyNewAlarm", f"W-{c}", cell_dn(PLMN_A, c)) for c in cells]
            assert _post(node, body, mno_auth)
            acked.update(f"W-{c}" for c in cells)
            wait_until(lambda n=len(acked): len(hooks.bodies()) >= n, 15, "warm-up notifications delivered")
        wait_until(lambda: len(sse_ids) >= 2, 5, "SSE events on b for rows committed by a")
        assert sse_ids == ["1", "2"]
        # Delivery leases are claimed by the worker that first finds a subscription's rows: wait for a's claims.
        wait_until(lambda: any(n.startswith("delivery:") for n in a.held()), 30,
                   "the process to be killed delivers some subscriptions")

        # Load: request k (to a, b, a, …) raises 4 alarms on one half of the cells and clears request k-1's.
        # Half-way a is SIGKILLed; a request that found a dead is retried on b (same notifications).
        sent: set[str] = set(acked)
        previous = [(f"W-{c}", c) for c in range(N_CELLS)]
        killed_at: float | None = None
        for k in range(N_REQUESTS):
            half = (k % 2) * 4
            raised = [(f"L-{k}-{j}", half + j) for j in range(4)]
            body = [alarm("notifyNewAlarm", aid, cell_dn(PLMN_A, c)) for aid, c in raised]
            body += [alarm("notifyClearedAlarm", aid, cell_dn(PLMN_A, c), severity="CLEARED") for aid, c in previous]
            sent.update(aid for aid, _ in raised)
            if k == N_REQUESTS // 2:
                killed_at = time.monotonic()
                a.signal(signal.SIGKILL)
            target = a if k % 2 == 0 and killed_at is None else b
            if not _post(target, body, mno_auth):
                assert target is a
                assert _post(b, body, mno_auth), "the survivor takes the retried request"
            acked.update(aid for aid, _ in raised)
            previous = raised
        assert killed_at is not None and a.proc is not None
        assert a.proc.wait(10) == -signal.SIGKILL

        # Singleton jobs resume on the survivor (its readiness detail and the lease rows say so).
        wait_until(lambda: b.held() >= SINGLETONS, 15, "the singleton jobs moved to the survivor")
        ready = b.readyz()
        assert ready["status"] == "ready", ready
        assert all(ready["components"][c]["ok"] for c in ("database", "bus", "leases")), ready
        engine = create_engine(cluster_env["GRIDCELL_DATABASE_URL"])
        try:
            with engine.connect() as conn:
                rows = dict(conn.execute(text("SELECT name, holder FROM cluster_leases WHERE name LIKE 'job:%'"))
                            .tuples().all())
        finally:
            engine.dispose()
        assert {rows[n] for n in SINGLETONS} == {ready["node"]}

        with httpx.Client(base_url=b.url, timeout=10) as http:
            # Every acknowledged alarm stored exactly once.
            r = http.get("/api/v1/alarms", params={"limit": 1000, "active": False}, headers=mno_auth)
            assert r.status_code == 200, r.text
            ids = [x["id"] for x in r.json()]
            assert len(ids) == len(set(ids)), "an alarm is stored twice"
            assert acked <= set(ids) <= sent

            # Every outbox row delivered: unique ids, in order per subscription, duplicates only from the kill.
            for sub_id in subs:
                wait_until(lambda s=sub_id: all(row["deliveredAt"] for row in outbox(http, s, dso_auth)), 30,
                           f"every outbox row of {sub_id} delivered")
            got = hooks.bodies()
            total = 0
            for sub_id in subs:
                rows_out = outbox(http, sub_id, dso_auth)
                assert [row["sequenceNo"] for row in rows_out] == list(range(1, len(rows_out) + 1))
                expected = [row["notificationId"] for row in rows_out]
                mine = [(t, body) for t, body in got if body["subscriptionId"] == sub_id]
                first: dict[str, float] = {}
                order: list[int] = []
                for t, body in mine:
                    nid = body["notificationId"]
                    if nid in first:
                        # sent before the kill (bytes a dead process wrote still arrive, within milliseconds)
                        assert first[nid] <= killed_at + KILL_SLACK_S, f"duplicate of {nid} first sent after the kill"
                        continue
                    first[nid] = t
                    order.append(body["sequenceNo"])
                assert order == sorted(order), f"{sub_id}: out of order {order}"
                assert set(first) == set(expected), f"{sub_id}: missing or extra notifications"
                assert all(body["notificationId"] == expected[body["sequenceNo"] - 1] for _, body in mine), \
                    "a redelivery carries the same notificationId for the same sequence number"
                total += len(expected)
            assert total >= 2 * (len(acked) - 8)

            # Graceful shutdown: SIGTERM while a webhook POST is in flight; it completes and is recorded.
            hooks.delay_s = 1.5
            started = len(hooks.started)
            assert _post(b, [alarm("notifyNewAlarm", "G-1", cell_dn(PLMN_A, 0))], mno_auth)
            wait_until(lambda: len(hooks.started) > started, 10, "a webhook POST in flight")
            b.signal(signal.SIGTERM)
        assert b.proc is not None and b.proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM when done
        assert hooks.bodies()[-1][1]["site"]["id"] == "C-S0"
        engine = create_engine(cluster_env["GRIDCELL_DATABASE_URL"])
        try:
            with engine.connect() as conn:
                undelivered = conn.execute(text("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")).scalar()
                leases_left = conn.execute(text("SELECT count(*) FROM cluster_leases WHERE holder = :h"),
                                           {"h": ready["node"]}).scalar()
        finally:
            engine.dispose()
        assert undelivered == 0, "the in-flight delivery was recorded before exit"
        assert leases_left == 0, "a stopping process hands its leases over"
    finally:
        for node in (a, b):
            node.stop()
        hooks.server.shutdown()
        hooks.server.server_close()
