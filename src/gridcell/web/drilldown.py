"""Drill-down and history, assembled from the capabilities' services: a DSO site (per-PLMN status timeline with its
reasons, availability and latency from its probes, failover commands and their acknowledgements, incidents,
outages), an MNO RAN site (power state, cells, outside-in health, outages and tickets that concern it), the site
lists behind the searchable tables, and the MNO's map (its RAN sites by power state, the DSO outage areas that
touch them)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import shapely
from shapely.geometry import MultiPoint, mapping
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridcell.core.clock import as_utc, isoformat
from gridcell.core.errors import NotFound
from gridcell.exposure import service as exposure
from gridcell.failover import service as failover
from gridcell.incidents import service as incidents
from gridcell.outages import service as outages
from gridcell.telemetry import cellhealth, trends
from gridcell.telemetry import service as telemetry
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import Caller
from gridcell.topology import service as topology
from gridcell.web import views
from gridcell.web.models import StatusHistory

HISTORY_DAYS = 7
M_PER_DEG = 111_320.0


# ---- status history --------------------------------------------------------------------------------------------


def status_history(session: Session, dso_id: str, site_id: str, since: datetime) -> list[StatusHistory]:
    """The site's status changes since `since`, with the last change before it (the status the window opens on)."""
    rows = list(session.scalars(select(StatusHistory).where(StatusHistory.org_id == dso_id,
                                                            StatusHistory.site_id == site_id,
                                                            StatusHistory.at >= since).order_by(StatusHistory.at)))
    before = session.scalars(select(StatusHistory).where(StatusHistory.org_id == dso_id,
                                                         StatusHistory.site_id == site_id,
                                                         StatusHistory.at < since)
                             .order_by(StatusHistory.at.desc()).limit(50))
    opening: dict[str, StatusHistory] = {}
    for r in before:
        opening.setdefault(r.plmn, r)
    return [*opening.values(), *rows]


def status_timeline(history: list[StatusHistory], current: dict[str, str], now: datetime,
                    days: int = HISTORY_DAYS) -> views.Timeline:
    """One row per PLMN: a bar per status period over the last `days` days (OK where nothing was recorded)."""
    t0 = now - timedelta(days=days)
    by_plmn: dict[str, list[StatusHistory]] = {p: [] for p in current}
    for r in history:
        by_plmn.setdefault(r.plmn, []).append(r)
    rows: list[tuple[str, str, list[tuple[datetime, datetime, str, str]], list[tuple[datetime, str, str]]]] = []
    for plmn, changes in sorted(by_plmn.items()):
        segs: list[tuple[datetime, datetime, str, str]] = []
        at, status = t0, "ok"
        for c in sorted(changes, key=lambda c: c.at):
            when = max(as_utc(c.at), t0)
            if when > at:
                segs.append((at, when, f"st-{status}", _title(plmn, status, at, when)))
            at, status = when, c.status
        if now > at:
            segs.append((at, now, f"st-{status}", _title(plmn, status, at, now)))
        rows.append((f"PLMN {plmn}", views.STATUS_LABEL.get(current.get(plmn, ""), "—"), segs, []))
    return views.build_timeline(t0, None, None, rows, now)


def _title(plmn: str, status: str, a: datetime, b: datetime) -> str:
    return f"PLMN {plmn}: {views.STATUS_LABEL.get(status, status)} {a:%d %b %H:%M} – {b:%d %b %H:%M} UTC"


# ---- a DSO site ------------------------------------------------------------------------------------------------


