"""Normalise MNO notifications into conditions on cells; idempotent, order-tolerant, all-or-nothing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlparse

import orjson
from sqlalchemy import Table, and_, bindparam, delete, insert, or_, select, tuple_
from sqlalchemy.orm import Session

from gridcell.core import events, prepared
from gridcell.core.clock import as_utc, utcnow
from gridcell.core.db import Base
from gridcell.core.errors import InvalidInput
from gridcell.faults import schemas as s
from gridcell.faults.causes import DARK_CAUSES as DARK_CAUSES
from gridcell.faults.causes import POWER_CAUSES as POWER_CAUSES
from gridcell.faults.models import Condition, ConditionCell, ReceivedNotification
from gridcell.topology import service as topology

CELLS_CHANGED = "faults.cells_changed"

ETR_KEYS = ("estimatedRestorationTime", "expectedRestorationTime", "etr", "expectedRepairTime")
OUT_OF_SERVICE = {"administrativeState": ("LOCKED", "SHUTTING_DOWN", "SHUTTINGDOWN"),
                  "operationalState": ("DISABLED",)}


@dataclass(frozen=True)
class CellsChanged:
    """Emitted inside the ingest transaction: conditions on these cells changed."""

    org_id: str
    cell_pks: frozenset[int]
    at: datetime


@dataclass(frozen=True)
class ActiveCondition:
    pk: int
    org_id: str
    kind: str
    key: str
    impact: str
    object_instance: str | None
    starts_at: datetime
    ends_at: datetime | None
    details: dict[str, Any]


@dataclass
class _Batch:
    org_id: str
    now: datetime
    result: s.IngestResult = field(default_factory=lambda: s.IngestResult(accepted=0, duplicates=0, unmapped=0))
    changed_cells: set[int] = field(default_factory=set)
    dn_cache: dict[str, list[int]] = field(default_factory=dict)
    # Cells of the conditions this batch read or changed, by (kind, key); the batch's view is the truth
    # until `_write_cells` stores the ones in `rewrite`, once `_insert_created` gave new conditions their keys.
    cells: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    rewrite: set[tuple[str, str]] = field(default_factory=set)
    created: set[tuple[str, str]] = field(default_factory=set)
    loaded: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)  # snapshots of stored ones


@dataclass(slots=True)
class BatchCondition:
    """A condition as an ingest batch sees it: the columns of Condition as plain attributes, loaded (pk set)
    or created by the batch (pk None until `_insert_created`). No ORM instrumentation: the batch writes
    what changed itself (`_update_loaded`), comparing against what it loaded."""

    org_id: str
    kind: str
    key: str
    impact: str
    object_instance: str | None
    starts_at: datetime
    ends_at: datetime | None
    changed_at: datetime
    cleared_at: datetime | None
    mapped: bool
    details: dict[str, Any]
    last_notification_id: str | None
    pk: int | None = None


_Existing = dict[tuple[str, str], BatchCondition]  # by (kind, key)


def classify_alarm(probable_cause: str | int, severity: str) -> str:
    """X.733 severities: CRITICAL = out of service; MAJOR/MINOR = service degraded; power causes = at risk."""
    if severity == "CLEARED":
        return "none"
    cause = str(probable_cause).upper()
    if cause in DARK_CAUSES:
        return "outage"
    if cause in POWER_CAUSES:
        return "power"
    if severity == "CRITICAL":
        return "outage"
    if severity in ("MAJOR", "MINOR"):
        return "degradation"
    return "none"


def dn_of(n: s._Header) -> str:
    """The object's DN: objectInstance when given, else from href (…/ProvMnS/vX/SubNetwork=1/…)."""
    if n.objectInstance:
        return n.objectInstance
    path = unquote(urlparse(n.href).path) if "://" in n.href else n.href
    parts = [p for p in path.split("/") if p]
    rdns = [p for p in parts if "=" in p]
    return ",".join(rdns) if rdns else n.href


# Every ingest asks both (prebuilt: no per-call statement construction); conditions load as ORM objects
# because the batch changes them.
_SEEN = select(ReceivedNotification.notification_id).where(
    ReceivedNotification.org_id == bindparam("org"),
    ReceivedNotification.notification_id.in_(bindparam("ids", expanding=True)))
