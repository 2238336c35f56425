"""The coordination plan, computed in memory from facts the service loads (or the benchmark generates).

Affected RAN sites come from a spatial index (shapely STRtree) over the outage area and from the buses the area's
phases leave without supply (the tripped feeder, then what switching leaves dark). Each one is on battery from
the outage (or an earlier power alarm) until mains return to its bus; it goes dark after its autonomy, which may
be unknown (then so is every time that rests on it: never taken as zero). A DSO site × PLMN is lost while every
serving RAN site is dark at once. From those facts: each MNO's own answer (`answers`), the DSO's
rapid-intervention check over every station that loses its last PLMN, the generators, and the restoration
priority by switchable section (`priority`).
"""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

import numpy as np
import orjson
import shapely
from shapely import STRtree
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from gridcell.core.clock import isoformat
from gridcell.outages.area import Phase, Section

iso = functools.lru_cache(maxsize=16_384)(isoformat)  # a plan formats the same few instants thousands of times
LOW_BATTERY_RESERVE = timedelta(minutes=15)  # LOW_BATTERY_THRESHOLD: what is left once it is raised
Pair = tuple[int, str]  # (DSO site pk, PLMN)


class RanSite(NamedTuple):
    """Plain tuples of atoms: the garbage collector stops tracking them, so an index of 100,000 sites adds
    nothing to its full passes."""

    pk: int
    org_id: str
    site_id: str
    lon: float
    lat: float
    autonomy_h: float | None
    bus: str | None  # "<grid>/<bus>" that powers it


class SitePoint(NamedTuple):
    """What the index keeps of a DSO site: where it is and which bus supplies it (details are read on demand)."""

    pk: int
    lon: float
    lat: float
    bus: str | None


class DsoSite(NamedTuple):
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
    phases: tuple[Phase, ...] = ()
    sections: tuple[Section, ...] = ()
    extra_ran_pks: set[int] = field(default_factory=set)  # RAN sites named through TAIs or cell ids
    declared: dict[str, dict[str, Any]] = field(default_factory=dict)  # MNOs' own answers

    @property
    def buses(self) -> set[str]:
        """Every bus any phase leaves without supply."""
        return {b for p in self.phases for b in p.buses}

    @property
    def window_end(self) -> datetime | None:
        if self.rapid_time is None:
            return None
        return self.rapid_time + timedelta(minutes=self.rapid_duration_min or 0)

    @property
    def horizon(self) -> datetime | None:
        """Comms must last until the expected end and until the rapid-intervention window closes (None: no end
        is known, so comms must last indefinitely)."""
        ends = [t for t in (self.expected_end, self.window_end) if t is not None]
        return max(ends) if ends else None

    def dead_interval(self, bus: str | None) -> tuple[datetime, datetime | None] | None:
        """When the bus is without supply: from the first phase that leaves it dark to the next that does not."""
        if bus is None:
            return None
        since: datetime | None = None
        for p in self.phases:
            if bus in p.buses and since is None:
                since = p.start
            elif bus not in p.buses and since is not None:
                return since, p.start
        return None if since is None else (since, None)


class Index(Protocol):
    def ran_affected(self, facts: OutageFacts) -> list[RanSite]: ...

    def sites_covered(self, facts: OutageFacts) -> list[int]:
        """DSO site pks inside the area or on a bus some phase leaves without supply."""
        ...

    def in_area(self, facts: OutageFacts) -> tuple[set[int], set[int]]:
        """(RAN site pks, DSO site pks) inside the outage's area (geometry, TAIs, cell ids)."""
        ...

    def sites_at(self, buses: Iterable[str]) -> dict[str, list[int]]: ...

    def has_site(self, pk: int) -> bool: ...


def _points(xy: list[tuple[float, float]]) -> Any:
    """Points made in one vectorized call (one Point() per site costs ~8 µs: 0.9 s at 110,000 sites)."""
    return shapely.points(np.asarray(xy, dtype=float).reshape(-1, 2))


class RanPart:
    """The RAN sites of a DSO's agreement MNOs: an STRtree and the bus that powers each (one MNO's import
    rebuilds this part only)."""

    def __init__(self, ran: Sequence[RanSite]) -> None:
        self.ran = list(ran)
        self.by_pk = {r.pk: r for r in self.ran}
        self.tree = STRtree(_points([(r.lon, r.lat) for r in self.ran]))
        self.by_bus: dict[str, list[RanSite]] = defaultdict(list)
        for r in self.ran:
            if r.bus:
                self.by_bus[r.bus].append(r)