def dso_site(session: Session, caller: Caller, site_id: str, now: datetime) -> dict[str, Any]:
    caller.require("viewer", "dso")
    site = topology.site_by_id(session, caller.org_id, site_id)
    items = exposure.site_statuses(session, caller, site_ids=[site_id])
    current = {i["plmn"]: i["status"] for i in items}
    for i in items:
        i["reachableVia"] = views.reachable_via(current, but=i["plmn"])
    since = now - timedelta(days=HISTORY_DAYS)
    history = status_history(session, caller.org_id, site_id, since)
    cpes = sorted({u.cpe_id for u in topology.usim_refs(session, caller.org_id) if u.site_pk == site.pk})
    commands = sorted((c for cpe in cpes for c in failover.list_commands(session, caller, cpe_id=cpe, limit=100)),
                      key=lambda c: c["issuedAt"] or "", reverse=True)
    tickets = [t for t in incidents.summaries(session, caller, open_only=False) if site_id in t["sites"]]
    touching = []
    for o in outages.list_outages(session, caller)[:50]:
        plan = outages.plan_for(session, caller, None, o["id"])
        mine = next((s for s in plan.get("dsoSites") or [] if s.get("siteId") == site_id), None)
        if mine is not None:
            touching.append({**o, "site": mine})
    series = trends.hourly_series(session, caller.org_id, site.pk, HISTORY_DAYS * 24, now)
    return {
        "site": site, "statuses": items, "current": current, "reachableVia": views.reachable_via(current),
        "timeline": status_timeline(history, current, now),
        "changes": sorted((r for r in history if as_utc(r.at) >= since), key=lambda r: r.at, reverse=True)[:100],
        "availability": telemetry.availability_for(session, caller.org_id, site_ids=[site_id], now=now),
        "chart": chart_data(series), "cpes": cpes, "commands": commands[:100], "tickets": tickets,
        "outages": touching}


def chart_data(series: list[trends.HourlySeries]) -> dict[str, Any]:
    """What the availability and latency charts draw (uPlot: x in epoch seconds, one series per PLMN)."""
    if not series:
        return {"x": [], "plmns": []}
    x = [h * 3600 for h in series[0].hours]
    return {"x": x, "plmns": [{
        "plmn": s.plmn,
        "availability": [None if p == 0 else round(100 * (p - f) / p, 3) for p, f in zip(s.probes, s.failures,
                                                                                       strict=True)],
        "rtt": s.rtt_mean_ms, "probes": sum(s.probes)} for s in series]}


def dso_sites(session: Session, caller: Caller) -> list[dict[str, Any]]:
    """Every site of the DSO with its per-PLMN status and reachability (the searchable site list)."""
    caller.require("viewer", "dso")
    by_site: dict[str, dict[str, str]] = {}
    for i in exposure.site_statuses(session, caller):
        by_site.setdefault(i["siteId"], {})[i["plmn"]] = i["status"]
    out = []
    for s in topology.sites_of_org(session, caller.org_id):
        st = by_site.get(s.site_id, {})
        out.append({"id": s.site_id, "name": s.name, "kind": s.kind, "customers": s.customers,
                    "criticality": s.criticality, "status": st, "worst": views.worst(list(st.values())) if st
                    else "unknown", "reachableVia": views.reachable_via(st),
                    "reachable": "yes" if views.reachable_via(st) else ("no" if st else "no agreement")})
    return out


# ---- an MNO RAN site -------------------------------------------------------------------------------------------


def _ran_ref(session: Session, caller: Caller, ran_site_id: str) -> topology.RanSiteRef:
    found = [r for r in topology.ran_sites_of_orgs(session, [caller.org_id]) if r.site_id == ran_site_id]
    if not found:
        raise NotFound(f"RAN site {ran_site_id} not found")
    return found[0]