_CONDITION_COLUMNS = ("org_id", "kind", "key", "impact", "object_instance", "starts_at", "ends_at", "changed_at",
                      "cleared_at", "mapped", "details", "last_notification_id")
_CONDITIONS_BY_KEY = select(*[Condition.__table__.c[c] for c in ("pk", *_CONDITION_COLUMNS)]).where(
    Condition.org_id == bindparam("org"), Condition.kind == bindparam("kind"),
    Condition.key.in_(bindparam("keys", expanding=True)))


def validate(notifications: Sequence[Any]) -> None:
    """What the schema cannot check, checked before anything is written (all or nothing per request)."""
    for n in notifications:
        if isinstance(n, s.NotifyPlannedMaintenance) and as_utc(n.end) <= as_utc(n.start):
            raise InvalidInput(f"maintenance {n.maintenanceId}: end must be after start",
                               errors=[{"loc": "end", "msg": "end must be after start"}])


def ingest(session: Session, org_id: str, notifications: Sequence[Any]) -> s.IngestResult:
    return ingest_many(session, org_id, [notifications])[0]


def ingest_many(session: Session, org_id: str, requests: Sequence[Sequence[Any]]) -> list[s.IngestResult]:
    """Several requests of one sender in one batch (in order, as if one after the other), each with its own
    result: the status engine and the other handlers run once for all of them. Call `validate` first."""
    batch = _Batch(org_id=org_id, now=utcnow())
    results = [s.IngestResult(accepted=0, duplicates=0, unmapped=0) for _ in requests]
    notifications = [n for r in requests for n in r]
    owner = [results[i] for i, r in enumerate(requests) for _ in r]
    ids = [str(n.notificationId) for n in notifications]
    seen: set[str] = set()
    for chunk in _chunks(sorted(set(ids))):
        seen.update(r[0] for r in prepared.rows(session, _SEEN, {"org": org_id, "ids": list(chunk)}))
    existing = _prefetch(session, batch, notifications)
    _prefetch_cells(session, batch, existing)
    received: list[dict[str, Any]] = []
    batch.dn_cache = topology.cells_for_dns(session, org_id, _dns_to_map(notifications, existing))
    # The loop only reads topology, or condition cells through the batch's own view (_cells_of), never rows it
    # adds; the batch writes everything itself after the loop (Core statements), so autoflush would only cost time.
    with session.no_autoflush:
        for n, nid, result in zip(notifications, ids, owner, strict=True):
            batch.result = result
            before = _counts(result)
            if nid in seen:
                batch.result.duplicates += 1
            else:
                seen.add(nid)
                received.append({"org_id": org_id, "notification_id": nid, "received_at": batch.now})
                _apply_one(session, batch, existing, n, nid)
            result.items.append(s.ItemOutcome(notificationId=nid, outcome=_outcome(before, _counts(result))))
    _update_loaded(session, batch, existing)
    prepared.execute_many(session, _INSERT_RECEIVED, received)
    _insert_created(session, batch, existing)
    _write_cells(session, batch, existing)
    if batch.changed_cells:
        events.emit(session, CELLS_CHANGED, CellsChanged(org_id, frozenset(batch.changed_cells), batch.now))
    return results


def _apply_one(session: Session, batch: _Batch, existing: _Existing, n: Any, nid: str) -> None:
    if isinstance(n, (*s.IGNORED_KINDS, s.VesIgnored)):
        batch.result.ignored += 1
    elif isinstance(n, s.ANNOTATION_KINDS):
        _apply_annotation(batch, existing, n, nid)
    elif isinstance(n, s.NotifyPlannedMaintenance):
        _apply_maintenance(session, batch, existing, n, nid)
    elif isinstance(n, s.FailurePrediction):
        _apply_prediction(session, batch, existing, n, nid)
    elif isinstance(n, s.NotifyThresholdCrossing):
        _apply_threshold(session, batch, existing, n, nid)
    elif isinstance(n, s.NotifyMoiAttributeValueChanges | s.NotifyMoiDeletion):
        _apply_config(session, batch, existing, n, nid)
    else:
        _apply_alarm(session, batch, existing, n, nid)


def _counts(r: s.IngestResult) -> tuple[int, int, int, int, int]:
    return r.duplicates, r.ignored, r.stale, r.unmapped, r.accepted


_OUTCOMES = ("duplicate", "ignored", "stale", "unmapped", "accepted")


