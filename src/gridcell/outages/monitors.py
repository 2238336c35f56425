"""DsoThresholdMonitor (TS 28.318 / TS 28.623 ThresholdMonitor): metrics over the DSO sites in its target area,
from the exposure status engine, RAN site power and (when the capability exists) telemetry; a crossing of a
threshold (with hysteresis) raises notifyThresholdCrossing to the DSO's ProvMnS subscribers.

Metrics (names for `performanceMetrics`):
- `SiteStatus.DownRatio`, `SiteStatus.AtRiskRatio`: share of the area's site × PLMN pairs down / at risk;
- `SiteStatus.NotOkCount`: pairs not ok; `Sites.AllPlmnsDownCount`: sites with every PLMN down;
- `RanSites.OnBatteryCount`, `RanSites.DarkCount`: RAN sites of the DSO's MNOs in the area;
- `Telemetry.Availability`: share of successful DSO probes over the last hour at the area's sites;
  skipped while the area has no probes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from shapely.geometry import Point
from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from gridcell.core import prepared
from gridcell.core.clock import utcnow
from gridcell.core.errors import NotFound
from gridcell.exposure import service as exposure
from gridcell.outages import moi, notify
from gridcell.outages.models import ThresholdMonitor
from gridcell.outages.patching import apply_patch
from gridcell.outages.power import ran_site_power
from gridcell.outages.resource import MoiRef, attributes_of, resource
from gridcell.telemetry import service as telemetry
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import Caller
from gridcell.topology import service as topology

METRICS = ("SiteStatus.DownRatio", "SiteStatus.AtRiskRatio", "SiteStatus.NotOkCount", "Sites.AllPlmnsDownCount",
           "RanSites.OnBatteryCount", "RanSites.DarkCount", "Telemetry.Availability")


def ref(row: ThresholdMonitor) -> MoiRef:
    return MoiRef(row.dso_id, moi.TM_CLASS, row.moi_id)


def attributes(row: ThresholdMonitor) -> dict[str, Any]:
    attrs = dict(row.attributes)
    attrs["operationalState"] = "ENABLED" if attrs.get("administrativeState") == "UNLOCKED" else "DISABLED"
    if row.target is not None:
        attrs["targetThresholdLocation"] = row.target
    return attrs


def render(row: ThresholdMonitor) -> dict[str, Any]:
    """The MOI in the ProvMnS Resource form: `targetThresholdLocation` under `attributes` with the ThresholdMonitor
    attributes (beside them an AreaOfInterest of cell ids would fail the Resource schema)."""
    return resource(ref(row), attributes(row))


def _row(session: Session, dso_id: str, moi_id: str) -> ThresholdMonitor | None:
    return session.scalars(select(ThresholdMonitor).where(ThresholdMonitor.dso_id == dso_id,
                                                          ThresholdMonitor.moi_id == moi_id)).first()


def put_monitor(session: Session, caller: Caller, dso_id: str, moi_id: str, body: Any) -> tuple[dict[str, Any], bool]:
    from gridcell.outages.service import access

    access(session, caller, dso_id, write=True)
    moi.check_moi_id(moi_id)
    attrs = attributes_of(body, MoiRef(dso_id, moi.TM_CLASS, moi_id))
    return _write(session, dso_id, moi_id, _row(session, dso_id, moi_id), attrs)


def patch_monitor(session: Session, caller: Caller, dso_id: str, moi_id: str, patch: Any,
                  content_type: str) -> dict[str, Any]:
    from gridcell.outages.service import access

    access(session, caller, dso_id, write=True)
    row = _row(session, dso_id, moi_id)
    if row is None:
        raise NotFound(f"DsoThresholdMonitor={moi_id} not found")
    patched = attributes_of(apply_patch(render(row), patch, content_type), ref(row))
    return _write(session, dso_id, moi_id, row, patched)[0]


def _write(session: Session, dso_id: str, moi_id: str, row: ThresholdMonitor | None,
           written: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    attrs, target = moi.validate_monitor(written)
    now = utcnow()
    created = row is None
    old = {} if row is None else attributes(row)
    if row is None:
        row = ThresholdMonitor(dso_id=dso_id, moi_id=moi_id, state={}, created_at=now)
        session.add(row)
    row.attributes, row.target, row.updated_at = attrs, target, now
    row.state = {}  # a changed definition starts from "below every threshold" again
    session.flush()
    new = attributes(row)
    if created:
        notify.send(session, [dso_id], "notifyMOICreation", ref(row),
                    notify.same_for_all({"sourceIndicator": "RESOURCE_OPERATION", "attributeList": new}))
    elif old != new:
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        notify.send(session, [dso_id], "notifyMOIAttributeValueChanges", ref(row), notify.same_for_all(
            {"sourceIndicator": "RESOURCE_OPERATION",
             "attributeListValueChanges": [{k: new.get(k) for k in changed}, {k: old.get(k) for k in changed}]}))
    evaluate(session, row)
    return render(row), created


def delete_monitor(session: Session, caller: Caller, dso_id: str, moi_id: str) -> None:
    from gridcell.outages.service import access

    access(session, caller, dso_id, write=True)
    row = _row(session, dso_id, moi_id)
    if row is None:
        raise NotFound(f"DsoThresholdMonitor={moi_id} not found")
    last, target = attributes(row), ref(row)
    session.delete(row)
    session.flush()
    notify.send(session, [dso_id], "notifyMOIDeletion", target,
                notify.same_for_all({"sourceIndicator": "RESOURCE_OPERATION", "attributeList": last}))


# ---- evaluation ---------------------------------------------------------------------------------------------


def _area_sites(session: Session, dso_id: str, target: list[Any] | None) -> list[topology.SiteRef]:
    sites = topology.sites_of_org(session, dso_id)
    if target is None:
        return sites
    area = moi.area_of(target)
    keep: set[int] = set()
    if area.geometry is not None:
        keep |= {s.pk for s in sites if area.geometry.intersects(Point(s.lon, s.lat))}
    if area.cell_ids or area.tais:
        mnos = sorted({a.mno_id for a in tenancy.agreements_for(session, dso_id) if a.dso_id == dso_id})
        cells = []
        for mno in mnos:
            cells += topology.cells_by_ids(session, mno, area.cell_ids) if area.cell_ids else []
            for plmn, tac in area.tais:
                ids = [c.cell_id for c in topology.list_cells(session, mno, plmn=plmn, limit=1_000_000)
                       if c.tac == tac]
                cells += topology.cells_by_ids(session, mno, ids)
        keep |= {p[0] for p in topology.pairs_for_cells(session, [c.pk for c in cells])}
    return [s for s in sites if s.pk in keep]


def metrics(session: Session, dso_id: str, target: list[Any] | None, wanted: set[str]) -> dict[str, float]:
    sites = _area_sites(session, dso_id, target)
    pks = [s.pk for s in sites]
    out: dict[str, float] = {}
    if wanted & {"SiteStatus.DownRatio", "SiteStatus.AtRiskRatio", "SiteStatus.NotOkCount",
                 "Sites.AllPlmnsDownCount"}:
        plmns = topology.site_plmns(session, pks)
        status = exposure.statuses_for_sites(session, pks)
        pairs = [(pk, p) for pk in pks for p in sorted(plmns.get(pk, ()))]
        values = [status.get(pair, "ok") for pair in pairs]
        n = len(values) or 1
        out["SiteStatus.DownRatio"] = sum(v == "down" for v in values) / n
        out["SiteStatus.AtRiskRatio"] = sum(v == "at_risk" for v in values) / n
        out["SiteStatus.NotOkCount"] = float(sum(v != "ok" for v in values))
        out["Sites.AllPlmnsDownCount"] = float(sum(
            1 for pk in pks if plmns.get(pk) and all(status.get((pk, p)) == "down" for p in plmns[pk])))
    if wanted & {"RanSites.OnBatteryCount", "RanSites.DarkCount"}:
        mnos = sorted({a.mno_id for a in tenancy.agreements_for(session, dso_id) if a.dso_id == dso_id})
        ran = topology.ran_sites_of_orgs(session, mnos) if mnos else []
        if target is not None:
            area = moi.area_of(target)
            ran = [r for r in ran if area.geometry is not None and area.geometry.intersects(Point(r.lon, r.lat))]
        power = ran_site_power(session, [r.pk for r in ran], utcnow())
        out["RanSites.OnBatteryCount"] = float(sum(p.state == "battery" for p in power.values()))
        out["RanSites.DarkCount"] = float(sum(p.state == "dark" for p in power.values()))
    if "Telemetry.Availability" in wanted:
        value = _telemetry_availability(session, pks)
        if value is not None:
            out["Telemetry.Availability"] = value
    return out


def _telemetry_availability(session: Session, site_pks: list[int]) -> float | None:
    """The DSO's own probes over the last hour; None (metric skipped) while the area has no probes."""
    return telemetry.area_availability(session, site_pks)