def _power(p: Any) -> dict[str, Any]:
    return {"state": p.state, "since": p.since, "darkAt": p.dark_at, "autonomyH": p.autonomy_h,
            "timeToDarkMin": None if p.time_to_dark is None else int(p.time_to_dark.total_seconds() // 60)}


def mno_ran_site(session: Session, caller: Caller, ran_site_id: str, now: datetime) -> dict[str, Any]:
    caller.require("viewer", "mno")
    ref = _ran_ref(session, caller, ran_site_id)
    cells = topology.ran_site_cells(session, [ref.pk])
    cell_ids = {c.cell_id for c in cells}
    power = outages.ran_site_power(session, [ref.pk], now).get(ref.pk)
    health = [e for e in cellhealth.list_events(session, caller, open_only=False, limit=2000)
              if e["cellId"] in cell_ids][:50]
    touching = []
    for o in outages.list_outages(session, caller)[:50]:
        plan = outages.plan_for(session, caller, o["dsoId"], o["id"])
        mine = next((r for r in plan.get("ranSites") or [] if r.get("ranSiteId") == ran_site_id), None)
        if mine is not None:
            touching.append({**o, "ranSite": mine,
                             "generator": next((g for g in plan.get("generatorsNeeded") or []
                                                if g.get("ranSiteId") == ran_site_id), None)})
    full = incidents.list_tickets(session, caller, {}, None, 0, 1000)[0]
    tickets = [t for t in full if any(e.get("ranSiteId") == ran_site_id or e.get("cellId") in cell_ids
                                      for e in (t.get("attribution") or {}).get("evidence") or [])]
    return {"ran": ref, "cells": cells, "power": _power(power) if power else None, "health": health,
            "outages": touching, "tickets": tickets}


def mno_ran_sites(session: Session, caller: Caller, now: datetime) -> list[dict[str, Any]]:
    caller.require("viewer", "mno")
    refs = topology.ran_sites_of_orgs(session, [caller.org_id])
    power = outages.ran_site_power(session, [r.pk for r in refs], now)
    cells: dict[int, int] = {}
    for c in topology.ran_site_cells(session, [r.pk for r in refs]):
        cells[c.ran_site_pk] = cells.get(c.ran_site_pk, 0) + 1
    out = []
    for r in refs:
        p = power.get(r.pk)
        out.append({"id": r.site_id, "name": r.name or r.site_id, "lat": r.lat, "lon": r.lon,
                    "autonomyH": r.autonomy_h, "cells": cells.get(r.pk, 0), "power": p.state if p else "mains",
                    "darkAt": isoformat(p.dark_at) if p else None})
    return out


def mno_map(session: Session, caller: Caller, now: datetime) -> dict[str, Any]:
    """The MNO's RAN sites by power state and, per open DSO outage that touches them, its area: the polygon the
    DSO drew, else the hull of the MNO's own RAN sites in the plan (the DSO's grid stays the DSO's)."""
    sites = mno_ran_sites(session, caller, now)
    where = {s["id"]: (s["lon"], s["lat"]) for s in sites}
    areas = []
    names: dict[str, str] = {}
    for o in outages.list_outages(session, caller, open_only=True)[:20]:
        plan = outages.plan_for(session, caller, o["dsoId"], o["id"])
        mine = [r["ranSiteId"] for r in plan.get("ranSites") or [] if r.get("ranSiteId") in where]
        if not mine:
            continue
        names.setdefault(o["dsoId"], tenancy.get_org(session, o["dsoId"]).name)
        ring = _drawn_area(o.get("moi") or {}) or _hull([where[m] for m in mine])
        areas.append({"id": o["id"], "dso": names[o["dsoId"]], "c": ring, "ranSites": mine,
                      "label": f"{o['id']} ({names[o['dsoId']]}): {len(mine)} of your RAN sites",
                      "href": f"/web/outages/{o['dsoId']}/{o['id']}"})
    for s in sites:
        s["state"] = s["power"]
        s["href"] = f"/web/ran-sites/{s['id']}"
    return {"ranSites": sites, "areas": areas, "lines": [], "sites": []}


def _drawn_area(moi: dict[str, Any]) -> list[list[float]] | None:
    nested = moi.get("attributes")
    attrs: dict[str, Any] = nested if isinstance(nested, dict) else moi
    for item in ((attrs.get("affectedArea") or {}).get("outageArea") or []):
        poly = ((item or {}).get("geoArea") or {}).get("geoPolygon")
        if poly:
            return [[float(p["longitude"]), float(p["latitude"])] for p in poly]
    return None


def _hull(points: list[tuple[float, float]]) -> list[list[float]]:
    """A ring around the points, 1 km out (a single site becomes a circle around it)."""
    lat = sum(p[1] for p in points) / len(points)
    scale = M_PER_DEG * max(0.2, abs(math.cos(math.radians(lat))))
    flat = MultiPoint([(x * scale / M_PER_DEG, y) for x, y in points])
    ring = shapely.buffer(flat.convex_hull, 1000 / M_PER_DEG)
    coords = mapping(ring)["coordinates"][0]
    return [[round(x * M_PER_DEG / scale, 6), round(y, 6)] for x, y in coords]
