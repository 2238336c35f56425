"""The TS 28.532 Fault Supervision MnS producer toward DSOs: the alarm list and its counts.

A DSO sees the MNO alarms on cells serving its sites, bounded by its agreements; alarm identity is (MNO, alarmId).
- `cell` agreements: the record is keyed `<mnoId>:<alarmId>` and carries the MNO's object, type, cause, specific
  problem and text, plus the cells and the DSO's affected sites.
- `area` agreements: an opaque key and nothing of the MNO's network. The attributes TS 28.532 makes mandatory
  are derived from what the DSO may know: `objectInstance` is the DN of the DSO's own first affected site
  (`SubNetwork=<dso id>,DsoSite=<site id>`), `alarmType` / `probableCause` stand for the reason category
  (`AREA_TYPE`), `notificationId` is a number derived one-way from what this DSO was shown.

The alarm list holds the open alarms and, per TS 28.532, cleared ones until the DSO acknowledges them (at most
`CLEARED_LISTED` after the clear). Acknowledgements and comments are the DSO's own (exposure.fault_mns_acks).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridcell.core.clock import as_utc, isoformat, utcnow
from gridcell.core.errors import Forbidden, InvalidInput
from gridcell.exposure.jex import Condition, JexError, compile_condition
from gridcell.exposure.models import FaultMnsAck
from gridcell.faults import service as faults
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import AgreementView, Caller
from gridcell.topology import service as topology
from gridcell.topology.service import CellRef, SiteRef

ALARM_ACK_STATES = ("ALL_ALARMS", "ALL_ACTIVE_ALARMS", "ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS",
                    "ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS", "ALL_CLEARED_AND_UNACKNOWLEDGED_ALARMS",
                    "ALL_UNACKNOWLEDGED_ALARMS")
SEVERITIES = ("CRITICAL", "MAJOR", "MINOR", "WARNING", "INDETERMINATE")
# TS 28.532 AlarmType (TS 28.111's OTHER is not one of them: such alarms take their category's type).
ALARM_TYPES = frozenset({"COMMUNICATIONS_ALARM", "QUALITY_OF_SERVICE_ALARM", "PROCESSING_ERROR_ALARM",
                         "EQUIPMENT_ALARM", "ENVIRONMENTAL_ALARM", "INTEGRITY_VIOLATION", "OPERATIONAL_VIOLATION",
                         "PHYSICAL_VIOLATION", "SECURITY_SERVICE_OR_MECHANISM_VIOLATION", "TIME_DOMAIN_VIOLATION"})
CATEGORY_OF_IMPACT = {"outage": "network_outage", "power": "power_supply", "degradation": "degradation"}
# What an area-level record says for alarmType / probableCause (TS 28.111 Annex B causes): the category only.
AREA_TYPE = {"network_outage": ("COMMUNICATIONS_ALARM", "UNAVAILABLE"),
             "power_supply": ("ENVIRONMENTAL_ALARM", "POWER_PROBLEM"),
             "degradation": ("QUALITY_OF_SERVICE_ALARM", "PERFORMANCE_DEGRADED"),
             "information": ("COMMUNICATIONS_ALARM", "INDETERMINATE")}
CLEARED_LISTED = timedelta(days=7)
SITE_CLASS = "DsoSite"
MAX_DN = 400
_PAGE = 5000


def site_dn(dso_id: str, site_id: str) -> str:
    return f"SubNetwork={dso_id},{SITE_CLASS}={site_id}"


def _iso(value: datetime) -> str:
    return isoformat(value) or ""


def _time(value: Any) -> datetime | None:
    return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00"))) if isinstance(value, str) else None


@dataclass(frozen=True)
class Facts:
    """One MNO alarm as the producer relays it: plain values taken from the fault condition."""

    mno_id: str
    key: str  # the MNO's alarmId
    object_instance: str
    raised: datetime
    changed: datetime
    cleared: datetime | None
    impact: str
    alarm_type: str
    probable_cause: str | int
    specific_problem: str | int | None
    severity: str
    additional_text: str | None
    expected_end: datetime | None

    @property
    def category(self) -> str:
        return CATEGORY_OF_IMPACT.get(self.impact, "information")

    def stored(self) -> dict[str, Any]:
        """What `fault_mns_published` keeps of an open alarm: enough to tell a change and to announce a clear."""
        return {"objectInstance": self.object_instance, "raised": _iso(self.raised), "changed": _iso(self.changed),
                "impact": self.impact, "alarmType": self.alarm_type, "probableCause": self.probable_cause,
                "specificProblem": self.specific_problem, "perceivedSeverity": self.severity,
                "additionalText": self.additional_text, "expectedEnd": isoformat(self.expected_end)}

    @classmethod
    def from_stored(cls, mno_id: str, key: str, d: dict[str, Any]) -> Facts:
        raised = _time(d.get("raised")) or utcnow()
        return cls(mno_id, key, str(d.get("objectInstance") or ""), raised, _time(d.get("changed")) or raised, None,
                   str(d.get("impact") or "none"), str(d.get("alarmType") or ""),
                   _cause(d.get("probableCause")) or "INDETERMINATE", _cause(d.get("specificProblem")),
                   str(d.get("perceivedSeverity") or "INDETERMINATE"), d.get("additionalText"),
                   _time(d.get("expectedEnd")))


def _cause(value: Any) -> str | int | None:
    """A probable cause or specific problem as TS 28.532 types them (a string or an integer), else None."""
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return value


def facts_of(mno_id: str, cond: Any) -> Facts:
    """A fault condition (faults.list_conditions) as Facts; values a record cannot carry are normalised."""
    d: dict[str, Any] = cond.details or {}
    severity = str(d.get("perceivedSeverity") or "").upper()
    text = d.get("additionalText")
    category = CATEGORY_OF_IMPACT.get(cond.impact, "information")
    alarm_type = str(d.get("alarmType") or "")
    return Facts(
        mno_id=mno_id, key=cond.key, object_instance=cond.object_instance or "", raised=as_utc(cond.starts_at),
        changed=as_utc(cond.changed_at), cleared=as_utc(cond.cleared_at) if cond.cleared_at else None,
        impact=cond.impact, alarm_type=alarm_type if alarm_type in ALARM_TYPES else AREA_TYPE[category][0],
        probable_cause=_cause(d.get("probableCause")) or "INDETERMINATE",
        specific_problem=_cause(d.get("specificProblem")),
        severity=severity if severity in SEVERITIES else "INDETERMINATE",
        additional_text=text if isinstance(text, str) else None,
        expected_end=as_utc(cond.ends_at) if cond.ends_at else None)


@dataclass(frozen=True)
class Seen:
    """One alarm as one DSO sees it."""

    dso_id: str
    facts: Facts
    level: str  # cell | area
    sites: tuple[str, ...]  # the DSO's sites its cells serve
    cells: tuple[str, ...]  # cell ids (cell level only)

    @property
    def alarm_id(self) -> str:
        f = self.facts
        if self.level == "cell":
            return f"{f.mno_id}:{f.key}"
        return "a-" + hashlib.sha256(f"{f.mno_id}|{f.key}".encode()).hexdigest()[:16]

    @property
    def cleared(self) -> bool:
        return self.facts.cleared is not None

    def view(self) -> dict[str, Any]:
        """The TS 28.532 alarm attributes this DSO may see (what a change notification compares)."""
        f = self.facts
        severity = "CLEARED" if self.cleared else f.severity
        if self.level == "cell":
            out: dict[str, Any] = {"objectInstance": f.object_instance, "alarmType": f.alarm_type,
                                   "probableCause": f.probable_cause, "perceivedSeverity": severity}
            if f.specific_problem is not None:
                out["specificProblem"] = f.specific_problem
            if f.additional_text is not None:
                out["additionalText"] = f.additional_text
            return out
        alarm_type, cause = AREA_TYPE[f.category]
        return {"objectInstance": site_dn(self.dso_id, self.sites[0]), "alarmType": alarm_type,
                "probableCause": cause, "perceivedSeverity": severity}

    def extensions(self) -> dict[str, Any]:
        """gridcell's members beside the standard ones (TS 28.532 records and notifications allow them)."""
        out: dict[str, Any] = {"mnoId": self.facts.mno_id, "category": self.facts.category,
                               "affectedSites": list(self.sites)}
        if self.level == "cell":
            out.update(mnoAlarmId=self.facts.key, cells=list(self.cells))
            if self.facts.expected_end is not None:
                out["expectedEnd"] = _iso(self.facts.expected_end)
        return out

    def notification_id(self) -> int:
        """The id of the notification that announced this state of the alarm to this DSO: the record's
        `notificationId` and that notification's agree. A one-way number: it says nothing of the MNO's ids."""
        view = orjson.dumps(self.view(), option=orjson.OPT_SORT_KEYS).decode()
        return number_of(self.dso_id, self.alarm_id, _iso(self.facts.raised), view)


