"""The status engine: conditions on cells → status of each DSO site × PLMN, with reasons.

Topology-aware: reasons are grouped per RAN site and category, so one RAN site going down is one
reason however many of its cells alarm, and a notification goes out only when the status, the set
of reasons or the expected end changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, text
from sqlalchemy.orm import Session

from gridcell.core import events, prepared
from gridcell.core.clock import isoformat, utcnow
from gridcell.exposure import subscriptions
from gridcell.exposure.models import SiteStatus
from gridcell.faults import service as faults
from gridcell.faults.service import ActiveCondition, CellsChanged
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topology
from gridcell.topology.service import CellRef, SiteRef, TopologyImported

STATUSES = ("ok", "degraded", "at_risk", "maintenance", "down")
RANK = {s: i for i, s in enumerate(STATUSES)}
# Per-cell effect of a condition, and the reason category a DSO sees.
_CELL_EFFECT = {("outage", "alarm"): "down", ("outage", "config"): "down", ("outage", "maintenance"): "maintenance",
                ("power", "alarm"): "at_risk", ("prediction", "prediction"): "at_risk"}
_CATEGORY = {"down": "network_outage", "maintenance": "planned_maintenance", "at_risk": "power_supply",
             "degraded": "degradation"}


STATUS_CHANGED = "exposure.status_changed"


@dataclass(frozen=True)
class StatusChanged:
    """Emitted inside the transaction that changed site × PLMN statuses (after the outbox rows are queued)."""

    changes: tuple[subscriptions.StatusChange, ...]
    at: datetime


# Evidence from outside the MNO's own notifications (DSO probe change detection, energy outage plans). A
# provider answers, for the pairs being evaluated, the pairs it has evidence on: {(site pk, PLMN): [reasons]}.
# Each reason has at least "category", "source", "since"; its "effect" (default `degraded`; `at_risk` or
# `down`) raises the pair's status to at least that, with "timeToDark" / "expectedEnd" where it has them.
EvidenceProvider = Callable[[Session, set[tuple[int, str]], datetime], dict[tuple[int, str], list[dict[str, Any]]]]
_evidence_providers: list[EvidenceProvider] = []


def register_evidence_provider(provider: EvidenceProvider) -> None:
    """Capabilities above exposure (telemetry) plug their evidence in here; exposure never imports them."""
    if provider not in _evidence_providers:
        _evidence_providers.append(provider)


def _evidence(session: Session, pairs: set[tuple[int, str]], now: datetime) -> dict[tuple[int, str], list[Any]]:
    out: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for provider in _evidence_providers:
        for pair, reasons in provider(session, pairs, now).items():
            out.setdefault(pair, []).extend(reasons)
    return out


@dataclass(frozen=True)
class Evaluation:
    status: str
    since: datetime
    expected_end: datetime | None
    reasons: list[dict[str, Any]]

    def key(self) -> tuple[Any, ...]:
        return _key(self.status, self.expected_end, self.reasons)


def _key(status: str, expected_end: datetime | None, reasons: list[dict[str, Any]]) -> tuple[Any, ...]:
    """What a notification is about: status, expected end, and each reason's category, RAN site and time to dark."""
    return (status, expected_end, tuple(sorted((r["category"], r.get("ranSiteId") or "", r.get("timeToDark") or "")
                                               for r in reasons)))


def _effect(cond: ActiveCondition) -> str:
    return _CELL_EFFECT.get((cond.impact, cond.kind), "degraded")


def time_to_dark(cond: ActiveCondition, cell: CellRef) -> datetime | None:
    if cond.impact != "power" or cell.autonomy_h is None:
        return None
    return cond.starts_at + timedelta(hours=cell.autonomy_h)


