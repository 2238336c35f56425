"""Re-attribution as events arrive: MNO conditions on cells, DSO probe state; a sweep for the rest (energy
outages, time passing) every minute; and the passes that keep federated MNO systems in step."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core import events
from gridcell.core.db import Database
from gridcell.core.leases import singleton
from gridcell.faults.service import CELLS_CHANGED, CellsChanged
from gridcell.incidents import federation_worker, service
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
    return [asyncio.create_task(singleton(app, "incidents.sweep", lambda: _sweep_loop(app.state.db))),
            asyncio.create_task(singleton(app, "incidents.federation", lambda: _federation_loop(app)))]


async def _federation_loop(app: Any) -> None:
    """Tickets to and from federated MNO systems, a pass every tick (`federation_worker`)."""
    settings = app.state.settings
    with federation_worker.client() as client:
        while True:
            try:
                await asyncio.to_thread(federation_worker.run_once, app.state.db, client,
                                        allow_private=settings.allow_private_webhooks)
            except Exception:
                log.exception("federation pass failed")
            await asyncio.sleep(settings.tick_interval_s)


async def _sweep_loop(db: Database) -> None:
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_S)
        try:
            await asyncio.to_thread(sweep, db)
        except Exception:
            log.exception("incident re-attribution sweep failed")
