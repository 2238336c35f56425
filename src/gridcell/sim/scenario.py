"""The world of the twin, built through the product's own import paths into the twin's store.

Grid: pandapower (`gridcell.outages.grid.import_grid`: stations become DSO sites with customers from the load
data). Two PLMNs: RAN sites on ITU-R M.2135 hex grids (`grid.hex_sites`), one omni cell each, battery autonomy
drawn from the configured distribution, powered from the nearest grid bus (`grid.link_ran_sites`, run by the
topology-import handler). A CPE with two USIMs at every MV/LV station, each USIM reporting the nearest cell of
its PLMN. Only RAN sites serving some station are kept (the others cannot affect any outcome).
A template store is built once and copied per Monte Carlo run.
"""

from __future__ import annotations

import math
import random
import shutil
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gridcell.core.clock import ManualClock, set_clock
from gridcell.core.db import Database
from gridcell.migrations import upgrade
from gridcell.outages import grid
from gridcell.sim.config import SimConfig
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topology
from gridcell.wiring import register_handlers

MNO_NAMES = ("Telco A", "Telco B")


@dataclass
class Station:
    idx: int
    site_id: str
    cpe_id: str
    bus: int
    lon: float
    lat: float
    customers: int
    p_mw: float
    da: bool
    serving: dict[str, int] = field(default_factory=dict)  # PLMN → RAN site index


@dataclass
class RanSiteW:
    idx: int
    plmn: str
    site_id: str
    cell_id: str
    dn: str
    lon: float
    lat: float
    autonomy_h: float  # declared (the exchange's topology); the true one is drawn per seed (gridcell.sim.faults)
    bus: int | None


@dataclass
class LineFault:
    """What a fault on one line does, from pandapower topology: the feeder breaker trips (whole feeder dead);
    after isolation the upstream part is re-closed, the downstream part backfed, the rest waits for repair."""

    line: int
    length_km: float
    feeder_buses: frozenset[int]
    upstream: frozenset[int]  # still supplied with the line out (normal switching state)
    repair_only: frozenset[int]  # unsupplied even with every sectioning point closed
    iso_bus: int | None  # upstream end of the faulted line (its station isolates the fault)


