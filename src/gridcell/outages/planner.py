"""Keeping plans current: the facts of an outage, the spatial index per topology version, recomputation on every
change and as batteries drain, and the site × PLMN effects the status engine shows.

The index (STRtrees over the DSO's and its MNOs' sites, bus maps, feeders) is built once per topology version of
the DSO and of each of its agreement MNOs and per grid version, and kept: a plan recompute reads only what the
outage touches. Every process checks the versions in the store, so a cluster never plans on a stale index.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, exists, insert, or_, select
from sqlalchemy.orm import Session

from gridcell.core import prepared
from gridcell.core.clock import as_utc, isoformat, utcnow
from gridcell.exposure import status
from gridcell.faults.service import CellsChanged
from gridcell.outages import area, grid, moi, plan, views
from gridcell.outages.models import OutageInfo, OutageSiteEffect, ThresholdMonitor
from gridcell.outages.plan import (
    DsoSite,
    OutageFacts,
    Pair,
    PowerEvidence,
    RanPart,
    RanSite,
    SitePart,
    SpatialIndex,
)
from gridcell.outages.power import alarm_evidence
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topology
from gridcell.topology.service import TopologyImported

_MAX_INDEXES = 16  # index parts kept (two per DSO)


def agreement_mnos(session: Session, dso_id: str) -> list[str]:
    return sorted({a.mno_id for a in tenancy.agreements_for(session, dso_id) if a.dso_id == dso_id})


class DbServing:
    """Serving relations and site details read from topology, asked only about what the outage touches: one
    query for what serves the sites the affected RAN sites serve (and their PLMNs), one more for sites in the
    area that no affected RAN site serves."""

    def __init__(self, session: Session, index: SpatialIndex, site_bus: dict[int, str]) -> None:
        self.session, self.index, self.site_bus = session, index, site_bus
        self._serving: dict[Pair, set[int]] = {}
        self._known: set[int] = set()

    def _load(self, site_pks: Iterable[int]) -> None:
        missing = {pk for pk in site_pks if pk not in self._known}
        if missing:
            self._serving.update(topology.serving_ran_sites(self.session, missing))
            self._known |= missing

    def pairs_of_ran(self, ran_pks: Iterable[int]) -> set[Pair]:
        rans = set(ran_pks)
        found = topology.serving_ran_sites_near(self.session, rans)
        own = {p: served for p, served in found.items() if self.index.has_site(p[0])}  # the DSO's own sites only
        self._serving.update(own)
        self._known |= {p[0] for p in own}
        return {p for p, served in own.items() if served & rans}

    def serving_of(self, pairs: set[Pair]) -> dict[Pair, set[int]]:
        self._load(p[0] for p in pairs)
        return {p: self._serving.get(p, set()) for p in pairs}

    def plmns_of(self, site_pks: Iterable[int]) -> dict[int, set[str]]:
        wanted = list(site_pks)
        self._load(wanted)
        out: dict[int, set[str]] = {pk: set() for pk in wanted}
        for site_pk, plmn in self._serving:
            if site_pk in out:
                out[site_pk].add(plmn)
        return out

    def sites(self, site_pks: Iterable[int]) -> dict[int, DsoSite]:
        return {pk: _dso_site(s, self.site_bus.get(pk)) for pk, s in topology.site_refs(self.session, site_pks).items()}


def _dso_site(s: topology.SiteRef, bus: str | None) -> DsoSite:
    return DsoSite(s.pk, s.site_id, s.name, s.kind, s.lon, s.lat, s.customers, s.criticality, bus)


# ---- the index, per topology version ---------------------------------------------------------------------------


class Topo:
    """What a plan needs of the topology, built once per version."""

    def __init__(self, index: SpatialIndex, site_bus: dict[int, str], feeders: dict[str, str | None]) -> None:
        self.index, self.site_bus, self.feeders = index, site_bus, feeders


_PARTS: OrderedDict[Any, Any] = OrderedDict()
_PARTS_LOCK = threading.Lock()


def _cached(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """One entry per (part, DSO): a newer version replaces the older one."""
    with _PARTS_LOCK:
        hit = _PARTS.get(key)
        if hit is not None:
            _PARTS.move_to_end(key)
            return hit
    built = build()
    # A part lives until its topology changes: keep its objects (~100,000 for a large DSO) out of the
    # collector's full passes, which otherwise rescan them every time (pauses of 100-200 ms measured).
    gc.freeze()
    with _PARTS_LOCK:
        _PARTS[key] = built
        for stale in [k for k in _PARTS if k[:2] == key[:2] and k != key]:
            del _PARTS[stale]
        while len(_PARTS) > _MAX_INDEXES:
            _PARTS.popitem(last=False)
    return built


def topology_key(session: Session, dso_id: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The versions each part of the index rests on: the DSO's sites (its topology version, its grids) and the
    RAN sites (its agreement MNOs' topology versions, and the grids their supply links point into)."""
    mnos = agreement_mnos(session, dso_id)
    versions = topology.topology_versions(session, [dso_id, *mnos])
    grids = tuple((g.pk, grid.grid_version(session, g.pk)) for g in grid.grids_of(session, dso_id))
    return (("sites", dso_id, versions[dso_id], grids),
            ("ran", dso_id, tuple(sorted((m, versions[m]) for m in mnos)), grids))


