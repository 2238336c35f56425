"""Cluster benchmark: alarm ingest rate with 1 and 2 `gridcell serve --cluster` processes on PostgreSQL and
NATS JetStream, and MNO alarm → DSO webhook latency across the cluster, over real HTTP.

The world is the exposure benchmark's (`gridcell.bench.exposure.build_world`: one MNO, DSOs with 100
subscriptions, 5000 sites) in a private PostgreSQL database created for the run and dropped after it;
the JetStream streams use a prefix of the run's own and are deleted after it.

Figures (the names are a fixed interface):

* ``cluster_alarm_ingest_rate``, once with ``processes`` = 1 and once with 2: acknowledged alarms/s,
  notifyNewAlarm in JSON arrays of 100 over INGEST_CONNECTIONS keep-alive connections *per process*,
  requests spread over the processes as a load balancer would (an acknowledgement means the alarm, the
  status changes and the outbox rows are committed in PostgreSQL and the wake-ups handed to the bus).
* ``cluster_alarm_to_webhook_p99_ms``, with 1 and 2 processes: alarms paced at ``rate`` (default 100/s, below
  the point where one process on PostgreSQL saturates with 10-alarm requests on a 2-core machine; 10 per request,
  requests alternating over the processes); latency = arrival at the webhook receiver (in this process)
  − the moment the POST carrying the alarm was handed to the client. Subscriptions are delivered by
  whichever process holds their lease, so with 2 processes most wake-ups cross NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import make_url

from gridcell.bench.exposure import (
    INGEST_BATCH,
    INGEST_PATH,
    LATENCY_BATCH,
    LOOPBACK,
    SENDER_NOTE,
    Hooks,
    IngestResult,
    LatencyResult,
    Sender,
    Server,
    World,
    _HookProtocol,
    _ingest_bodies,
    _run_async,
    _workdir,
    build_world,
    cold_start,
    warm_then_measure,
)

INGEST_CONNECTIONS = 4  # per process
DRAIN_TIMEOUT_S = 60.0
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_NATS = "nats://127.0.0.1:4222"


class ClusterServer(Server):
    """`gridcell serve --cluster` in a subprocess, on the shared database and bus prefix."""

    def __init__(self, workdir: Path, url: str, nats_url: str, prefix: str, name: str) -> None:
        super().__init__(workdir, url)
        self.nats_url, self.prefix, self.name = nats_url, prefix, name

    def __enter__(self) -> ClusterServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDCELL_")}
        env.update(GRIDCELL_DATABASE_URL=self.url, GRIDCELL_CLUSTER="true", GRIDCELL_BUS_URL=self.nats_url,
                   GRIDCELL_BUS_PREFIX=self.prefix, GRIDCELL_ALLOW_PRIVATE_WEBHOOKS="true")
        self._log = (self.workdir / f"{self.name}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from gridcell.cli import main; main()", "serve", "--cluster", "--host", LOOPBACK,
             "--port", str(self.port), "--log-level", "warning"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def log_tail(self, n: int = 2000) -> str:
        try:
            return (self.workdir / f"{self.name}.log").read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""


@contextlib.contextmanager
def _database(base_url: str) -> Iterator[str]:
    import psycopg

    name = f"gridcell_bench_{uuid.uuid4().hex[:10]}"
    admin = make_url(base_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _delete_streams(nats_url: str, prefix: str) -> None:
    from gridcell.core.nats_bus import NatsBus

    bus = NatsBus(nats_url, prefix=prefix, node="bench-cleanup")
    try:
        bus.start()
        bus.delete_streams()
    finally:
        bus.close()


@contextlib.contextmanager
def _cluster(work: Path, url: str, nats_url: str, prefix: str, n: int) -> Iterator[list[ClusterServer]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(ClusterServer(work, url, nats_url, prefix, f"node{i}")) for i in range(n)]


# ---- ingest -----------------------------------------------------------------------------------------


async def _post_spread(bases: list[str], token: str, bodies: list[tuple[bytes, int]]) -> IngestResult:
    """POST the bodies over INGEST_CONNECTIONS connections per process; connection k talks to process k % n."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    queue = iter(bodies)
    acknowledged = 0
    clients = [httpx.AsyncClient(base_url=b, headers=headers, timeout=120, limits=httpx.Limits(
        max_connections=INGEST_CONNECTIONS, max_keepalive_connections=INGEST_CONNECTIONS)) for b in bases]
    try:
        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal acknowledged
            for body, n in queue:
                r = await client.post(INGEST_PATH, content=body)
                if r.status_code != 200:
                    raise RuntimeError(f"ingest answered {r.status_code}: {r.text[:500]}")
                got = r.json()
                if got["accepted"] + got["duplicates"] + got.get("stale", 0) != n:
                    raise RuntimeError(f"ingest acknowledged {got} for {n} notifications")
                acknowledged += n

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in clients for _ in range(INGEST_CONNECTIONS)))
        elapsed = time.perf_counter() - t0
    finally:
        for c in clients:
            await c.aclose()
    return IngestResult(acknowledged, len(bodies), elapsed)


# ---- latency ----------------------------------------------------------------------------------------


