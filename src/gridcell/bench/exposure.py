"""Exposure benchmark: MNO alarm ingest rate and MNO alarm → DSO webhook latency, over real HTTP.

Each phase builds a world in a fresh SQLite file (one MNO, N DSOs, each DSO site served by one cell
of the MNO, cell-level agreements), starts `gridcell serve` on it as a uvicorn subprocess with the
default durability (synchronous=FULL) and drives it from this process over loopback: the ingest phases
with httpx (they read every acknowledgement), the latency runs with gridcell's lean keep-alive client.

Figures (the names are a fixed interface):

* ``alarm_ingest_rate``: acknowledged alarms/s when notifyNewAlarm notifications arrive as JSON
  arrays of INGEST_BATCH over INGEST_CONNECTIONS keep-alive connections (an acknowledgement means
  the alarm, the status changes and the subscriber notifications it caused are committed).
* ``alarm_ingest_rate_single``: the same with one notification per request.
* ``ves_batch_ingest_rate``: VES 7.2 `fault` domain events/s through /eventListener/v7/eventBatch in batches of
  INGEST_BATCH (each mapped to an alarm; 202 means stored), in the same server as alarm_ingest_rate.
* ``alarm_to_webhook_p50_ms`` / ``alarm_to_webhook_p99_ms``: alarms paced at ``rate`` (LATENCY_BATCH
  alarms per request) for ``duration_s``; latency = arrival at the webhook receiver (an asyncio
  server in this process) − the moment the POST carrying the alarm was handed to the client. Both
  instants come from this process's monotonic clock.

Only loopback addresses are used; subprocesses and temporary directories are removed on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import httpx
import orjson

from gridcell.bench import python_speed_ms
from gridcell.core.webhook_http import WebhookClient

PLMN = "26201"
TOTAL_SITES = 5000  # DSO sites (one serving cell each), split evenly over the DSOs
CELLS_PER_RAN_SITE = 10
INGEST_BATCH = 100
VES_BATCH_PATH = "/eventListener/v7/eventBatch"
INGEST_CONNECTIONS = 4
LATENCY_BATCH = 10
WARMUP_S = 1.0  # paced warm-up before the measured latency run (reported apart as the cold start)
WARMUP_OFFSET = 10_000_000  # keeps the warm-up's alarm and notification ids apart from the measured run's
DRAIN_TIMEOUT_S = 30.0
STARTUP_TIMEOUT_S = 60.0
PING_INTERVAL_S = 60.0  # today: the DSO pings its CPEs every 60 s
PING_MEAN_DETECTION_MS = PING_INTERVAL_S * 1000 / 2
LOOPBACK = "127.0.0.1"
INGEST_PATH = "/api/v1/ingest/notifications"

_T = TypeVar("_T")


# ---- the world --------------------------------------------------------------------------------------


@dataclass
class World:
    mno_token: str
    cells: list[tuple[str, str]]  # (cell id, DN); cell c serves site c // n_dsos of DSO c % n_dsos
    matches: list[int]  # webhook subscriptions a status change of cell c's site matches
    n_dsos: int
    sites_per_dso: int
    n_subscriptions: int


def build_world(url: str, n_subscriptions: int, callback_base: str | None) -> World:
    """One MNO and ceil(n/2) DSOs; each DSO subscribes to all its sites and (if the count allows) to its
    even-numbered sites with a minStatus filter, so a site's status change matches one or two subscriptions.
    Without callback_base the subscriptions have no webhook (SSE only): the outbox is written, nothing
    is sent."""
    from gridcell.core.db import Database
    from gridcell.exposure import status, subscriptions
    from gridcell.migrations import upgrade
    from gridcell.tenancy import service as tenancy
    from gridcell.topology import service as topology

    n_dsos = max(1, math.ceil(n_subscriptions / 2))
    per_dso = max(2, math.ceil(TOTAL_SITES / n_dsos))
    n_cells = n_dsos * per_dso
    cells = [(f"{PLMN}-C{c}", f"SubNetwork=1,ManagedElement=gNB-{c // CELLS_PER_RAN_SITE},GNBDUFunction=1,"
                              f"NRCellDU={c}") for c in range(n_cells)]
    db = Database(url, sqlite_synchronous="NORMAL")  # set-up only; the server opens it with its own setting
    try:
        upgrade(db)
        with db.write() as s:
            mno = tenancy.create_org(s, "bench MNO", "mno")
            dsos = [tenancy.create_org(s, f"bench DSO {d}", "dso") for d in range(n_dsos)]
            s.flush()
            _, mno_token = tenancy.create_client(s, mno, "operator", "bench")
            for dso in dsos:
                tenancy.create_agreement(s, dso, mno, [PLMN], "cell")
        ran_sites = [{"id": f"RAN-{r}", "name": f"RAN site {r}", "lat": 47.0 + 0.001 * r, "lon": 7.0,
                      "dn": f"SubNetwork=1,ManagedElement=gNB-{r}", "batteryCapacityWh": 9600, "loadW": 2400,
                      "cells": [{"cellId": cells[c][0], "plmn": PLMN, "azimuth": 90.0, "rangeM": 100,
                                 "dn": cells[c][1]}
                                for c in range(r * CELLS_PER_RAN_SITE,
                                               min(n_cells, (r + 1) * CELLS_PER_RAN_SITE))]}
                     for r in range(math.ceil(n_cells / CELLS_PER_RAN_SITE))]
        with db.write() as s:
            topology.import_topology(s, mno, {"ranSites": ran_sites})
        for d, dso in enumerate(dsos):
            sites = [{"id": f"D{d}-S{j}", "name": f"DSO {d} substation {j}", "kind": "secondary_substation",
                      "lat": 49.0 + 0.0001 * j, "lon": 8.0 + 0.001 * d, "customers": 100,
                      "cpes": [{"id": f"D{d}-CPE{j}", "usims": [
                          {"plmn": PLMN, "role": "primary", "servingCellId": cells[j * n_dsos + d][0]}]}]}
                     for j in range(per_dso)]
            with db.write() as s:
                topology.import_topology(s, dso, {"sites": sites})
                s.flush()
                status.rebuild_org(s, dso)
        made = 0
        with db.write() as s:
            for d, dso in enumerate(dsos):
                even_sites = [f"D{d}-S{j}" for j in range(0, per_dso, 2)]
                for part in ("all", "even"):
                    if made >= n_subscriptions:
                        break
                    subscriptions.create(
                        s, dso, callback_uri=f"{callback_base}/hook/{d}/{part}" if callback_base else None,
                        site_ids=None if part == "all" else even_sites, area=None,
                        plmns=[PLMN] if part == "all" else None,
                        min_status="ok" if part == "all" else "at_risk",
                        event_kinds=None, allow_private=True)
                    made += 1
    finally:
        db.dispose()
    n_second = max(0, n_subscriptions - n_dsos)  # DSOs 0 .. n_second-1 have the second subscription
    matches = [1 + (c % n_dsos < n_second and (c // n_dsos) % 2 == 0) for c in range(n_cells)]
    return World(mno_token, cells, matches, n_dsos, per_dso, n_subscriptions)


def alarm(nid: int, alarm_id: str, dn: str, *, clear: bool = False) -> dict[str, Any]:
    """A TS 28.532 notifyNewAlarm (CRITICAL: the cell is out of service) or its notifyClearedAlarm."""
    return {"href": "https://oss.mno.example/ProvMnS/v1/" + dn.replace(",", "/"), "notificationId": nid,
            "notificationType": "notifyClearedAlarm" if clear else "notifyNewAlarm",
            "eventTime": datetime.now(UTC).isoformat(), "systemDN": "DC=mno.example,SubNetwork=1",
            "objectInstance": dn, "alarmId": alarm_id, "alarmType": "EQUIPMENT_ALARM",
            "probableCause": "EQUIPMENT_MALFUNCTION", "perceivedSeverity": "CLEARED" if clear else "CRITICAL",
            "additionalText": "bench"}


# ---- the server under test --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """`gridcell serve` in a subprocess on a given SQLite file; stopped (then killed) on exit."""

    def __init__(self, workdir: Path, url: str, settings: dict[str, str] | None = None) -> None:
        self.workdir, self.url = workdir, url
        self.settings = settings or {}  # GRIDCELL_* settings for the server, beside the bench's own
        self.port = _free_port()
        self.base = f"http://{LOOPBACK}:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDCELL_")}
        # The webhook receiver listens on loopback, which the server refuses to reach unless told otherwise.
        env.update(GRIDCELL_DATABASE_URL=self.url, GRIDCELL_SQLITE_SYNCHRONOUS="FULL",
                   GRIDCELL_ALLOW_PRIVATE_WEBHOOKS="true", **self.settings)
        self._log = (self.workdir / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from gridcell.cli import main; main()", "serve", "--host", LOOPBACK,
             "--port", str(self.port), "--log-level", "warning"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"gridcell serve exited with {self.proc.returncode}: {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"gridcell serve not ready after {STARTUP_TIMEOUT_S:.0f} s: {self.log_tail()}")

    def log_tail(self, n: int = 2000) -> str:
        try:
            return (self.workdir / "server.log").read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gridcell-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _run_async(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a runtime dependency
        pass
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(factory())


# ---- ingest -----------------------------------------------------------------------------------------


@dataclass
class IngestResult:
    alarms: int
    requests: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        return self.alarms / self.elapsed_s if self.elapsed_s > 0 else 0.0


async def _post_bodies(base: str, token: str, bodies: list[tuple[bytes, int]],
                       connections: int, path: str = INGEST_PATH) -> IngestResult:
    """POST pre-serialised bodies over `connections` keep-alive connections; each must be acknowledged (the VES
    listener acknowledges with 202 and no body: every event of the batch stored or recorded)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    queue = iter(bodies)
    acknowledged = 0
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=120) as client:

        async def worker() -> None:
            nonlocal acknowledged
            for body, n in queue:  # shared iterator: bounded by len(bodies)
                r = await client.post(path, content=body)
                if r.status_code != (202 if path == VES_BATCH_PATH else 200):
                    raise RuntimeError(f"ingest answered {r.status_code}: {r.text[:500]}")
                if path != VES_BATCH_PATH:
                    got = r.json()
                    if got["accepted"] + got["duplicates"] + got.get("stale", 0) != n:
                        raise RuntimeError(f"ingest acknowledged {got} for {n} notifications")
                acknowledged += n

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - t0
    return IngestResult(acknowledged, len(bodies), elapsed)


