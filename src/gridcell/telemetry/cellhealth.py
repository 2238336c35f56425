"""Outside-in cell health for the MNO: several DSO CPEs on one cell drop or degrade together while the
MNO has no condition on the cell → a `cell_health` event (suspected sleeping cell).

Only CPEs of DSOs whose agreement with the cell's MNO shares telemetry (and covers the site and PLMN)
count. The event carries aggregates only (CPE counts, first seen, probe statistics, number of DSOs),
never a DSO site or CPE identity.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from gridcell.core.clock import isoformat, utcnow
from gridcell.core.errors import Forbidden
from gridcell.core.ids import new_id
from gridcell.exposure import subscriptions
from gridcell.faults import service as faults
from gridcell.telemetry import service as tsvc
from gridcell.telemetry.models import CellHealthEvent, ProbeDetector
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import Caller
from gridcell.topology import service as topology

WINDOW = timedelta(minutes=15)
MIN_AFFECTED = 3
MIN_SHARE = 0.5
CHANNEL = "cell_health"


def check(session: Session, cell_pks: list[int], now: datetime | None = None) -> int:
    """Evaluate these cells; raise or clear events. Returns the number of events raised or cleared."""
    if not cell_pks:
        return 0
    now = now or utcnow()
    cells = topology.cell_refs(session, cell_pks)
    sharing: dict[str, list[tenancy.AgreementView]] = {}
    for mno in {c.org_id for c in cells.values()}:
        sharing[mno] = [a for a in tenancy.agreements_for(session, mno) if a.mno_id == mno and a.share_telemetry]
    candidates = [pk for pk, c in cells.items() if sharing.get(c.org_id)]
    open_events = _open(session, list(cells))
    if not candidates and not open_events:
        return 0
    # A cell can only raise an event when the MNO has no condition on it and at least MIN_AFFECTED USIMs go
    # through it; any other cell without an open event is left as it is, so it needs no probe statistics.
    conds = faults.active_conditions(session, candidates, now)
    candidates = [pk for pk in candidates if pk in open_events or not conds.get(pk)]
    if not candidates:
        return 0
    t0 = now - WINDOW
    through = tsvc.usims_through_cells(session, candidates, t0, now)
    candidates = [pk for pk in candidates if pk in open_events or len(through.get(pk, ())) >= MIN_AFFECTED]
    if not candidates:
        return 0
    all_usims = sorted({u for pk in candidates for u in through.get(pk, ())})
    refs = topology.usim_refs_by_pk(session, all_usims)
    sites = topology.site_refs(session, {r.site_pk for r in refs.values()})
    stats = tsvc._stats(tsvc._window_rows(session, all_usims, t0, now))
    degraded = {d.usim_pk for d in session.scalars(select(ProbeDetector).where(
        ProbeDetector.usim_pk.in_(all_usims), ProbeDetector.latency_alarm_since.is_not(None)))} if all_usims else set()
    changed = 0
    for pk in candidates:
        cell = cells[pk]
        agreements = sharing[cell.org_id]
        visible = []
        for u in sorted(through.get(pk, ())):
            ref = refs.get(u)
            site = sites.get(ref.site_pk) if ref else None
            if ref is None or site is None or ref.plmn != cell.plmn:
                continue
            if any(a.dso_id == site.org_id and a.covers(site.site_id, ref.plmn) for a in agreements):
                visible.append((ref, site.org_id))
        probing = {(r.cpe_pk, org) for r, org in visible if r.pk in stats}
        dropping = {(r.cpe_pk, org) for r, org in visible if tsvc.failing(stats.get(r.pk))}
        slow = {(r.cpe_pk, org) for r, org in visible if r.pk in degraded and r.pk in stats} - dropping
        affected = dropping | slow
        holds = len(affected) >= MIN_AFFECTED and len(affected) >= MIN_SHARE * max(len(probing), 1)
        alarm = bool(conds.get(pk))
        event = open_events.get(pk)
        if holds and not alarm:
            ev = _evidence(visible, stats, probing, dropping, slow)
            if event is None:
                first = [s["first_failure"] for r, _ in visible if (s := stats.get(r.pk)) and s["first_failure"]]
                first_seen = tsvc._dt(min(first)) if first else now
                event = CellHealthEvent(id=new_id("ch"), mno_id=cell.org_id, cell_pk=pk, cell_id=cell.cell_id,
                                        plmn=cell.plmn, kind="drop" if len(dropping) >= len(slow) else "degraded",
                                        first_seen=first_seen, last_seen=now, cleared_at=None,
                                        evidence={**ev, "firstSeen": isoformat(first_seen)})
                session.add(event)
                session.flush()
                _notify(session, event, "cellHealthRaised", now)
                changed += 1
            else:
                event.last_seen = now
                event.evidence = {**ev, "firstSeen": event.evidence.get("firstSeen")}
        elif event is not None and (not holds or alarm):
            event.cleared_at = now
            event.evidence = {**event.evidence, "clearedBecause": "mno_condition" if alarm else "recovered"}
            _notify(session, event, "cellHealthCleared", now)
            changed += 1
    return changed


def _evidence(visible: list[Any], stats: dict[int, dict[str, Any]], probing: set[Any], dropping: set[Any],
              slow: set[Any]) -> dict[str, Any]:
    rows = [stats[r.pk] for r, _ in visible if r.pk in stats]
    probes = sum(s["probes"] for s in rows)
    failures = sum(s["failures"] for s in rows)
    rtts = [x for s in rows for x in s["rtts"]]
    return {"cpeCount": len(probing), "affectedCpes": len(dropping | slow), "droppingCpes": len(dropping),
            "degradedCpes": len(slow), "dsoCount": len({org for _, org in probing}),
            "window": f"PT{int(WINDOW.total_seconds() // 60)}M", "probes": probes, "failures": failures,
            "failureRatio": round(failures / probes, 4) if probes else None,
            "p50RttMs": float(np.median(rtts)) if rtts else None}


_EVENTS: Table = CellHealthEvent.__table__  # type: ignore[assignment]
_OPEN_ON_CELLS = select(_EVENTS.c.id).where(_EVENTS.c.cell_pk.in_(bindparam("pks", expanding=True)),
                                            _EVENTS.c.cleared_at.is_(None))


def _open(session: Session, cell_pks: list[int]) -> dict[int, CellHealthEvent]:
    """Open events on these cells. Checked on every probe upload with a hot cell and almost always none:
    a prebuilt Core query finds their ids; only the events found are loaded as ORM objects (they change)."""
    if session.autoflush:  # what the ORM would do before a query: events raised in this unit of work count
        session.flush()
    ids: list[str] = []
    for i in range(0, len(cell_pks), 500):
        ids += session.scalars(_OPEN_ON_CELLS, {"pks": cell_pks[i:i + 500]}).all()
    out: dict[int, CellHealthEvent] = {}
    for i in range(0, len(ids), 500):
        for e in session.scalars(select(CellHealthEvent).where(CellHealthEvent.id.in_(ids[i:i + 500]))):
            out[e.cell_pk] = e
    return out


def event_out(e: CellHealthEvent) -> dict[str, Any]:
    return {"id": e.id, "cellId": e.cell_id, "plmn": e.plmn, "kind": e.kind, "suspected": "sleeping_cell",
            "firstSeen": isoformat(e.first_seen), "lastSeen": isoformat(e.last_seen),
            "clearedAt": isoformat(e.cleared_at), "evidence": e.evidence}


def _notify(session: Session, event: CellHealthEvent, kind: str, now: datetime) -> None:
    body = event_out(event)
    for sub in subscriptions.channel_subscriptions(session, CHANNEL, [event.mno_id]):
        subscriptions.enqueue(session, sub, kind, _builder(sub.id, kind, body, now), now)


def _builder(sub_id: str, kind: str, body: dict[str, Any], now: datetime) -> Callable[[int, str], dict[str, Any]]:
    def build(seq: int, nid: str) -> dict[str, Any]:
        return {"notificationId": nid, "notificationType": kind, "eventTime": isoformat(now),
                "subscriptionId": sub_id, "sequenceNo": seq, "cellHealth": body}

    return build


def list_events(session: Session, caller: Caller, *, open_only: bool = False, limit: int = 500) -> list[dict[str, Any]]:
    if caller.org_kind != "mno":
        raise Forbidden("cell health events are for MNO organisations")
    q = select(CellHealthEvent).where(CellHealthEvent.mno_id == caller.org_id)
    if open_only:
        q = q.where(CellHealthEvent.cleared_at.is_(None))
    return [event_out(e) for e in session.scalars(q.order_by(CellHealthEvent.first_seen.desc()).limit(limit))]