async def _latency(bases: list[str], world: World, sock: socket.socket, rate: float, duration_s: float,
                   offset: int) -> LatencyResult:
    loop = asyncio.get_running_loop()
    hooks = Hooks()
    receiver = await loop.create_server(lambda: _HookProtocol(hooks), sock=sock)
    senders = [Sender(b, world.mno_token) for b in bases]  # the warm-up opens the connections
    try:
        return await warm_then_measure(senders, world, hooks, rate, duration_s, LATENCY_BATCH, offset)
    finally:
        for sender in senders:
            await sender.close()
        receiver.close()
        await receiver.wait_closed()


# ---- the figures ------------------------------------------------------------------------------------


def run(alarms: int = 20_000, rate: float = 100.0, duration_s: float = 10.0, n_subscriptions: int = 100,
        database_url: str | None = None, nats_url: str | None = None) -> Iterator[dict[str, Any]]:
    if alarms < 1 or rate <= 0 or duration_s <= 0 or n_subscriptions < 1:
        raise ValueError("alarms, rate, duration_s and n_subscriptions must be positive")
    pg = database_url or os.environ.get("GRIDCELL_BENCH_POSTGRES_URL", DEFAULT_PG)
    nats_url = nats_url or os.environ.get("GRIDCELL_BENCH_NATS_URL", DEFAULT_NATS)
    cores = os.cpu_count() or 1
    common = {"backend": "postgresql", "bus": "nats-jetstream", "server": "gridcell serve --cluster (uvicorn)",
              "transport": "HTTP/1.1 over loopback", "machine_cores": cores,
              "machine_note": "PostgreSQL, NATS, every gridcell process and the load generator share the machine"}

    # Ingest: one database, first one process, then a second joins (new alarm ids each phase).
    ingest: dict[int, IngestResult] = {}
    prefix = f"gcbench{uuid.uuid4().hex[:8]}"
    try:
        with _workdir() as work, _database(pg) as url:
            world = build_world(url, n_subscriptions, None)
            start = 0
            for n in (1, 2):
                with _cluster(work, url, nats_url, prefix, n) as servers:
                    bases = [s.base for s in servers]
                    warm = _ingest_bodies(world, start, 4 * INGEST_BATCH * n, INGEST_BATCH)
                    start += 4 * INGEST_BATCH * n
                    _run_async(partial(_post_spread, bases, world.mno_token, warm))
                    bodies = _ingest_bodies(world, start, alarms, INGEST_BATCH)
                    start += alarms
                    ingest[n] = _run_async(partial(_post_spread, bases, world.mno_token, bodies))
    finally:
        _delete_streams(nats_url, prefix)
    for n, other in ((1, 2), (2, 1)):
        res = ingest[n]
        yield {"figure": "cluster_alarm_ingest_rate", "value": round(res.rate), "unit": "alarms/s",
               "compare": f"{round(ingest[other].rate)} alarms/s with {other} process(es), "
                          f"{res.rate / max(ingest[other].rate, 1e-9):.2f}x; the embedded figure is "
                          f"alarm_ingest_rate (SQLite, one process)",
               **common, "processes": n, "connections": INGEST_CONNECTIONS * n, "batch_size": INGEST_BATCH,
               "subscriptions": world.n_subscriptions, "sites": len(world.cells),
               "subscriptions_note": "no webhook during ingest (outbox rows are written, nothing is sent)",
               "alarms": res.alarms, "requests": res.requests, "elapsed_s": round(res.elapsed_s, 3)}

    latency: dict[int, LatencyResult] = {}
    for n in (1, 2):
        prefix = f"gcbench{uuid.uuid4().hex[:8]}"
        try:
            with _workdir() as work, _database(pg) as url, \
                    socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((LOOPBACK, 0))
                sock.listen(1024)
                sock.setblocking(False)
                world = build_world(url, n_subscriptions, f"http://{LOOPBACK}:{sock.getsockname()[1]}")
                with _cluster(work, url, nats_url, prefix, n) as servers:
                    bases = [s.base for s in servers]
                    latency[n] = _run_async(partial(_latency, bases, world, sock, rate, duration_s, 0))
        finally:
            _delete_streams(nats_url, prefix)
    for n, other in ((1, 2), (2, 1)):
        lat = latency[n]
        p99, p50 = lat.percentile(99), lat.percentile(50)
        other_p99 = latency[other].percentile(99)
        yield {"figure": "cluster_alarm_to_webhook_p99_ms", "value": None if p99 is None else round(p99, 2),
               "unit": "ms", "compare": f"{other_p99 if other_p99 is None else round(other_p99, 2)} ms with "
                                        f"{other} process(es); the embedded figure is alarm_to_webhook_p99_ms",
               **common, "processes": n, "p50_ms": None if p50 is None else round(p50, 2),
               "mean_ms": round(statistics.fmean(lat.latencies_ms), 2) if lat.latencies_ms else None,
               "max_ms": round(max(lat.latencies_ms), 2) if lat.latencies_ms else None,
               "target_rate": rate, "achieved_rate": round(lat.achieved_rate, 1), "duration_s": duration_s,
               "pacing": f"{LATENCY_BATCH} alarms per request every {LATENCY_BATCH / rate * 1000:g} ms, "
                         f"requests alternating over the processes",
               "sender": SENDER_NOTE,
               "webhook_subscriptions": world.n_subscriptions, "deliveries_expected": lat.expected,
               "deliveries_received": lat.received, "duplicates": lat.duplicates, "unmatched": lat.unmatched,
               "ingest_request_max_ms": round(lat.max_request_ms, 1), **cold_start(lat.cold)}
