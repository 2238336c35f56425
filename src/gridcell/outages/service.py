"""Energy outage coordination: OutageAndRecoveryInfo MOIs, their plans, and what other capabilities ask.

Who may do what (TS 28.318 + the seed's clause 6.3): the SubNetwork id is the DSO organisation's id. The DSO
writes the DSO attributes of its MOIs; the MNOs it has agreements with read them. The `mno*` attributes are
readOnly in the schema, so gridcell computes them (from the MNOs' battery data, power alarms and the grid
model); nobody writes them: a DSO sending a different value gets 403, and an MNO writing anything gets 403.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, or_, select
from sqlalchemy.orm import Session

from gridcell.core import prepared
from gridcell.core.clock import as_utc, isoformat, utcnow
from gridcell.core.errors import Forbidden, InvalidInput, NotFound
from gridcell.faults.service import CellsChanged
from gridcell.outages import grid, moi, notify, plan, views
from gridcell.outages.models import OutageInfo, ThresholdMonitor
from gridcell.outages.plan import DsoSite, OutageFacts, Pair, PowerEvidence, RanSite, SpatialIndex
from gridcell.outages.power import RanSitePower, alarm_evidence
from gridcell.outages.power import ran_site_power as _ran_site_power
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import Caller
from gridcell.topology import service as topology
from gridcell.topology.service import TopologyImported

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


def agreement_mnos(session: Session, dso_id: str) -> list[str]:
    return sorted({a.mno_id for a in tenancy.agreements_for(session, dso_id) if a.dso_id == dso_id})


# ---- the MOI -----------------------------------------------------------------------------------------------


def render(row: OutageInfo) -> dict[str, Any]:
    return {"id": row.moi_id, "objectClass": moi.ORI_CLASS,
            "objectInstance": notify.dn(row.dso_id, moi.ORI_CLASS, row.moi_id),
            **row.attributes, **row.mno_attributes}


def _row(session: Session, dso_id: str, moi_id: str) -> OutageInfo | None:
    return session.scalars(select(OutageInfo).where(OutageInfo.dso_id == dso_id,
                                                    OutageInfo.moi_id == moi_id)).first()


def get_outage(session: Session, caller: Caller, dso_id: str, moi_id: str) -> dict[str, Any]:
    access(session, caller, dso_id, write=False)
    row = _row(session, dso_id, moi_id)
    if row is None:
        raise NotFound(f"OutageAndRecoveryInfo={moi_id} not found")
    if caller.org_kind == "mno":
        tenancy.audit(session, caller, "read OutageAndRecoveryInfo", [dso_id], {"id": moi_id})
    return render(row)


def _normalise(attrs: dict[str, Any], parsed: moi.OutageAttrs) -> dict[str, Any]:
    out = {k: attrs[k] for k in moi.ORI_DSO_ATTRS if attrs.get(k) is not None}
    for key, value in (("outageStartTime", parsed.start), ("expectedOutageEndTime", parsed.expected_end),
                       ("dsoRapidInterventionTime", parsed.rapid_time), ("actualOutageEndTime", parsed.actual_end)):
        if value is not None:
            out[key] = isoformat(value)
    return out


def _check_readonly(caller: Caller, attrs: dict[str, Any], current: dict[str, Any]) -> None:
    """A DSO may echo the computed mno* values (GET-modify-PUT), never set them."""
    bad = [k for k in moi.ORI_MNO_ATTRS if k in attrs and attrs[k] != current.get(k)]
    if bad:
        raise Forbidden(f"{', '.join(bad)} {'is' if len(bad) == 1 else 'are'} MNO-side (readOnly in TS 28.318), "
                        "computed by gridcell; the DSO cannot write them",
                        errors=[{"loc": k, "msg": "readOnly MNO attribute"} for k in bad])


def put_outage(session: Session, caller: Caller, dso_id: str, moi_id: str, body: Any) -> tuple[dict[str, Any], bool]:
    """Create or replace; returns (the MOI, created)."""
    access(session, caller, dso_id, write=True)
    moi.check_moi_id(moi_id)
    attrs = moi.flatten(body, moi_id, moi.ORI_CLASS)
    row = _row(session, dso_id, moi_id)
    _check_readonly(caller, attrs, row.mno_attributes if row else {})
    for k in moi.ORI_MNO_ATTRS:
        attrs.pop(k, None)
    return _write(session, dso_id, moi_id, row, attrs)


def patch_outage(session: Session, caller: Caller, dso_id: str, moi_id: str, patch: Any,
                 content_type: str) -> dict[str, Any]:
    access(session, caller, dso_id, write=True)
    row = _row(session, dso_id, moi_id)
    if row is None:
        raise NotFound(f"OutageAndRecoveryInfo={moi_id} not found")
    current = render(row)
    updated = apply_patch(current, patch, content_type)
    attrs = moi.flatten(updated, moi_id, moi.ORI_CLASS)
    _check_readonly(caller, attrs, row.mno_attributes)
    for k in moi.ORI_MNO_ATTRS:
        attrs.pop(k, None)
    result, _ = _write(session, dso_id, moi_id, row, attrs)
    return result


def _write(session: Session, dso_id: str, moi_id: str, row: OutageInfo | None,
           attrs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    parsed = moi.validate_outage(attrs)
    faults = grid.parse_supply_id(session, dso_id, parsed.energy_supply_id)
    del faults  # validated here; the planner parses it again from the stored attributes
    now = utcnow()
    clean = _normalise(attrs, parsed)
    clean.setdefault("outageStartTime", isoformat(now))
    created = row is None
    old = {} if row is None else render(row)
    if row is None:
        row = OutageInfo(dso_id=dso_id, moi_id=moi_id, switching=[], mno_attributes={}, affected_ran_site_pks=[],
                         covered_site_pks=[], plan=None, plan_key=None, plan_version=0, created_at=now)
        session.add(row)
    _store_attrs(row, clean, now)
    session.flush()
    mnos = _recompute(session, row, now, notify_moi=False)
    new = render(row)
    target = notify.href(dso_id, moi.ORI_CLASS, moi_id)
    orgs = [dso_id, *agreement_mnos(session, dso_id)]
    if created:
        attr_list = {k: v for k, v in new.items() if k not in ("id", "objectClass", "objectInstance")}
        notify.send(session, orgs, "notifyMOICreation", target,
                    lambda _org: {"sourceIndicator": "RESOURCE_OPERATION", "attributeList": attr_list}, now)
    else:
        _notify_changes(session, orgs, target, old, new, now)
    if mnos is not None:  # the plan changed: after the MOI notification, so receivers see cause before effect
        views.notify_plan(session, row, mnos, now)
    return new, created


def _store_attrs(row: OutageInfo, clean: dict[str, Any], now: datetime) -> None:
    row.attributes = clean
    row.start = as_utc(datetime.fromisoformat(clean["outageStartTime"].replace("Z", "+00:00")))
    row.expected_end = _dt(clean.get("expectedOutageEndTime"))
    row.actual_end = _dt(clean.get("actualOutageEndTime"))
    row.updated_at = now


def _dt(value: Any) -> datetime | None:
    return None if value is None else as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def _notify_changes(session: Session, orgs: list[str], target: str, old: dict[str, Any], new: dict[str, Any],
                    now: datetime) -> None:
    keys = sorted((set(old) | set(new)) - {"id", "objectClass", "objectInstance"})
    changed = [k for k in keys if old.get(k) != new.get(k)]
    if not changed:
        return
    changes = [{k: new.get(k) for k in changed}, {k: old.get(k) for k in changed}]
    notify.send(session, orgs, "notifyMOIAttributeValueChanges", target,
                lambda _org: {"sourceIndicator": "RESOURCE_OPERATION", "attributeListValueChanges": changes}, now)


def delete_outage(session: Session, caller: Caller, dso_id: str, moi_id: str) -> None:
    access(session, caller, dso_id, write=True)
    row = _row(session, dso_id, moi_id)
    if row is None:
        raise NotFound(f"OutageAndRecoveryInfo={moi_id} not found")
    last = render(row)
    orgs = [dso_id, *agreement_mnos(session, dso_id)]
    session.delete(row)
    session.flush()
    attr_list = {k: v for k, v in last.items() if k not in ("id", "objectClass", "objectInstance")}
    notify.send(session, orgs, "notifyMOIDeletion", notify.href(dso_id, moi.ORI_CLASS, moi_id),
                lambda _org: {"sourceIndicator": "RESOURCE_OPERATION", "attributeList": attr_list})


def apply_patch(doc: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """RFC 7396 merge patch (application/merge-patch+json, 3gpp-merge-patch+json, json) or RFC 6902 JSON patch
    (application/json-patch+json, 3gpp-json-patch+json)."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in ("application/json-patch+json", "application/3gpp-json-patch+json"):
        return _json_patch(doc, patch)
    if ctype not in ("application/merge-patch+json", "application/3gpp-merge-patch+json", "application/json", ""):
        raise InvalidInput(f"unsupported patch media type {ctype}")
    if not isinstance(patch, dict):
        raise InvalidInput("a merge patch must be a JSON object", errors=[{"loc": "", "msg": "must be an object"}])
    return _merge(doc, patch)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