def _ran_part(session: Session, dso_id: str) -> RanPart:
    mnos = agreement_mnos(session, dso_id)
    ran_refs = topology.ran_sites_of_orgs(session, mnos) if mnos else []
    supply = grid.supply_buses(session, dso_id)
    return RanPart([RanSite(r.pk, r.org_id, r.site_id, r.lon, r.lat, r.autonomy_h, supply.get(r.pk))
                    for r in ran_refs])


def _site_part(session: Session, dso_id: str) -> tuple[SitePart, dict[int, str], dict[str, str | None]]:
    sites = topology.site_points_of_org(session, dso_id)
    feeders = {k: b.feeder for k, b in grid.bus_infos(session, dso_id).items()}
    return SitePart(sites), {pk: bus for pk, _, _, bus in sites if bus is not None}, feeders


def topo_of(session: Session, dso_id: str) -> Topo:
    """The DSO's index, from the parts cached for the current versions (each rebuilt only when its own moved)."""
    sites_key, ran_key = topology_key(session, dso_id)
    site_part, site_bus, feeders = _cached(sites_key, lambda: _site_part(session, dso_id))
    ran_part = _cached(ran_key, lambda: _ran_part(session, dso_id))
    return Topo(SpatialIndex(ran_part, site_part), site_bus, feeders)


# ---- facts -------------------------------------------------------------------------------------------------------


def facts_of(session: Session, row: OutageInfo) -> OutageFacts:
    parsed = moi.validate_outage(row.attributes)
    faults = grid.parse_supply_id(session, row.dso_id, parsed.energy_supply_id)
    analysis = area.analyse(session, row.dso_id, faults, list(row.switching), row.start)
    facts = OutageFacts(moi_id=row.moi_id, dso_id=row.dso_id, start=row.start, expected_end=row.expected_end,
                        actual_end=row.actual_end, rapid_time=parsed.rapid_time,
                        rapid_duration_min=parsed.rapid_duration_min, area=parsed.area.geometry,
                        phases=analysis.phases, sections=analysis.sections,
                        declared={k: v for k, v in (row.mno_answers or {}).items() if isinstance(v, dict)})
    if parsed.area.tais or parsed.area.cell_ids:
        facts.extra_ran_pks = _ran_sites_of_area(session, row.dso_id, parsed.area)
    return facts


def _ran_sites_of_area(session: Session, dso_id: str, where: moi.Area) -> set[int]:
    out: set[int] = set()
    for mno in agreement_mnos(session, dso_id):
        if where.cell_ids:
            out.update(c.ran_site_pk for c in topology.cells_by_ids(session, mno, where.cell_ids))
        for plmn, tac in where.tais:
            cells = topology.list_cells(session, mno, plmn=plmn, limit=1_000_000)
            ids = [c.cell_id for c in cells if c.tac == tac]
            out.update(c.ran_site_pk for c in topology.cells_by_ids(session, mno, ids))
    return out