def evaluate(session: Session, row: ThresholdMonitor) -> int:
    """Compare the metrics with each threshold; notify crossings. Returns the notifications queued."""
    if row.attributes.get("administrativeState") != "UNLOCKED":
        return 0
    infos = row.attributes.get("thresholdInfoList", [])
    wanted = {m for info in infos for m in info["performanceMetrics"]}
    values = metrics(session, row.dso_id, row.target, wanted)
    state = dict(row.state)
    sent = 0
    now = utcnow()
    for i, info in enumerate(infos):
        thr, hyst = float(info["thresholdValue"]), float(info.get("hysteresis", 0) or 0)
        for metric in info["performanceMetrics"]:
            if metric not in values:
                continue
            value = values[metric]
            key = f"{i}|{metric}"
            side = state.get(key, "below")
            crossed: str | None = None
            if side == "below" and value > thr + hyst:
                side, crossed = "above", "UP"
            elif side == "above" and value < thr - hyst:
                side, crossed = "below", "DOWN"
            state[key] = side
            if crossed is None or info["thresholdDirection"] not in (crossed, "UP_AND_DOWN"):
                continue
            body = {"observedPerfMetricName": metric, "observedPerfMetricValue": value,
                    "observedPerfMetricDirection": crossed, "thresholdValue": info["thresholdValue"],
                    "hysteresis": info.get("hysteresis", 0),
                    "additionalText": f"{metric} crossed {info['thresholdValue']} going {crossed}"}
            if "monitorGranularityPeriod" in row.attributes:
                body["monitorGranularityPeriod"] = row.attributes["monitorGranularityPeriod"]
            sent += notify.send(session, [row.dso_id], "notifyThresholdCrossing", ref(row), notify.same_for_all(body),
                                now)
    if state != row.state:
        row.state = state
    return sent


def evaluate_dso(session: Session, dso_id: str) -> int:
    return evaluate_dsos(session, [dso_id])


_M = cast(Table, ThresholdMonitor.__table__).c
_MONITORS_OF_DSOS = select(_M.pk).where(_M.dso_id.in_(bindparam("dsos", expanding=True))).order_by(_M.pk)


def evaluate_dsos(session: Session, dso_ids: Iterable[str]) -> int:
    """Every monitor of these DSOs, found in one query (ingest calls this for each batch)."""
    ids = sorted(set(dso_ids))
    if not ids:
        return 0
    pks = [r[0] for r in prepared.rows(session, _MONITORS_OF_DSOS, {"dsos": ids})]
    if not pks:  # the usual case on an ingest: no ORM query at all
        return 0
    return sum(evaluate(session, row) for row in session.scalars(
        select(ThresholdMonitor).where(ThresholdMonitor.pk.in_(pks)).order_by(ThresholdMonitor.pk)))