def _json_patch(doc: dict[str, Any], ops: Any) -> dict[str, Any]:
    import copy

    if not isinstance(ops, list):
        raise InvalidInput("a JSON patch must be an array", errors=[{"loc": "", "msg": "must be an array"}])
    out: Any = copy.deepcopy(doc)
    for i, op in enumerate(ops):
        loc = f"{i}"
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove", "test") \
                or not isinstance(op.get("path"), str) or not op["path"].startswith("/"):
            raise InvalidInput("unsupported or malformed patch operation",
                               errors=[{"loc": loc, "msg": "op add|replace|remove|test with a JSON pointer path"}])
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"][1:].split("/")]
        parent: Any = out
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) and p.isdigit() and int(p) < len(parent) \
                else parent.get(p) if isinstance(parent, dict) else None
            if parent is None:
                raise InvalidInput("the patch path does not exist", errors=[{"loc": f"{loc}/path", "msg": op["path"]}])
        last = parts[-1]
        if op["op"] == "test":
            value = parent.get(last) if isinstance(parent, dict) else None
            if value != op.get("value"):
                raise InvalidInput("a test operation failed", errors=[{"loc": f"{loc}", "msg": op["path"]}])
        elif op["op"] == "remove":
            if isinstance(parent, dict) and last in parent:
                del parent[last]
            elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
                parent.pop(int(last))
            else:
                raise InvalidInput("the patch path does not exist", errors=[{"loc": f"{loc}/path", "msg": op["path"]}])
        else:
            if "value" not in op:
                raise InvalidInput("add/replace needs a value", errors=[{"loc": f"{loc}/value", "msg": "required"}])
            if isinstance(parent, dict):
                parent[last] = op["value"]
            elif isinstance(parent, list) and (last == "-" or (last.isdigit() and int(last) <= len(parent))):
                if last == "-":
                    parent.append(op["value"])
                elif op["op"] == "add":
                    parent.insert(int(last), op["value"])
                elif int(last) < len(parent):
                    parent[int(last)] = op["value"]
            else:
                raise InvalidInput("the patch path does not exist", errors=[{"loc": f"{loc}/path", "msg": op["path"]}])
    if not isinstance(out, dict):
        raise InvalidInput("the patched MOI must stay an object")
    return out


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
        added.append({"grid": name, "switch": int(a["switch"]), "closed": bool(a["closed"]),
                      "at": isoformat(a.get("at") or now)})
    row.switching = [*row.switching, *added]
    row.updated_at = now
    recompute(session, row, now)
    return views.view(session, caller, row)