def _ingest_bodies(world: World, start: int, count: int, per_request: int) -> list[tuple[bytes, int]]:
    """`count` distinct new alarms, round-robin over the cells (consecutive alarms hit different DSOs)."""
    n_cells = len(world.cells)
    out: list[tuple[bytes, int]] = []
    for i in range(start, start + count, per_request):
        stop = min(start + count, i + per_request)
        batch = [alarm(k + 1, f"I{k}", world.cells[k % n_cells][1]) for k in range(i, stop)]
        out.append((orjson.dumps(batch if per_request > 1 else batch[0]), len(batch)))
    return out


def ves_fault(k: int, dn: str) -> dict[str, Any]:
    """A VES 7.2 `fault` domain event as O-RAN O1 agents send one: cell k's own alarm (alarmInterfaceA tells the
    alarms of one cell apart), CRITICAL."""
    now_us = int(time.time() * 1_000_000)
    return {"commonEventHeader": {"domain": "fault", "eventId": f"fault{k:09d}", "eventName": "Fault_gNB_CellDown",
                                  "sequence": k, "priority": "High", "reportingEntityName": "bench-oam",
                                  "sourceName": dn, "startEpochMicrosec": now_us, "lastEpochMicrosec": now_us,
                                  "version": "4.1", "vesEventListenerVersion": "7.2.1"},
            "faultFields": {"faultFieldsVersion": "4.0", "alarmCondition": "cellDown", "alarmInterfaceA": f"if{k}",
                            "eventSeverity": "CRITICAL", "eventSourceType": "gNB",
                            "specificProblem": "cell out of service", "vfStatus": "Active"}}


