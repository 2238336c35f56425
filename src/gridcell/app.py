"""FastAPI app factory: routers, error handlers, body limit, delivery workers, the time ticker.

Embedded (default): SQLite or PostgreSQL with the in-process bus; this process runs every job.
Cluster (`GRIDCELL_CLUSTER=true` or a nats:// `GRIDCELL_BUS_URL`): PostgreSQL, the NATS JetStream bus,
leases in PostgreSQL so each subscription is delivered by one process at a time and each background job
runs once across the cluster (see gridcell.core.leases and docs/cluster.md).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import orjson
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest
from sqlalchemy import func, select, text
from starlette.types import ASGIApp, Receive, Scope, Send

from gridcell import __version__, errors_http, plugins
from gridcell.config import Settings, get_settings
from gridcell.core import links, looplag, sealed
from gridcell.core.bus import Bus, InProcessBus
from gridcell.core.clock import utcnow
from gridcell.core.db import Database
from gridcell.core.health import check_store
from gridcell.core.leases import DbLeases, LeaseKeeper, Leases, LocalLeases, node_id, singleton
from gridcell.core.nats_bus import NatsBus
from gridcell.core.webhook_http import tls_context
from gridcell.exposure import status
from gridcell.exposure.delivery import DeliveryService
from gridcell.exposure.models import OutboxRow
from gridcell.exposure.subscriptions import OUTBOX_TOPIC
from gridcell.migrations import upgrade
from gridcell.wiring import wire

log = logging.getLogger(__name__)
OUTBOX_DEPTH = Gauge("gridcell_outbox_depth", "Webhook notifications not yet delivered")
OVERLOAD = Counter("gridcell_overload_refusals_total", "Ingest requests refused with 503 past capacity")


class BodyLimit:
    """Refuse bodies over the limit before they are read into memory (413, right error format)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise errors_http.BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except errors_http.BodyTooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        resp = errors_http.error_response(scope["path"], 413, "Payload too large",
                                          f"the body exceeds the limit of {self.max_bytes} bytes",
                                          method=scope.get("method"))
        await resp(scope, receive, send)