# ---- planning ------------------------------------------------------------------------------------------------


class DbServing:
    """Serving relations read from topology, asked only about the affected RAN sites."""

    def __init__(self, session: Session, dso_id: str, site_bus: dict[int, str]) -> None:
        self.session, self.dso_id, self.site_bus = session, dso_id, site_bus
        self._sites: dict[int, topology.SiteRef] = {}

    def _site_refs(self, pks: Iterable[int]) -> dict[int, topology.SiteRef]:
        missing = [pk for pk in set(pks) if pk not in self._sites]
        if missing:
            self._sites.update(topology.site_refs(self.session, missing))
        return {pk: self._sites[pk] for pk in pks if pk in self._sites}

    def pairs_of_ran(self, ran_pks: Iterable[int]) -> set[Pair]:
        cells = topology.ran_site_cells(self.session, list(ran_pks))
        pairs = topology.pairs_for_cells(self.session, [c.pk for c in cells])
        refs = self._site_refs({p[0] for p in pairs})
        return {p for p in pairs if p[0] in refs and refs[p[0]].org_id == self.dso_id}

    def serving_of(self, pairs: set[Pair]) -> dict[Pair, set[int]]:
        serving = topology.serving_cells_for_pairs(self.session, pairs)
        return {p: {c.ran_site_pk for c in cells} for p, cells in serving.items()}

    def plmns_of(self, site_pks: Iterable[int]) -> dict[int, set[str]]:
        return topology.site_plmns(self.session, list(site_pks))

    def sites(self, site_pks: Iterable[int]) -> dict[int, DsoSite]:
        return {pk: _dso_site(s, self.site_bus.get(pk)) for pk, s in self._site_refs(list(site_pks)).items()}