def _ves_bodies(world: World, start: int, count: int, per_request: int) -> list[tuple[bytes, int]]:
    n_cells = len(world.cells)
    return [(orjson.dumps({"eventList": [ves_fault(k + 1, world.cells[k % n_cells][1])
                                         for k in range(i, min(start + count, i + per_request))]}),
             min(start + count, i + per_request) - i)
            for i in range(start, start + count, per_request)]


def measure_ingest(base: str, world: World, alarms: int) -> tuple[IngestResult, IngestResult, IngestResult]:
    """(batched, single, VES batches): warm up, then single-notification requests, then batches of
    INGEST_BATCH as JSON arrays, then the same count as VES eventBatch requests of fault events."""
    n_single = max(INGEST_CONNECTIONS, alarms // 10)
    warm = (_ingest_bodies(world, 0, 2 * INGEST_BATCH, INGEST_BATCH)
            + _ingest_bodies(world, 2 * INGEST_BATCH, 20, 1))
    single = _ingest_bodies(world, 2 * INGEST_BATCH + 20, n_single, 1)
    batched = _ingest_bodies(world, 2 * INGEST_BATCH + 20 + n_single, alarms, INGEST_BATCH)
    ves = _ves_bodies(world, 0, alarms, INGEST_BATCH)
    _run_async(lambda: _post_bodies(base, world.mno_token, warm, INGEST_CONNECTIONS))
    _run_async(lambda: _post_bodies(base, world.mno_token, _ves_bodies(world, alarms, 2 * INGEST_BATCH,
                                                                       INGEST_BATCH),
                                    INGEST_CONNECTIONS, VES_BATCH_PATH))
    single_result = _run_async(lambda: _post_bodies(base, world.mno_token, single, INGEST_CONNECTIONS))
    batch_result = _run_async(lambda: _post_bodies(base, world.mno_token, batched, INGEST_CONNECTIONS))
    ves_result = _run_async(lambda: _post_bodies(base, world.mno_token, ves, INGEST_CONNECTIONS, VES_BATCH_PATH))
    return batch_result, single_result, ves_result


# ---- webhook latency --------------------------------------------------------------------------------


@dataclass
class Hooks:
    """What the webhook receiver saw: (arrival on the monotonic clock, body) in arrival order."""

    arrivals: list[tuple[float, bytes]] = field(default_factory=list)
    bad: int = 0


class _HookProtocol(asyncio.Protocol):
    """A minimal HTTP/1.1 keep-alive server: records each POST body with its arrival time, answers 204."""

    MAX_HEAD = 64 * 1024

    def __init__(self, hooks: Hooks) -> None:
        self.hooks = hooks
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's TCPTransport is not a subclass

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buf += data
        while self.transport is not None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > self.MAX_HEAD:
                    self._fail()
                return
            length = 0
            for line in bytes(self.buf[:end]).split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or b"0")
            total = end + 4 + length
            if len(self.buf) < total:
                return
            body = bytes(self.buf[end + 4:total])
            del self.buf[:total]
            self.hooks.arrivals.append((now, body))
            self.transport.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")

    def _fail(self) -> None:
        self.hooks.bad += 1
        if self.transport is not None:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
            self.transport.close()
            self.transport = None


