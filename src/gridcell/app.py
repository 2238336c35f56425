"""FastAPI app factory: routers, error handlers, body limit, delivery workers, the time ticker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from sqlalchemy import func, select
from starlette.types import ASGIApp, Receive, Scope, Send

from gridcell import __version__, errors_http, plugins
from gridcell.config import Settings, get_settings
from gridcell.core.bus import Bus, InProcessBus
from gridcell.core.clock import utcnow
from gridcell.core.db import Database
from gridcell.exposure import status
from gridcell.exposure.delivery import DeliveryService
from gridcell.exposure.models import OutboxRow
from gridcell.migrations import upgrade
from gridcell.wiring import wire

log = logging.getLogger(__name__)
OUTBOX_DEPTH = Gauge("gridcell_outbox_depth", "Webhook notifications not yet delivered")


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
                                          f"the body exceeds the limit of {self.max_bytes} bytes")
        await resp(scope, receive, send)


def create_app(settings: Settings | None = None, db: Database | None = None, bus: Bus | None = None,
               *, run_workers: bool = True, migrate: bool = True) -> FastAPI:
    settings = settings or get_settings()
    db = db or Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    bus = bus or InProcessBus()
    wire(db, bus)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await asyncio.to_thread(upgrade, db)
        delivery = DeliveryService(db, bus, timeout_s=settings.webhook_timeout_s,
                                   max_backoff_s=settings.webhook_max_backoff_s,
                                   concurrency=settings.webhook_concurrency)
        tasks: list[asyncio.Task[None]] = []
        if run_workers:
            await delivery.start()
            tasks.append(asyncio.create_task(_ticker(db, settings.tick_interval_s, app)))
            for module in plugins.modules("handlers"):
                if hasattr(module, "start"):
                    tasks.extend(await module.start(app))
        app.state.delivery = delivery
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            app.state.stopping = True
            for t in tasks:
                t.cancel()
            if run_workers:
                await delivery.stop()

    app = FastAPI(title="gridcell", version=__version__, lifespan=lifespan,
                  description="Operations exchange between energy utilities (DSOs) and mobile network operators "
                              "(MNOs): exposure, reporting and energy outage coordination.")
    app.state.db, app.state.bus, app.state.settings = db, bus, settings
    app.state.ready, app.state.stopping = False, False
    errors_http.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    for module in plugins.modules("api"):
        if hasattr(module, "router"):
            app.include_router(module.router, prefix="/api/v1")
        for root_router in getattr(module, "root_routers", ()):
            app.include_router(root_router)

    @app.get("/healthz", tags=["ops"], summary="200 once the store is migrated and workers run")
    def healthz() -> Response:
        if not app.state.ready:
            return Response('{"status":"starting"}', status_code=503, media_type="application/json")
        with db.read() as session:
            session.execute(select(1))
        return Response('{"status":"ok"}', media_type="application/json")

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        with db.read() as session:
            OUTBOX_DEPTH.set(session.scalar(select(func.count()).select_from(OutboxRow)
                                            .where(OutboxRow.delivered_at.is_(None))) or 0)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


async def _ticker(db: Database, interval_s: float, app: FastAPI) -> None:
    """Moves status with time (maintenance windows opening and closing)."""
    last = utcnow()
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