def _outcome(before: tuple[int, ...], after: tuple[int, ...]) -> str:
    """What became of one notification, from the counters it moved (the first in this order)."""
    return next((name for name, b, a in zip(_OUTCOMES, before, after, strict=True) if a > b), "ignored")


def _dns_to_map(notifications: Sequence[Any], existing: _Existing) -> list[str]:
    """DNs this batch may need mapped to cells: resolved in one go instead of a query per notification."""
    dns: list[str] = []
    for n in notifications:
        if isinstance(n, s.NotifyPlannedMaintenance):
            dns.extend(n.objectInstances)
        elif isinstance(n, s.FailurePrediction):
            dns.extend(n.failurePredictionObject)
        elif isinstance(n, (*s.IGNORED_KINDS, *s.ANNOTATION_KINDS, s.VesIgnored)):
            continue  # they create no condition
        elif _key(n) not in existing:
            dns.append(dn_of(n))
    return dns


def _chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _key(n: Any) -> tuple[str, str] | None:
    if isinstance(n, (*s.IGNORED_KINDS, s.VesIgnored)):
        return None
    if isinstance(n, s.NotifyPlannedMaintenance):
        return "maintenance", n.maintenanceId
    if isinstance(n, s.FailurePrediction):
        return "prediction", n.predictionId
    if isinstance(n, s.NotifyThresholdCrossing):
        return "threshold", f"{dn_of(n)}|{n.observedPerfMetricName}"
    if isinstance(n, s.NotifyMoiDeletion):
        return "config", f"{dn_of(n)}|deleted"
    if isinstance(n, s.NotifyMoiAttributeValueChanges):
        return "config", dn_of(n)
    return "alarm", n.alarmId


def _condition_key(n: Any) -> tuple[str, str]:
    key = _key(n)
    assert key is not None  # only notifications that make conditions get here
    return key


def _prefetch(session: Session, batch: _Batch, notifications: Sequence[Any]) -> _Existing:
    """The stored conditions the notifications name, with a snapshot of each to tell what the batch changed."""
    org_id = batch.org_id
    keys = {k for n in notifications if (k := _key(n)) is not None}
    found: _Existing = {}
    by_kind: dict[str, list[str]] = {}
    for kind, key in keys:
        by_kind.setdefault(kind, []).append(key)
    for kind, kind_keys in by_kind.items():
        for chunk in _chunks(sorted(kind_keys)):
            for row in prepared.rows(session, _CONDITIONS_BY_KEY, {"org": org_id, "kind": kind, "keys": list(chunk)}):
                cond = BatchCondition(*row[1:])
                cond.pk = row[0]
                found[(cond.kind, cond.key)] = cond
                batch.loaded[(cond.kind, cond.key)] = _snapshot(cond)
    return found


def _snapshot(cond: BatchCondition) -> tuple[Any, ...]:
    return (cond.impact, cond.object_instance, cond.starts_at, cond.ends_at, cond.changed_at, cond.cleared_at,
            cond.mapped, orjson.dumps(cond.details, option=orjson.OPT_SORT_KEYS), cond.last_notification_id)


def _update_loaded(session: Session, batch: _Batch, existing: _Existing) -> None:
    """Write back the stored conditions the batch changed (all their mutable columns, one executemany)."""
    rows = [{"k_pk": cond.pk, **{c: getattr(cond, c) for c in _CONDITION_COLUMNS[3:]}}
            for k, snap in batch.loaded.items() if _snapshot(cond := existing[k]) != snap]
    prepared.execute_many(session, _UPDATE_CONDITION, rows)


_CELLS_OF_CONDITIONS = select(ConditionCell.condition_pk, ConditionCell.cell_pk).where(
    ConditionCell.condition_pk.in_(bindparam("pks", expanding=True)))


def _prefetch_cells(session: Session, batch: _Batch, existing: _Existing) -> None:
    """The cells of the stored conditions the batch names, in one query (a clear or change needs them)."""
    by_pk = {cond.pk: k for k, cond in existing.items()}
    for k in existing:
        batch.cells[k] = []
    for chunk in _chunks(sorted(by_pk)):
        for condition_pk, cell_pk in prepared.rows(session, _CELLS_OF_CONDITIONS, {"pks": list(chunk)}):
            batch.cells[by_pk[condition_pk]].append(cell_pk)


