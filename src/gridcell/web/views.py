"""What each dashboard shows, assembled from the capabilities' services only.

Every read goes through the same service functions as the API (`site_statuses`, `summaries`, `plan_for`,
`list_events`, …), so the organisation scoping, the agreement redaction and the audit of cross-organisation
reads are theirs; nothing here queries another capability's tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core.clock import as_utc, utcnow
from gridcell.exposure import service as exposure
from gridcell.failover import service as failover
from gridcell.incidents import service as incidents
from gridcell.outages import service as outages
from gridcell.telemetry import cellhealth
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import Caller
from gridcell.topology import service as topology

STATUSES = ("ok", "degraded", "at_risk", "maintenance", "down")
RANK = {s: i for i, s in enumerate(STATUSES)}
STATUS_LABEL = {"ok": "OK", "degraded": "Degraded", "at_risk": "At risk", "maintenance": "Maintenance",
                "down": "Down"}
CATEGORY_STATUS = {"network_outage": "down", "configuration": "down", "planned_maintenance": "maintenance",
                   "power_supply": "at_risk", "degradation": "degraded", "energy_outage": "at_risk"}
CATEGORY_LABEL = {"network_outage": "Network outage", "configuration": "Cell locked/disabled",
                  "planned_maintenance": "Planned maintenance", "power_supply": "Mains failure (on battery)",
                  "degradation": "Degradation", "energy_outage": "Your energy outage (RAN sites on battery)"}
CAUSE_LABEL = {"mno_network": "MNO network", "energy_outage": "Energy outage", "dso_equipment": "DSO equipment",
               "unknown": "Unknown"}
MAX_TIMELINE_ROWS = 40


def ts(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, str) and value:
        try:
            return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


REACHABLE = ("ok", "degraded", "at_risk")  # the PLMN still carries traffic (down and maintenance do not)


def worst(statuses: list[str]) -> str:
    return max(statuses, key=RANK.__getitem__) if statuses else "ok"


def best(statuses: list[str]) -> str:
    return min(statuses, key=RANK.__getitem__) if statuses else "ok"


def reachable_via(per_plmn: dict[str, str], but: str | None = None) -> list[str]:
    """The PLMNs a site is still reachable on (optionally other than one): the operator's first question."""
    return sorted(p for p, st in per_plmn.items() if st in REACHABLE and p != but)


# ---- the coordination timeline ---------------------------------------------------------------------------------


@dataclass
class Segment:
    x: float
    w: float
    kind: str  # battery | dark | kept | mains
    title: str


@dataclass
class Mark:
    x: float
    kind: str  # plmn_lost | generator
    title: str


@dataclass
class Row:
    label: str
    sub: str
    segments: list[Segment] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    dark_at: datetime | None = None


@dataclass
class Timeline:
    """Geometry for an SVG (viewBox width WIDTH): rows of time bars against the ETR and the window."""

    WIDTH = 1000.0
    LABEL_W = 190.0
    ROW_H = 22.0
    HEAD_H = 30.0
    t0: datetime
    t1: datetime
    rows: list[Row]
    ticks: list[tuple[float, str]]
    now_x: float | None
    start_x: float
    etr_x: float | None
    window: tuple[float, float, bool] | None  # x0, x1, fits
    hidden_rows: int = 0

    @property
    def height(self) -> float:
        return self.HEAD_H + self.ROW_H * max(len(self.rows), 1) + 8

    @property
    def plot_w(self) -> float:
        return self.WIDTH - self.LABEL_W - 10


def _tick_step(span: timedelta) -> timedelta:
    for minutes in (5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080):
        if span / timedelta(minutes=minutes) <= 9:
            return timedelta(minutes=minutes)
    return timedelta(days=14)


