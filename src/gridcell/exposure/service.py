"""What a DSO may read: site × PLMN status and the alarm list, bounded by its agreements."""

from __future__ import annotations

import hashlib
from typing import Any

from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridcell.core.clock import isoformat
from gridcell.core.errors import Forbidden
from gridcell.core.geo import parse_geojson_geometry
from gridcell.exposure.models import SiteStatus
from gridcell.exposure.status import RANK, STATUSES, redact
from gridcell.faults import service as faults
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import AgreementView, Caller
from gridcell.topology import service as topology
from gridcell.topology.service import SiteRef


def _dso_agreements(session: Session, caller: Caller) -> list[AgreementView]:
    if caller.org_kind != "dso":
        raise Forbidden("site status is exposed to DSO organisations")
    return [a for a in tenancy.agreements_for(session, caller.org_id) if a.dso_id == caller.org_id]


def site_statuses(session: Session, caller: Caller, *, site_ids: list[str] | None = None,
                  plmns: list[str] | None = None, area: dict[str, Any] | None = None,
                  min_status: str | None = None) -> list[dict[str, Any]]:
    agreements = _dso_agreements(session, caller)
    sites = topology.sites_of_org(session, caller.org_id)
    if site_ids is not None:
        wanted = set(site_ids)
        sites = [s for s in sites if s.site_id in wanted]
    if area is not None:
        geom = parse_geojson_geometry(area, polygonal=True)
        sites = [s for s in sites if geom.intersects(Point(s.lon, s.lat))]
    by_pk = {s.pk: s for s in sites}
    rows: dict[tuple[int, str], SiteStatus] = {}
    pks = sorted(by_pk)
    for i in range(0, len(pks), 500):
        for r in session.scalars(select(SiteStatus).where(SiteStatus.site_pk.in_(pks[i:i + 500]))):
            rows[(r.site_pk, r.plmn)] = r
    site_plmns = topology.site_plmns(session, pks)
    floor = RANK.get(min_status or "ok", 0)
    out: list[dict[str, Any]] = []
    for pk in pks:
        site = by_pk[pk]
        for plmn in sorted(site_plmns.get(pk, ())):
            if plmns is not None and plmn not in plmns:
                continue
            agreement = next((a for a in agreements if a.covers(site.site_id, plmn)), None)
            if agreement is None:
                continue
            row = rows.get((pk, plmn))
            item = _status_item(site, plmn, agreement, row)
            if RANK[item["status"]] >= floor:
                out.append(item)
    tenancy.audit(session, caller, "read site status", {i["mnoId"] for i in out}, {"count": len(out)})
    return out


def _status_item(site: SiteRef, plmn: str, agreement: AgreementView, row: SiteStatus | None) -> dict[str, Any]:
    return {
        "siteId": site.site_id, "siteName": site.name, "kind": site.kind, "lat": site.lat, "lon": site.lon,
        "plmn": plmn, "mnoId": agreement.mno_id, "exposureLevel": agreement.level,
        "status": row.status if row else "ok",
        "since": isoformat(row.since) if row else None,
        "expectedEnd": isoformat(row.expected_end) if row else None,
        "reasons": redact(row.reasons, agreement.level) if row else [],
        "updatedAt": isoformat(row.updated_at) if row else None,
    }


def status_summary(items: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for i in items:
        counts[i["status"]] += 1
    return counts


def alarm_list(session: Session, caller: Caller, *, include_cleared: bool = False) -> dict[str, dict[str, Any]]:
    """Fault-MnS-style alarm list for a DSO: alarms on cells serving its sites, per agreement level.

    Alarm identity is (MNO, alarmId): two MNOs may both raise `V-1`. `cell` agreements key a record by
    "<mnoId>:<alarmId>" and give the MNO's own alarmId beside it; `area` agreements get an opaque key and no
    cell, object or text, only the reason category, severity and the affected sites of the DSO itself.
    """
    agreements = _dso_agreements(session, caller)
    pairs = topology.all_site_pairs(session, caller.org_id)
    sites = topology.site_refs(session, sorted({p[0] for p in pairs}))
    serving = topology.serving_cells_for_pairs(session, pairs)
    cell_sites: dict[int, set[str]] = {}
    cell_agreement: dict[int, AgreementView] = {}
    for (site_pk, plmn), serving_cells in serving.items():
        site = sites[site_pk]
        agreement = next((a for a in agreements if a.covers(site.site_id, plmn)), None)
        if agreement is None:
            continue
        for c in serving_cells:
            if c.org_id == agreement.mno_id:
                cell_sites.setdefault(c.pk, set()).add(site.site_id)
                cell_agreement[c.pk] = agreement
    refs = topology.cell_refs(session, sorted(cell_sites))
    out: dict[str, dict[str, Any]] = {}
    mnos = {a.mno_id for a in cell_agreement.values()}
    for mno in sorted(mnos):
        mno_cells = [pk for pk, a in cell_agreement.items() if a.mno_id == mno]
        for cond, cells in faults.list_conditions(session, mno, kind="alarm", active_only=not include_cleared,
                                                  cell_pks=mno_cells, limit=10_000):
            visible = [pk for pk in cells if pk in cell_sites]
            level = "cell" if any(cell_agreement[pk].level == "cell" for pk in visible) else "area"
            affected = sorted({s for pk in visible for s in cell_sites[pk]})
            d = cond.details
            record: dict[str, Any] = {
                "perceivedSeverity": d.get("perceivedSeverity"),
                "category": _category(cond.impact, d),
                "alarmRaisedTime": isoformat(cond.starts_at),
                "alarmClearedTime": isoformat(cond.cleared_at),
                "affectedSites": affected,
                "mnoId": mno,
            }
            if level == "cell":
                record.update(objectInstance=cond.object_instance, alarmType=d.get("alarmType"),
                              probableCause=d.get("probableCause"), specificProblem=d.get("specificProblem"),
                              additionalText=d.get("additionalText"),
                              cells=sorted(refs[pk].cell_id for pk in visible),
                              alarmChangedTime=isoformat(cond.changed_at),
                              expectedEnd=isoformat(cond.ends_at), alarmId=cond.key)
                key = f"{mno}:{cond.key}"
            else:
                key = "a-" + hashlib.sha256(f"{mno}|{cond.key}".encode()).hexdigest()[:16]
            out[key] = record
    tenancy.audit(session, caller, "read alarm list", mnos, {"count": len(out)})
    return out


def _category(impact: str, details: dict[str, Any]) -> str:
    return {"outage": "network_outage", "power": "power_supply", "degradation": "degradation"}.get(
        impact, "information")


def statuses_for_sites(session: Session, site_pks: list[int]) -> dict[tuple[int, str], str]:
    """Current status of each stored site × PLMN pair of these sites (pairs never evaluated are ok)."""
    out: dict[tuple[int, str], str] = {}
    pks = sorted(set(site_pks))
    for i in range(0, len(pks), 500):
        for r in session.scalars(select(SiteStatus).where(SiteStatus.site_pk.in_(pks[i:i + 500]))):
            out[(r.site_pk, r.plmn)] = r.status
    return out