def match_deliveries(arrivals: list[tuple[float, bytes]],
                     sent_at: dict[str, float]) -> tuple[list[float], int, int, int]:
    """Latency per delivered notification: (ms list, unique deliveries, duplicates, unmatched).

    A "down" names its alarm in reasons[0].events[0] (cell-level agreement); a return to "ok" has no
    reasons, and since delivery is in order per subscription it answers that site's last raise.
    """
    latencies: list[float] = []
    seen: set[str] = set()
    last_raise: dict[tuple[str, str], str] = {}
    duplicates = unmatched = 0
    for arrived, raw in arrivals:
        try:
            p = orjson.loads(raw)
            nid, where = p["notificationId"], (p["subscriptionId"], p["site"]["id"])
            if nid in seen:
                duplicates += 1
                continue
            seen.add(nid)
            if p["status"] == "down":
                aid = p["reasons"][0]["events"][0]["id"]
                last_raise[where] = aid
                key = f"{aid}|raise"
            else:
                key = f"{last_raise.get(where)}|clear"
        except (KeyError, IndexError, TypeError, orjson.JSONDecodeError):
            unmatched += 1
            continue
        t_sent = sent_at.get(key)
        if t_sent is None:
            unmatched += 1
            continue
        latencies.append((arrived - t_sent) * 1000)
    return latencies, len(seen), duplicates, unmatched