def number_of(*parts: str) -> int:
    """A stable positive 63-bit NotificationId for these parts."""
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:8], "big") >> 1


@dataclass
class Visibility:
    """Which MNO cells serve which of one DSO's sites, and under which agreement level."""

    dso_id: str
    cell_sites: dict[int, set[str]] = field(default_factory=dict)
    cell_level: dict[int, str] = field(default_factory=dict)
    cell_mno: dict[int, str] = field(default_factory=dict)
    cell_ids: dict[int, str] = field(default_factory=dict)

    def add(self, site: SiteRef, plmn: str, cells: Iterable[CellRef], agreements: list[AgreementView]) -> None:
        agreement = next((a for a in agreements if a.covers(site.site_id, plmn)), None)
        if agreement is None:
            return
        for c in cells:
            if c.org_id != agreement.mno_id:
                continue
            self.cell_sites.setdefault(c.pk, set()).add(site.site_id)
            if self.cell_level.get(c.pk) != "cell":  # a cell under two agreements shows what the wider allows
                self.cell_level[c.pk] = agreement.level
            self.cell_mno[c.pk] = c.org_id
            self.cell_ids[c.pk] = c.cell_id

    def mnos(self) -> list[str]:
        return sorted(set(self.cell_mno.values()))

    def cells_of(self, mno_id: str) -> list[int]:
        return sorted(pk for pk, m in self.cell_mno.items() if m == mno_id)

    def seen(self, facts: Facts, cells: Iterable[int]) -> Seen | None:
        visible = [pk for pk in cells if pk in self.cell_sites and self.cell_mno[pk] == facts.mno_id]
        if not visible:
            return None
        level = "cell" if any(self.cell_level[pk] == "cell" for pk in visible) else "area"
        sites = tuple(sorted({s for pk in visible for s in self.cell_sites[pk]}))
        cells_out = tuple(sorted(self.cell_ids[pk] for pk in visible)) if level == "cell" else ()
        return Seen(self.dso_id, facts, level, sites, cells_out)