def evaluate(cells: list[CellRef], conds: dict[int, list[ActiveCondition]], now: datetime,
             previous: Stored | None, evidence: list[dict[str, Any]] | None = None) -> Evaluation:
    cell_state: dict[int, str] = {}
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for cell in cells:
        worst = "ok"
        for cond in conds.get(cell.pk, ()):
            effect = _effect(cond)
            worst = max(worst, effect, key=RANK.__getitem__)
            category = ("configuration" if cond.kind == "config" and effect == "down"
                        else "failure_predicted" if cond.kind == "prediction" else _CATEGORY[effect])
            g = groups.setdefault((category, cell.ran_site_id), {
                "category": category, "ranSiteId": cell.ran_site_id, "cells": set(), "conditions": {},
                "since": cond.starts_at, "expectedEnd": cond.ends_at, "timeToDark": None, "effect": effect})
            g["cells"].add(cell.cell_id)
            g["conditions"][cond.pk] = cond
            g["since"] = min(g["since"], cond.starts_at)
            if cond.ends_at and (g["expectedEnd"] is None or cond.ends_at > g["expectedEnd"]):
                g["expectedEnd"] = cond.ends_at
            ttd = time_to_dark(cond, cell)
            if ttd and (g["timeToDark"] is None or ttd < g["timeToDark"]):
                g["timeToDark"] = ttd
            predicted = cond.details.get("predictedFailureAt") if cond.kind == "prediction" else None
            if predicted and (g.get("predictedFailureAt") is None or predicted < g["predictedFailureAt"]):
                g["predictedFailureAt"] = predicted
        cell_state[cell.pk] = worst
    unavailable = [s for s in cell_state.values() if s in ("down", "maintenance")]
    if cell_state and len(unavailable) == len(cell_state):
        status = "down" if "down" in unavailable else "maintenance"
    elif any(s == "at_risk" for s in cell_state.values()):
        status = "at_risk"
    elif any(s != "ok" for s in cell_state.values()):
        status = "degraded"
    else:
        status = "ok"
    reasons = [_reason(g) for g in sorted(groups.values(), key=lambda g: (-RANK[g["effect"]], g["ranSiteId"]))]
    reasons += [{"ranSiteId": None, "cells": [], "expectedEnd": None, "timeToDark": None,
                 **{k: v for k, v in e.items() if k != "effect"}} for e in evidence or ()]
    for i, e in enumerate(evidence or ()):
        effect = e.get("effect", "degraded")
        status = max(status, effect, key=RANK.__getitem__)
        groups[("evidence", str(i))] = {"effect": effect, "since": _ts(e.get("since"), now),
                                        "expectedEnd": _ts(e.get("expectedEnd"), None)}
    driving = [g for g in groups.values() if g["effect"] == status] or list(groups.values())
    if previous is not None and previous.status == status:
        since = previous.since
    elif driving and status != "ok":
        since = min(g["since"] for g in driving)
    else:
        since = now
    ends = [g["expectedEnd"] for g in driving]
    expected_end = max(ends) if ends and all(ends) and status != "ok" else None
    return Evaluation(status, since, expected_end, reasons)


def _ts(value: Any, default: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return default


def current(session: Session, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], dict[str, Any]]:
    """The stored status of these pairs (pairs never evaluated, or without agreement, are absent)."""
    return {pair: {"status": row.status, "since": row.since, "expectedEnd": row.expected_end,
                   "reasons": row.reasons, "mnoId": row.mno_id}
            for pair, row in _existing(session, pairs).items()}


def _reason(g: dict[str, Any]) -> dict[str, Any]:
    conditions = sorted(g["conditions"].values(), key=lambda c: (c.starts_at, c.pk))
    reason = {
        "category": g["category"],
        "ranSiteId": g["ranSiteId"],
        "cells": sorted(g["cells"]),
        "since": isoformat(g["since"]),
        "expectedEnd": isoformat(g["expectedEnd"]),
        "timeToDark": isoformat(g["timeToDark"]),
        "events": [_event(c) for c in conditions],
    }
    if g.get("predictedFailureAt"):
        reason["predictedFailureAt"] = g["predictedFailureAt"]
    return reason