def _dso_site(s: topology.SiteRef, bus: str | None) -> DsoSite:
    return DsoSite(s.pk, s.site_id, s.name, s.kind, s.lon, s.lat, s.customers, s.criticality, bus)


def facts_of(session: Session, row: OutageInfo) -> tuple[OutageFacts, grid.GridInfo | None]:
    parsed = moi.validate_outage(row.attributes)
    faults = grid.parse_supply_id(session, row.dso_id, parsed.energy_supply_id)
    dead = grid.deenergized(session, row.dso_id, faults, []) if faults else set()
    switching = list(row.switching)
    after = grid.deenergized(session, row.dso_id, faults, switching) if switching else dead
    facts = OutageFacts(moi_id=row.moi_id, dso_id=row.dso_id, start=row.start, expected_end=row.expected_end,
                        actual_end=row.actual_end, rapid_time=parsed.rapid_time,
                        rapid_duration_min=parsed.rapid_duration_min, area=parsed.area.geometry,
                        deenergized=after, restored=dead - after)
    if parsed.area.tais or parsed.area.cell_ids:
        facts.extra_ran_pks = _ran_sites_of_area(session, row.dso_id, parsed.area)
    return facts, None


def _ran_sites_of_area(session: Session, dso_id: str, area: moi.Area) -> set[int]:
    out: set[int] = set()
    for mno in agreement_mnos(session, dso_id):
        if area.cell_ids:
            out.update(c.ran_site_pk for c in topology.cells_by_ids(session, mno, area.cell_ids))
        for plmn, tac in area.tais:
            cells = topology.list_cells(session, mno, plmn=plmn, limit=1_000_000)
            ids = [c.cell_id for c in cells if c.tac == tac]
            out.update(c.ran_site_pk for c in topology.cells_by_ids(session, mno, ids))
    return out


def build_index(session: Session, dso_id: str) -> tuple[SpatialIndex, dict[int, str], dict[str, str | None]]:
    mnos = agreement_mnos(session, dso_id)
    ran_refs = topology.ran_sites_of_orgs(session, mnos) if mnos else []
    supply = grid.supply_buses(session, dso_id)
    site_bus = topology.site_grid_buses(session, dso_id)
    ran = [RanSite(r.pk, r.org_id, r.site_id, r.lon, r.lat, r.autonomy_h, supply.get(r.pk)) for r in ran_refs]
    sites = [_dso_site(s, site_bus.get(s.pk)) for s in topology.sites_of_org(session, dso_id)]
    feeders = {k: b.feeder for k, b in grid.bus_infos(session, dso_id).items()}
    return SpatialIndex(ran, sites), site_bus, feeders