class SitePart:
    """A DSO's own sites: an STRtree and bus → sites. `sites`: (pk, lon, lat, bus) rows (SitePoint, or the plain
    tuples the store returns, which the garbage collector stops tracking)."""

    def __init__(self, sites: Sequence[tuple[Any, ...]]) -> None:
        self.pks = [st[0] for st in sites]
        self.pk_set = set(self.pks)
        self.tree = STRtree(_points([(st[1], st[2]) for st in sites]))
        self.by_bus: dict[str, list[int]] = defaultdict(list)
        for st in sites:
            if st[3]:
                self.by_bus[st[3]].append(st[0])


class SpatialIndex:
    """STRtrees over RAN sites and DSO sites, plus bus → sites maps; each part built once per topology version."""

    def __init__(self, ran: RanPart | Sequence[RanSite], sites: SitePart | Sequence[tuple[Any, ...]]) -> None:
        ran_part = ran if isinstance(ran, RanPart) else RanPart(ran)
        site_part = sites if isinstance(sites, SitePart) else SitePart(sites)
        self.ran, self.ran_by_pk, self._ran_tree, self._ran_by_bus = (ran_part.ran, ran_part.by_pk, ran_part.tree,
                                                                     ran_part.by_bus)
        self.site_pks, self._site_set = site_part.pks, site_part.pk_set
        self._site_tree, self._sites_by_bus = site_part.tree, site_part.by_bus

    def _sites_in(self, area: BaseGeometry | None) -> set[int]:
        if area is None or not self.site_pks:
            return set()
        return {self.site_pks[i] for i in self._site_tree.query(area, predicate="intersects").tolist()}

    def in_area(self, facts: OutageFacts) -> tuple[set[int], set[int]]:
        ran = set(facts.extra_ran_pks)
        if facts.area is not None and self.ran:
            ran |= {self.ran[i].pk for i in self._ran_tree.query(facts.area, predicate="intersects").tolist()}
        return ran, self._sites_in(facts.area)

    def ran_affected(self, facts: OutageFacts) -> list[RanSite]:
        found: dict[int, RanSite] = {}
        if facts.area is not None and self.ran:
            for i in self._ran_tree.query(facts.area, predicate="intersects").tolist():
                found[self.ran[i].pk] = self.ran[i]
        for bus in facts.buses:
            for r in self._ran_by_bus.get(bus, ()):
                found[r.pk] = r
        for pk in facts.extra_ran_pks:
            if pk in self.ran_by_pk:
                found[pk] = self.ran_by_pk[pk]
        return sorted(found.values(), key=lambda r: r.pk)

    def sites_covered(self, facts: OutageFacts) -> list[int]:
        found = self._sites_in(facts.area)
        for bus in facts.buses:
            found.update(self._sites_by_bus.get(bus, ()))
        return sorted(found)

    def sites_at(self, buses: Iterable[str]) -> dict[str, list[int]]:
        return {b: list(self._sites_by_bus[b]) for b in buses if b in self._sites_by_bus}

    def has_site(self, pk: int) -> bool:
        return pk in self._site_set


class NaiveIndex:
    """The comparison for the benchmark: the same answers by testing every site against the area."""

    def __init__(self, ran: Sequence[RanSite], sites: Sequence[SitePoint | DsoSite]) -> None:
        self.ran, self.sites = list(ran), list(sites)

    def ran_affected(self, facts: OutageFacts) -> list[RanSite]:
        area, buses = facts.area, facts.buses
        return [r for r in self.ran if (area is not None and area.intersects(Point(r.lon, r.lat)))
                or r.bus in buses or r.pk in facts.extra_ran_pks]

    def sites_covered(self, facts: OutageFacts) -> list[int]:
        area, buses = facts.area, facts.buses
        return [s.pk for s in self.sites if (area is not None and area.intersects(Point(s.lon, s.lat)))
                or s.bus in buses]

    def in_area(self, facts: OutageFacts) -> tuple[set[int], set[int]]:
        area = facts.area
        if area is None:
            return set(facts.extra_ran_pks), set()
        return ({r.pk for r in self.ran if area.intersects(Point(r.lon, r.lat))} | set(facts.extra_ran_pks),
                {s.pk for s in self.sites if area.intersects(Point(s.lon, s.lat))})

    def sites_at(self, buses: Iterable[str]) -> dict[str, list[int]]:
        wanted = set(buses)
        out: dict[str, list[int]] = defaultdict(list)
        for st in self.sites:
            if st.bus in wanted:
                out[st.bus].append(st.pk)
        return dict(out)

    def has_site(self, pk: int) -> bool:
        return any(st.pk == pk for st in self.sites)