def _map_dn(session: Session, batch: _Batch, dn: str) -> list[int]:
    if dn not in batch.dn_cache:
        batch.dn_cache[dn] = [c.pk for c in topology.cells_for_dn(session, batch.org_id, dn)]
    return batch.dn_cache[dn]


def _new_condition(session: Session, batch: _Batch, existing: _Existing, kind: str,
                   key: str, cells: list[int], **values: Any) -> BatchCondition:
    # Kept out of the session: new conditions go in one multi-row INSERT at the end of the batch.
    cond = BatchCondition(org_id=batch.org_id, kind=kind, key=key, mapped=bool(cells), **values)
    existing[(kind, key)] = cond
    batch.cells[(kind, key)] = list(cells)
    batch.rewrite.add((kind, key))
    batch.created.add((kind, key))
    batch.result.accepted += 1
    if not cells:
        batch.result.unmapped += 1
    batch.changed_cells.update(cells)
    return cond


def _cells_of(batch: _Batch, cond: BatchCondition) -> list[int]:
    return batch.cells[(cond.kind, cond.key)]  # prefetched for stored conditions, set for new ones


def _table(model: type[Base]) -> Table:
    """The Core table: bulk writes on it skip the ORM's per-row bookkeeping."""
    table: Table = model.__table__  # type: ignore[assignment]
    return table


def _insert_created(session: Session, batch: _Batch, existing: _Existing) -> None:
    """The batch's new conditions in one INSERT … RETURNING; their final state, whatever the batch did to them."""
    created = [existing[k] for k in sorted(batch.created)]
    if not created:
        return
    # RETURNING comes in no particular order; (kind, key) is unique per sender, so it tells the rows apart.
    rows = prepared.insert_returning(session, _table(Condition),
                                     [{c: getattr(cond, c) for c in _CONDITION_COLUMNS} for cond in created],
                                     ("pk", "kind", "key"))
    for pk, kind, key in rows:
        existing[(kind, key)].pk = pk


_UPDATE_CONDITION = (_table(Condition).update().where(_table(Condition).c.pk == bindparam("k_pk"))
                     .values({c: bindparam(c) for c in _CONDITION_COLUMNS[3:]}))


_INSERT_RECEIVED = insert(_table(ReceivedNotification))
_INSERT_CONDITION_CELLS = insert(_table(ConditionCell))


def _write_cells(session: Session, batch: _Batch, existing: _Existing) -> None:
    """Store the cells of conditions created or re-targeted by this batch (after `_insert_created` gave the new
    ones their keys)."""
    rows: list[dict[str, int]] = []
    for k in sorted(batch.rewrite):
        cond = existing[k]
        if k not in batch.created:
            session.execute(delete(ConditionCell).where(ConditionCell.condition_pk == cond.pk))
        assert cond.pk is not None  # stored before this batch, or given one by _insert_created
        rows.extend({"condition_pk": cond.pk, "cell_pk": cell_pk} for cell_pk in sorted(set(batch.cells[k])))
    prepared.execute_many(session, _INSERT_CONDITION_CELLS, rows)


def _touch(session: Session, batch: _Batch, cond: BatchCondition) -> None:
    batch.result.accepted += 1
    if not cond.mapped:
        batch.result.unmapped += 1
    batch.changed_cells.update(_cells_of(batch, cond))


def _etr(info: dict[str, Any] | None) -> datetime | None:
    for k in ETR_KEYS:
        raw = (info or {}).get(k)
        if isinstance(raw, str):
            try:
                return as_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
            except ValueError:
                continue
    return None


def _alarm_details(n: Any) -> dict[str, Any]:
    d = {"alarmType": n.alarmType.value, "probableCause": n.probableCause,
         "perceivedSeverity": n.perceivedSeverity.value, "specificProblem": n.specificProblem,
         "additionalText": n.additionalText, "systemDN": n.systemDN,
         "alarmRaisedTime": n.eventTime.isoformat(), "received": n.received}
    return {k: v for k, v in d.items() if v is not None}


