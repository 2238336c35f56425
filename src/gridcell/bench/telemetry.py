"""Telemetry benchmark: probe ingest rate (NDJSON, CSV) and MNO alarm → CPE command over MQTT.

Figures (fixed names):

* ``probe_ingest_rate_ndjson`` / ``probe_ingest_rate_csv``: probe results per second through the code
  behind ``POST /api/v1/telemetry/probes``: ``telemetry.parse.parse`` (vectorised) then
  ``telemetry.service.ingest`` in one unit of work (raw insert, rollups, change detection, serving cells,
  cell health), on a fresh SQLite file with the production durability (synchronous=FULL), one thread.
  Bodies of BATCH results (the size of a large upload), each batch newer than the last. ``compare``
  holds the goal and, measured in the same run, the per-line parser's rate (the slow path used only to
  name bad lines) on the same body.
* ``event_to_cpe_command_p99_ms`` (and ``_p50_ms``): the app runs in-process (Starlette TestClient,
  real Mosquitto on 127.0.0.1:1883); for each sample an MNO CRITICAL alarm on the cell serving one
  CPE's primary USIM is POSTed, and the latency is the arrival of that CPE's ``switch`` command at an
  MQTT subscriber − the moment the POST was sent (both on this process's monotonic clock).
"""

from __future__ import annotations

import gc
import gzip
import os
import queue
import socket
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from gridcell.core.db import Database
from gridcell.migrations import upgrade
from gridcell.telemetry import parse
from gridcell.telemetry import service as telemetry
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topology
from gridcell.wiring import register_handlers

PLMNS = ("26201", "26202")
BATCH = 100_000
GOAL_RATE = 500_000
GOAL_LATENCY_MS = 50.0


def _world(db: Database, cpes: int) -> tuple[str, str]:
    register_handlers()
    with db.write() as s:
        dso = tenancy.create_org(s, "bench dso", "dso")
        mnos = [tenancy.create_org(s, f"bench mno {p}", "mno") for p in PLMNS]
        s.flush()
        for mno, plmn in zip(mnos, PLMNS, strict=True):
            tenancy.create_agreement(s, dso, mno, [plmn], "cell", share_telemetry=True)
    for mno, plmn in zip(mnos, PLMNS, strict=True):
        with db.write() as s:
            topology.import_topology(s, mno, {"ranSites": [{
                "id": f"R{plmn}-{i}", "lat": 48.0 + 0.01 * i, "lon": 7.8, "dn": f"SubNetwork=1,ME={plmn}-{i}",
                "cells": [{"cellId": f"{plmn}-C{i}", "plmn": plmn, "azimuth": 90.0, "rangeM": 500,
                           "dn": f"SubNetwork=1,ME={plmn}-{i},NRCellDU=0"}]} for i in range(cpes)]})
    sites = [{"id": f"S{i}", "name": f"site {i}", "kind": "secondary_substation", "lat": 48.0 + 0.01 * i,
              "lon": 7.801, "cpes": [{"id": f"CPE{i}", "usims": [
                  {"plmn": PLMNS[0], "role": "primary", "servingCellId": f"{PLMNS[0]}-C{i}"},
                  {"plmn": PLMNS[1], "role": "alternate", "servingCellId": f"{PLMNS[1]}-C{i}"}]}]}
             for i in range(cpes)]
    with db.write() as s:
        topology.import_topology(s, dso, {"sites": sites})
    return dso, mnos[0]


def _bodies(cpes: int, total: int, start: datetime) -> list[tuple[bytes, bytes]]:
    """(NDJSON, CSV) bodies of BATCH results; each batch one probe per USIM per step, steps of 10 s."""
    rng = np.random.default_rng(1)
    usims = [(f"CPE{i}", p) for i in range(cpes) for p in PLMNS]
    per_batch_steps = max(1, BATCH // len(usims))
    out = []
    step = 0
    done = 0
    while done < total:
        nd: list[bytes] = []
        csv: list[bytes] = [b"cpe,plmn,ts,ok,rtt_ms"]
        for _ in range(per_batch_steps):
            ts = (start + timedelta(seconds=10 * step)).strftime("%Y-%m-%dT%H:%M:%SZ")
            rtts = rng.normal(30, 3, len(usims))
            oks = rng.random(len(usims)) > 0.005
            for (cpe, plmn), rtt, ok in zip(usims, rtts.tolist(), oks.tolist(), strict=True):
                r = f"{rtt:.1f}" if ok else ""
                nd.append(b'{"cpe":"%s","plmn":"%s","ts":"%s","ok":%s,"rtt_ms":%s}' % (
                    cpe.encode(), plmn.encode(), ts.encode(), b"true" if ok else b"false", (r or "null").encode()))
                csv.append(f"{cpe},{plmn},{ts},{int(ok)},{r}".encode())
            step += 1
        done += len(nd)
        out.append((b"\n".join(nd), b"\n".join(csv)))
    return out


def ingest_rates(results: int = 500_000, cpes: int = 2000) -> list[dict[str, Any]]:
    figures = []
    for fmt, ctype in (("ndjson", "application/x-ndjson"), ("csv", "text/csv")):
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}", sqlite_synchronous="FULL")
            upgrade(db)
            dso, _ = _world(db, cpes)
            start = datetime.now(UTC) - timedelta(days=2)
            bodies = _bodies(cpes, results, start)
            db.start_background_checkpoints()  # as `gridcell serve` does: commits never checkpoint
            gc.freeze()  # as the server does once started (gridcell.app)
            n = 0
            elapsed = 0.0
            for nd, csv in bodies:
                body = nd if fmt == "ndjson" else csv
                t = time.perf_counter()
                cols = parse.parse(body, ctype)
                with db.write() as s:
                    r = telemetry.ingest(s, dso, cols)
                elapsed += time.perf_counter() - t
                n += r.accepted
            # side by side: the per-line parser (the slow path) on the last body alone
            body = bodies[-1][0] if fmt == "ndjson" else bodies[-1][1]
            t = time.perf_counter()
            if fmt == "ndjson":
                lines = body.split(b"\n")
                parse._ndjson_slow(lines, np.arange(1, len(lines) + 1, dtype=np.int64))
            else:
                rows = body.split(b"\n")
                header = rows[0].decode().split(",")
                parse._csv_slow(header, rows[1:], np.arange(2, len(rows) + 1, dtype=np.int64))
            per_line = (len(body.split(b"\n")) - (fmt == "csv")) / (time.perf_counter() - t)
            gz = len(gzip.compress(bodies[0][0 if fmt == "ndjson" else 1], 1))
            db.dispose()
        figures.append({"figure": f"probe_ingest_rate_{fmt}", "value": round(n / elapsed), "unit": "results/s",
                        "compare": {"goal": GOAL_RATE, "per_line_parser_only_results_per_s": round(per_line)},
                        "results": n, "batch": BATCH, "usims": cpes * 2, "store": "sqlite synchronous=FULL",
                        "gzip_bytes_per_result": round(gz / BATCH, 2)})
    return figures