def _event(c: ActiveCondition) -> dict[str, Any]:
    d = c.details
    out: dict[str, Any] = {"kind": c.kind, "id": c.key, "mnoId": c.org_id, "since": isoformat(c.starts_at)}
    if c.kind == "alarm":
        out.update(probableCause=d.get("probableCause"), perceivedSeverity=d.get("perceivedSeverity"),
                   alarmType=d.get("alarmType"), additionalText=d.get("additionalText"),
                   objectInstance=c.object_instance)
    elif c.kind == "threshold":
        out.update(metric=d.get("metric"), value=d.get("value"), threshold=d.get("threshold"))
    elif c.kind == "maintenance":
        out.update(until=isoformat(c.ends_at), description=d.get("description"))
    elif c.kind == "prediction":
        out.update(predictedFailureAt=d.get("predictedFailureAt"), until=isoformat(c.ends_at),
                   potentialFailureType=d.get("potentialFailureType"), confidenceDegree=d.get("confidenceDegree"))
    else:
        out.update(objectInstance=c.object_instance, change=d.get("change"))
    return out


def redact(reasons: list[dict[str, Any]], level: str) -> list[dict[str, Any]]:
    """`area` agreements expose status and reason category only: no cell, RAN site or alarm detail."""
    if level == "cell":
        return reasons
    return [{k: r[k] for k in ("category", "since", "expectedEnd", "timeToDark", "predictedFailureAt") if k in r}
            for r in reasons]


def on_cells_changed(session: Session, event: CellsChanged) -> None:
    recompute(session, topology.pairs_for_cells(session, event.cell_pks))


def recompute(session: Session, pairs: set[tuple[int, str]], now: datetime | None = None) -> int:
    """Re-evaluate these site × PLMN pairs; write changes and their notifications. Returns changes."""
    if not pairs:
        return 0
    now = now or utcnow()
    sites, serving = topology.sites_with_serving_cells(session, pairs)
    _serialise_per_dso(session, {s.org_id for s in sites.values()})
    agreements = _agreements_by_dso(session, {s.org_id for s in sites.values()})
    all_cells = {c.pk for cells in serving.values() for c in cells}
    conds = faults.active_conditions(session, all_cells, now)
    existing = _existing(session, pairs)
    evidence = _evidence(session, pairs, now) if _evidence_providers else {}
    changes: list[subscriptions.StatusChange] = []
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    deletes: list[tuple[int, str]] = []
    for pair in sorted(pairs):
        site = sites.get(pair[0])
        if site is None:
            continue
        agreement = next((a for a in agreements.get(site.org_id, ()) if a.covers(site.site_id, pair[1])), None)
        previous = existing.get(pair)
        if agreement is None:
            if previous is not None:
                deletes.append(pair)
            continue
        cells = [c for c in serving.get(pair, ()) if c.org_id == agreement.mno_id]
        ev = evaluate(cells, conds, now, previous, evidence.get(pair))
        if previous is not None and _key_of(previous) == ev.key():
            continue
        first = previous is None
        change = _store(inserts, updates, site, pair[1], agreement, ev, previous, now)
        if not (first and ev.status == "ok"):
            changes.append(change)
    _write(session, inserts, updates, deletes)
    subscriptions.enqueue_status_changes(session, changes, now)
    if changes:
        events.emit(session, STATUS_CHANGED, StatusChanged(tuple(changes), now))
    return len(changes)


