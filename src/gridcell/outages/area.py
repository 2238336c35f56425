"""The de-energized area as a control room sees it evolve, and the sections it can be restored by.

A fault trips its feeder's circuit breaker: the whole feeder is dark (phase `tripped`) until the DSO isolates the
fault and switches (each batch of switching actions starts a phase `switched`). What stays dark is cut into
switchable sections: the buses that one switching action re-energizes together (reclosing the feeder breaker once
the fault is isolated, or closing a normally-open point to a neighbouring feeder). A faulted bus is a section of
its own that only repair restores. Results are cached per grid version, faults and switching (pandapower's graph
searches cost tens of milliseconds; a plan recomputes on every alarm touching it).
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core.clock import as_utc
from gridcell.outages import grid
from gridcell.outages.grid import GridFault


@dataclass(frozen=True)
class Phase:
    name: str  # tripped | switched
    start: datetime
    buses: frozenset[str]  # "<grid>/<bus>" without supply in this phase


@dataclass(frozen=True)
class Section:
    id: str  # "<grid>/section:<lowest bus>"
    buses: frozenset[str]
    feeder: str | None
    faulted: bool  # a faulted bus: repair, not switching, restores it
    isolate: tuple[dict[str, Any], ...]  # switches to open first (on the faulted element, at this section)
    restore: tuple[dict[str, Any], ...]  # one of these re-energizes the section


@dataclass(frozen=True)
class AreaAnalysis:
    phases: tuple[Phase, ...]
    sections: tuple[Section, ...]  # of the last phase

    @property
    def current(self) -> frozenset[str]:
        return self.phases[-1].buses if self.phases else frozenset()


_EMPTY = AreaAnalysis((), ())
_MAX_CACHED = 256


class _Cache:
    def __init__(self) -> None:
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > _MAX_CACHED:
                self._items.popitem(last=False)


_ANALYSES = _Cache()
_FEEDERS = _Cache()


def analyse(session: Session, dso_id: str, faults: list[GridFault], switching: list[dict[str, Any]],
            start: datetime) -> AreaAnalysis:
    """The phases of the de-energized area and the sections of the last one (cached: see the module)."""
    if not faults and not switching:
        return _EMPTY
    grids = {g.name: g for g in grid.grids_of(session, dso_id)}
    touched = sorted({f.grid for f in faults} | {str(s["grid"]) for s in switching})
    versions = tuple((name, grid.grid_version(session, grids[name].pk)) for name in touched if name in grids)
    times = sorted({max(_at(s), start) for s in switching})
    key = (dso_id, versions, tuple(sorted((f.grid, f.element, f.index) for f in faults)),
           tuple((str(s["grid"]), int(s["switch"]), bool(s["closed"]), max(_at(s), start)) for s in switching),
           start)
    hit = _ANALYSES.get(key)
    if hit is not None:
        return hit
    phases: list[Phase] = []
    tripped: set[str] = set()
    by_time: dict[datetime, set[str]] = {t: set() for t in times}
    sections: list[Section] = []
    for name, _ in versions:
        net = grid.net_of(session, grids[name].pk)
        mine = [f for f in faults if f.grid == name]
        actions = [s for s in switching if str(s["grid"]) == name]
        feeders = _feeders_of(grids[name].pk, grid.grid_version(session, grids[name].pk), net)
        tripped |= _tripped(name, net, mine, feeders)
        last_net = None
        for t in times:
            done = [s for s in actions if max(_at(s), start) <= t]
            dead, last_net = _dead_after(name, net, mine, done)
            by_time[t] |= dead
        if last_net is None:  # still tripped: the head line conducts once the breaker recloses
            last_net = _faulted_net(net, mine)
        last = by_time[times[-1]] if times else tripped
        sections += _sections(name, last_net, mine, {b for b in last if b.startswith(f"{name}/")}, feeders)
    if faults:
        phases.append(Phase("tripped", start, frozenset(tripped)))
    for t in times:
        phases.append(Phase("switched", t, frozenset(by_time[t])))
    result = AreaAnalysis(tuple(phases), tuple(sorted(sections, key=lambda s: s.id)))
    _ANALYSES.put(key, result)
    return result


def _at(action: dict[str, Any]) -> datetime:
    value = action.get("at")
    if isinstance(value, datetime):
        return as_utc(value)
    return as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def _feeders_of(grid_pk: int, version: Any, net: Any) -> dict[int, str]:
    key = (grid_pk, version)
    hit = _FEEDERS.get(key)
    if hit is None:
        hit = grid.feeders(net)
        _FEEDERS.put(key, hit)
    return hit


def _switches_on_line(net: Any, line: int) -> list[tuple[int, int, bool]]:
    """(switch index, bus, closed) of the line switches on a line."""
    sw = net.switch
    rows = sw[(sw.et == "l") & (sw.element == line)]
    return [(int(i), int(r["bus"]), bool(r["closed"])) for i, r in rows.iterrows()]


def _fault_buses(net: Any, fault: GridFault) -> list[int]:
    """The buses a fault is fed through: a bus itself; a line's ends that reach it through closed switches."""
    if fault.element == "bus":
        return [fault.index]
    if fault.element == "trafo":
        return [int(net.trafo.at[fault.index, "lv_bus"])]
    ends = [int(net.line.at[fault.index, "from_bus"]), int(net.line.at[fault.index, "to_bus"])]
    open_at = {bus for _, bus, closed in _switches_on_line(net, fault.index) if not closed}
    return [b for b in ends if b not in open_at]


