"""The coordination plan, computed in memory from facts the service loads (or the benchmark generates).

Affected RAN sites come from a spatial index (shapely STRtree) over the outage area and from the de-energized
buses; for each: on battery since, dark at (autonomy), and the DSO sites × PLMNs whose every serving RAN site
goes dark. From those: the MNO's `mnoMaxServiceDuration`, whether the DSO's rapid-intervention window closes
before comms fail, the generators needed (→ `mnoInterventionTime/Duration`) and a restoration priority.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson
from shapely import STRtree
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from gridcell.core.clock import isoformat

LOW_BATTERY_RESERVE = timedelta(minutes=15)  # LOW_BATTERY_THRESHOLD: what is left once it is raised
Pair = tuple[int, str]  # (DSO site pk, PLMN)


@dataclass(frozen=True)
class RanSite:
    pk: int
    org_id: str
    site_id: str
    lon: float
    lat: float
    autonomy_h: float | None
    bus: str | None  # "<grid>/<bus>" that powers it


@dataclass(frozen=True)
class DsoSite:
    pk: int
    site_id: str
    name: str
    kind: str
    lon: float
    lat: float
    customers: int
    criticality: str
    bus: str | None


@dataclass(frozen=True)
class PowerEvidence:
    """What MNO alarms say about a RAN site's power."""

    battery_since: datetime | None = None  # mains lost (COMMERCIAL_POWER_FAILURE, BATTERY_DISCHARGING, …)
    low_battery_at: datetime | None = None  # LOW_BATTERY_THRESHOLD raised
    dark_since: datetime | None = None  # MAINS_BREAKDOWN_WITHOUT_BATTERY_BACKUP


@dataclass
class OutageFacts:
    moi_id: str
    dso_id: str
    start: datetime
    expected_end: datetime | None
    actual_end: datetime | None
    rapid_time: datetime | None
    rapid_duration_min: int | None
    area: BaseGeometry | None
    deenergized: set[str] = field(default_factory=set)
    restored: set[str] = field(default_factory=set)
    extra_ran_pks: set[int] = field(default_factory=set)  # RAN sites named through TAIs or cell ids


class Index(Protocol):
    def ran_affected(self, facts: OutageFacts) -> list[RanSite]: ...

    def sites_covered(self, facts: OutageFacts) -> list[DsoSite]: ...


class SpatialIndex:
    """STRtrees over RAN sites and DSO sites, plus bus → sites maps; built once per topology."""

    def __init__(self, ran: Sequence[RanSite], sites: Sequence[DsoSite]) -> None:
        self.ran, self.sites = list(ran), list(sites)
        self.ran_by_pk = {r.pk: r for r in self.ran}
        self._ran_tree = STRtree([Point(r.lon, r.lat) for r in self.ran])
        self._site_tree = STRtree([Point(s.lon, s.lat) for s in self.sites])
        self._ran_by_bus: dict[str, list[RanSite]] = defaultdict(list)
        for r in self.ran:
            if r.bus:
                self._ran_by_bus[r.bus].append(r)
        self._sites_by_bus: dict[str, list[DsoSite]] = defaultdict(list)
        for s in self.sites:
            if s.bus:
                self._sites_by_bus[s.bus].append(s)

    def ran_affected(self, facts: OutageFacts) -> list[RanSite]:
        found: dict[int, RanSite] = {}
        if facts.area is not None and self.ran:
            for i in self._ran_tree.query(facts.area, predicate="intersects").tolist():
                found[self.ran[i].pk] = self.ran[i]
        for bus in facts.deenergized:
            for r in self._ran_by_bus.get(bus, ()):
                found[r.pk] = r
        for pk in facts.extra_ran_pks:
            if pk in self.ran_by_pk:
                found[pk] = self.ran_by_pk[pk]
        return sorted(found.values(), key=lambda r: r.pk)

    def sites_covered(self, facts: OutageFacts) -> list[DsoSite]:
        found: dict[int, DsoSite] = {}
        if facts.area is not None and self.sites:
            for i in self._site_tree.query(facts.area, predicate="intersects").tolist():
                found[self.sites[i].pk] = self.sites[i]
        for bus in facts.deenergized:
            for s in self._sites_by_bus.get(bus, ()):
                found[s.pk] = s
        return sorted(found.values(), key=lambda s: s.pk)


