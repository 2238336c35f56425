"""Dashboard wake-ups: committed changes that concern an organisation wake its open dashboards.

In-transaction handlers note which organisations a unit of work concerned; after the commit one message per
unit of work goes on the bus (`web.wake`, payload `{"orgs": [...]}`), and `/web/events` streams it to the
browsers of those organisations, which then re-read their panels from the store. Status changes are also written
to the status history (one executemany per unit of work) that the per-site timeline reads.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from gridcell.core import events
from gridcell.core.clock import utcnow
from gridcell.core.db import Database, queue_after_commit
from gridcell.core.leases import singleton
from gridcell.exposure.status import STATUS_CHANGED, StatusChanged
from gridcell.faults.service import CELLS_CHANGED, CellsChanged
from gridcell.incidents.service import TICKET_CHANGED, TicketChanged
from gridcell.outages.views import PLAN_CHANGED, OutagePlanChanged
from gridcell.telemetry.service import PROBES_INGESTED, ProbesIngested
from gridcell.topology.service import TOPOLOGY_IMPORTED, TopologyImported
from gridcell.web.models import StatusHistory

WAKE_TOPIC = "web.wake"
HISTORY_DAYS = 90  # the status history the site pages draw from (they show 7 days)
PRUNE_EVERY_S = 3600.0
PRUNE_PAGE = 1000


@dataclass(frozen=True)
class DashboardWake:
    orgs: frozenset[str]


def _wake(session: Session, orgs: set[str]) -> None:
    if orgs:
        queue_after_commit(session, DashboardWake(frozenset(orgs)))


_HISTORY: Table = StatusHistory.__table__  # type: ignore[assignment]


def on_status_changed(session: Session, event: StatusChanged) -> None:
    _wake(session, {c.site.org_id for c in event.changes} | {c.mno_id for c in event.changes})
    rows = [{"org_id": c.site.org_id, "site_id": c.site.site_id, "plmn": c.plmn, "mno_id": c.mno_id,
             "status": c.status, "previous": c.previous, "at": c.since if c.status != c.previous else event.at,
             "categories": sorted({str(r.get("category")) for r in c.reasons if r.get("category")})}
            for c in event.changes]
    if rows:
        session.execute(insert(_HISTORY), rows)


def on_cells_changed(session: Session, event: CellsChanged) -> None:
    _wake(session, {event.org_id})


def on_ticket_changed(session: Session, event: TicketChanged) -> None:
    _wake(session, {event.dso_id, event.mno_id})


def on_plan_changed(session: Session, event: OutagePlanChanged) -> None:
    _wake(session, {event.dso_id, *event.mno_ids})


def on_probes_ingested(session: Session, event: ProbesIngested) -> None:
    _wake(session, {event.dso_id})


def on_topology_imported(session: Session, event: TopologyImported) -> None:
    _wake(session, {event.org_id})


def register() -> None:
    events.register(STATUS_CHANGED, on_status_changed)
    events.register(CELLS_CHANGED, on_cells_changed)
    events.register(TICKET_CHANGED, on_ticket_changed)
    events.register(PLAN_CHANGED, on_plan_changed)
    events.register(PROBES_INGESTED, on_probes_ingested)
    events.register(TOPOLOGY_IMPORTED, on_topology_imported)


def prune_history(session: Session, now: datetime, days: float = HISTORY_DAYS) -> int:
    """Delete up to PRUNE_PAGE status-history rows older than `days`; returns how many."""
    pks = list(session.scalars(select(_HISTORY.c.pk).where(_HISTORY.c.at < now - timedelta(days=days))
                               .order_by(_HISTORY.c.pk).limit(PRUNE_PAGE)))
    if pks:
        session.execute(delete(_HISTORY).where(_HISTORY.c.pk.in_(pks)))
    return len(pks)


async def _prune_loop(db: Database) -> None:
    def run() -> None:
        while True:
            with db.write() as session:
                if prune_history(session, utcnow()) < PRUNE_PAGE:
                    return

    while True:
        await asyncio.to_thread(run)
        await asyncio.sleep(PRUNE_EVERY_S)


async def start(app: Any) -> list[asyncio.Task[None]]:
    """Publish one wake-up per committed unit of work that concerned some organisation; prune the status
    history once an hour (once across a cluster)."""
    bus = app.state.bus

    def publish(messages: list[Any]) -> None:
        orgs: set[str] = set()
        for m in messages:
            if isinstance(m, DashboardWake):
                orgs |= m.orgs
        if orgs:
            bus.publish(WAKE_TOPIC, {"orgs": sorted(orgs)})

    app.state.db.on_commit(publish)
    return [asyncio.create_task(singleton(app, "web.history_retention", lambda: _prune_loop(app.state.db)))]