# ---- recomputation -------------------------------------------------------------------------------------------------


def _orgs(session: Session, row: OutageInfo) -> list[str]:
    return [row.dso_id, *agreement_mnos(session, row.dso_id)]


def recompute(session: Session, row: OutageInfo, now: datetime | None = None, *,
              announce: Callable[[], None] | None = None) -> bool:
    """Recompute the plan, store it with its effects on status, and tell each side whose view changed.

    `announce` (a caller's notification of the MOI itself) runs after the plan is stored and before the plan's
    own notifications, whether the plan changed or not; by default each side whose view of the MOI changed is
    told. Returns whether the plan changed."""
    now = now or utcnow()
    before = views.renders(row, _orgs(session, row)) if announce is None else {}
    facts = facts_of(session, row)
    topo = topo_of(session, row.dso_id)

    def evidence(pks: list[int]) -> dict[int, PowerEvidence]:
        return alarm_evidence(session, pks, now)

    new_plan = plan.compute(facts, topo.index, DbServing(session, topo.index, topo.site_bus), evidence, now,
                            topo.feeders)
    key = plan.plan_key(new_plan)
    old_plan = dict(row.plan or {})
    if key == row.plan_key:
        if announce is not None:
            announce()
        return False
    row.affected_ran_site_pks = sorted(r["ranSitePk"] for r in new_plan["ranSites"])
    row.covered_site_pks = sorted(pk for pk, s in zip(new_plan["dsoSitePks"], new_plan["dsoSites"], strict=True)
                                  if s["deEnergized"] or s["restored"])
    row.mno_attributes = new_plan["mnoAttributes"]
    row.plan_version += 1
    row.plan = {**new_plan, "version": row.plan_version, "computedAt": isoformat(now),
                "viewKeys": old_plan.get("viewKeys") or {}, "viewVersions": old_plan.get("viewVersions") or {}}
    row.plan_key = key
    row.updated_at = max(row.updated_at, now)
    session.flush()
    _store_effects(session, row, old_plan, now)
    if announce is not None:
        announce()
    else:
        views.notify_moi_changes(session, row, before, now)
    mnos = {r["mnoId"] for r in old_plan.get("ranSites", [])} | {r["mnoId"] for r in new_plan["ranSites"]}
    mnos |= set(new_plan.get("mnoAnswers", {}))
    views.refresh_views(session, row, sorted(mnos), now)
    return True


_E = cast(Table, OutageSiteEffect.__table__)


def _store_effects(session: Session, row: OutageInfo, old_plan: dict[str, Any], now: datetime) -> None:
    """The plan's lost site × PLMN pairs as rows the status engine reads; the pairs whose effect changed (or all
    of them, when the outage's own times did) are re-evaluated."""
    effects = [] if (row.plan or {}).get("status") == "closed" else (row.plan or {}).get("effects", [])
    old = [] if old_plan.get("status") == "closed" else old_plan.get("effects", [])
    times = ("outageStartTime", "expectedOutageEndTime")
    same_times = all(old_plan.get(k) == (row.plan or {}).get(k) for k in times)
    if same_times and effects == old:
        return
    session.execute(delete(_E).where(_E.c.outage_pk == row.pk))
    if effects:
        session.execute(insert(_E), [{"outage_pk": row.pk, "site_pk": site_pk, "plmn": plmn, "mno_id": mno,
                                      "lost_at": _dt(lost), "regain_at": _dt(regain)}
                                     for site_pk, plmn, mno, lost, regain in effects])

    def keyed(items: list[list[Any]]) -> dict[Pair, tuple[Any, ...]]:
        return {(e[0], e[1]): (e[3], e[4]) for e in items}

    before, after = keyed(old), keyed(effects)
    pairs = set(before) | set(after)
    if same_times:
        pairs = {p for p in pairs if before.get(p) != after.get(p)}
    if pairs:
        status.recompute(session, pairs, now)


def _dt(value: str | None) -> datetime | None:
    return None if value is None else as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