class Serving(Protocol):
    """Who serves whom: asked only about the affected RAN sites and the pairs they serve."""

    def pairs_of_ran(self, ran_pks: Iterable[int]) -> set[Pair]: ...

    def serving_of(self, pairs: set[Pair]) -> dict[Pair, set[int]]: ...

    def plmns_of(self, site_pks: Iterable[int]) -> dict[int, set[str]]: ...

    def sites(self, site_pks: Iterable[int]) -> dict[int, DsoSite]: ...


class MemoryServing:
    """Serving relations held in memory (small worlds, tests)."""

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


def minutes(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() // 60))


@dataclass(frozen=True)
class RanPower:
    """An affected RAN site's timeline: on battery from `since`, mains back at `back` (None: not before the
    outage ends), dark at `dark` (None: its autonomy is unknown)."""

    site: RanSite
    since: datetime
    back: datetime | None
    dark: datetime | None

    def goes_dark(self) -> bool | None:
        if self.dark is None:
            return None
        return self.back is None or self.dark < self.back


@dataclass(frozen=True)
class Loss:
    """A pair that loses every serving RAN site: from `at` (None: unknown) until `until` (None: the end)."""

    at: datetime | None
    until: datetime | None
    mno_ids: frozenset[str]


@dataclass
class Context:
    """What the parts of the plan share (built once per compute)."""

    facts: OutageFacts
    now: datetime
    power: dict[int, RanPower]
    serving: dict[Pair, set[int]]
    losses: dict[Pair, Loss]
    site_info: dict[int, DsoSite]
    plmns: dict[int, set[str]]
    covered: set[int]  # DSO sites without supply in some phase
    feeders: dict[str, str | None]
    in_area: set[int]  # DSO sites inside the outage's area
    serving_src: Serving
    station_loss: dict[int, Loss] = field(default_factory=dict)  # sites that lose every PLMN
    horizon: datetime | None = None

    def __post_init__(self) -> None:
        self.horizon = self.facts.horizon

    def sites(self, pks: Iterable[int]) -> list[DsoSite]:
        """Details of these DSO sites (read once per plan, on demand)."""
        wanted = list(pks)
        missing = [pk for pk in wanted if pk not in self.site_info]
        if missing:
            self.site_info.update(self.serving_src.sites(missing))
        return [self.site_info[pk] for pk in wanted if pk in self.site_info]


def _power(facts: OutageFacts, r: RanSite, ev: PowerEvidence, in_area: bool) -> RanPower:
    intervals: list[tuple[datetime, datetime | None]] = []
    grid = facts.dead_interval(r.bus)
    if grid is not None:
        intervals.append(grid)
    if in_area or grid is None:
        intervals.append((facts.start, None))
    since = min(i[0] for i in intervals)
    back = None if any(i[1] is None for i in intervals) else max(i[1] for i in intervals if i[1] is not None)
    if ev.battery_since is not None:
        since = min(since, ev.battery_since)
    if facts.actual_end is not None:
        back = facts.actual_end if back is None else min(back, facts.actual_end)
    dark = since + timedelta(hours=r.autonomy_h) if r.autonomy_h is not None else None
    if ev.low_battery_at is not None:
        floor = ev.low_battery_at + LOW_BATTERY_RESERVE
        dark = floor if dark is None else min(dark, floor)
    if ev.dark_since is not None:
        dark = ev.dark_since if dark is None else min(dark, ev.dark_since)
    return RanPower(r, since, back, dark)


def _loss(items: list[RanPower]) -> Loss | None:
    """Every serving site dark at once: the latest dark time, if before the earliest return of mains."""
    at: datetime | None = None
    until: datetime | None = None
    unknown = False
    for p in items:
        if p.dark is None:
            unknown = True
        elif p.back is not None and p.dark >= p.back:
            return None  # mains come back before this one goes dark: the PLMN stays up
        elif at is None or p.dark > at:
            at = p.dark
        if p.back is not None and (until is None or p.back < until):
            until = p.back
    if at is not None and until is not None and at >= until:
        return None
    return Loss(None if unknown else at, until, frozenset(p.site.org_id for p in items))


def _state(p: RanPower, now: datetime, closed: bool) -> str:
    if closed or now < p.since or (p.back is not None and now >= p.back):
        return "mains"
    if p.dark is not None and now >= p.dark:
        return "dark"
    return "battery"


def compute(facts: OutageFacts, index: Index, serving: Serving,
            evidence: Callable[[list[int]], dict[int, PowerEvidence]], now: datetime,
            feeders: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The full plan (every side's part); the views per side are cut from it (`views`)."""
    from gridcell.outages import answers, priority

    feeders = feeders or {}
    affected = index.ran_affected(facts)
    covered = index.sites_covered(facts)
    alarms = evidence([r.pk for r in affected])
    closed = facts.actual_end is not None and facts.actual_end <= now
    ran_in_area, sites_in_area = index.in_area(facts)
    power = {r.pk: _power(facts, r, alarms.get(r.pk, PowerEvidence()), r.pk in ran_in_area) for r in affected}

    pairs = serving.pairs_of_ran(power)
    serving_map = serving.serving_of(pairs)
    losses: dict[Pair, Loss] = {}
    if not closed:
        for pair, rans in serving_map.items():
            if rans and all(pk in power for pk in rans):
                loss = _loss([power[pk] for pk in rans])
                if loss is not None:
                    losses[pair] = loss
    site_pks = {p[0] for p in losses} | set(covered)
    ctx = Context(facts, now, power, serving_map, losses, serving.sites(site_pks), serving.plmns_of(site_pks),
                  set(covered), feeders, sites_in_area, serving)

    horizon = facts.expected_end
    ran_rows = [{"ranSitePk": p.site.pk, "mnoId": p.site.org_id, "ranSiteId": p.site.site_id, "bus": p.site.bus,
                 "feeder": feeders.get(p.site.bus) if p.site.bus else None, "state": _state(p, now, closed),
                 "onBatterySince": iso(p.since), "mainsBackAt": iso(p.back), "darkAt": iso(p.dark),
                 "autonomyH": p.site.autonomy_h, "autonomyKnown": p.site.autonomy_h is not None,
                 "survivesOutage": None if p.dark is None else (
                     p.goes_dark() is False or (horizon is not None and horizon <= p.dark))}
                for p in sorted(power.values(), key=lambda p: p.site.pk)]
    site_pks_out, site_rows = _site_rows(ctx)
    current = facts.phases[-1].buses if facts.phases else frozenset()
    mno_answers = answers.per_mno(ctx)
    gens = answers.dso_generators(ctx)
    rapid = answers.rapid_check(ctx)
    sections = priority.rank(ctx, index)
    comms = [loss.at for loss in ctx.station_loss.values() if loss.at is not None]
    return {
        "outageId": facts.moi_id, "dsoId": facts.dso_id, "status": "closed" if closed else "open",
        "outageStartTime": iso(facts.start), "expectedOutageEndTime": iso(facts.expected_end),
        "actualOutageEndTime": iso(facts.actual_end),
        "phases": _phase_rows(ctx, index),
        "deEnergizedBuses": sorted(current), "restoredBuses": sorted(facts.buses - current),
        "ranSites": ran_rows, "dsoSites": site_rows,
        "commsFailAt": iso(min(comms)) if comms else None,
        "rapidIntervention": rapid, "generatorsNeeded": gens,
        "mnoAnswers": mno_answers, "mnoAttributes": answers.earliest(mno_answers),
        "restorationPriority": sections, "feederPriority": priority.feeders(sections),
        "summary": {"ranSitesAffected": len(power), "ranSitesDark": sum(r["state"] == "dark" for r in ran_rows),
                    "dsoSitesDeEnergized": sum(1 for s in site_rows if s["deEnergized"]),
                    "dsoSitesLosingEveryPlmn": len(ctx.station_loss),
                    "generatorsNeeded": len(gens)},
        # [site pk, PLMN, MNO, lost at, regain at] per lost pair (compact: a storm has thousands)
        "effects": [[pair[0], pair[1], min(loss.mno_ids), iso(loss.at), iso(loss.until)]
                    for pair, loss in sorted(losses.items())],
        "dsoSitePks": site_pks_out,
        "nextChangeAt": iso(_next_change(ctx)),
    }


def _site_rows(ctx: Context) -> tuple[list[int], list[dict[str, Any]]]:
    """(pks, rows) of the DSO sites in the plan (de-energized, restored, or losing a PLMN); fills
    `ctx.station_loss` with the sites that lose every PLMN."""
    current = ctx.facts.phases[-1].buses if ctx.facts.phases else frozenset()
    rows: list[dict[str, Any]] = []
    pks: list[int] = []
    for pk in sorted(ctx.site_info):
        info = ctx.site_info[pk]
        site_plmns = sorted(ctx.plmns.get(pk, set()))
        lost = {p: ctx.losses[(pk, p)] for p in site_plmns if (pk, p) in ctx.losses}
        if site_plmns and len(lost) == len(site_plmns):
            known = [x.at for x in lost.values() if x.at is not None]
            untils = [x.until for x in lost.values() if x.until is not None]
            ctx.station_loss[pk] = Loss(max(known) if len(known) == len(lost) else None,
                                        min(untils) if untils else None,
                                        frozenset(m for x in lost.values() for m in x.mno_ids))
        if not lost and pk not in ctx.covered:
            continue
        dark_now = info.bus in current or pk in ctx.in_area
        whole = ctx.station_loss.get(pk)
        pks.append(pk)
        rows.append({"siteId": info.site_id, "name": info.name, "kind": info.kind,
                     "customers": info.customers, "criticality": info.criticality, "bus": info.bus,
                     "deEnergized": pk in ctx.covered and dark_now, "restored": pk in ctx.covered and not dark_now,
                     "plmnsLost": [{"plmn": p, "at": iso(x.at), "until": iso(x.until)}
                                   for p, x in sorted(lost.items())],
                     "plmnsKept": [p for p in site_plmns if p not in lost],
                     "allPlmnsLostAt": iso(whole.at) if whole else None,
                     "lossTimeUnknown": whole is not None and whole.at is None})
    return pks, rows


def _phase_rows(ctx: Context, index: Index) -> list[dict[str, Any]]:
    phases = ctx.facts.phases
    out = []
    for i, ph in enumerate(phases):
        stations = ctx.sites(pk for pks in index.sites_at(ph.buses).values() for pk in pks)
        ran = [p.site for p in ctx.power.values() if p.site.bus in ph.buses]
        out.append({"phase": ph.name, "from": iso(ph.start),
                    "until": iso(phases[i + 1].start) if i + 1 < len(phases) else None,
                    "buses": sorted(ph.buses), "stations": sorted(s.site_id for s in stations),
                    "customers": sum(s.customers for s in stations),
                    "ranSites": sorted(({"mnoId": r.org_id, "ranSiteId": r.site_id} for r in ran),
                                       key=lambda x: (x["mnoId"], x["ranSiteId"]))})
    return out


def _next_change(ctx: Context) -> datetime | None:
    """The next instant the plan's state changes by itself (a site goes dark, mains come back, a phase starts)."""
    now = ctx.now
    times: list[datetime] = []
    for p in ctx.power.values():
        times += [t for t in (p.since, p.back, p.dark) if t is not None]
    for loss in ctx.losses.values():
        times += [t for t in (loss.at, loss.until) if t is not None]
    times += [ph.start for ph in ctx.facts.phases]
    if ctx.facts.actual_end is not None:
        times.append(ctx.facts.actual_end)
    future = [t for t in times if t > now]
    return min(future) if future else None


def plan_key(plan: dict[str, Any]) -> str:
    """What a notification is about: the plan without its time stamps of computation."""
    core = {k: v for k, v in plan.items() if k not in ("computedAt", "version", "viewVersions", "viewKeys")}
    return view_key(core)


def view_key(view: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(view, option=orjson.OPT_SORT_KEYS)).hexdigest()