@dataclass
class LatencyResult:
    latencies_ms: list[float]
    alarms_sent: int
    alarms_acknowledged: int
    requests: int
    send_window_s: float
    elapsed_s: float
    expected: int
    received: int
    duplicates: int
    unmatched: int
    max_request_ms: float
    cold: LatencyResult | None = None  # the warm-up run before this one, on a server that had just started

    @property
    def achieved_rate(self) -> float:
        return self.alarms_acknowledged / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile(self, q: float) -> float | None:
        data = sorted(self.latencies_ms)
        if not data:
            return None
        return data[min(len(data) - 1, max(0, math.ceil(q / 100 * len(data)) - 1))]  # nearest rank


@dataclass
class PacedRun:
    """What a paced run sent: the send instant of every alarm (by "<alarmId>|raise" / "|clear"), the
    webhooks it should cause, and the request timings."""

    sent_at: dict[str, float]
    expected: int
    acknowledged: int
    n_alarms: int
    n_requests: int
    request_ms: list[float]
    t0: float
    last_send: float
    end: float


SENDER_NOTE = "gridcell.core.webhook_http keep-alive HTTP/1.1 client, one connection per request in flight"


class Sender:
    """The MNO side of the latency runs: ingest POSTs over keep-alive HTTP/1.1 through gridcell's own lean
    client (core.webhook_http). httpx spent ~0.5 ms of CPU per request in this process, which shares the two
    cores with the server, and those 0.5 ms sat inside every measured latency before the request left."""

    def __init__(self, base: str, token: str, timeout_s: float = 120.0) -> None:
        self.url = base + INGEST_PATH
        self.headers = (("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"))
        self.client = WebhookClient(timeout_s, allow_private=True)  # loopback only

    async def post(self, body: bytes) -> None:
        status = await self.client.post(self.url, body, self.headers)
        if status != 200:
            raise RuntimeError(f"ingest answered {status} (see the server log)")

    async def close(self) -> None:
        await self.client.close()


async def post_paced(clients: list[Sender], world: World, rate: float, duration_s: float, batch: int,
                     offset: int = 0, n_cells: int | None = None) -> PacedRun:
    """Raise, then clear, one cell per alarm at `rate` for `duration_s`, `batch` alarms per request, spread
    over the senders in turn. Requests are not held back when the server falls behind. `offset` keeps the
    alarm and notification ids of successive runs against one database apart; `n_cells` limits the run to
    the first cells (a run of 2 × n_cells alarms leaves every cell it touched cleared)."""
    n_cells = min(n_cells or len(world.cells), len(world.cells))
    n_alarms = max(1, round(rate * duration_s))
    n_requests = math.ceil(n_alarms / batch)
    interval = batch / rate
    run = PacedRun({}, 0, 0, n_alarms, n_requests, [], 0.0, 0.0, 0.0)

    async def post(client: Sender, body: bytes, n: int, t_sent: float) -> float:
        await client.post(body)
        run.acknowledged += n
        done = time.perf_counter()
        run.request_ms.append((done - t_sent) * 1000)
        return done

    tasks: list[asyncio.Task[float]] = []
    run.t0 = run.last_send = time.perf_counter() + 0.05
    prefix = f"L{offset}-"
    for i in range(n_requests):
        delay = run.t0 + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        items, keys = [], []
        for k in range(i * batch, min(n_alarms, (i + 1) * batch)):
            cell, rnd = k % n_cells, k // n_cells
            aid = f"{prefix}{rnd // 2}-{cell}"
            clear = rnd % 2 == 1
            items.append(alarm(offset + k + 1, aid, world.cells[cell][1], clear=clear))
            keys.append(f"{aid}|{'clear' if clear else 'raise'}")
            run.expected += world.matches[cell]
        body = orjson.dumps(items if batch > 1 else items[0])
        run.last_send = time.perf_counter()
        for key in keys:
            run.sent_at[key] = run.last_send
        tasks.append(asyncio.create_task(post(clients[i % len(clients)], body, len(items), run.last_send)))
    run.end = max(await asyncio.gather(*tasks))
    return run