_O = cast(Table, OutageInfo.__table__).c
_OI = cast(Table, OutageInfo.__table__)
# A plan closes once recomputed at or after its actual end (and a closed plan changes no more), so rows updated
# since their actual end are closed: they stay in the database, out of the loop.
_IS_OPEN = or_(_O.actual_end.is_(None), _O.updated_at < _O.actual_end)
_DSOS: Any = bindparam("dsos", expanding=True)
_OPEN_OF_DSOS = select(_O.pk, _O.affected_ran_site_pks).where(_O.dso_id.in_(_DSOS), _IS_OPEN).order_by(_O.pk)
_M = cast(Table, ThresholdMonitor.__table__).c
_ACTIVITY_OF_DSOS = select(exists().where(_O.dso_id.in_(_DSOS), _IS_OPEN), exists().where(_M.dso_id.in_(_DSOS)))
_OPEN = select(_O.pk, _O.plan).where(_IS_OPEN).order_by(_O.pk)


def recompute_open(session: Session, dso_ids: Iterable[str], now: datetime | None = None,
                   ran_site_pks: set[int] | None = None) -> int:
    """Recompute the plans of open outages of these DSOs (optionally only those touching these RAN sites).

    The candidates are found as plain rows; ORM objects are loaded only for them (usually none)."""
    now = now or utcnow()
    pks = [pk for pk, affected in prepared.rows(session, _OPEN_OF_DSOS, {"dsos": sorted(set(dso_ids)) or [""]})
           if ran_site_pks is None or set(affected or ()) & ran_site_pks]
    return _recompute_rows(session, pks, now)


def _recompute_rows(session: Session, pks: list[int], now: datetime) -> int:
    if not pks:
        return 0
    n = 0
    for row in session.scalars(select(OutageInfo).where(OutageInfo.pk.in_(pks)).order_by(OutageInfo.pk)):
        if row.plan is not None and row.plan.get("status") == "closed":
            continue
        n += int(recompute(session, row, now))
    return n


def recompute_due(session: Session, now: datetime | None = None) -> int:
    """Time moved on: plans whose state changes by itself (a battery runs out, mains return, a switching step
    or the actual end comes) are recomputed at that instant."""
    now = now or utcnow()
    due = [pk for pk, p in session.execute(_OPEN)
           if (p or {}).get("nextChangeAt") and _dt(p["nextChangeAt"]) <= now]  # type: ignore[operator]
    return _recompute_rows(session, due, now)


# ---- event handlers ----------------------------------------------------------------------------------------------


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


# ---- what the status engine shows ------------------------------------------------------------------------------------

_PKS: Any = bindparam("pks", expanding=True)
_EFFECTS_OF_SITES = (select(_E.c.site_pk, _E.c.plmn, _E.c.lost_at, _E.c.regain_at, _O.moi_id, _O.start,
                            _O.expected_end)
                     .select_from(_E.join(_OI, _OI.c.pk == _E.c.outage_pk))
                     .where(_E.c.site_pk.in_(_PKS)))


def status_evidence(session: Session, pairs: set[Pair], now: datetime) -> dict[Pair, list[dict[str, Any]]]:
    """A pair an open plan says loses every serving RAN site: `at_risk` with its time-to-dark until then, `down`
    from then until a serving site gets mains back."""
    out: dict[Pair, list[dict[str, Any]]] = {}
    site_pks = sorted({p[0] for p in pairs})
    for i in range(0, len(site_pks), 500):
        for site_pk, plmn, lost_at, regain_at, moi_id, start, expected_end in prepared.rows(
                session, _EFFECTS_OF_SITES, {"pks": site_pks[i:i + 500]}):
            pair = (site_pk, plmn)
            if pair not in pairs or (regain_at is not None and now >= regain_at):
                continue
            dark = lost_at is not None and now >= lost_at
            out.setdefault(pair, []).append({
                "category": "energy_outage", "effect": "down" if dark else "at_risk", "source": f"outage:{moi_id}",
                "outageId": moi_id, "since": isoformat(lost_at if dark else start),
                "expectedEnd": isoformat(expected_end), "timeToDark": isoformat(lost_at)})
    return out