class InFlightLimit:
    """Past capacity, refuse at once: at most `limit` requests per ingest path are in the exchange at a time; the
    next one gets 503 with Retry-After before its body is read, instead of queueing for the worker threads."""

    PREFIXES = ("/api/v1/ingest", "/api/v1/telemetry/probes", "/eventListener")

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit
        self.in_flight: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        prefix = next((p for p in self.PREFIXES if path.startswith(p)), None)
        if prefix is None:
            await self.app(scope, receive, send)
            return
        if self.in_flight.get(prefix, 0) >= self.limit:
            OVERLOAD.inc()
            resp = errors_http.error_response(path, 503, "Service unavailable",
                                              f"{self.limit} requests are being processed; retry shortly",
                                              extra_headers={"Retry-After": "1"})
            await resp(scope, receive, send)
            return
        self.in_flight[prefix] = self.in_flight.get(prefix, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight[prefix] -= 1


def create_app(settings: Settings | None = None, db: Database | None = None, bus: Bus | None = None,
               *, run_workers: bool = True, migrate: bool = True, freeze_gc: bool = False) -> FastAPI:
    settings = settings or get_settings()
    links.configure(settings.public_url)  # absolute TMF hrefs
    sealed.configure(settings.secret_keys)  # credentials toward peers, encrypted at rest
    db = db or Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    node = settings.node_id or node_id()
    clustered = settings.clustered
    if clustered and db.is_sqlite:
        raise ValueError("cluster mode needs PostgreSQL: set GRIDCELL_DATABASE_URL=postgresql+psycopg://…")
    owns_bus = bus is None
    if bus is None:
        bus = (NatsBus(settings.nats_url, prefix=settings.bus_prefix, node=node, delivery_topics={OUTBOX_TOPIC},
                       replicas=settings.bus_replicas) if clustered else InProcessBus())
    leases: Leases = DbLeases(db, node, settings.lease_ttl_s) if clustered else LocalLeases(node)
    tls = None  # None: the webhook client loads the system's CAs at its first https delivery
    if settings.webhook_ca_file:
        try:
            tls = tls_context(settings.webhook_ca_file)
        except OSError as exc:  # ssl.SSLError included: fail at start, not at the first https delivery
            raise ValueError(f"GRIDCELL_WEBHOOK_CA_FILE={settings.webhook_ca_file}: {exc}") from exc
    wire(db, bus)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await asyncio.to_thread(_migrate, db)
        if isinstance(bus, NatsBus) and owns_bus:
            await asyncio.to_thread(bus.start)
        keeper = LeaseKeeper(leases)
        delivery = DeliveryService(db, bus, timeout_s=settings.webhook_timeout_s,
                                   allow_private=settings.allow_private_webhooks, tls=tls,
                                   max_backoff_s=settings.webhook_max_backoff_s,
                                   concurrency=settings.webhook_concurrency, leases=leases)
        tasks: list[asyncio.Task[None]] = [asyncio.create_task(looplag.monitor(), name="event-loop-lag")]
        if run_workers:
            db.start_background_checkpoints()
            keeper.start()
            await delivery.start()
            lookback = 2 * settings.lease_ttl_s if clustered else 0.0
            tasks.append(asyncio.create_task(singleton(
                app, "exposure.status_tick", lambda: _ticker(db, settings.tick_interval_s, app, lookback))))
            for module in plugins.modules("handlers"):
                if hasattr(module, "start"):
                    tasks.extend(await module.start(app))
        app.state.delivery = delivery
        if freeze_gc:  # a serving process (`gridcell serve`, the demo): one app for the process's life
            # Everything loaded so far (modules, numpy/pandas/shapely, compiled queries) lives as long as the
            # process: keep it out of the collector's full passes, which otherwise rescan it on every one.
            gc.freeze()
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            app.state.stopping = True
            for t in tasks:
                t.cancel()
            # Every step is bounded: a job that ignores cancellation must not keep the process alive.
            await _bounded(asyncio.gather(*tasks, return_exceptions=True), "background jobs", 10.0)
            if run_workers:
                await _bounded(delivery.stop(grace_s=settings.shutdown_grace_s), "delivery",
                               settings.shutdown_grace_s + 5.0)
                await _bounded(keeper.stop(), "lease keeper", 10.0)
                await _bounded(asyncio.to_thread(db.stop_background_checkpoints), "WAL checkpoint", 35.0)
            if isinstance(bus, NatsBus) and owns_bus:
                await asyncio.to_thread(bus.close)

    app = FastAPI(title="gridcell", version=__version__, lifespan=lifespan,
                  description="Operations exchange between energy utilities (DSOs) and mobile network operators "
                              "(MNOs): exposure, reporting and energy outage coordination.",
                  docs_url=None, redoc_url=None)  # /docs and /redoc: gridcell.web.api_docs, from vendored assets
    app.state.db, app.state.bus, app.state.settings = db, bus, settings
    app.state.leases, app.state.node_id, app.state.clustered = leases, node, clustered
    app.state.ready, app.state.stopping = False, False
    errors_http.install(app)
    errors_http.document_errors(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(InFlightLimit, limit=settings.max_in_flight_ingest)
    for module in plugins.modules("api"):
        if hasattr(module, "router"):
            app.include_router(module.router, prefix="/api/v1")
        for root_router in getattr(module, "root_routers", ()):
            app.include_router(root_router)

    @app.get("/healthz", tags=["ops"], summary="Liveness: 200 once started, until shutdown begins")
    def healthz() -> Response:
        if not app.state.ready:
            state = "stopping" if app.state.stopping else "starting"
            return Response(f'{{"status":"{state}"}}', status_code=503, media_type="application/json")
        return Response('{"status":"ok"}', media_type="application/json")

    @app.get("/readyz", tags=["ops"], summary="Readiness: database, bus and leases, with component detail")
    async def readyz() -> Response:
        components = {"database": await asyncio.to_thread(check_store, db, node), "bus": await _check_bus(bus),
                      "leases": leases.snapshot()}
        delivery: DeliveryService | None = getattr(app.state, "delivery", None)
        if delivery is not None:
            components["delivery"] = {"ok": True, "workers": len(delivery.workers),
                                      "subscriptions_owned": len(delivery.owned()) if clustered else None}
        ok = app.state.ready and all(c.get("ok") for c in components.values())
        body = {"status": "ready" if ok else ("stopping" if app.state.stopping else "not ready"), "node": node,
                "mode": "cluster" if clustered else "embedded", "components": components}
        return Response(orjson.dumps(body), status_code=200 if ok else 503, media_type="application/json")

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        with db.read() as session:
            OUTBOX_DEPTH.set(session.scalar(select(func.count()).select_from(OutboxRow)
                                            .where(OutboxRow.delivered_at.is_(None))) or 0)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def _migrate(db: Database) -> None:
    """Upgrade to heads; on PostgreSQL under an advisory lock, so processes starting together take turns."""
    if db.is_sqlite:
        upgrade(db)
        return
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(7243917)"))
        try:
            upgrade(db)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(7243917)"))
            conn.commit()


async def _bounded(step: Awaitable[Any], what: str, seconds: float) -> None:
    try:
        await asyncio.wait_for(step, seconds)
    except TimeoutError:
        log.warning("shutdown: %s did not finish within %.0f s; going on", what, seconds)


async def _check_bus(bus: Bus) -> dict[str, Any]:
    if isinstance(bus, NatsBus):
        return await bus.check()
    health = getattr(bus, "health", None)
    return health() if callable(health) else {"ok": True, "kind": type(bus).__name__}


async def _ticker(db: Database, interval_s: float, app: FastAPI, lookback_s: float = 0.0) -> None:
    """Moves status with time (maintenance windows opening and closing). On a takeover in a cluster it looks
    back over the time the previous holder may have missed (a recompute changes nothing twice)."""
    last = utcnow() - timedelta(seconds=lookback_s)
    while True:
        await asyncio.sleep(interval_s)
        now = utcnow()
        try:
            await asyncio.to_thread(_tick, db, last, now)
            last = now
        except Exception:  # keep ticking; the next tick covers the same interval again
            log.exception("status tick failed")


def _tick(db: Database, after: Any, until: Any) -> None:
    with db.write() as session:
        status.tick(session, after, until)