def _apply_alarm(session: Session, batch: _Batch, existing: _Existing, n: Any,
                 nid: str) -> None:
    at = as_utc(n.eventTime)
    cond = existing.get(("alarm", n.alarmId))
    clearing = isinstance(n, s.NotifyClearedAlarm) or n.perceivedSeverity == s.PerceivedSeverity.CLEARED
    # A security alarm (an intrusion, an integrity violation) is listed, but takes no cell out of service.
    impact = "none" if isinstance(n, s.SECURITY_KINDS) else classify_alarm(n.probableCause, n.perceivedSeverity.value)
    if cond is None:
        dn = dn_of(n)
        details = _alarm_details(n)
        if clearing:  # the clear overtook its alarm: remember it so the late alarm is recognised as stale
            details["clearedBeforeRaised"] = True
        _new_condition(session, batch, existing, "alarm", n.alarmId, _map_dn(session, batch, dn),
                       impact="none" if clearing else impact, object_instance=dn, starts_at=at,
                       ends_at=_etr(n.additionalInformation), changed_at=at,
                       cleared_at=at if clearing else None, details=details, last_notification_id=nid)
        return
    if cond.cleared_at is not None and at <= cond.cleared_at:
        batch.result.stale += 1
        return
    if clearing:
        if cond.cleared_at is None:
            cond.cleared_at = at
            cond.changed_at = at
            cond.last_notification_id = nid
            _touch(session, batch, cond)
        return
    if cond.cleared_at is not None:  # raised again after a clear: a new occurrence of the same alarm
        cond.cleared_at = None
        cond.starts_at = at
    elif at < cond.changed_at:
        batch.result.stale += 1
        return
    cond.impact = impact
    cond.changed_at = at
    kept = {k: v for k, v in cond.details.items() if k != "received"}  # the latest payload's, if any
    cond.details = {**kept, **_alarm_details(n), "alarmChangedTime": at.isoformat()}
    cond.ends_at = _etr(n.additionalInformation) or cond.ends_at
    cond.last_notification_id = nid
    _touch(session, batch, cond)


def _apply_annotation(batch: _Batch, existing: _Existing, n: Any, nid: str) -> None:
    """Acknowledgement, comments, correlation: recorded on the alarm they are about (its status is unchanged).
    About an alarm gridcell does not hold: counted as ignored."""
    cond = existing.get(("alarm", n.alarmId))
    if cond is None:
        batch.result.ignored += 1
        return
    at = as_utc(n.eventTime).isoformat()
    details = dict(cond.details)
    if isinstance(n, s.NotifyAckStateChanged):
        details.update(ackState=n.ackState, ackUserId=n.ackUserId, ackSystemId=n.ackSystemId, ackTime=at)
    elif isinstance(n, s.NotifyComments):
        details["comments"] = [*details.get("comments", []), {"time": at, "comments": n.comments}]
    else:
        details["correlatedNotifications"] = n.correlatedNotifications
        if n.rootCauseIndicator is not None:
            details["rootCauseIndicator"] = n.rootCauseIndicator
    cond.details = details
    cond.last_notification_id = nid
    batch.result.accepted += 1


def _apply_threshold(session: Session, batch: _Batch, existing: _Existing,
                     n: s.NotifyThresholdCrossing, nid: str) -> None:
    """The first crossing of a (object, metric) leaves normal; a crossing the other way returns to it."""
    kind, key = _condition_key(n)
    at = as_utc(n.eventTime)
    cond = existing.get((kind, key))
    details = {"metric": n.observedPerfMetricName, "value": n.observedPerfMetricValue,
               "direction": n.observedPerfMetricDirection, "threshold": n.thresholdValue,
               "additionalText": n.additionalText}
    if cond is None:
        dn = dn_of(n)
        _new_condition(session, batch, existing, kind, key, _map_dn(session, batch, dn), impact="degradation",
                       object_instance=dn, starts_at=at, ends_at=None, changed_at=at, cleared_at=None,
                       details=details, last_notification_id=nid)
        return
    if at < cond.changed_at:
        batch.result.stale += 1
        return
    if cond.cleared_at is None and cond.details.get("direction") != n.observedPerfMetricDirection:
        cond.cleared_at = at
    elif cond.cleared_at is not None:
        cond.cleared_at = None
        cond.starts_at = at
        cond.details = details
    cond.changed_at = at
    cond.last_notification_id = nid
    _touch(session, batch, cond)