def build_timeline(start: datetime, etr: datetime | None, window: tuple[datetime, datetime, bool] | None,
                   rows: list[tuple[str, str, list[tuple[datetime, datetime, str, str]],
                                    list[tuple[datetime, str, str]]]],
                   now: datetime) -> Timeline:
    """rows: (label, sub-label, [(from, to, kind, title)], [(at, kind, title)])."""
    points = [start, now]
    if etr is not None:
        points.append(etr)
    if window is not None:
        points += [window[0], window[1]]
    for _, _, segs, marks in rows:
        points += [t for s in segs for t in s[:2]] + [m[0] for m in marks]
    t0, t1 = min(points), max(points)
    if t1 - t0 < timedelta(minutes=30):
        t1 = t0 + timedelta(minutes=30)
    pad = (t1 - t0) * 0.04
    t0, t1 = t0 - pad, t1 + pad
    span = (t1 - t0).total_seconds()
    plot_w = Timeline.WIDTH - Timeline.LABEL_W - 10

    def x(t: datetime) -> float:
        return round(Timeline.LABEL_W + (t - t0).total_seconds() / span * plot_w, 1)

    step = _tick_step(t1 - t0)
    first = datetime.fromtimestamp((t0.timestamp() // step.total_seconds() + 1) * step.total_seconds(), t0.tzinfo)
    ticks: list[tuple[float, str]] = []
    t = first
    while t < t1:
        ticks.append((x(t), t.strftime("%d %b %H:%M" if step >= timedelta(hours=12) else "%H:%M")))
        t += step
    built: list[Row] = []
    for label, sub, segs, marks in rows:
        row = Row(label, sub)
        for a, b, kind, title in segs:
            if b > a:
                row.segments.append(Segment(x(a), max(round(x(b) - x(a), 1), 1.0), kind, title))
        row.marks = [Mark(x(at), kind, title) for at, kind, title in marks]
        built.append(row)
    return Timeline(t0=t0, t1=t1, rows=built, ticks=ticks, now_x=x(now) if t0 <= now <= t1 else None,
                    start_x=x(start), etr_x=x(etr) if etr is not None else None,
                    window=(x(window[0]), x(window[1]), window[2]) if window is not None else None)


def _window(plan: dict[str, Any]) -> tuple[datetime, datetime, bool] | None:
    ri = plan.get("rapidIntervention") or {}
    a, b = ts(ri.get("start")), ts(ri.get("end"))
    return (a, b, bool(ri.get("fits"))) if a is not None and b is not None else None


def _hm(t: datetime | None) -> str:
    return t.strftime("%H:%M UTC") if t is not None else "—"


def dso_timeline(plan: dict[str, Any], now: datetime) -> Timeline | None:
    """Per DSO site: comms on battery-backed RAN sites until every PLMN is lost, then dark until the ETR."""
    start = ts(plan.get("outageStartTime"))
    if start is None:
        return None
    etr = ts(plan.get("expectedOutageEndTime"))
    window = _window(plan)
    sites = sorted(plan.get("dsoSites") or [], key=lambda s: (s.get("allPlmnsLostAt") or "9999", s["siteId"]))
    rows = []
    for s in sites[:MAX_TIMELINE_ROWS]:
        lost = ts(s.get("allPlmnsLostAt"))
        end = etr or (lost + timedelta(hours=1) if lost else start + timedelta(hours=1))
        segs: list[tuple[datetime, datetime, str, str]] = []
        if lost is not None:
            segs.append((start, lost, "battery", f"{s['siteId']}: reachable until {_hm(lost)}"))
            segs.append((lost, max(end, lost), "dark", f"{s['siteId']}: no PLMN from {_hm(lost)}"))
        else:
            kept = ", ".join(s.get("plmnsKept") or []) or "—"
            segs.append((start, end, "kept", f"{s['siteId']}: stays reachable (PLMN {kept})"))
        marks = [(t, "plmn_lost", f"PLMN {p['plmn']} lost at {_hm(t)}")
                 for p in s.get("plmnsLost") or [] if (t := ts(p.get("at"))) is not None]
        sub = "de-energized" if s.get("deEnergized") else "comms only"
        rows.append((s["siteId"], sub, segs, marks))
    for g in plan.get("generatorsNeeded") or []:
        by = ts(g.get("by"))
        for r in rows:
            if r[0] in (g.get("forSites") or []) and by is not None:
                r[3].append((by, "generator", f"generator at {g.get('ranSiteId') or g.get('mnoId')} by {_hm(by)}"))
    tl = build_timeline(start, etr, window, rows, now)
    tl.hidden_rows = max(len(sites) - MAX_TIMELINE_ROWS, 0)
    return tl


def mno_timeline(plan: dict[str, Any], now: datetime) -> Timeline | None:
    """Per RAN site of the MNO: on battery from the outage (or the power alarm) until dark, then dark to the ETR."""
    start = ts(plan.get("outageStartTime"))
    if start is None:
        return None
    etr = ts(plan.get("expectedOutageEndTime"))
    window = _window(plan)
    gens = {g.get("ranSiteId"): ts(g.get("by")) for g in plan.get("generatorsNeeded") or []}
    ran = sorted(plan.get("ranSites") or [], key=lambda r: (r.get("darkAt") or "9999", r["ranSiteId"]))
    rows = []
    for r in ran[:MAX_TIMELINE_ROWS]:
        since, dark = ts(r.get("onBatterySince")) or start, ts(r.get("darkAt"))
        end = etr or ((dark or since) + timedelta(hours=1))
        segs: list[tuple[datetime, datetime, str, str]] = []
        if dark is not None:
            segs.append((since, min(dark, end) if r.get("survivesOutage") else dark, "battery",
                         f"{r['ranSiteId']}: on battery from {_hm(since)}, dark at {_hm(dark)}"))
            if not r.get("survivesOutage"):
                segs.append((dark, max(end, dark), "dark", f"{r['ranSiteId']}: dark from {_hm(dark)}"))
        marks = []
        if gens.get(r["ranSiteId"]) is not None:
            by = gens[r["ranSiteId"]]
            assert by is not None
            marks.append((by, "generator", f"generator needed by {_hm(by)}"))
        autonomy = r.get("autonomyH")
        sub = f"{autonomy:.1f} h battery" if isinstance(autonomy, int | float) and r.get("autonomyKnown") \
            else "autonomy unknown"
        rows.append((r["ranSiteId"], sub, segs, marks))
    tl = build_timeline(start, etr, window, rows, now)
    tl.hidden_rows = max(len(ran) - MAX_TIMELINE_ROWS, 0)
    return tl


# ---- DSO -----------------------------------------------------------------------------------------------------------


def _ran_sites_for_dso(session: Session, caller: Caller, site_status: dict[str, dict[str, dict[str, Any]]],
                       cell_level: dict[str, tuple[str, ...]]) -> list[dict[str, Any]]:
    """RAN sites serving the DSO's sites, of MNOs whose agreement exposes cell-level detail only."""
    if not cell_level:
        return []
    pairs = topology.all_site_pairs(session, caller.org_id)
    serving = topology.serving_cells_for_pairs(session, {p for p in pairs if any(p[1] in pl for pl in
                                                                                 cell_level.values())})
    ran_pks = {c.ran_site_pk for (_, plmn), cells in serving.items() for c in cells
               if c.org_id in cell_level and plmn in cell_level[c.org_id]}
    state: dict[str, list[str]] = {}
    for per_plmn in site_status.values():
        for item in per_plmn.values():
            if item["exposureLevel"] != "cell":
                continue
            for r in item["reasons"]:
                if r.get("ranSiteId"):
                    state.setdefault(r["ranSiteId"], []).append(CATEGORY_STATUS.get(r["category"], "degraded"))
    out = []
    for r in sorted(topology.ran_site_refs(session, ran_pks).values(), key=lambda r: r.site_id):
        out.append({"id": r.site_id, "name": r.name or r.site_id, "lat": r.lat, "lon": r.lon, "mnoId": r.org_id,
                    "status": worst(state.get(r.site_id, [])), "autonomyH": r.autonomy_h})
    return out


def dso_dashboard(session: Session, caller: Caller, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    agreements = [a for a in tenancy.agreements_for(session, caller.org_id) if a.dso_id == caller.org_id]
    mno_names = {a.mno_id: tenancy.get_org(session, a.mno_id).name for a in agreements}
    plmn_mno = {p: a.mno_id for a in agreements for p in a.plmns}
    items = exposure.site_statuses(session, caller)
    by_site: dict[str, dict[str, dict[str, Any]]] = {}
    for i in items:
        by_site.setdefault(i["siteId"], {})[i["plmn"]] = i
    sites = []
    status_by_site: dict[str, dict[str, str]] = {}
    for s in topology.sites_of_org(session, caller.org_id):
        per = by_site.get(s.site_id, {})
        status_of = status_by_site[s.site_id] = {p: i["status"] for p, i in sorted(per.items())}
        sites.append({"id": s.site_id, "name": s.name, "kind": s.kind, "lat": s.lat, "lon": s.lon,
                      "customers": s.customers, "criticality": s.criticality, "status": status_of,
                      "worst": worst(list(status_of.values())) if per else "unknown",
                      "best": best(list(status_of.values())) if per else "unknown",
                      "reachableVia": reachable_via(status_of),
                      "allDown": bool(per) and not reachable_via(status_of)})
    cell_level = {a.mno_id: a.plmns for a in agreements if a.level == "cell"}
    not_ok = sorted(({**i, "reachableVia": reachable_via(status_by_site.get(i["siteId"], {}), but=i["plmn"])}
                     for i in items if i["status"] != "ok"),
                    key=lambda i: (-RANK[i["status"]], i["since"] or "", i["siteId"], i["plmn"]))
    counts = {s: 0 for s in STATUSES}
    for i in items:
        counts[i["status"]] += 1
    plans = []
    for o in outages.list_outages(session, caller, open_only=True)[:10]:
        plan = outages.plan_for(session, caller, None, o["id"])
        plans.append({"outage": o, "plan": plan, "timeline": dso_timeline(plan, now) if plan.get("dsoSites")
                      is not None else None})
    return {
        "now": now, "plmns": sorted(plmn_mno), "plmnMno": plmn_mno, "mnoNames": mno_names,
        "agreements": [{"mno": mno_names[a.mno_id], "mnoId": a.mno_id, "plmns": list(a.plmns), "level": a.level}
                       for a in agreements],
        "counts": counts, "pairs": len(items), "sites": sites, "statusItems": items, "notOk": not_ok,
        "ranSites": _ran_sites_for_dso(session, caller, by_site, cell_level),
        "gridLines": outages.grid_map(session, caller),
        "commands": failover.list_commands(session, caller, limit=25),
        **cpe_groups(failover.list_states(session, caller)),
        "incidents": with_desk_answers(session, caller, incidents.summaries(session, caller, open_only=False)[:50]),
        "outages": plans,
    }


def with_desk_answers(session: Session, caller: Caller, tickets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The MNO desk's own words beside each ticket it answered ("ours: RRU fault, ETR 14:00")."""
    for t in tickets:
        t["deskAnswer"] = None
        if (t.get("attribution") or {}).get("state") in ("confirmed", "overridden"):  # only these were answered
            a = incidents.get_ticket(session, caller, t["id"]).get("attribution") or {}
            t["deskAnswer"] = a.get("decisionNote")
    return tickets


def cpe_groups(states: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """CPEs away from their primary PLMN (switched), and CPEs still on it but told to be ready to move."""
    off = [s for s in states if s["activePlmn"] != s["primaryPlmn"]]
    ready = [s for s in states if s["activePlmn"] == s["primaryPlmn"] and s["mode"] == "prepare"]
    return {"cpesOffPrimary": sorted(off, key=lambda s: s["cpeId"] or ""),
            "cpesPrepared": sorted(ready, key=lambda s: s["cpeId"] or "")}


# ---- MNO -----------------------------------------------------------------------------------------------------------


def mno_dashboard(session: Session, caller: Caller, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    agreements = [a for a in tenancy.agreements_for(session, caller.org_id) if a.mno_id == caller.org_id]
    dso_names = {a.dso_id: tenancy.get_org(session, a.dso_id).name for a in agreements}
    tickets = incidents.summaries(session, caller, open_only=False)[:50]
    full = {t["id"]: t for t in incidents.list_tickets(session, caller, {}, None, 0, 1000)[0]}
    for t in tickets:
        t["evidence"] = (full.get(t["id"], {}).get("attribution") or {}).get("evidence", [])
    plans = []
    for o in outages.list_outages(session, caller, open_only=True)[:10]:
        plan = outages.plan_for(session, caller, o["dsoId"], o["id"])
        plans.append({"outage": o, "plan": plan, "timeline": mno_timeline(plan, now) if plan.get("ranSites")
                      is not None else None})
    return {
        "now": now, "dsoNames": dso_names,
        "agreements": [{"dso": dso_names[a.dso_id], "dsoId": a.dso_id, "plmns": list(a.plmns), "level": a.level}
                       for a in agreements],
        "tickets": tickets, "openTickets": sum(t["status"] not in ("closed", "cancelled", "rejected")
                                               for t in tickets),
        "cellHealth": cellhealth.list_events(session, caller, open_only=False, limit=100),
        "outages": plans,
    }