def _serialise_per_dso(session: Session, dso_ids: set[str]) -> None:
    """One recompute per DSO at a time, so two concurrent ingests never both evaluate from a stale view.

    SQLite already has a single writer. On PostgreSQL a transaction-scoped advisory lock per DSO, taken
    in a fixed order, makes the read-evaluate-write of a status atomic without locking other DSOs out.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for dso in sorted(dso_ids):
        key = int.from_bytes(hashlib.sha256(dso.encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _agreements_by_dso(session: Session, dso_ids: set[str]) -> dict[str, list[tenancy.AgreementView]]:
    return tenancy.agreements_of_dsos(session, dso_ids)


@dataclass(frozen=True)
class Stored:
    """A site_status row as read; plain data, so the hot path pays no ORM bookkeeping."""

    status: str
    since: datetime
    expected_end: datetime | None
    reasons: list[dict[str, Any]]
    mno_id: str


_T: Table = SiteStatus.__table__  # type: ignore[assignment]


_EXISTING = select(_T.c.site_pk, _T.c.plmn, _T.c.status, _T.c.since, _T.c.expected_end, _T.c.reasons,
                   _T.c.mno_id).where(_T.c.site_pk.in_(bindparam("pks", expanding=True)))


def _existing(session: Session, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], Stored]:
    """Stored rows of these pairs; a prebuilt Core statement, as the advisor asks in most units of work."""
    site_pks = sorted({p[0] for p in pairs})
    out: dict[tuple[int, str], Stored] = {}
    for i in range(0, len(site_pks), 500):
        for row in prepared.rows(session, _EXISTING, {"pks": site_pks[i:i + 500]}):
            if (row[0], row[1]) in pairs:
                out[(row[0], row[1])] = Stored(*row[2:])  # UtcDateTime columns come back aware
    return out


_INSERT = insert(_T)
_UPDATE = (_T.update().where(_T.c.site_pk == bindparam("k_site"), _T.c.plmn == bindparam("k_plmn"))
           .values({c: bindparam(c) for c in ("mno_id", "status", "since", "expected_end", "reasons", "updated_at")}))


def _write(session: Session, inserts: list[dict[str, Any]], updates: list[dict[str, Any]],
           deletes: list[tuple[int, str]]) -> None:
    prepared.execute_many(session, _INSERT, inserts)
    prepared.execute_many(session, _UPDATE, updates)
    for site_pk, plmn in deletes:
        session.execute(delete(_T).where(_T.c.site_pk == site_pk, _T.c.plmn == plmn))


def _key_of(row: Stored) -> tuple[Any, ...]:
    return _key(row.status, row.expected_end, row.reasons)


def _store(inserts: list[dict[str, Any]], updates: list[dict[str, Any]], site: SiteRef, plmn: str,
           agreement: tenancy.AgreementView, ev: Evaluation, previous: Stored | None,
           now: datetime) -> subscriptions.StatusChange:
    before = previous.status if previous is not None else "ok"
    values = {"mno_id": agreement.mno_id, "status": ev.status, "since": ev.since, "expected_end": ev.expected_end,
              "reasons": ev.reasons, "updated_at": now}
    if previous is None:
        inserts.append({"site_pk": site.pk, "plmn": plmn, "org_id": site.org_id, **values})
    else:
        updates.append({"k_site": site.pk, "k_plmn": plmn, **values})
    return subscriptions.StatusChange(site=site, plmn=plmn, mno_id=agreement.mno_id, level=agreement.level,
                                      status=ev.status, previous=before, since=ev.since,
                                      expected_end=ev.expected_end, reasons=redact(ev.reasons, agreement.level))


def tick(session: Session, after: datetime, until: datetime) -> int:
    """Time moved on: maintenance windows that opened or closed change status without any new event."""
    cells = faults.cells_with_window_edges(session, after, until)
    if not cells:
        return 0
    return recompute(session, topology.pairs_for_cells(session, cells), until)


def on_topology_imported(session: Session, event: TopologyImported) -> None:
    """New topology can map alarms that named unknown cells and changes which cells serve which site: the pairs
    the import touched, and those served by newly mapped cells, are re-evaluated (not the DSO's every pair)."""
    pairs = set(event.pairs)
    if event.kind == "mno":
        remapped = faults.remap_unmapped(session, event.org_id)
        if remapped:
            pairs |= topology.pairs_for_cells(session, remapped)
    recompute(session, pairs)


def on_agreement_created(session: Session, event: tenancy.AgreementCreated) -> None:
    rebuild_org(session, event.dso_id)


def rebuild_org(session: Session, dso_id: str) -> int:
    """After topology or agreement changes: re-evaluate every pair of the DSO."""
    return recompute(session, topology.all_site_pairs(session, dso_id))
