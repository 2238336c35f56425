"""Exposure's background job (retention of delivered notifications) and its Fault MnS handler. The status
handlers are wired in `gridcell.wiring`, before every other capability's, since status must be current for them."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from gridcell.core import events
from gridcell.core.clock import utcnow
from gridcell.core.db import Database
from gridcell.core.leases import singleton
from gridcell.exposure import fault_mns_notify, retention
from gridcell.faults.service import CELLS_CHANGED

log = logging.getLogger(__name__)
INTERVAL_S = 3600.0
PAUSE_S = 0.05  # between units of work, so ingest always gets the writer


def register() -> None:
    """Fault MnS notifications follow fault ingest in its transaction (the status handlers: gridcell.wiring)."""
    events.register(CELLS_CHANGED, fault_mns_notify.on_cells_changed)


def prune(db: Database, days: float) -> int:
    total = 0
    while True:
        with db.write() as session:
            n = retention.prune_page(session, utcnow(), days)
        total += n
        if n < retention.PAGE:
            return total
        time.sleep(PAUSE_S)


async def start(app: Any) -> list[asyncio.Task[None]]:
    days = float(app.state.settings.outbox_retention_days)
    return [asyncio.create_task(singleton(app, "exposure.retention", lambda: _loop(app.state.db, days)))]


async def _loop(db: Database, days: float) -> None:
    while True:
        n = await asyncio.to_thread(prune, db, days)
        if n:
            log.info("retention: %d delivered notification(s) and received ids older than %g days pruned", n, days)
        await asyncio.sleep(INTERVAL_S)