def dso_agreements(session: Session, caller: Caller) -> list[AgreementView]:
    if caller.org_kind != "dso":
        raise Forbidden("the Fault MnS alarm list is exposed to DSO organisations")
    return [a for a in tenancy.agreements_for(session, caller.org_id) if a.dso_id == caller.org_id]


def dso_visibility(session: Session, dso_id: str, agreements: list[AgreementView]) -> Visibility:
    """Every cell serving one of the DSO's sites under an agreement."""
    vis = Visibility(dso_id)
    pairs = topology.all_site_pairs(session, dso_id)
    sites = topology.site_refs(session, {p[0] for p in pairs})
    for (site_pk, plmn), cells in sorted(topology.serving_cells_for_pairs(session, pairs).items()):
        vis.add(sites[site_pk], plmn, cells, agreements)
    return vis


def _conditions(session: Session, mno_id: str, cells: list[int], active_only: bool) -> list[tuple[Any, list[int]]]:
    out: list[tuple[Any, list[int]]] = []
    offset = 0
    while True:
        page = faults.list_conditions(session, mno_id, kind="alarm", active_only=active_only, cell_pks=cells,
                                      limit=_PAGE, offset=offset)
        out += page
        if len(page) < _PAGE:
            return out
        offset += _PAGE


def visible_alarms(session: Session, dso_id: str, agreements: list[AgreementView], *, active_only: bool,
                   now: datetime | None = None, vis: Visibility | None = None) -> list[Seen]:
    """The alarms in the DSO's view: open ones, and (unless active_only) those cleared within CLEARED_LISTED."""
    vis = vis or dso_visibility(session, dso_id, agreements)
    since = (now or utcnow()) - CLEARED_LISTED
    out: list[Seen] = []
    for mno in vis.mnos():
        for cond, cells in _conditions(session, mno, vis.cells_of(mno), active_only):
            if cond.cleared_at is not None and as_utc(cond.cleared_at) < since:
                continue
            seen = vis.seen(facts_of(mno, cond), cells)
            if seen is not None:
                out.append(seen)
    return out