def _trip_lines(net: Any, faults: list[GridFault], feeders: dict[int, str]) -> list[int]:
    """The head lines (with their circuit breakers) of the feeders the faults lie on."""
    names = {feeders[b] for f in faults for b in _fault_buses(net, f) if b in feeders}
    out = []
    for name in names:
        kind, _, idx = name.partition(":")
        if kind == "line" and idx.isdigit():
            out.append(int(idx))
    return sorted(out)


def _faulted_net(net: Any, faults: list[GridFault], *, trip_lines: Iterable[int] = (),
                 switching: Iterable[dict[str, Any]] = ()) -> Any:
    n = copy.deepcopy(net)
    for f in faults:
        getattr(n, f.element).loc[f.index, "in_service"] = False
    for line in trip_lines:
        n.line.loc[line, "in_service"] = False
    for s in switching:
        if int(s["switch"]) in n.switch.index:
            n.switch.loc[int(s["switch"]), "closed"] = bool(s["closed"])
    return n


def _unsupplied(name: str, net: Any, faults: list[GridFault]) -> set[str]:
    top = grid.topology_module()
    dead = {int(b) for b in top.unsupplied_buses(net)} | {f.index for f in faults if f.element == "bus"}
    return {f"{name}/{b}" for b in dead}


def _tripped(name: str, net: Any, faults: list[GridFault], feeders: dict[int, str]) -> set[str]:
    if not faults:
        return set()
    return _unsupplied(name, _faulted_net(net, faults, trip_lines=_trip_lines(net, faults, feeders)), faults)


def _dead_after(name: str, net: Any, faults: list[GridFault], done: list[dict[str, Any]]) -> tuple[set[str], Any]:
    """After switching the fault is isolated and the breaker reclosed: what the switching leaves without supply."""
    n = _faulted_net(net, faults, switching=done)
    return _unsupplied(name, n, faults), n


def _sections(name: str, net: Any, faults: list[GridFault], dead: set[str],
              feeders: dict[int, str]) -> list[Section]:
    """Connected parts of the dead buses over conducting lines (faulted elements out, switches as they stand)."""
    buses = {int(b.rsplit("/", 1)[1]) for b in dead}
    faulted_buses = {f.index for f in faults if f.element == "bus"}
    faulted_lines = {f.index for f in faults if f.element == "line"}
    switches: dict[int, list[tuple[int, int, bool]]] = defaultdict(list)
    for i, r in net.switch[net.switch.et == "l"].iterrows():
        switches[int(r["element"])].append((int(i), int(r["bus"]), bool(r["closed"])))
    adj: dict[int, set[int]] = defaultdict(set)
    boundary: list[tuple[int, int, int]] = []  # (line, dead end, live end)
    for idx, r in net.line.iterrows():
        a, b, line = int(r["from_bus"]), int(r["to_bus"]), int(idx)
        if line in faulted_lines or not bool(r["in_service"]):
            continue
        conducts = all(closed for _, _, closed in switches.get(line, ()))
        if a in buses and b in buses:
            if conducts:
                adj[a].add(b)
                adj[b].add(a)
        elif a in buses or b in buses:
            boundary.append((line, a if a in buses else b, b if a in buses else a))
    for _, r in net.switch[(net.switch.et == "b") & net.switch.closed].iterrows():
        a, b = int(r["bus"]), int(r["element"])
        if a in buses and b in buses:
            adj[a].add(b)
            adj[b].add(a)
    seen: set[int] = set()
    out: list[Section] = []
    for start in sorted(buses - faulted_buses):
        if start in seen:
            continue
        part, stack = set(), [start]
        while stack:
            u = stack.pop()
            if u in part or u in faulted_buses:
                continue
            part.add(u)
            stack.extend(v for v in adj.get(u, ()) if v not in part)
        seen |= part
        restore = []
        for line, inside, outside in boundary:
            if inside not in part:
                continue
            shut = [(i, bus) for i, bus, closed in switches.get(line, ()) if not closed]
            if shut:
                restore += [{"action": "close", "switch": i, "bus": f"{name}/{bus}"} for i, bus in shut]
            else:  # a conducting line to a live bus: only the tripped breaker keeps the section dark
                restore.append({"action": "reclose", "line": line, "bus": f"{name}/{outside}"})
        isolate = [{"action": "open", "switch": i, "bus": f"{name}/{bus}"}
                   for f in faults if f.element == "line"
                   for i, bus, closed in _switches_on_line(net, f.index) if closed and bus in part]
        feeder = next((feeders[b] for b in sorted(part) if b in feeders), None)
        out.append(Section(f"{name}/section:{min(part)}", frozenset(f"{name}/{b}" for b in part), feeder, False,
                           tuple(isolate), tuple(sorted(restore, key=lambda a: (a["action"], str(a))))))
    for b in sorted(faulted_buses & buses):
        out.append(Section(f"{name}/section:{b}", frozenset({f"{name}/{b}"}), feeders.get(b), True, (), ()))
    return out