class NaiveIndex:
    """The comparison for the benchmark: the same answers by testing every site against the area."""

    def __init__(self, ran: Sequence[RanSite], sites: Sequence[DsoSite]) -> None:
        self.ran, self.sites = list(ran), list(sites)

    def ran_affected(self, facts: OutageFacts) -> list[RanSite]:
        area = facts.area
        return [r for r in self.ran if (area is not None and area.intersects(Point(r.lon, r.lat)))
                or r.bus in facts.deenergized or r.pk in facts.extra_ran_pks]

    def sites_covered(self, facts: OutageFacts) -> list[DsoSite]:
        area = facts.area
        return [s for s in self.sites if (area is not None and area.intersects(Point(s.lon, s.lat)))
                or s.bus in facts.deenergized]


class Serving(Protocol):
    """Who serves whom: asked only about the affected RAN sites and the pairs they serve."""

    def pairs_of_ran(self, ran_pks: Iterable[int]) -> set[Pair]: ...

    def serving_of(self, pairs: set[Pair]) -> dict[Pair, set[int]]: ...

    def plmns_of(self, site_pks: Iterable[int]) -> dict[int, set[str]]: ...

    def sites(self, site_pks: Iterable[int]) -> dict[int, DsoSite]: ...


class MemoryServing:
    """Serving relations held in memory (the benchmark; small worlds)."""

    def __init__(self, serving: dict[Pair, set[int]], sites: dict[int, DsoSite]) -> None:
        self._serving = serving
        self._sites = sites
        self._by_ran: dict[int, set[Pair]] = defaultdict(set)
        self._plmns: dict[int, set[str]] = defaultdict(set)
        for pair, rans in serving.items():
            self._plmns[pair[0]].add(pair[1])
            for r in rans:
                self._by_ran[r].add(pair)

    def pairs_of_ran(self, ran_pks: Iterable[int]) -> set[Pair]:
        out: set[Pair] = set()
        for pk in ran_pks:
            out |= self._by_ran.get(pk, set())
        return out

    def serving_of(self, pairs: set[Pair]) -> dict[Pair, set[int]]:
        return {p: self._serving.get(p, set()) for p in pairs}

    def plmns_of(self, site_pks: Iterable[int]) -> dict[int, set[str]]:
        return {pk: set(self._plmns.get(pk, set())) for pk in site_pks}

    def sites(self, site_pks: Iterable[int]) -> dict[int, DsoSite]:
        return {pk: self._sites[pk] for pk in site_pks if pk in self._sites}