@dataclass(frozen=True)
class Ack:
    """The DSO's acknowledgement state and comments of one alarm occurrence."""

    state: str
    user_id: str | None = None
    system_id: str | None = None
    time: datetime | None = None
    comments: dict[str, Any] = field(default_factory=dict)

    @property
    def acknowledged(self) -> bool:
        return self.state == "ACKNOWLEDGED"


UNACKNOWLEDGED = Ack("UNACKNOWLEDGED")


def ack_rows(session: Session, dso_id: str, alarms: Iterable[Seen]) -> dict[tuple[str, str], FaultMnsAck]:
    """The DSO's stored rows for these alarms (any occurrence), by (MNO, alarmId)."""
    by_mno: dict[str, set[str]] = {}
    for s in alarms:
        by_mno.setdefault(s.facts.mno_id, set()).add(s.facts.key)
    out: dict[tuple[str, str], FaultMnsAck] = {}
    for mno, keys in by_mno.items():
        ordered = sorted(keys)
        for i in range(0, len(ordered), 500):
            for row in session.scalars(select(FaultMnsAck).where(
                    FaultMnsAck.dso_id == dso_id, FaultMnsAck.mno_id == mno,
                    FaultMnsAck.alarm_key.in_(ordered[i:i + 500]))):
                out[(row.mno_id, row.alarm_key)] = row
    return out


def ack_of(row: FaultMnsAck | None, seen: Seen) -> Ack:
    """The row's state if it is about this occurrence of the alarm; a re-raised alarm starts unacknowledged."""
    if row is None or as_utc(row.raised_at) != seen.facts.raised:
        return UNACKNOWLEDGED
    return Ack(row.ack_state or "UNACKNOWLEDGED", row.ack_user_id, row.ack_system_id,
               as_utc(row.ack_time) if row.ack_time else None, dict(row.comments or {}))


def record(seen: Seen, ack: Ack) -> dict[str, Any]:
    """The TS 28.532 AlarmRecord (absent attributes omitted, never null) with gridcell's extensions."""
    f = seen.facts
    out: dict[str, Any] = {**seen.view(), "notificationId": seen.notification_id(),
                           "alarmRaisedTime": _iso(f.raised)}
    if seen.level == "cell":
        out["alarmChangedTime"] = _iso(f.changed)
    if f.cleared is not None:
        out["alarmClearedTime"] = _iso(f.cleared)
    out["ackState"] = ack.state
    if ack.user_id is not None:
        out["ackUserId"] = ack.user_id
    if ack.system_id is not None:
        out["ackSystemId"] = ack.system_id
    if ack.time is not None:
        out["ackTime"] = _iso(ack.time)
    if ack.comments:
        out["comments"] = ack.comments
    out.update(seen.extensions())
    return out


def _in_list(state: str, cleared: bool, acked: bool) -> bool:
    """TS 28.532 alarmAckState; a cleared and acknowledged alarm has left the alarm list."""
    return {"ALL_ALARMS": not (cleared and acked),
            "ALL_ACTIVE_ALARMS": not cleared,
            "ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS": not cleared and acked,
            "ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS": not cleared and not acked,
            "ALL_CLEARED_AND_UNACKNOWLEDGED_ALARMS": cleared and not acked,
            "ALL_UNACKNOWLEDGED_ALARMS": not acked}[state]


