"""The scheduled trend job (every 6 hours, first run a minute after start)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gridcell.core.db import Database
from gridcell.core.leases import singleton
from gridcell.problems import trend

log = logging.getLogger(__name__)
FIRST_RUN_S = 60.0
INTERVAL_S = 6 * 3600.0


def register() -> None:
    """No in-transaction handlers: trends move over days, the job runs on a schedule."""


def run_trends(db: Database) -> list[str]:
    with db.write() as session:
        return trend.run(session)


async def start(app: Any) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(singleton(app, "problems.trend", lambda: _loop(app.state.db)))]


async def _loop(db: Database) -> None:
    await asyncio.sleep(FIRST_RUN_S)
    while True:
        try:
            ids = await asyncio.to_thread(run_trends, db)
            log.info("trend job: %d proposal(s) created or refreshed", len(ids))
        except Exception:
            log.exception("trend job failed")
        await asyncio.sleep(INTERVAL_S)
