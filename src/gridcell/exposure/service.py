"""What a DSO may read: site × PLMN status, bounded by its agreements (its alarm list: exposure.fault_mns)."""

from __future__ import annotations

from typing import Any

from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridcell.core.clock import isoformat
from gridcell.core.errors import Forbidden
from gridcell.core.geo import parse_geojson_geometry
from gridcell.exposure.models import SiteStatus
from gridcell.exposure.status import RANK, STATUSES, redact
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


def statuses_for_sites(session: Session, site_pks: list[int]) -> dict[tuple[int, str], str]:
    """Current status of each stored site × PLMN pair of these sites (pairs never evaluated are ok)."""
    out: dict[tuple[int, str], str] = {}
    pks = sorted(set(site_pks))
    for i in range(0, len(pks), 500):
        for r in session.scalars(select(SiteStatus).where(SiteStatus.site_pk.in_(pks[i:i + 500]))):
            out[(r.site_pk, r.plmn)] = r.status
    return out
