"""Re-attribution as events arrive: MNO conditions on cells, DSO probe state; a sweep for the rest (energy
outages, time passing) every minute."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core import events
from gridcell.core.db import Database
from gridcell.core.leases import singleton
from gridcell.faults.service import CELLS_CHANGED, CellsChanged
from gridcell.incidents import service
from gridcell.telemetry.service import PROBES_INGESTED, ProbesIngested
from gridcell.topology import service as topology

log = logging.getLogger(__name__)
SWEEP_INTERVAL_S = 60.0


def on_cells_changed(session: Session, event: CellsChanged) -> None:
    if not service.has_open_tickets(session, mno_id=event.org_id):
        return
    sites = {site for site, _plmn in topology.pairs_for_cells(session, event.cell_pks)}
    service.reattribute(session, service.open_tickets_for_sites(session, sites, mno_id=event.org_id), event.at)


def on_probes_ingested(session: Session, event: ProbesIngested) -> None:
    if not event.cpe_pks or not service.has_open_tickets(session, dso_id=event.dso_id):
        return
    sites = {u.site_pk for u in topology.usim_refs(session, event.dso_id, event.cpe_pks)}
    service.reattribute(session, service.open_tickets_for_sites(session, sites, dso_id=event.dso_id), event.at)


def register() -> None:
    events.register(CELLS_CHANGED, on_cells_changed)
    events.register(PROBES_INGESTED, on_probes_ingested)


def sweep(db: Database) -> int:
    """Re-evaluate every open ticket (energy outages and the passing of time move attributions too)."""
    with db.write() as session:
        return service.reattribute(session, service.all_open_tickets(session))


async def start(app: Any) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(singleton(app, "incidents.sweep", lambda: _sweep_loop(app.state.db)))]


async def _sweep_loop(db: Database) -> None:
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_S)
        try:
            await asyncio.to_thread(sweep, db)
        except Exception:
            log.exception("incident re-attribution sweep failed")