def _apply_config(session: Session, batch: _Batch, existing: _Existing, n: Any,
                  nid: str) -> None:
    """CM changes that take a cell out of service (locked, disabled, deleted) act like an outage."""
    kind, key = _condition_key(n)
    at = as_utc(n.eventTime)
    if isinstance(n, s.NotifyMoiDeletion):
        out_of_service: bool | None = True
        details: dict[str, Any] = {"change": "deleted", "additionalText": n.additionalText}
    else:
        new_values = n.attributeListValueChanges[0]
        states = {a: str(new_values[a]).upper() for a in OUT_OF_SERVICE if a in new_values}
        details = {"change": "attributeValueChanges", "newValues": new_values}
        out_of_service = (any(v in OUT_OF_SERVICE[a] for a, v in states.items()) if states else None)
    cond = existing.get((kind, key))
    if cond is None:
        dn = dn_of(n)
        cells = _map_dn(session, batch, dn)
        _new_condition(session, batch, existing, kind, key, cells,
                       impact="outage" if out_of_service else "none", object_instance=dn, starts_at=at,
                       ends_at=None, changed_at=at, cleared_at=None if out_of_service else at, details=details,
                       last_notification_id=nid)
        return
    if at < cond.changed_at:
        batch.result.stale += 1
        return
    if out_of_service is True:
        if cond.cleared_at is not None or cond.impact != "outage":
            cond.starts_at = at
        cond.impact, cond.cleared_at = "outage", None
    elif out_of_service is False and cond.cleared_at is None:
        cond.cleared_at = at
    cond.details = details
    cond.changed_at = at
    cond.last_notification_id = nid
    _touch(session, batch, cond)


def _apply_maintenance(session: Session, batch: _Batch, existing: _Existing,
                       n: s.NotifyPlannedMaintenance, nid: str) -> None:
    start, end = as_utc(n.start), as_utc(n.end)
    if end <= start:
        raise InvalidInput(f"maintenance {n.maintenanceId}: end must be after start",
                           errors=[{"loc": "end", "msg": "end must be after start"}])
    cells = {c.pk for c in topology.cells_by_ids(session, batch.org_id, n.cells)} if n.cells else set()
    for dn in n.objectInstances:
        cells.update(_map_dn(session, batch, dn))
    details = {"maintenanceId": n.maintenanceId, "description": n.description,
               "expectedImpact": n.expectedImpact.value, "cellIds": n.cells, "objectInstances": n.objectInstances}
    at = as_utc(n.eventTime)
    cond = existing.get(("maintenance", n.maintenanceId))
    if cond is None:
        _new_condition(session, batch, existing, "maintenance", n.maintenanceId, sorted(cells),
                       impact=n.expectedImpact.value, object_instance=None, starts_at=start, ends_at=end,
                       changed_at=at, cleared_at=at if n.cancelled else None, details=details,
                       last_notification_id=nid)
        return
    if at < cond.changed_at:
        batch.result.stale += 1
        return
    _retarget(batch, cond, cells)
    cond.mapped = bool(cells)
    cond.starts_at, cond.ends_at, cond.impact = start, end, n.expectedImpact.value
    cond.cleared_at = at if n.cancelled else None
    cond.changed_at = at
    cond.details = details
    cond.last_notification_id = nid
    _touch(session, batch, cond)


def _retarget(batch: _Batch, cond: BatchCondition, cells: set[int]) -> None:
    """A stored condition now names these cells: the old and the new ones change, the new ones are written."""
    old_cells = set(_cells_of(batch, cond))
    batch.changed_cells.update(old_cells)
    if old_cells != cells:
        batch.cells[(cond.kind, cond.key)] = sorted(cells)
        batch.rewrite.add((cond.kind, cond.key))