async def _latency(base: str, world: World, sock: socket.socket, rate: float, duration_s: float,
                   batch: int) -> LatencyResult:
    loop = asyncio.get_running_loop()
    hooks = Hooks()
    receiver = await loop.create_server(lambda: _HookProtocol(hooks), sock=sock)
    sender = Sender(base, world.mno_token)  # the warm-up opens its connections before the clock starts
    try:
        return await warm_then_measure([sender], world, hooks, rate, duration_s, batch)
    finally:
        await sender.close()
        receiver.close()
        await receiver.wait_closed()


async def warm_then_measure(clients: list[Sender], world: World, hooks: Hooks, rate: float,
                            duration_s: float, batch: int, offset: int = 0) -> LatencyResult:
    """A paced warm-up, then the measured run. The warm-up (WARMUP_S at the same rate) raises, then clears,
    the first cells, so the measured run starts from an all-ok world on servers that have served traffic
    (connections to the subscribers open, statements compiled); its figures come back as `cold`."""
    warm_cells = max(1, round(rate * WARMUP_S / 2))
    # This process stamps the send and arrival instants, so its own pauses would count as the server's:
    # its full garbage collections took 70-97 ms with the ingest phase's objects about. Collect now, freeze
    # what is left, and hold the collector off until both runs are over (they allocate a few MB).
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        warm = await post_paced(clients, world, rate, WARMUP_S, batch, WARMUP_OFFSET + offset, warm_cells)
        await _drain(hooks, warm.expected)
        cold = _result(warm, hooks)
        hooks.arrivals.clear()
        hooks.bad = 0
        run = await post_paced(clients, world, rate, duration_s, batch, offset)
        await _drain(hooks, run.expected)
    finally:
        gc.enable()
        gc.unfreeze()
    result = _result(run, hooks)
    result.cold = cold
    return result


async def _drain(hooks: Hooks, expected: int) -> None:
    deadline = time.perf_counter() + DRAIN_TIMEOUT_S
    while len(hooks.arrivals) < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # catch duplicates / strays


def _result(run: PacedRun, hooks: Hooks) -> LatencyResult:
    latencies, seen, duplicates, unmatched = match_deliveries(hooks.arrivals, run.sent_at)
    return LatencyResult(latencies, run.n_alarms, run.acknowledged, run.n_requests, run.last_send - run.t0,
                         run.end - run.t0, run.expected, seen, duplicates, unmatched + hooks.bad,
                         max(run.request_ms, default=0.0))


def cold_start(cold: LatencyResult | None) -> dict[str, Any]:
    """The warm-up run, which met the server just started: what the first second after a restart sees."""
    if cold is None:
        return {}
    p50, p99 = cold.percentile(50), cold.percentile(99)
    return {"warmup": f"{WARMUP_S:g} s at the same rate before the clock starts ({cold.alarms_sent} alarms: "
                      f"the first {cold.alarms_sent // 2} cells raised, then cleared), not counted in the figure",
            "cold_start_p50_ms": None if p50 is None else round(p50, 2),
            "cold_start_p99_ms": None if p99 is None else round(p99, 2),
            "cold_start_deliveries": f"{cold.received}/{cold.expected}, {cold.duplicates} duplicates"}


# ---- the figures ------------------------------------------------------------------------------------