@dataclass
class World:
    cfg: SimConfig
    grid_name: str
    dso_id: str
    mno_ids: dict[str, str]  # PLMN → MNO org id
    tokens: dict[str, str]
    stations: list[Station]
    ran: list[RanSiteW]
    lines: dict[int, LineFault]
    bus_xy: dict[int, tuple[float, float]]
    line_xy: dict[int, list[tuple[float, float]]]
    template: Path
    tmpdir: Path
    geo_note: str | None = None  # how the grid's coordinates were rescaled (scenario.geographic), if they were
    substations: list[tuple[float, float]] = field(default_factory=list)  # HV/MV substations (lon, lat), the map
    open_points: list[tuple[float, float]] = field(default_factory=list)  # open sectioning switches, the map

    @property
    def total_customers(self) -> int:
        return sum(s.customers for s in self.stations) or 1

    def cleanup(self) -> None:
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def _nearest(points: np.ndarray[Any, Any], targets: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    lat0 = math.radians(float(np.mean(points[:, 1])))
    p = points * np.array([math.cos(lat0), 1.0])
    q = targets * np.array([math.cos(lat0), 1.0])
    d = ((p[:, None, :] - q[None, :, :]) ** 2).sum(axis=2)
    return np.asarray(d.argmin(axis=1))


def _line_effects(net: Any) -> tuple[dict[int, LineFault], dict[int, list[tuple[float, float]]]]:
    import json

    import networkx as nx
    import pandapower.topology as top

    feeder_of = grid.feeders(net)
    roots = {int(b) for b in net.ext_grid.bus}
    normal = top.create_nxgraph(net, respect_switches=True)
    meshed = top.create_nxgraph(net, respect_switches=False)

    def supplied(g: Any, line: int) -> set[int]:
        # The line's edges out, components taken, edges back: a copy of the graph per line cost more.
        cut = [(u, v, k, d) for u, v, k, d in g.edges(keys=True, data=True) if k == ("line", line)]
        g.remove_edges_from([(u, v, k) for u, v, k, _ in cut])
        try:
            out: set[int] = set()
            for comp in nx.connected_components(g):
                if comp & roots:
                    out |= {int(b) for b in comp}
            return out
        finally:
            g.add_edges_from(cut)

    all_buses = {int(b) for b in net.bus.index}
    out: dict[int, LineFault] = {}
    xy: dict[int, list[tuple[float, float]]] = {}
    for idx, row in net.line.iterrows():
        line = int(idx)
        geo = row.get("geo") if "geo" in net.line.columns else None
        if isinstance(geo, str) and geo:
            xy[line] = [(float(c[0]), float(c[1])) for c in json.loads(geo).get("coordinates", [])]
        if not bool(row["in_service"]):
            continue
        fb, tb = int(row["from_bus"]), int(row["to_bus"])
        feeder = feeder_of.get(fb) or feeder_of.get(tb)
        if feeder is None:
            continue
        feeder_buses = frozenset(b for b, f in feeder_of.items() if f == feeder)
        ok_normal = supplied(normal, line)
        if all_buses - ok_normal == set():  # a line out of the normal flow (behind an open point)
            continue
        ok_meshed = supplied(meshed, line)
        iso = fb if fb in ok_normal else (tb if tb in ok_normal else None)
        out[line] = LineFault(line, float(row["length_km"]), feeder_buses,
                              frozenset(b for b in feeder_buses if b in ok_normal),
                              frozenset(b for b in feeder_buses if b not in ok_meshed), iso)
    return out, xy


def _ran_doc(ran: list[RanSiteW], plmn: str) -> dict[str, Any]:
    """An MNO's RAN sites as its topology import takes them (one omni cell each, the declared autonomy)."""
    return {"ranSites": [{"id": r.site_id, "lat": r.lat, "lon": r.lon, "dn": r.dn, "autonomyH": r.autonomy_h,
                          "cells": [{"cellId": r.cell_id, "plmn": plmn, "rangeM": 3000.0,
                                     "dn": f"{r.dn},GNBDUFunction=1,NRCellDU=1"}]}
                         for r in ran if r.plmn == plmn]}


def declared_autonomy(rng: random.Random, mix: tuple[tuple[float, float, float], ...]) -> float:
    """A RAN site's battery autonomy as its MNO declares it (h): one of the mix's ranges by its share."""
    _, low, high = rng.choices(mix, weights=[m[0] for m in mix])[0]
    return round(rng.uniform(low, high), 2)


# Geodata. A grid's line lengths are physics; its coordinates place the stations among the RAN sites. mv_oberrhein's
# real geodata: the median line is 1.07 times the straight distance between its buses (cables follow roads), SimBench's
# urban grid 1.5. Outside [ROUTE_MIN, ROUTE_MAX] the coordinates cannot be a map of the grid: below, the buses lie
# farther apart than the lines joining them are long (CIGRE in km-like units, case33bw around 0°N 0°E); above, the
# lines are squeezed into a few km (SimBench: 116 km of line inside 2.8 × 4 km). Such grids are rescaled so the median
# line is DETOUR times its straight distance; non-geographic ones are placed around PLACE (mv_oberrhein's centre).
ROUTE_MIN, ROUTE_MAX, DETOUR = 0.8, 2.0, 1.07
PLACE = (7.84, 48.40)  # lon, lat
MAX_EXTENT_KM = 300.0  # a distribution grid; beyond, the RAN hex grid would hold millions of sites
KM_PER_DEG = 111.32


def _coords(net: Any) -> dict[int, tuple[float, float]]:
    """Every bus's coordinates as the model gives them, geographic or not."""
    import json

    out: dict[int, tuple[float, float]] = {}
    if "geo" in net.bus.columns:
        for idx, geo in net.bus.geo.items():
            c = json.loads(geo).get("coordinates") if isinstance(geo, str) and geo else None
            if isinstance(c, list) and len(c) >= 2 and all(isinstance(v, int | float) for v in c[:2]):
                out[int(idx)] = (float(c[0]), float(c[1]))
    geodata = getattr(net, "bus_geodata", None)
    if geodata is not None and len(geodata):
        for idx, row in geodata.iterrows():
            out.setdefault(int(idx), (float(row["x"]), float(row["y"])))
    return {k: v for k, v in out.items() if math.isfinite(v[0]) and math.isfinite(v[1])}


def geographic(name: str, net: Any) -> str | None:
    """Check the grid's coordinates against its line lengths; rescale them in `net` (buses and line geometries)
    when they cannot be a map of it. Returns a one-line note of what was changed (None: kept as they are); raises
    ValueError when nothing usable is there."""
    import json

    xy = _coords(net)
    if len(xy) < 2:
        raise ValueError(f"{name}: its buses have no coordinates (the twin places RAN sites around them)")
    in_range = all(-180.0 <= x <= 180.0 and -90.0 <= y <= 90.0 for x, y in xy.values())
    cx = statistics.fmean(x for x, _ in xy.values())
    cy = statistics.fmean(y for _, y in xy.values())
    # planar units: km when the coordinates are lon/lat, the model's own units otherwise
    kx, ky = (KM_PER_DEG * math.cos(math.radians(cy)), KM_PER_DEG) if in_range else (1.0, 1.0)
    ratios = []
    for _, row in net.line.iterrows():
        a, b = xy.get(int(row["from_bus"])), xy.get(int(row["to_bus"]))
        d = math.hypot((a[0] - b[0]) * kx, (a[1] - b[1]) * ky) if a and b else 0.0
        if d > 0.0 and float(row["length_km"]) > 0.0:
            ratios.append(float(row["length_km"]) / d)
    if not ratios:
        raise ValueError(f"{name}: no line joins two buses at different places (coordinates all alike)")
    route = statistics.median(ratios)
    if in_range and ROUTE_MIN <= route <= ROUTE_MAX:
        note = None
        scale, (ox, oy) = 1.0, (cx, cy)
    else:
        scale = route / DETOUR  # the median line becomes DETOUR × its straight distance
        ox, oy = (cx, cy) if in_range and route > ROUTE_MAX else PLACE
        line_km = float(net.line.length_km.sum())
        note = (f"{name}: bus coordinates {'squeeze' if in_range and route > ROUTE_MAX else 'do not map'} its "
                f"{line_km:.0f} km of line (median line {route:.3g} × the straight distance between its buses); "
                f"rescaled to {DETOUR} × around {oy:.2f}°N {ox:.2f}°E")
    ex = (max(x for x, _ in xy.values()) - min(x for x, _ in xy.values())) * kx * scale
    ey = (max(y for _, y in xy.values()) - min(y for _, y in xy.values())) * ky * scale
    if max(ex, ey) > MAX_EXTENT_KM:
        raise ValueError(f"{name}: {max(ex, ey):.0f} km across; the twin takes distribution grids up to "
                         f"{MAX_EXTENT_KM:.0f} km")
    if note is None:
        return None
    lon_km = KM_PER_DEG * math.cos(math.radians(oy))

    def move(x: float, y: float) -> list[float]:
        return [round(ox + (x - cx) * kx * scale / lon_km, 7), round(oy + (y - cy) * ky * scale / KM_PER_DEG, 7)]

    if "geo" in net.bus.columns:
        net.bus["geo"] = [json.dumps({"type": "Point", "coordinates": move(*xy[int(i)])}) if int(i) in xy else None
                          for i in net.bus.index]
    geodata = getattr(net, "bus_geodata", None)
    if geodata is not None and len(geodata):
        for idx in geodata.index:
            if int(idx) in xy:
                geodata.loc[idx, ["x", "y"]] = move(*xy[int(idx)])
    if "geo" in net.line.columns:
        def line(geo: Any) -> Any:
            if not (isinstance(geo, str) and geo):
                return geo
            g = json.loads(geo)
            g["coordinates"] = [move(float(c[0]), float(c[1])) for c in g.get("coordinates", [])]
            return json.dumps(g)

        net.line["geo"] = [line(g) for g in net.line.geo]
    return note


def check_grid(source: str) -> str | None:
    """Refuse a grid that does not load or cannot be placed, before a demo or a simulation starts (ValueError, one
    line); returns the one-line note when its coordinates have to be rescaled."""
    from gridcell.core.errors import InvalidInput

    try:
        name, net = grid.load_network(source)
    except InvalidInput as exc:
        raise ValueError(str(exc.detail).splitlines()[0] if exc.detail else source) from None
    return geographic(name, net)


def build(cfg: SimConfig, scenario_seed: int = 0, workdir: Path | None = None) -> World:
    """Create the template store (orgs, agreements, grid, RAN sites, CPEs) and the world read back from it."""
    register_handlers()
    rng = random.Random(scenario_seed)
    tmpdir = Path(tempfile.mkdtemp(prefix="gridcell-sim-", dir=workdir))
    template = tmpdir / "template.db"
    clock = ManualClock(cfg.start)
    set_clock(clock)
    db = Database(f"sqlite:///{template}", sqlite_synchronous="OFF")
    upgrade(db)
    loaded = grid.load_network(cfg.grid)
    net = loaded[1]
    geo_note = geographic(loaded[0], net)
    with db.write() as s:
        dso = tenancy.create_org(s, "Twin DSO", "dso")
        mnos = {p: tenancy.create_org(s, MNO_NAMES[i % 2] + ("" if i < 2 else f" {i}"), "mno")
                for i, p in enumerate(cfg.plmns)}
        s.flush()
        tokens = {"dso_operator": tenancy.create_client(s, dso, "operator", "twin")[1],
                  "dso_viewer": tenancy.create_client(s, dso, "viewer", "twin")[1]}
        for i, (p, org) in enumerate(mnos.items()):
            tokens[f"mno_{p}"] = tenancy.create_client(s, org, "operator", "twin")[1]
            tenancy.create_agreement(s, dso, org, [p], cfg.mno_levels[i % len(cfg.mno_levels)],
                                     share_telemetry=True)
        s.flush()
        info = grid.import_grid(s, dso, cfg.grid, mno_ids=[], loaded=loaded)
        grid_name = info["grid"]
        sites = [x for x in topology.sites_of_org(s, dso) if x.kind != "primary_substation"]
        site_bus = topology.site_grid_buses(s, dso)
        buses = grid.bus_infos(s, dso)
    bus_xy = {int(k.rsplit("/", 1)[1]): (b.lon, b.lat) for k, b in buses.items()}
    pts = list(bus_xy.values())
    bounds = (min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts), max(p[1] for p in pts))
    st_xy = np.array([[x.lon, x.lat] for x in sites])
    stations = []
    p_of_bus: dict[int, float] = {}
    for _, load in net.load.iterrows():
        p_of_bus[int(load["bus"])] = p_of_bus.get(int(load["bus"]), 0.0) + float(load["p_mw"]) * float(
            load.get("scaling", 1.0) or 1.0)
    for i, x in enumerate(sites):
        bus = int(site_bus[x.pk].rsplit("/", 1)[1])
        stations.append(Station(i, x.site_id, f"CPE-{x.site_id}", bus, x.lon, x.lat, x.customers,
                                p_of_bus.get(bus, 0.0), rng.random() < cfg.da_share))
    ran: list[RanSiteW] = []
    for k, plmn in enumerate(cfg.plmns):
        isd = cfg.isd_m[k % len(cfg.isd_m)]
        shift = (k * 0.5 * isd / (111_320.0 * math.cos(math.radians((bounds[1] + bounds[3]) / 2))),
                 k * 0.29 * isd / 111_320.0)
        hexes = grid.hex_sites((bounds[0] - shift[0], bounds[1] - shift[1], bounds[2], bounds[3]), isd)
        near = _nearest(st_xy, np.array(hexes))
        used = sorted(set(near.tolist()))
        local = {}
        for j in used:
            sid = f"{plmn}-R{j}"
            local[j] = len(ran)
            ran.append(RanSiteW(len(ran), plmn, sid, f"{sid}-C1", f"SubNetwork=1,ManagedElement={sid}",
                                hexes[j][0], hexes[j][1],
                                declared_autonomy(rng, cfg.autonomy_mix), None))
        for st, j in zip(stations, near.tolist(), strict=True):
            st.serving[plmn] = local[j]
    with db.write() as s:
        for plmn, org in mnos.items():
            topology.import_topology(s, org, _ran_doc(ran, plmn))
        s.flush()
        cpe_sites = []
        for st, x in zip(stations, sites, strict=True):
            cpe_sites.append({"id": x.site_id, "name": x.name, "kind": x.kind, "lat": x.lat, "lon": x.lon,
                              "customers": x.customers, "criticality": x.criticality, "gridBus": site_bus[x.pk],
                              "cpes": [{"id": st.cpe_id, "model": "dual-USIM router",
                                        "usims": [{"plmn": p, "role": "primary" if i == 0 else "alternate",
                                                   "servingCellId": ran[st.serving[p]].cell_id}
                                                  for i, p in enumerate(cfg.plmns)]}]})
        topology.import_topology(s, dso, {"sites": cpe_sites})
        s.flush()
        supply = grid.supply_buses(s, dso)
        refs = {(r.org_id, r.site_id): r.pk for r in topology.ran_sites_of_orgs(s, list(mnos.values()))}
    for r in ran:
        key = supply.get(refs[(mnos[r.plmn], r.site_id)])
        r.bus = int(key.rsplit("/", 1)[1]) if key else None
    db.dispose()
    lines, line_xy = _line_effects(net)
    feeding = {int(b) for b in net.trafo.lv_bus} | {int(b) for b in net.ext_grid.bus}
    open_buses = {int(sw["bus"]) for _, sw in net.switch.iterrows() if not bool(sw["closed"])}
    return World(cfg, grid_name, dso, mnos, tokens, stations, ran, lines, bus_xy, line_xy, template, tmpdir,
                 geo_note, [bus_xy[b] for b in sorted(feeding) if b in bus_xy],
                 [bus_xy[b] for b in sorted(open_buses) if b in bus_xy])


def redeclare(world: World, autonomy_h: list[float], name: str) -> World:
    """The same world after its MNOs declare other battery autonomies (hours, per RAN site): they import their RAN
    sites again, through the product's topology import, into a new template."""
    import dataclasses

    ran = [dataclasses.replace(r, autonomy_h=round(a, 2)) for r, a in zip(world.ran, autonomy_h, strict=True)]
    db = open_copy(world, name)
    try:
        set_clock(ManualClock(world.cfg.start))
        with db.write() as s:
            for plmn, org in world.mno_ids.items():
                topology.import_topology(s, org, _ran_doc(ran, plmn))
    finally:
        db.dispose()
    return dataclasses.replace(world, ran=ran, template=world.tmpdir / f"{name}.db")


def open_copy(world: World, name: str) -> Database:
    """A private copy of the template store for one run (synchronous=OFF: the twin's store is disposable)."""
    path = world.tmpdir / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    shutil.copyfile(world.template, path)
    db = Database(f"sqlite:///{path}", sqlite_synchronous="OFF")
    return db
