"""Feeds in the status engine (a stale feed is a reason on its MNO's pairs) and the feeds' background work: each
process notes which MNOs it heard from; one process in the cluster supervises the feeds."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gridcell.core.clock import utcnow
from gridcell.core.db import Database
from gridcell.core.leases import singleton, supervised
from gridcell.exposure import status
from gridcell.feeds import service
from gridcell.feeds.models import MnoFeed
from gridcell.feeds.producer import Producer

log = logging.getLogger(__name__)


def register() -> None:
    status.register_evidence_provider(service.stale_evidence)


async def start(app: Any) -> list[asyncio.Task[None]]:
    settings = app.state.settings
    db: Database = app.state.db
    interval = float(settings.tick_interval_s)

    def producer_of(row: MnoFeed) -> Producer:
        return Producer(row.base_url or "", service.credentials(row), allow_private=settings.allow_private_webhooks)

    async def heard() -> None:
        while True:
            await asyncio.sleep(interval)
            await asyncio.to_thread(service.record_heard, db)

    async def supervisor() -> None:
        started_at = utcnow()
        await asyncio.to_thread(service.mark_restarted, db)
        while True:
            await asyncio.to_thread(service.supervise, db, producer_of, settings.public_url, started_at)
            await asyncio.sleep(interval)

    return [asyncio.create_task(supervised("feeds.heard", heard)),
            asyncio.create_task(singleton(app, "feeds.supervisor", supervisor))]
