"""The trend job: problems proposed from the DSO's telemetry, with the evidence attached, for the DSO to send.

Two patterns (seed 6.2.2, use case I):
- availability declining over 30 days, of the DSO's sites on one PLMN, or on one PLMN in one area (0.1° tile):
  daily availability from the hourly probe rollups; a decline is a least-squares slope with t ≤ −3 and the last
  week at least 0.2 percentage points below the first;
- recurring short outages on one cell: at least 3 episodes of at most 60 min in 30 days on a cell serving the
  DSO's sites, from the DSO's probes (cell-health drops) and the MNO's cleared outage alarms.
Each finding is keyed (`trend_key`); an open proposal or problem with the same key is updated, not repeated.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from gridcell.core.clock import isoformat, utcnow
from gridcell.faults import service as faults
from gridcell.problems import service
from gridcell.problems.models import Problem
from gridcell.telemetry import trends as telemetry_trends
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topology

DAYS = 30
MIN_DAYS_WITH_DATA = 20
MIN_DROP = 0.002
MAX_T = -3.0
TILE_DEG = 0.1
SHORT_MAX = timedelta(minutes=60)
MIN_EPISODES = 3
MERGE_GAP = timedelta(minutes=5)


def _decline(probes: Any, failures: Any) -> dict[str, Any] | None:
    have = probes > 0
    if int(have.sum()) < MIN_DAYS_WITH_DATA:
        return None
    days = np.arange(len(probes))[have].astype(np.float64)
    avail = 1.0 - failures[have] / probes[have]
    x = days - days.mean()
    sxx = float((x * x).sum())
    slope = float((x * (avail - avail.mean())).sum() / sxx)
    resid = avail - (avail.mean() + slope * x)
    se = math.sqrt(float((resid * resid).sum()) / max(len(days) - 2, 1) / sxx) if sxx > 0 else 0.0
    t = slope / se if se > 0 else (-math.inf if slope < 0 else 0.0)
    first, last = float(avail[:7].mean()), float(avail[-7:].mean())
    if slope >= 0 or t > MAX_T or first - last < MIN_DROP:
        return None
    return {"slopePerDay": round(slope, 6), "tStatistic": round(t, 2) if math.isfinite(t) else None,
            "firstWeek": round(first, 5), "lastWeek": round(last, 5),
            "daily": [None if p == 0 else round(1 - f / p, 5) for p, f in zip(probes.tolist(), failures.tolist(),
                                                                                 strict=True)]}


def _upsert(session: Session, dso_id: str, mno_id: str, key: str, body: dict[str, Any], now: datetime) -> str | None:
    existing = service.open_by_trend_key(session, dso_id, key)
    if existing is None:
        return service.new_problem(session, dso_id, mno_id, body, now, proposed=True, trend_key=key).id
    if not existing.proposed:
        return None  # sent already: the MNO works it; the evidence there stays as sent
    doc = dict(existing.doc)
    for k in ("characteristic", "relatedEvent", "underlyingAlarm", "affectedResource", "affectedLocation"):
        if body.get(k) is not None:
            doc[k] = body[k]
    existing.description, existing.reason, existing.last_update, existing.doc = (
        body["description"], body["reason"], now, doc)
    return existing.id


def _availability(session: Session, dso_id: str, plmn_mno: dict[str, str], now: datetime) -> list[str]:
    sites = {s.pk: s for s in topology.sites_of_org(session, dso_id)}
    groups: dict[tuple[str, str], list[Any]] = {}
    for series in telemetry_trends.daily_availability(session, dso_id, DAYS, now):
        if series.plmn not in plmn_mno or series.site_pk not in sites:
            continue
        s = sites[series.site_pk]
        tile = f"{math.floor(s.lat / TILE_DEG) * TILE_DEG:.1f},{math.floor(s.lon / TILE_DEG) * TILE_DEG:.1f}"
        for key in ((series.plmn, "all"), (series.plmn, tile)):
            g = groups.setdefault(key, [np.zeros(DAYS, dtype=np.int64), np.zeros(DAYS, dtype=np.int64), set()])
            g[0] += series.probes
            g[1] += series.failures
            g[2].add(series.site_pk)
    out = []
    for (plmn, area), (probes, failures, pks) in sorted(groups.items()):
        found = _decline(probes, failures)
        if found is None or (area != "all" and len(pks) == len(groups[(plmn, "all")][2])):
            continue  # one tile holding every site says no more than the PLMN-wide finding
        where = "all sites" if area == "all" else f"the sites in tile {area} (lat,lon, {TILE_DEG}°)"
        site_ids = sorted(sites[pk].site_id for pk in pks)
        body = {"category": "availability", "priority": 3 if found["firstWeek"] - found["lastWeek"] > 0.01 else 5,
                "name": f"Declining availability on PLMN {plmn}" + ("" if area == "all" else f" around {area}"),
                "description": f"Availability of {where} on PLMN {plmn} fell from {found['firstWeek']:.4%} to "
                               f"{found['lastWeek']:.4%} over {DAYS} days (DSO probes, {len(site_ids)} sites).",
                "reason": "trend analysis of DSO probe telemetry",
                "affectedResource": [{"id": sid, "@referredType": "DsoSite"} for sid in site_ids[:200]],
                "characteristic": [{"name": "availabilityTrend", "valueType": "object",
                                    "value": {"plmn": plmn, "area": area, "sites": len(site_ids), **found}}]}
        if area != "all":
            body["affectedLocation"] = [{"id": area, "name": f"tile {area}", "role": "affectedArea",
                                         "@referredType": "GeographicArea"}]
        pid = _upsert(session, dso_id, plmn_mno[plmn], f"availability:{plmn}:{area}", body, now)
        if pid:
            out.append(pid)
    return out


def _episodes(items: list[tuple[datetime, datetime, dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """Merge overlapping or near events (a drop the probes saw and the alarm for it are one episode)."""
    merged: list[tuple[datetime, datetime, list[dict[str, Any]]]] = []
    for start, end, ev in sorted(items, key=lambda i: i[0]):
        if merged and start <= merged[-1][1] + MERGE_GAP:
            s0, e0, evs = merged[-1]
            merged[-1] = (s0, max(e0, end), [*evs, ev])
        else:
            merged.append((start, end, [ev]))
    return [evs for s, e, evs in merged if e - s <= SHORT_MAX]


def _recurring(session: Session, dso_id: str, plmn_mno: dict[str, str], now: datetime) -> list[str]:
    t0 = now - timedelta(days=DAYS)
    pairs = {p for p in topology.all_site_pairs(session, dso_id) if p[1] in plmn_mno}
    serving = topology.serving_cells_for_pairs(session, pairs)
    cells: dict[int, topology.CellRef] = {}
    served: dict[int, set[int]] = defaultdict(set)
    for (site_pk, plmn), cs in serving.items():
        for c in cs:
            if c.org_id == plmn_mno.get(plmn):
                cells[c.pk] = c
                served[c.pk].add(site_pk)
    items: dict[int, list[tuple[datetime, datetime, dict[str, Any]]]] = defaultdict(list)
    for d in telemetry_trends.cell_drops(session, sorted(cells), t0, now):
        if d.kind == "drop" and d.cleared_at is not None:
            items[d.cell_pk].append((d.first_seen, d.cleared_at, {"id": d.id, "eventTime": isoformat(d.first_seen),
                                                                  "name": "cell drop seen by DSO probes",
                                                                  "@referredType": "CellHealthEvent"}))
    for cell_pk, conds in faults.conditions_in_window(session, sorted(cells), t0, now).items():
        for cond, cleared in conds:
            if cond.kind == "alarm" and cond.impact == "outage" and cleared is not None:
                items[cell_pk].append((cond.starts_at, cleared, {"id": cond.key, "eventTime": isoformat(cond.starts_at),
                                                                 "name": "outage alarm (cleared)",
                                                                 "@referredType": "Alarm"}))
    refs = topology.site_refs(session, sorted({s for v in served.values() for s in v}))
    out = []
    for cell_pk, evs in sorted(items.items()):
        episodes = _episodes(evs)
        if len(episodes) < MIN_EPISODES:
            continue
        cell = cells[cell_pk]
        flat = [e for ep in episodes for e in ep]
        site_ids = sorted(refs[s].site_id for s in served[cell_pk] if s in refs)
        body = {"category": "recurringOutage", "priority": 4,
                "name": f"Recurring short outages on a cell of PLMN {cell.plmn}",
                "description": f"{len(episodes)} short outages (each at most {int(SHORT_MAX.total_seconds() // 60)} "
                               f"min) in {DAYS} days on one cell serving {len(site_ids)} DSO site(s).",
                "reason": "trend analysis of DSO probes and MNO alarms",
                "affectedResource": [{"id": cell.cell_id, "@referredType": "Cell"}]
                + [{"id": sid, "@referredType": "DsoSite"} for sid in site_ids[:200]],
                "relatedEvent": flat,
                "underlyingAlarm": [{"id": e["id"], "@referredType": "Alarm"} for e in flat
                                    if e["@referredType"] == "Alarm"],
                "characteristic": [{"name": "recurringOutageTrend", "valueType": "object",
                                    "value": {"plmn": cell.plmn, "episodes": len(episodes), "days": DAYS,
                                              "sites": site_ids[:200]}},
                                   {"name": "cellEvidence", "valueType": "object",
                                    "value": {"cellId": cell.cell_id, "ranSiteId": cell.ran_site_id}}]}
        pid = _upsert(session, dso_id, plmn_mno[cell.plmn], f"cell:{cell.org_id}:{cell.cell_id}", body, now)
        if pid:
            out.append(pid)
    return out


def run(session: Session, now: datetime | None = None, dso_ids: list[str] | None = None) -> list[str]:
    """Propose (or refresh) problems for these DSOs (default: every DSO with an agreement). Returns their ids."""
    now = now or utcnow()
    agreements = tenancy.all_agreements(session)
    dsos = sorted({a.dso_id for a in agreements} if dso_ids is None else set(dso_ids))
    out: list[str] = []
    for dso in dsos:
        plmn_mno = {p: a.mno_id for a in agreements if a.dso_id == dso for p in a.plmns}
        if not plmn_mno:
            continue
        out += _availability(session, dso, plmn_mno, now)
        out += _recurring(session, dso, plmn_mno, now)
    return out


def proposals(session: Session, dso_id: str) -> list[Problem]:
    from sqlalchemy import select

    return list(session.scalars(select(Problem).where(Problem.dso_id == dso_id, Problem.proposed.is_(True))))
