"""Energy outage coordination: OutageAndRecoveryInfo MOIs, their plans, and what other capabilities ask.

Who may do what (TS 28.318 + the study's clause 6.3): the SubNetwork id is the DSO organisation's id. The DSO
writes the DSO attributes of its MOIs; the MNOs it has agreements with read them. The `mno*` attributes are
readOnly in the schema: each MNO's values are computed from its own battery data, power alarms and the grid
model, or stated by the MNO itself with a reason (`set_mno_answer`); a DSO sending a different value gets 403,
and an MNO writing a DSO attribute gets 403. Each MNO reads its own answer; the DSO reads all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gridcell.core.clock import as_utc, isoformat, utcnow
from gridcell.core.errors import Forbidden, InvalidInput, NotFound
from gridcell.exposure import status
from gridcell.outages import grid, importers, moi, notify, planner, views
from gridcell.outages.cim import OutageRecord
from gridcell.outages.models import OutageInfo
from gridcell.outages.patching import apply_patch
from gridcell.outages.power import RanSitePower
from gridcell.outages.power import ran_site_power as _ran_site_power
from gridcell.outages.resource import MoiRef, attributes_of
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import Caller
from gridcell.topology import service as topology

__all__ = ["OutageEvidence", "RanSitePower", "energy_outages_for_sites", "ran_site_power"]


# ---- the interface other capabilities call ------------------------------------------------------------


@dataclass(frozen=True)
class OutageEvidence:
    id: str
    dso_id: str
    start: datetime
    expected_end: datetime | None
    actual_end: datetime | None
    site_pks: frozenset[int]


def energy_outages_for_sites(session: Session, dso_id: str, site_pks: list[int], t0: datetime,
                             t1: datetime) -> list[OutageEvidence]:
    """Outages of this DSO overlapping [t0, t1] whose area or de-energized buses cover any of the DSO sites;
    `site_pks` of each item: the asked sites it covers."""
    wanted = set(site_pks)
    rows = session.scalars(select(OutageInfo).where(
        OutageInfo.dso_id == dso_id, OutageInfo.start <= t1,
        or_(OutageInfo.actual_end.is_(None), OutageInfo.actual_end >= t0)).order_by(OutageInfo.start))
    out = []
    for o in rows:
        hit = wanted & set(o.covered_site_pks)
        if hit:
            out.append(OutageEvidence(o.moi_id, o.dso_id, o.start, o.expected_end, o.actual_end, frozenset(hit)))
    return out


def ran_site_power(session: Session, ran_site_pks: list[int], now: datetime) -> dict[int, RanSitePower]:
    """Power state of RAN sites: mains | battery | dark, on battery since, time to dark."""
    return _ran_site_power(session, ran_site_pks, now)


# ---- access ------------------------------------------------------------------------------------------------


def access(session: Session, caller: Caller, dso_id: str, *, write: bool) -> None:
    """The DSO owns SubNetwork=<its id>; MNOs with an agreement read it. Others see nothing (404)."""
    if caller.org_kind == "dso":
        if caller.org_id != dso_id:
            raise NotFound(f"SubNetwork={dso_id} not found")
        caller.require("operator" if write else "viewer")
        return
    if not any(a.dso_id == dso_id for a in tenancy.agreements_for(session, caller.org_id)):
        raise NotFound(f"SubNetwork={dso_id} not found")
    caller.require("viewer")
    if write:
        raise Forbidden("the MNO reads this MOI; its attributes are written by the DSO, and the mno* attributes "
                        "(readOnly in TS 28.318) are computed by gridcell from the MNO's battery and alarm data")


agreement_mnos = planner.agreement_mnos


# ---- the MOI -----------------------------------------------------------------------------------------------


def _row(session: Session, dso_id: str, moi_id: str) -> OutageInfo | None:
    return session.scalars(select(OutageInfo).where(OutageInfo.dso_id == dso_id,
                                                    OutageInfo.moi_id == moi_id)).first()


def _normalise(attrs: dict[str, Any], parsed: moi.OutageAttrs) -> dict[str, Any]:
    out = {k: attrs[k] for k in (*moi.ORI_DSO_ATTRS, *moi.ORI_EXTENSIONS) if attrs.get(k) is not None}
    for key, value in (("outageStartTime", parsed.start), ("expectedOutageEndTime", parsed.expected_end),
                       ("dsoRapidInterventionTime", parsed.rapid_time), ("actualOutageEndTime", parsed.actual_end)):
        if value is not None:
            out[key] = isoformat(value)
    return out


def _dso_attrs(caller: Caller, attrs: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """What a DSO writes: it may echo the computed mno* values and the answers beside them (GET-modify-PUT),
    never set them."""
    bad = [k for k in moi.ORI_MNO_ATTRS if k in attrs and attrs[k] != current.get(k)]
    if bad:
        raise Forbidden(f"{', '.join(bad)} {'is' if len(bad) == 1 else 'are'} MNO-side (readOnly in TS 28.318), "
                        "answered by each MNO; the DSO cannot write them",
                        errors=[{"loc": k, "msg": "readOnly MNO attribute"} for k in bad])
    return {k: v for k, v in attrs.items() if k not in moi.ORI_MNO_ATTRS and k != views.EXTENSION}


def put_outage(session: Session, caller: Caller, dso_id: str, moi_id: str, body: Any) -> tuple[dict[str, Any], bool]:
    """Create or replace; returns (the MOI, created)."""
    access(session, caller, dso_id, write=True)
    moi.check_moi_id(moi_id)
    attrs = attributes_of(body, MoiRef(dso_id, moi.ORI_CLASS, moi_id))
    row = _row(session, dso_id, moi_id)
    attrs = _dso_attrs(caller, attrs, row.mno_attributes if row else {})
    return _write(session, dso_id, moi_id, row, attrs)


def patch_outage(session: Session, caller: Caller, dso_id: str, moi_id: str, patch: Any,
                 content_type: str) -> dict[str, Any]:
    access(session, caller, dso_id, write=True)
    row = _row(session, dso_id, moi_id)
    if row is None:
        raise NotFound(f"OutageAndRecoveryInfo={moi_id} not found")
    updated = apply_patch(views.render(row, dso_id), patch, content_type)
    attrs = _dso_attrs(caller, attributes_of(updated, views.ref(row)), row.mno_attributes)
    result, _ = _write(session, dso_id, moi_id, row, attrs)
    return result


def _write(session: Session, dso_id: str, moi_id: str, row: OutageInfo | None,
           attrs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    parsed = moi.validate_outage(attrs)
    grid.parse_supply_id(session, dso_id, parsed.energy_supply_id)  # validated here; the planner reads it again
    now = utcnow()
    clean = _normalise(attrs, parsed)
    clean.setdefault("outageStartTime", isoformat(now))
    created = row is None
    orgs = [dso_id, *agreement_mnos(session, dso_id)]
    if row is None:
        row = OutageInfo(dso_id=dso_id, moi_id=moi_id, switching=[], mno_attributes={}, mno_answers={},
                         affected_ran_site_pks=[], covered_site_pks=[], plan=None, plan_key=None, plan_version=0,
                         created_at=now)
        session.add(row)
        before: dict[str, dict[str, Any]] = {}
    else:
        before = views.renders(row, orgs)
    _store_attrs(row, clean, now)
    session.flush()

    def announce() -> None:  # the MOI first, so receivers see cause before effect; the plan follows
        if not created:
            views.notify_moi_changes(session, row, before, now)
            return
        notify.send(session, orgs, "notifyMOICreation", views.ref(row),
                    lambda org: {"sourceIndicator": "RESOURCE_OPERATION", "attributeList": views.attributes(row, org)},
                    now)

    planner.recompute(session, row, now, announce=announce)
    return views.render(row, dso_id), created


def _store_attrs(row: OutageInfo, clean: dict[str, Any], now: datetime) -> None:
    row.attributes = clean
    row.start = as_utc(datetime.fromisoformat(clean["outageStartTime"].replace("Z", "+00:00")))
    row.expected_end = _dt(clean.get("expectedOutageEndTime"))
    row.actual_end = _dt(clean.get("actualOutageEndTime"))
    row.updated_at = now


def _dt(value: Any) -> datetime | None:
    return None if value is None else as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def delete_outage(session: Session, caller: Caller, dso_id: str, moi_id: str) -> None:
    access(session, caller, dso_id, write=True)
    row = _row(session, dso_id, moi_id)
    if row is None:
        raise NotFound(f"OutageAndRecoveryInfo={moi_id} not found")
    orgs = [dso_id, *agreement_mnos(session, dso_id)]
    last = views.renders(row, orgs)
    pairs = {(e[0], e[1]) for e in (row.plan or {}).get("effects", [])}
    session.delete(row)
    session.flush()
    if pairs:
        status.recompute(session, pairs)

    notify.send(session, orgs, "notifyMOIDeletion", MoiRef(dso_id, moi.ORI_CLASS, moi_id),
                lambda org: {"sourceIndicator": "RESOURCE_OPERATION", "attributeList": last[org]})


# ---- an MNO's own answer ------------------------------------------------------------------------------------------


def set_mno_answer(session: Session, caller: Caller, dso_id: str | None, moi_id: str,
                   answer: dict[str, Any] | None) -> dict[str, Any]:
    """The MNO states its own answer (a generator en route, a site on a fuel cell), overriding what gridcell
    computed from its battery data attribute by attribute; None withdraws it. The DSO is notified (the MOI's
    mno* attributes and its plan change)."""
    caller.require("operator", "mno")
    row = _find(session, caller, dso_id, moi_id)
    now = utcnow()
    answers = dict(row.mno_answers or {})
    if answer is None:
        if caller.org_id not in answers:
            raise NotFound(f"no answer of {caller.org_id} on outage {moi_id}")
        answers.pop(caller.org_id)
    else:
        kept = {k: v for k, v in (answers.get(caller.org_id) or {}).items() if k == "generatorsDispatched"}
        # Generator dispatches the MNO confirmed stay until it withdraws its answer: a new answer that does not
        # speak of them (the API's has no such field) must not drop them.
        answers[caller.org_id] = {**kept, **answer, "at": isoformat(now), "by": caller.client_id}
    before = views.renders(row, [row.dso_id, *agreement_mnos(session, row.dso_id)])
    row.mno_answers = answers
    row.updated_at = now
    session.flush()
    planner.recompute(session, row, now, announce=lambda: views.notify_moi_changes(session, row, before, now))
    return views.view(session, caller, row)


def _find(session: Session, caller: Caller, dso_id: str | None, moi_id: str) -> OutageInfo:
    if dso_id is None:
        candidates = [caller.org_id] if caller.org_kind == "dso" else sorted(
            {a.dso_id for a in tenancy.agreements_for(session, caller.org_id) if a.mno_id == caller.org_id})
    else:
        candidates = [dso_id]
    for dso in candidates:
        row = _row(session, dso, moi_id)
        if row is not None:
            access(session, caller, dso, write=False)
            return row
    raise NotFound(f"outage {moi_id} not found")


# ---- switching actions (native extension: the DSO restores parts of the area) ---------------------------


def add_switching(session: Session, caller: Caller, moi_id: str, actions: list[dict[str, Any]]) -> dict[str, Any]:
    access(session, caller, caller.org_id, write=True)
    row = _row(session, caller.org_id, moi_id)
    if row is None:
        raise NotFound(f"outage {moi_id} not found")
    grids = {g.name: g for g in grid.grids_of(session, caller.org_id)}
    now = utcnow()
    added = []
    for i, a in enumerate(actions):
        name = a.get("grid") or (next(iter(grids)) if len(grids) == 1 else None)
        if name not in grids:
            raise InvalidInput("unknown grid", errors=[{"loc": f"actions/{i}/grid", "msg": "name the DSO's grid"}])
        if int(a["switch"]) not in grid.switch_ids(session, grids[name].pk):
            raise InvalidInput("unknown switch", errors=[{"loc": f"actions/{i}/switch",
                                                          "msg": f"the grid {name} has no switch {a['switch']}"}])
        added.append({"grid": name, "switch": int(a["switch"]), "closed": bool(a["closed"]),
                      "at": isoformat(a.get("at") or now)})
    row.switching = [*row.switching, *added]
    row.updated_at = now
    planner.recompute(session, row, now)
    return views.view(session, caller, row)


def list_outages(session: Session, caller: Caller, *, open_only: bool = False) -> list[dict[str, Any]]:
    if caller.org_kind == "dso":
        dsos = [caller.org_id]
    else:
        dsos = sorted({a.dso_id for a in tenancy.agreements_for(session, caller.org_id)
                       if a.mno_id == caller.org_id})
    rows = session.scalars(select(OutageInfo).where(OutageInfo.dso_id.in_(dsos or [""]))
                           .order_by(OutageInfo.start.desc()))
    out = []
    for r in rows:
        status = (r.plan or {}).get("status", "open")
        if open_only and status == "closed":
            continue
        mine = views.view_for(session, caller.org_id, caller.org_kind, r)
        out.append({"id": r.moi_id, "dsoId": r.dso_id, "status": status, "planVersion": mine.get("version", 0),
                    "outageStartTime": isoformat(r.start), "expectedOutageEndTime": isoformat(r.expected_end),
                    "actualOutageEndTime": isoformat(r.actual_end),
                    "summary": mine.get("summary", {}), "moi": views.render(r, caller.org_id)})
    return out


def plan_for(session: Session, caller: Caller, dso_id: str | None, moi_id: str) -> dict[str, Any]:
    return views.view(session, caller, _find(session, caller, dso_id, moi_id))


# ---- import of outage records (CIM 61968 Outage, ODIN) ---------------------------------------------------------


def import_records(session: Session, dso_id: str, records: list[OutageRecord]) -> dict[str, int]:
    """Create or update OutageAndRecoveryInfo MOIs of a DSO from imported records; all-or-nothing. Usage points
    without a location of their own are the DSO's sites of that id; an error names the record's own field."""
    if tenancy.get_org(session, dso_id).kind != "dso":
        raise InvalidInput(f"{dso_id} is not a DSO")
    sites = ({s.site_id: (s.lon, s.lat) for s in topology.sites_of_org(session, dso_id)}
             if any(up.point is None for r in records for up in r.usage_points) else {})
    created = updated = 0
    for rec in records:
        try:
            moi.check_moi_id(rec.moi_id)
            attrs = importers.attributes(rec, sites)
            _, was_created = _write(session, dso_id, rec.moi_id, _row(session, dso_id, rec.moi_id), attrs)
        except InvalidInput as exc:
            raise InvalidInput(f"outage record {rec.moi_id}: {exc.detail}; nothing was imported",
                               errors=[{**e, "loc": _source_field(rec, str(e.get("loc", "")))}
                                       for e in exc.errors]) from exc
        created += int(was_created)
        updated += int(not was_created)
    return {"created": created, "updated": updated}


def _source_field(rec: OutageRecord, loc: str) -> str:
    """An attribute's error named by the record's own field too: `OUT-1/Outage.actualPeriod.start (outageStartTime)`."""
    attr = loc.split("/", 1)[0]
    source = next((rec.fields.get(k) for k, a in importers.ATTRIBUTE_OF.items() if a == attr), None)
    return f"{rec.moi_id}/{source} ({loc})" if source else f"{rec.moi_id}/{loc}"


def grid_map(session: Session, caller: Caller) -> list[dict[str, Any]]:
    """The caller DSO's own grid lines for a map (an MNO has no grid: empty)."""
    if caller.org_kind != "dso":
        return []
    return grid.grid_lines(session, caller.org_id)