def _broker() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=2):
            return None
    except OSError as exc:
        return f"Mosquitto not reachable on 127.0.0.1:1883 ({type(exc).__name__})"


def command_latency(samples: int = 200) -> list[dict[str, Any]]:
    reason = _broker()
    if reason:
        return [{"figure": "event_to_cpe_command_p99_ms", "value": None, "unit": "ms",
                 "compare": {"goal": GOAL_LATENCY_MS}, "skipped": reason}]
    import paho.mqtt.client as paho
    from fastapi.testclient import TestClient

    from gridcell.app import create_app
    from gridcell.config import Settings

    prefix = f"gcbench-{uuid.uuid4().hex[:8]}"
    os.environ["GRIDCELL_MQTT_PREFIX"] = prefix
    got: queue.Queue[tuple[float, str]] = queue.Queue()
    sub = paho.Client(paho.CallbackAPIVersion.VERSION2,  # type: ignore[attr-defined]
                       client_id=f"bench-{uuid.uuid4().hex[:6]}")
    subscribed: queue.Queue[int] = queue.Queue()
    sub.on_message = lambda c, u, m: got.put((time.monotonic(), m.topic.split("/")[3]))
    sub.on_subscribe = lambda c, u, mid, rc, p: subscribed.put(mid)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}", sqlite_synchronous="FULL")
            upgrade(db)
            _dso, mno = _world(db, samples)
            with db.write() as s:
                _, token = tenancy.create_client(s, mno, "operator")
            app = create_app(Settings(database_url=db.url), db=db, migrate=False)
            sub.connect("127.0.0.1", 1883)
            sub.loop_start()
            sub.subscribe(f"{prefix}/+/cpe/+/command", qos=1)
            subscribed.get(timeout=5)
            lat: list[float] = []
            with TestClient(app) as client:
                deadline = time.monotonic() + 10
                while not app.state.failover_channel.connected.is_set() and time.monotonic() < deadline:
                    time.sleep(0.01)
                for i in range(samples):
                    body = {"href": f"https://oss/ProvMnS/v1/SubNetwork=1/ME={PLMNS[0]}-{i}", "notificationId": i,
                            "notificationType": "notifyNewAlarm", "eventTime": datetime.now(UTC).isoformat(),
                            "systemDN": "DC=mno,SubNetwork=1", "alarmId": f"B-{i}", "alarmType": "EQUIPMENT_ALARM",
                            "probableCause": "EQUIPMENT_MALFUNCTION", "perceivedSeverity": "CRITICAL",
                            "objectInstance": f"SubNetwork=1,ME={PLMNS[0]}-{i},NRCellDU=0"}
                    t0 = time.monotonic()
                    r = client.post("/api/v1/ingest/notifications", content=orjson.dumps(body),
                                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                    r.raise_for_status()
                    while True:
                        at, cpe = got.get(timeout=10)
                        if cpe == f"CPE{i}":
                            lat.append((at - t0) * 1000)
                            break
            db.dispose()
    finally:
        sub.loop_stop()
        sub.disconnect()
        os.environ.pop("GRIDCELL_MQTT_PREFIX", None)
    arr = np.array(lat)
    common = {"unit": "ms", "samples": len(lat), "path": "POST alarm → status → advisor → commit → MQTT publish → "
              "subscriber", "store": "sqlite synchronous=FULL"}
    return [{"figure": "event_to_cpe_command_p99_ms", "value": round(float(np.percentile(arr, 99)), 2),
             "compare": {"goal": GOAL_LATENCY_MS, "seed_ping_detection_ms": 30_000}, **common},
            {"figure": "event_to_cpe_command_p50_ms", "value": round(float(np.percentile(arr, 50)), 2),
             "compare": {"goal": GOAL_LATENCY_MS}, **common}]


def run(results: int = 500_000, cpes: int = 2000, latency_samples: int = 200) -> list[dict[str, Any]]:
    return [*ingest_rates(results, cpes), *command_latency(latency_samples)]