def _apply_prediction(session: Session, batch: _Batch, existing: _Existing, n: s.FailurePrediction,
                      nid: str) -> None:
    """A failure prediction puts its objects' cells at risk from now until its end (or until withdrawn); a newer
    prediction of the same issue replaces it, CLEARED withdraws it."""
    cells: set[int] = set()
    for dn in n.failurePredictionObject:
        cells.update(_map_dn(session, batch, dn))
    at = as_utc(n.eventTime)
    withdrawn = n.perceivedSeverity == "CLEARED"
    ends = as_utc(n.predictedFailureEndTime) if n.predictedFailureEndTime else None
    details = {"predictedFailureAt": as_utc(n.predictedFailureTime).isoformat(), "severity": n.perceivedSeverity,
               "potentialFailureType": n.potentialFailureType, "potentialFailureCause": n.potentialFailureCause,
               "confidenceDegree": n.confidenceDegree, "reportId": n.reportId,
               "objects": n.failurePredictionObject, "received": n.received}
    details = {k: v for k, v in details.items() if v is not None}
    key = ("prediction", n.predictionId)
    cond = existing.get(key)
    if cond is None:
        if withdrawn:  # withdrawing a prediction never received: nothing to withdraw
            batch.result.ignored += 1
            return
        _new_condition(session, batch, existing, "prediction", n.predictionId, sorted(cells), impact="prediction",
                       object_instance=n.failurePredictionObject[0], starts_at=at, ends_at=ends, changed_at=at,
                       cleared_at=None, details=details, last_notification_id=nid)
        return
    if at < cond.changed_at:
        batch.result.stale += 1
        return
    _retarget(batch, cond, cells)
    if cond.cleared_at is not None and not withdrawn:
        cond.starts_at = at
    cond.mapped, cond.ends_at, cond.changed_at, cond.details = bool(cells), ends, at, details
    cond.cleared_at = at if withdrawn else None
    cond.last_notification_id = nid
    _touch(session, batch, cond)


# ---- queries used by other capabilities ---------------------------------------------------------


# Prebuilt Core statements for the questions the status engine, the advisor and cell health ask in most
# units of work: no per-call statement construction, no ORM identity-map work for rows only read.
_CONDS: Table = Condition.__table__  # type: ignore[assignment]
_CCELLS: Table = ConditionCell.__table__  # type: ignore[assignment]
_COND_COLS = (_CONDS.c.pk, _CONDS.c.org_id, _CONDS.c.kind, _CONDS.c.key, _CONDS.c.impact, _CONDS.c.object_instance,
              _CONDS.c.starts_at, _CONDS.c.ends_at, _CONDS.c.details)
_CELL_CONDS = _CCELLS.join(_CONDS, _CONDS.c.pk == _CCELLS.c.condition_pk)
_NOW: Any = bindparam("now")
# Maintenance is in force inside its window, a failure prediction until its predicted end, the rest until cleared.
_ACTIVE_ON_CELLS = select(_CCELLS.c.cell_pk, *_COND_COLS).select_from(_CELL_CONDS).where(
    _CCELLS.c.cell_pk.in_(bindparam("pks", expanding=True)), _CONDS.c.cleared_at.is_(None), _CONDS.c.impact != "none",
    or_(_CONDS.c.kind.not_in(("maintenance", "prediction")),
        and_(_CONDS.c.kind == "maintenance", _CONDS.c.starts_at <= _NOW, _CONDS.c.ends_at > _NOW),
        and_(_CONDS.c.kind == "prediction", or_(_CONDS.c.ends_at.is_(None), _CONDS.c.ends_at > _NOW))))
_UPCOMING_ON_CELLS = select(_CCELLS.c.cell_pk, *_COND_COLS).select_from(_CELL_CONDS).where(
    _CCELLS.c.cell_pk.in_(bindparam("pks", expanding=True)), _CONDS.c.kind == "maintenance",
    _CONDS.c.cleared_at.is_(None), _CONDS.c.starts_at > _NOW, _CONDS.c.starts_at <= bindparam("until"))
_WINDOW_EDGES = select(_CCELLS.c.cell_pk).select_from(_CELL_CONDS).where(
    _CONDS.c.kind.in_(("maintenance", "prediction")), _CONDS.c.cleared_at.is_(None),
    or_(and_(_CONDS.c.kind == "maintenance", _CONDS.c.starts_at > bindparam("after"),
             _CONDS.c.starts_at <= bindparam("until")),
        and_(_CONDS.c.ends_at > bindparam("after"), _CONDS.c.ends_at <= bindparam("until"))))


def _conditions_on_cells(session: Session, stmt: Any, cell_pks: Iterable[int],
                         **params: Any) -> dict[int, list[ActiveCondition]]:
    out: dict[int, list[ActiveCondition]] = {}
    for chunk in _chunks(sorted(set(cell_pks))):
        for r in prepared.rows(session, stmt, {"pks": list(chunk), **params}):
            out.setdefault(r[0], []).append(ActiveCondition(*r[1:]))
    return out


def active_conditions(session: Session, cell_pks: Iterable[int], now: datetime) -> dict[int, list[ActiveCondition]]:
    """Conditions in force now on each cell (maintenance only inside its window)."""
    return _conditions_on_cells(session, _ACTIVE_ON_CELLS, cell_pks, now=now)