@dataclass(frozen=True)
class Query:
    """The TS 28.532 query parameters of GET /alarms and /alarms/alarmCount, checked."""

    ack_state: str = "ALL_ALARMS"
    base: str | None = None
    condition: Condition | None = None


def parse_query(ack_state: str | None, base: str | None, flt: str | None) -> Query:
    """Refuses (400, naming the parameter) what cannot be evaluated; absent parameters select everything."""
    errors: list[dict[str, str]] = []
    if ack_state is not None and ack_state not in ALARM_ACK_STATES:
        errors.append({"loc": "alarmAckState", "msg": f"one of {', '.join(ALARM_ACK_STATES)}"})
    if base is not None and (not base.strip() or len(base) > MAX_DN or any(ord(c) < 0x20 for c in base)):
        errors.append({"loc": "baseObjectInstance", "msg": f"a DN of 1-{MAX_DN} characters without control "
                                                           "characters"})
    condition = None
    if flt is not None:
        try:
            condition = compile_condition(flt)
        except JexError as exc:
            errors.append({"loc": "filter", "msg": f"not a Jex conditions expression this exchange evaluates "
                                                   f"(TS 32.161): {exc}"})
    if errors:
        raise InvalidInput("the query parameters cannot be evaluated", errors=errors)
    return Query(ack_state or "ALL_ALARMS", base.strip() if base else None, condition)


def _below(dn: str, base: str) -> bool:
    return dn == base or dn.startswith(base + ",")


def _matches_base(seen: Seen, base: str) -> bool:
    """At or below baseObjectInstance: the record's object, or one of the DSO's affected sites. An area-level
    record is matched on the DSO's own DNs only, so the MNO's DN space cannot be probed through it."""
    if any(_below(site_dn(seen.dso_id, s), base) for s in seen.sites):
        return True
    return _below(seen.facts.object_instance if seen.level == "cell" else site_dn(seen.dso_id, seen.sites[0]), base)


def select_records(session: Session, caller: Caller, query: Query) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The DSO's alarm list as the TS 28.532 map alarmId -> AlarmRecord, selected by the query; and the MNOs whose
    alarms were read (for the audit, also when none was selected)."""
    agreements = dso_agreements(session, caller)
    active_only = query.ack_state in ("ALL_ACTIVE_ALARMS", "ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS",
                                      "ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS")
    vis = dso_visibility(session, caller.org_id, agreements)
    alarms = visible_alarms(session, caller.org_id, agreements, active_only=active_only, vis=vis)
    rows = ack_rows(session, caller.org_id, alarms)
    out: dict[str, dict[str, Any]] = {}
    for seen in alarms:
        ack = ack_of(rows.get((seen.facts.mno_id, seen.facts.key)), seen)
        if not _in_list(query.ack_state, seen.cleared, ack.acknowledged):
            continue
        if query.base is not None and not _matches_base(seen, query.base):
            continue
        rec = record(seen, ack)
        if query.condition is not None and not query.condition(rec):
            continue
        out[seen.alarm_id] = rec
    return out, vis.mnos()


def alarm_list(session: Session, caller: Caller, query: Query) -> dict[str, dict[str, Any]]:
    out, mnos = select_records(session, caller, query)
    tenancy.audit(session, caller, "read alarm list", mnos, {"count": len(out)})
    return out


def alarm_count(session: Session, caller: Caller, query: Query) -> dict[str, int]:
    """TS 28.532 AlarmCount over the same selection: per perceived severity, cleared ones in clearedCount."""
    records, mnos = select_records(session, caller, query)
    counts = {f"{s.lower()}Count": 0 for s in (*SEVERITIES, "CLEARED")}
    for r in records.values():
        counts[f"{str(r['perceivedSeverity']).lower()}Count"] += 1
    tenancy.audit(session, caller, "read alarm count", mnos, {"count": len(records)})
    return counts