def run(alarms: int = 20_000, rate: float = 1000.0, duration_s: float = 10.0,
        n_subscriptions: int = 100) -> Iterator[dict[str, Any]]:
    """Yield alarm_ingest_rate, alarm_ingest_rate_single, ves_batch_ingest_rate, alarm_to_webhook_p50_ms,
    alarm_to_webhook_p99_ms."""
    if alarms < 1 or rate <= 0 or duration_s <= 0 or n_subscriptions < 1:
        raise ValueError("alarms, rate, duration_s and n_subscriptions must be positive")
    cores = os.cpu_count() or 1
    common = {"backend": "sqlite", "sqlite_synchronous": "FULL",
              "server": "gridcell serve (uvicorn, 1 process)",
              "transport": "HTTP/1.1 over loopback", "machine_cores": cores,
              "python_speed_ms": python_speed_ms()}

    with _workdir() as work:
        url = f"sqlite:///{work / 'gridcell.db'}"
        world = build_world(url, n_subscriptions, None)
        with Server(work, url) as server:
            batched, single, ves = measure_ingest(server.base, world, alarms)
    ctx = {**common, "connections": INGEST_CONNECTIONS,
           "notification": "notifyNewAlarm (CRITICAL, one cell each)",
           "sites": len(world.cells), "subscriptions": world.n_subscriptions,
           "subscriptions_note": "no webhook during ingest (outbox rows are written, nothing is sent)"}
    yield {"figure": "alarm_ingest_rate", "value": round(batched.rate), "unit": "alarms/s",
           "compare": f"goal >= 5000 alarms/s on SQLite; {round(single.rate)} alarms/s with one notification "
                      f"per request (alarm_ingest_rate_single), {batched.rate / max(single.rate, 1e-9):.1f}x",
           **ctx, "batch_size": INGEST_BATCH, "alarms": batched.alarms, "requests": batched.requests,
           "elapsed_s": round(batched.elapsed_s, 3)}
    yield {"figure": "alarm_ingest_rate_single", "value": round(single.rate), "unit": "alarms/s",
           "compare": f"{round(batched.rate)} alarms/s in arrays of {INGEST_BATCH} (alarm_ingest_rate)",
           **ctx, "batch_size": 1, "alarms": single.alarms, "requests": single.requests,
           "elapsed_s": round(single.elapsed_s, 3)}
    yield {"figure": "ves_batch_ingest_rate", "value": round(ves.rate), "unit": "events/s",
           "compare": f"{round(batched.rate)} alarms/s as 3GPP notifications in arrays of {INGEST_BATCH} in the same "
                      f"server (alarm_ingest_rate), {ves.rate / max(batched.rate, 1e-9):.2f}x",
           **{**ctx, "notification": "VES 7.2 fault domain events (CRITICAL, one cell each), mapped to alarms"},
           "path": VES_BATCH_PATH, "batch_size": INGEST_BATCH, "events": ves.alarms, "requests": ves.requests,
           "elapsed_s": round(ves.elapsed_s, 3)}

    with _workdir() as work, socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, 0))
        sock.listen(1024)
        sock.setblocking(False)
        url = f"sqlite:///{work / 'gridcell.db'}"
        world = build_world(url, n_subscriptions, f"http://{LOOPBACK}:{sock.getsockname()[1]}")
        with Server(work, url) as server:
            result = _run_async(lambda: _latency(server.base, world, sock, rate, duration_s, LATENCY_BATCH))
    ctx = {**common, "target_rate": rate, "achieved_rate": round(result.achieved_rate, 1),
           "pacing": f"{LATENCY_BATCH} alarms per request every {LATENCY_BATCH / rate * 1000:g} ms "
                     f"(raise, then clear, of one cell each)",
           "sender": SENDER_NOTE,
           "duration_s": duration_s, "alarms": result.alarms_sent, "requests": result.requests,
           "webhook_subscriptions": world.n_subscriptions, "dsos": world.n_dsos, "sites": len(world.cells),
           "matches_per_alarm": "1-2", "deliveries_expected": result.expected,
           "deliveries_received": result.received, "duplicates": result.duplicates,
           "unmatched": result.unmatched, "ingest_request_max_ms": round(result.max_request_ms, 1),
           **cold_start(result.cold),
           "mean_ms": round(statistics.fmean(result.latencies_ms), 2) if result.latencies_ms else None,
           "max_ms": round(max(result.latencies_ms), 2) if result.latencies_ms else None}
    compare = (f"today a DSO learns of trouble from a {PING_INTERVAL_S:g} s ping: mean detection "
               f"{PING_MEAN_DETECTION_MS:g} ms")
    for q in (50, 99):
        value = result.percentile(q)
        yield {"figure": f"alarm_to_webhook_p{q}_ms", "value": None if value is None else round(value, 2),
               "unit": "ms", "compare": compare, **ctx}