def recompute(session: Session, row: OutageInfo, now: datetime | None = None) -> bool:
    """Recompute the plan; store it; notify both sides when it changed. Returns whether it changed."""
    now = now or utcnow()
    mnos = _recompute(session, row, now, notify_moi=True)
    if mnos is None:
        return False
    views.notify_plan(session, row, mnos, now)
    return True


def _recompute(session: Session, row: OutageInfo, now: datetime, *, notify_moi: bool) -> list[str] | None:
    """Store the new plan; None when unchanged, else the MNOs to tell (with sites in the plan, now or before)."""
    facts, _ = facts_of(session, row)
    index, site_bus, feeders = build_index(session, row.dso_id)

    def evidence(pks: list[int]) -> dict[int, PowerEvidence]:
        return alarm_evidence(session, pks, now)

    new_plan = plan.compute(facts, index, DbServing(session, row.dso_id, site_bus), evidence, now, feeders)
    key = plan.plan_key(new_plan)
    old_plan = row.plan
    old_moi = render(row)
    row.affected_ran_site_pks = sorted(r["ranSitePk"] for r in new_plan["ranSites"])
    row.covered_site_pks = sorted(s["sitePk"] for s in new_plan["dsoSites"] if s["deEnergized"])
    row.mno_attributes = new_plan["mnoAttributes"]
    if key == row.plan_key:
        return None
    row.plan_version += 1
    row.plan = {**new_plan, "version": row.plan_version, "computedAt": isoformat(now)}
    row.plan_key = key
    row.updated_at = max(row.updated_at, now)
    session.flush()
    if notify_moi:
        orgs = [row.dso_id, *agreement_mnos(session, row.dso_id)]
        _notify_changes(session, orgs, notify.href(row.dso_id, moi.ORI_CLASS, row.moi_id), old_moi, render(row),
                        now)
    mnos_before = {r["mnoId"] for r in (old_plan or {}).get("ranSites", [])}
    mnos_now = {r["mnoId"] for r in new_plan["ranSites"]}
    return sorted(mnos_before | mnos_now)


# Asked on every MNO fault ingest (prebuilt: no per-call statement construction). A plan closes once
# recomputed at or after its actual end (and a closed plan changes no more), so rows updated since their
# actual end are closed: they stay in the database, out of the loop.
_O = cast(Table, OutageInfo.__table__).c
_IS_OPEN = or_(_O.actual_end.is_(None), _O.updated_at < _O.actual_end)
_DSOS: Any = bindparam("dsos", expanding=True)
_OPEN_OF_DSOS = select(_O.pk, _O.affected_ran_site_pks).where(_O.dso_id.in_(_DSOS), _IS_OPEN).order_by(_O.pk)
_M = cast(Table, ThresholdMonitor.__table__).c
_ACTIVITY_OF_DSOS = select(exists().where(_O.dso_id.in_(_DSOS), _IS_OPEN), exists().where(_M.dso_id.in_(_DSOS)))


def recompute_open(session: Session, dso_ids: Iterable[str], now: datetime | None = None,
                   ran_site_pks: set[int] | None = None) -> int:
    """Recompute the plans of open outages of these DSOs (optionally only those touching these RAN sites).

    The candidates are found as plain rows; ORM objects are loaded only for them (usually none)."""
    now = now or utcnow()
    pks = [pk for pk, affected in prepared.rows(session, _OPEN_OF_DSOS, {"dsos": sorted(set(dso_ids)) or [""]})
           if ran_site_pks is None or set(affected or ()) & ran_site_pks]
    if not pks:
        return 0
    n = 0
    for row in session.scalars(select(OutageInfo).where(OutageInfo.pk.in_(pks)).order_by(OutageInfo.pk)):
        if row.plan is not None and row.plan.get("status") == "closed":
            continue
        n += int(recompute(session, row, now))
    return n