def cells_with_window_edges(session: Session, after: datetime, until: datetime) -> set[int]:
    """Cells whose maintenance window opened or closed in (after, until]: their status moves with time."""
    return {r[0] for r in prepared.rows(session, _WINDOW_EDGES, {"after": after, "until": until})}


def upcoming_maintenance(session: Session, cell_pks: Iterable[int], now: datetime,
                         horizon_until: datetime) -> dict[int, list[ActiveCondition]]:
    """Windows announced for these cells that open before horizon_until and have not closed."""
    return _conditions_on_cells(session, _UPCOMING_ON_CELLS, cell_pks, now=now, until=horizon_until)


def list_conditions(session: Session, org_id: str, *, kind: str | None = None, active_only: bool = True,
                    unmapped_only: bool = False, cell_pks: Iterable[int] | None = None,
                    limit: int = 1000, offset: int = 0) -> list[tuple[Condition, list[int]]]:
    q = select(Condition).where(Condition.org_id == org_id)
    if kind:
        q = q.where(Condition.kind == kind)
    if active_only:
        q = q.where(Condition.cleared_at.is_(None))
    if unmapped_only:
        q = q.where(Condition.mapped.is_(False))
    if cell_pks is not None:
        q = q.where(Condition.pk.in_(select(ConditionCell.condition_pk).where(
            ConditionCell.cell_pk.in_(sorted(set(cell_pks))))))
    conds = list(session.scalars(q.order_by(Condition.pk).offset(offset).limit(limit)))
    cells: dict[int, list[int]] = {c.pk: [] for c in conds}
    for chunk in _chunks(sorted(cells)):
        for cpk, cell in session.execute(select(ConditionCell.condition_pk, ConditionCell.cell_pk)
                                         .where(ConditionCell.condition_pk.in_(chunk))):
            cells[cpk].append(cell)
    return [(c, cells[c.pk]) for c in conds]


def remap_unmapped(session: Session, org_id: str) -> set[int]:
    """After a topology import, map conditions that named unknown objects; returns newly mapped cells."""
    changed: set[int] = set()
    for cond in session.scalars(select(Condition).where(Condition.org_id == org_id, Condition.mapped.is_(False),
                                                        Condition.object_instance.is_not(None))):
        cells = [c.pk for c in topology.cells_for_dn(session, org_id, cond.object_instance or "")]
        if cells:
            cond.mapped = True
            for cell_pk in cells:
                session.add(ConditionCell(condition_pk=cond.pk, cell_pk=cell_pk))
            changed.update(cells)
    return changed


def conditions_in_window(session: Session, cell_pks: Iterable[int], t0: datetime,
                         t1: datetime) -> dict[int, list[tuple[ActiveCondition, datetime | None]]]:
    """Conditions on these cells that were in force at some time in [t0, t1] (cleared ones included), with
    their clearing time: what incident attribution correlates with."""
    out: dict[int, list[tuple[ActiveCondition, datetime | None]]] = {}
    for chunk in _chunks(sorted(set(cell_pks))):
        rows = session.execute(
            select(ConditionCell.cell_pk, Condition)
            .join(Condition, Condition.pk == ConditionCell.condition_pk)
            .where(ConditionCell.cell_pk.in_(chunk), Condition.impact != "none", Condition.starts_at <= t1,
                   or_(Condition.cleared_at.is_(None), Condition.cleared_at >= t0),
                   or_(Condition.kind != "maintenance", Condition.ends_at.is_(None), Condition.ends_at >= t0))
        ).all()
        for cell_pk, c in rows:
            out.setdefault(cell_pk, []).append((ActiveCondition(
                c.pk, c.org_id, c.kind, c.key, c.impact, c.object_instance, c.starts_at, c.ends_at, c.details),
                c.cleared_at))
    return out


def prune_received(session: Session, before: datetime, limit: int) -> int:
    """Forget up to `limit` received notification ids older than `before` (the idempotency window); returns how
    many."""
    t = _table(ReceivedNotification)
    keys = [tuple(k) for k in session.execute(select(t.c.org_id, t.c.notification_id)
                                              .where(t.c.received_at < before).limit(limit)).all()]
    if keys:
        session.execute(delete(t).where(tuple_(t.c.org_id, t.c.notification_id).in_(keys)))
    return len(keys)