def _minutes(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() // 60))


def compute(facts: OutageFacts, index: Index, serving: Serving,
            evidence: Callable[[list[int]], dict[int, PowerEvidence]], now: datetime,
            feeders: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The full plan (both sides' parts); views per side are cut from it."""
    feeders = feeders or {}
    affected = index.ran_affected(facts)
    covered = index.sites_covered(facts)
    power = evidence([r.pk for r in affected])
    closed = facts.actual_end is not None and facts.actual_end <= now
    mains_back = facts.actual_end or facts.expected_end

    ran_rows: list[dict[str, Any]] = []
    dark_at: dict[int, datetime] = {}
    for r in affected:
        ev = power.get(r.pk, PowerEvidence())
        since = min(t for t in (facts.start, ev.battery_since) if t is not None)
        autonomy_known = r.autonomy_h is not None
        dark = since + timedelta(hours=r.autonomy_h or 0.0)
        if ev.low_battery_at is not None:
            dark = min(dark, ev.low_battery_at + LOW_BATTERY_RESERVE)
        if ev.dark_since is not None:
            dark = min(dark, ev.dark_since)
        dark_at[r.pk] = dark
        survives = mains_back is not None and mains_back <= dark
        if closed or now < since:
            state = "mains"
        elif now >= dark:
            state = "dark"
        else:
            state = "battery"
        ran_rows.append({"ranSitePk": r.pk, "mnoId": r.org_id, "ranSiteId": r.site_id, "bus": r.bus,
                         "feeder": feeders.get(r.bus) if r.bus else None, "state": state,
                         "onBatterySince": isoformat(since), "darkAt": isoformat(dark),
                         "timeToDarkMin": _minutes(dark - max(now, since)) if state == "battery" else None,
                         "autonomyH": r.autonomy_h, "autonomyKnown": autonomy_known,
                         "survivesOutage": survives})

    # DSO sites × PLMNs that lose every serving RAN site, and when.
    pairs = serving.pairs_of_ran(dark_at)
    serving_map = serving.serving_of(pairs)
    lost: dict[Pair, datetime] = {}
    for pair, rans in serving_map.items():
        if rans and all(pk in dark_at for pk in rans):
            lost[pair] = max(dark_at[pk] for pk in rans)
    site_pks = {p[0] for p in lost} | {s.pk for s in covered}
    plmns = serving.plmns_of(site_pks)
    site_info = serving.sites(site_pks)
    for s in covered:
        site_info.setdefault(s.pk, s)
    covered_pks = {s.pk for s in covered}
    site_rows: list[dict[str, Any]] = []
    all_lost_at: dict[int, datetime] = {}
    for pk in sorted(site_pks):
        info = site_info.get(pk)
        if info is None:
            continue
        site_plmns = sorted(plmns.get(pk, set()))
        lost_here = {p: lost[(pk, p)] for p in site_plmns if (pk, p) in lost}
        if site_plmns and len(lost_here) == len(site_plmns):
            all_lost_at[pk] = max(lost_here.values())
        if not lost_here and pk not in covered_pks:
            continue
        site_rows.append({"sitePk": pk, "siteId": info.site_id, "name": info.name, "kind": info.kind,
                          "customers": info.customers, "criticality": info.criticality, "bus": info.bus,
                          "deEnergized": pk in covered_pks,
                          "plmnsLost": [{"plmn": p, "at": isoformat(t)} for p, t in sorted(lost_here.items())],
                          "plmnsKept": [p for p in site_plmns if p not in lost_here],
                          "allPlmnsLostAt": isoformat(all_lost_at.get(pk))})

    # The DSO's rapid-intervention window against the comms of the sites it must reach.
    fail_candidates = [all_lost_at[pk] for pk in covered_pks if pk in all_lost_at]
    comms_fail_at = min(fail_candidates) if fail_candidates else None
    rapid: dict[str, Any] | None = None
    generators: dict[int, dict[str, Any]] = {}
    if facts.rapid_time is not None:
        window_end = facts.rapid_time + timedelta(minutes=facts.rapid_duration_min or 0)
        fits = comms_fail_at is None or comms_fail_at >= window_end
        if not fits:
            for pk in sorted(covered_pks):
                if pk not in all_lost_at or all_lost_at[pk] >= window_end:
                    continue
                # Keep one PLMN up: the one needing the fewest generators.
                options = []
                for plmn in sorted(plmns.get(pk, set())):
                    need = sorted(r for r in serving_map.get((pk, plmn), set()) if dark_at[r] < window_end)
                    options.append((len(need), plmn, need))
                _, _, need = min(options)
                for rp in need:
                    g = generators.setdefault(rp, {"ranSitePk": rp, "by": dark_at[rp], "forSites": set()})
                    g["forSites"].add(site_info[pk].site_id)
        rapid = {"start": isoformat(facts.rapid_time), "end": isoformat(window_end),
                 "commsFailAt": isoformat(comms_fail_at), "fits": fits}
    until = mains_back or (facts.rapid_time + timedelta(minutes=facts.rapid_duration_min or 0)
                           if facts.rapid_time else None)
    ran_by_pk = {r.pk: r for r in affected}
    generator_rows = [{"mnoId": ran_by_pk[pk].org_id, "ranSiteId": ran_by_pk[pk].site_id, "ranSitePk": pk,
                       "by": isoformat(g["by"]), "until": isoformat(until), "forSites": sorted(g["forSites"])}
                      for pk, g in sorted(generators.items(), key=lambda kv: (kv[1]["by"], kv[0]))]

    mno_attrs: dict[str, Any] = {}
    if dark_at:
        mno_attrs["mnoMaxServiceDuration"] = _minutes(min(dark_at.values()) - facts.start)
    if generators:
        first = min(g["by"] for g in generators.values())
        mno_attrs["mnoInterventionTime"] = isoformat(first)
        if until is not None:
            mno_attrs["mnoInterventionDuration"] = _minutes(until - first)

    priority = _priority(affected, covered, dark_at, lost, serving_map, site_info, feeders, facts.start)
    return {
        "outageId": facts.moi_id, "dsoId": facts.dso_id,
        "status": "closed" if closed else "open",
        "outageStartTime": isoformat(facts.start), "expectedOutageEndTime": isoformat(facts.expected_end),
        "actualOutageEndTime": isoformat(facts.actual_end),
        "deEnergizedBuses": sorted(facts.deenergized), "restoredBuses": sorted(facts.restored),
        "ranSites": ran_rows, "dsoSites": site_rows,
        "commsFailAt": isoformat(comms_fail_at),
        "rapidIntervention": rapid, "generatorsNeeded": generator_rows,
        "restorationPriority": priority, "feederPriority": _feeders(priority), "mnoAttributes": mno_attrs,
        "summary": {"ranSitesAffected": len(affected), "ranSitesDark": sum(r["state"] == "dark" for r in ran_rows),
                    "dsoSitesDeEnergized": len(covered_pks), "dsoSitesLosingEveryPlmn": len(all_lost_at),
                    "generatorsNeeded": len(generator_rows)},
    }


def _priority(affected: list[RanSite], covered: list[DsoSite], dark_at: dict[int, datetime],
              lost: dict[Pair, datetime], serving_map: dict[Pair, set[int]], site_info: dict[int, DsoSite],
              feeders: dict[str, str | None], start: datetime) -> list[dict[str, Any]]:
    """Buses to re-energize first: those powering RAN sites that are the last server of DSO sites (weighted by
    the customers behind those sites), then more RAN sites, the earliest dark time, the stations' customers."""
    buses: dict[str, dict[str, Any]] = {}

    def row(bus: str) -> dict[str, Any]:
        return buses.setdefault(bus, {"bus": bus, "feeder": feeders.get(bus), "ranSites": [], "stations": [],
                                      "dependentSites": [], "dependentCustomers": 0, "stationCustomers": 0,
                                      "reEnergizeBy": None})

    ran_bus: dict[int, str] = {}
    for r in affected:
        if r.bus is None:
            continue
        ran_bus[r.pk] = r.bus
        b = row(r.bus)
        b["ranSites"].append({"mnoId": r.org_id, "ranSiteId": r.site_id})
        t = dark_at[r.pk]
        b["reEnergizeBy"] = t if b["reEnergizeBy"] is None else min(b["reEnergizeBy"], t)
    deps: dict[str, set[int]] = defaultdict(set)
    for pair in lost:
        for rp in serving_map.get(pair, ()):
            if rp in ran_bus:
                deps[ran_bus[rp]].add(pair[0])
    for s in covered:
        if s.bus is not None:
            b = row(s.bus)
            b["stations"].append(s.site_id)
            b["stationCustomers"] += s.customers
    for bus, b in buses.items():
        sites = [site_info[pk] for pk in deps.get(bus, ()) if pk in site_info]
        b["dependentSites"] = sorted(s.site_id for s in sites)
        b["dependentCustomers"] = sum(s.customers for s in sites)
    far = datetime.max.replace(tzinfo=start.tzinfo)
    out = sorted(buses.values(), key=lambda b: (-b["dependentCustomers"], -len(b["ranSites"]),
                                                 b["reEnergizeBy"] or far, -b["stationCustomers"], b["bus"]))
    for rank, b in enumerate(out, 1):
        b["rank"] = rank
        b["reEnergizeBy"] = isoformat(b["reEnergizeBy"])
    return out


def _feeders(priority: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bus ranking rolled up per feeder (first line out of the HV/MV substation)."""
    out: dict[str, dict[str, Any]] = {}
    for b in priority:
        key = b["feeder"] or b["bus"]
        f = out.setdefault(key, {"feeder": key, "buses": [], "dependentCustomers": 0, "ranSites": 0,
                                 "reEnergizeBy": None, "bestRank": b["rank"]})
        f["buses"].append(b["bus"])
        f["dependentCustomers"] += b["dependentCustomers"]
        f["ranSites"] += len(b["ranSites"])
        if b["reEnergizeBy"] and (f["reEnergizeBy"] is None or b["reEnergizeBy"] < f["reEnergizeBy"]):
            f["reEnergizeBy"] = b["reEnergizeBy"]
    return sorted(out.values(), key=lambda f: (-f["dependentCustomers"], f["bestRank"]))


def plan_key(plan: dict[str, Any]) -> str:
    """What a notification is about: the plan without its time stamps of computation."""
    core = {k: v for k, v in plan.items() if k not in ("computedAt", "version")}
    return hashlib.sha256(orjson.dumps(core, option=orjson.OPT_SORT_KEYS)).hexdigest()