# ---- event handlers -------------------------------------------------------------------------------------------


def on_cells_changed(session: Session, event: CellsChanged) -> None:
    """MNO alarms changed on these cells: power state of their RAN sites, hence the plans touching them.

    One query first asks whether the MNO's DSOs have any open outage or threshold monitor at all (on most
    ingests they have neither); only then are the cells' RAN sites and the candidates read."""
    from gridcell.outages import monitors

    dsos = tenancy.dsos_of_mno(session, event.org_id)
    if not dsos:
        return
    [(has_open, has_monitors)] = prepared.rows(session, _ACTIVITY_OF_DSOS, {"dsos": dsos})
    if has_open:
        refs = topology.cell_refs(session, event.cell_pks)
        ran_pks = {c.ran_site_pk for c in refs.values()}
        if ran_pks:
            recompute_open(session, dsos, None, ran_pks)
    if has_monitors:
        monitors.evaluate_dsos(session, dsos)


def on_topology_imported(session: Session, event: TopologyImported) -> None:
    if event.kind == "mno":
        grid.relink_for_mno(session, event.org_id)
        dsos = {a.dso_id for a in tenancy.agreements_for(session, event.org_id) if a.mno_id == event.org_id}
    else:
        dsos = {event.org_id}
    recompute_open(session, dsos)
    from gridcell.outages import monitors

    monitors.evaluate_dsos(session, dsos)


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
        out.append({"id": r.moi_id, "dsoId": r.dso_id, "status": status, "planVersion": r.plan_version,
                    "outageStartTime": isoformat(r.start), "expectedOutageEndTime": isoformat(r.expected_end),
                    "actualOutageEndTime": isoformat(r.actual_end),
                    "summary": (r.plan or {}).get("summary", {}), "moi": render(r)})
    return out


def plan_for(session: Session, caller: Caller, dso_id: str | None, moi_id: str) -> dict[str, Any]:
    if dso_id is None:
        candidates = [caller.org_id] if caller.org_kind == "dso" else sorted(
            {a.dso_id for a in tenancy.agreements_for(session, caller.org_id) if a.mno_id == caller.org_id})
    else:
        candidates = [dso_id]
    for dso in candidates:
        row = _row(session, dso, moi_id)
        if row is not None:
            access(session, caller, dso, write=False)
            return views.view(session, caller, row)
    raise NotFound(f"outage {moi_id} not found")


# ---- import of outage records (CIM 61968 Outage, ODIN) ---------------------------------------------------------


def import_records(session: Session, dso_id: str, records: list[tuple[str, dict[str, Any]]]) -> dict[str, int]:
    """Create or update OutageAndRecoveryInfo MOIs of a DSO from imported records; all-or-nothing."""
    if tenancy.get_org(session, dso_id).kind != "dso":
        raise InvalidInput(f"{dso_id} is not a DSO")
    created = updated = 0
    for moi_id, attrs in records:
        try:
            moi.check_moi_id(moi_id)
            _, was_created = _write(session, dso_id, moi_id, _row(session, dso_id, moi_id), attrs)
        except InvalidInput as exc:
            raise InvalidInput(f"outage record {moi_id}: {exc.detail}; nothing was imported",
                               errors=[{**e, "loc": f"{moi_id}/{e.get('loc', '')}"} for e in exc.errors]) from exc
        created += int(was_created)
        updated += int(not was_created)
    return {"created": created, "updated": updated}


def grid_map(session: Session, caller: Caller) -> list[dict[str, Any]]:
    """The caller DSO's own grid lines for a map (an MNO has no grid: empty)."""
    if caller.org_kind != "dso":
        return []
    return grid.grid_lines(session, caller.org_id)
