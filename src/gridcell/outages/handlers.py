"""Handlers: alarms and topology change the power of RAN sites, hence plans and monitors; plans show in status;
a timer recomputes plans as batteries drain."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gridcell.core import events
from gridcell.core.db import Database
from gridcell.core.leases import singleton
from gridcell.exposure import status
from gridcell.faults.service import CELLS_CHANGED
from gridcell.outages import notify, planner
from gridcell.topology.service import TOPOLOGY_IMPORTED

log = logging.getLogger(__name__)


def register() -> None:
    events.register(CELLS_CHANGED, planner.on_cells_changed)
    events.register(TOPOLOGY_IMPORTED, planner.on_topology_imported)
    status.register_evidence_provider(planner.status_evidence)


def run_due(db: Database) -> int:
    with db.write() as session:
        return planner.recompute_due(session)


async def start(app: Any) -> list[asyncio.Task[None]]:
    notify.configure(app.state.settings.system_dn)
    interval = float(app.state.settings.tick_interval_s)
    return [asyncio.create_task(singleton(app, "outages.plan_tick", lambda: _loop(app.state.db, interval)))]


async def _loop(db: Database, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(run_due, db)
        except Exception:  # keep ticking: the next tick finds the same plans due
            log.exception("outage plan tick failed")
