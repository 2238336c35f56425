"""The DSO grid model: pandapower networks (mv_oberrhein, pandapower JSON, simbench codes), stations as DSO sites,
supply links from RAN sites to the bus that powers them, and the de-energized buses of a fault from
`pandapower.topology` (buses in no connected component with a slack, switches respected)."""

from __future__ import annotations

import json
import logging
import math
import threading
import warnings
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from shapely import STRtree
from shapely.geometry import Point
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gridcell.core.clock import utcnow
from gridcell.core.errors import InvalidInput, NotFound
from gridcell.core.geo import distance_m
from gridcell.outages.models import GridBus, GridModel, SupplyLink
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topology

log = logging.getLogger(__name__)
MAX_SUPPLY_DISTANCE_M = 5_000.0
HOUSEHOLD_KW = 2.0  # average demand per customer used to estimate customers behind an MV/LV station


def _pp() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("pandapower").setLevel(logging.ERROR)
        import pandapower

        return pandapower


def _topology() -> Any:
    _pp()
    import pandapower.topology as top

    return top


def load_network(source: str) -> tuple[str, Any]:
    """(grid name, pandapower net) from a pandapower.networks name, a pandapower JSON file or a simbench code."""
    pp = _pp()
    path = Path(source)
    if path.suffix.lower() == ".json" or path.exists():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = pp.from_json(str(path))
        except Exception as exc:
            raise InvalidInput(f"{source} is not a pandapower JSON network: {exc}") from exc
        return path.stem, net
    if "--" in source:  # simbench codes look like 1-MV-rural--0-sw
        try:
            import simbench
        except ImportError as exc:
            raise InvalidInput("simbench is not installed (pip install simbench)") from exc
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = simbench.get_simbench_net(source)
        except Exception as exc:
            raise InvalidInput(f"unknown simbench code {source}: {exc}") from exc
        return source, net
    import pandapower.networks as pn

    factory = getattr(pn, source, None)
    if not callable(factory) or source.startswith("_"):
        raise InvalidInput(f"'{source}' is neither a pandapower JSON file, a pandapower.networks name nor a "
                           "simbench code")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return source, factory()


def _bus_coords(net: Any) -> dict[int, tuple[float, float]]:
    out: dict[int, tuple[float, float]] = {}
    if "geo" in net.bus.columns:
        for idx, geo in net.bus.geo.items():
            if isinstance(geo, str) and geo:
                coords = json.loads(geo).get("coordinates")
                if isinstance(coords, list) and len(coords) >= 2:
                    out[int(idx)] = (float(coords[0]), float(coords[1]))
    geodata = getattr(net, "bus_geodata", None)
    if geodata is not None and len(geodata):
        for idx, row in geodata.iterrows():
            out.setdefault(int(idx), (float(row["x"]), float(row["y"])))
    return {k: v for k, v in out.items() if -180 <= v[0] <= 180 and -90 <= v[1] <= 90}


def feeders(net: Any) -> dict[int, str]:
    """Bus → feeder: the first line out of the HV/MV substation bus that reaches it (normal switching state)."""
    top = _topology()
    mg = top.create_nxgraph(net, respect_switches=True)
    roots = [int(b) for b in net.trafo.lv_bus.values] if len(net.trafo) else [int(b) for b in net.ext_grid.bus]
    roots_set = set(roots)
    out: dict[int, str] = {}
    for root in roots:
        if root not in mg:
            continue
        for _, nbr, key in sorted(mg.edges(root, keys=True), key=lambda e: str(e)):
            if nbr in roots_set or nbr in out:
                continue
            name = f"{key[0]}:{key[1]}" if isinstance(key, tuple) else str(key)
            queue = deque([nbr])
            out[nbr] = name
            while queue:
                u = queue.popleft()
                for v in mg.neighbors(u):
                    if v not in out and v not in roots_set:
                        out[v] = name
                        queue.append(v)
    return {int(k): v for k, v in out.items()}


def _station_sites(grid: str, net: Any, coords: dict[int, tuple[float, float]]) -> list[dict[str, Any]]:
    """DSO sites: one per bus with load (MV/LV stations, MV customers), one per HV/MV substation bus."""
    sites: dict[int, dict[str, Any]] = {}
    for bus in (int(b) for b in net.trafo.lv_bus.values):
        if bus in coords:
            sites[bus] = {"id": f"{grid}-bus{bus}", "name": f"{grid} HV/MV substation {bus}",
                          "kind": "primary_substation", "customers": 0, "criticality": "critical"}
    for _, load in net.load.iterrows():
        bus = int(load["bus"])
        if bus not in coords or (bus in sites and sites[bus]["kind"] == "primary_substation"):
            continue
        kind = str(load.get("type") or "")
        customers = round(float(load["p_mw"]) * 1000.0 / HOUSEHOLD_KW)
        if bus in sites:
            sites[bus]["customers"] += customers
            continue
        sites[bus] = {"id": f"{grid}-bus{bus}", "name": str(load.get("name") or f"{grid} load {bus}")[:200],
                      "kind": "secondary_substation" if "station" in kind.lower() else "mv_customer",
                      "customers": customers, "criticality": "normal"}
    out = []
    for bus, site in sorted(sites.items()):
        lon, lat = coords[bus]
        out.append({**site, "lat": lat, "lon": lon, "gridBus": f"{grid}/{bus}"})
    return out


def import_grid(session: Session, dso_id: str, source: str, *, mno_ids: list[str] | None = None,
                loaded: tuple[str, Any] | None = None) -> dict[str, Any]:
    """Store the grid, its buses (with feeder) and its stations as DSO sites; link RAN sites of the MNOs.
    `loaded`: what `load_network(source)` returned, when the caller has it already (loading takes seconds)."""
    if tenancy.get_org(session, dso_id).kind != "dso":
        raise InvalidInput(f"{dso_id} is not a DSO")
    name, net = loaded if loaded is not None else load_network(source)
    name = name[:100]
    pp = _pp()
    coords = _bus_coords(net)
    if not coords:
        raise InvalidInput(f"the network {name} has no bus geodata (WGS84 coordinates are needed)")
    now = utcnow()
    grid = session.scalars(select(GridModel).where(GridModel.dso_id == dso_id, GridModel.name == name)).first()
    if grid is None:
        grid = GridModel(dso_id=dso_id, name=name)
        session.add(grid)
    grid.source, grid.net_json, grid.updated_at = source[:300], pp.to_json(net), now
    session.flush()
    session.execute(delete(GridBus).where(GridBus.grid_pk == grid.pk))
    feeder_of = feeders(net)
    station_buses = {int(b) for b in net.load.bus.values} | {int(b) for b in net.trafo.lv_bus.values}
    for idx, row in net.bus.iterrows():
        bus = int(idx)
        if bus not in coords:
            continue
        session.add(GridBus(grid_pk=grid.pk, bus_id=str(bus), name=str(row.get("name") or "")[:200] or None,
                            lon=coords[bus][0], lat=coords[bus][1], vn_kv=float(row["vn_kv"]),
                            feeder=feeder_of.get(bus), station=bus in station_buses))
    sites = _station_sites(name, net, coords)
    result = topology.import_topology(session, dso_id, {"sites": sites})
    session.flush()
    _CACHE.drop(grid.pk)
    mnos = mno_ids if mno_ids is not None else sorted(
        {a.mno_id for a in tenancy.agreements_for(session, dso_id) if a.dso_id == dso_id})
    links = link_ran_sites(session, grid.pk, mnos)
    return {"grid": name, "buses": len(coords), "lines": len(net.line), "switches": len(net.switch),
            "stations": result.sites, "supplyLinks": links}


def link_ran_sites(session: Session, grid_pk: int, mno_ids: list[str]) -> int:
    """Supply links for the MNOs' RAN sites near this grid: the declared gridSupplyPoint when it names a bus
    of the grid ("<grid>/<bus>" or "<bus>"), else the nearest bus within MAX_SUPPLY_DISTANCE_M."""
    grid = session.get(GridModel, grid_pk)
    if grid is None:
        raise NotFound(f"grid {grid_pk} not found")
    buses = list(session.scalars(select(GridBus).where(GridBus.grid_pk == grid_pk).order_by(GridBus.pk)))
    if not buses or not mno_ids:
        return 0
    by_id = {b.bus_id: b for b in buses}
    tree = STRtree([Point(b.lon, b.lat) for b in buses])
    ran = topology.ran_sites_of_orgs(session, mno_ids)
    session.execute(delete(SupplyLink).where(SupplyLink.grid_pk == grid_pk,
                                             SupplyLink.ran_site_pk.in_([r.pk for r in ran] or [-1])))
    n = 0
    if not ran:
        return 0
    nearest = tree.nearest([Point(r.lon, r.lat) for r in ran])
    for r, j in zip(ran, nearest.tolist(), strict=True):
        declared = r.grid_supply_point
        bus: GridBus | None = None
        source = "nearest"
        if declared:
            key = declared.split("/", 1)[1] if declared.startswith(f"{grid.name}/") else declared
            bus = by_id.get(key)
            source = "declared"
        if bus is None:
            bus, source = buses[int(j)], "nearest"
        dist = distance_m(r.lon, r.lat, bus.lon, bus.lat)
        if source == "nearest" and dist > MAX_SUPPLY_DISTANCE_M:
            continue
        session.add(SupplyLink(grid_pk=grid_pk, ran_site_pk=r.pk, bus_id=bus.bus_id, distance_m=dist, source=source))
        n += 1
    session.flush()
    return n


def relink_for_mno(session: Session, mno_id: str) -> int:
    """After an MNO's topology import: refresh its supply links on the grids of the DSOs it has agreements with."""
    dsos = {a.dso_id for a in tenancy.agreements_for(session, mno_id) if a.mno_id == mno_id}
    n = 0
    for grid_pk in session.scalars(select(GridModel.pk).where(GridModel.dso_id.in_(sorted(dsos) or [""]))):
        n += link_ran_sites(session, grid_pk, [mno_id])
    return n


# ---- the grid as a graph ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridInfo:
    pk: int
    dso_id: str
    name: str


class _NetCache:
    """Parsed pandapower nets per grid, keyed by the grid's update time (parsing JSON costs ~0.3 s)."""

    def __init__(self) -> None:
        self._items: dict[int, tuple[datetime, Any]] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, grid_pk: int) -> Any:
        grid = session.get(GridModel, grid_pk)
        if grid is None:
            raise NotFound(f"grid {grid_pk} not found")
        with self._lock:
            hit = self._items.get(grid_pk)
        if hit is not None and hit[0] == grid.updated_at:
            return hit[1]
        pp = _pp()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = pp.from_json_string(grid.net_json)
        with self._lock:
            self._items[grid_pk] = (grid.updated_at, net)
        return net

    def drop(self, grid_pk: int) -> None:
        with self._lock:
            self._items.pop(grid_pk, None)


_CACHE = _NetCache()


def net_of(session: Session, grid_pk: int) -> Any:
    """The grid's pandapower net (parsed once per version; callers copy before changing it)."""
    return _CACHE.get(session, grid_pk)


def grid_version(session: Session, grid_pk: int) -> datetime:
    grid = session.get(GridModel, grid_pk)
    if grid is None:
        raise NotFound(f"grid {grid_pk} not found")
    return grid.updated_at


def switch_ids(session: Session, grid_pk: int) -> set[int]:
    return {int(i) for i in net_of(session, grid_pk).switch.index}


def topology_module() -> Any:
    """pandapower.topology, imported quietly on first use."""
    return _topology()


def grids_of(session: Session, dso_id: str) -> list[GridInfo]:
    return [GridInfo(g.pk, g.dso_id, g.name) for g in
            session.scalars(select(GridModel).where(GridModel.dso_id == dso_id).order_by(GridModel.pk))]


@dataclass(frozen=True)
class GridFault:
    grid: str
    element: str  # line | bus | trafo
    index: int


def parse_supply_id(session: Session, dso_id: str, value: str | None) -> list[GridFault]:
    """`energySupplyId` naming faulted grid elements: "line:12", "bus:45", "trafo:1", optionally prefixed by
    the grid name ("mv_oberrhein/line:12"), several separated by commas. Anything else is an opaque id."""
    if not value:
        return []
    grids = {g.name: g for g in grids_of(session, dso_id)}
    tokens = [t.strip() for t in value.replace(";", ",").split(",") if t.strip()]
    parsed: list[tuple[str | None, str, str]] = []
    for tok in tokens:
        grid_name, _, elem = tok.rpartition("/")
        kind, sep, idx = elem.partition(":")
        if not sep or kind not in ("line", "bus", "trafo"):
            return []  # an opaque energy supply id (e.g. a feeder name in the DSO's own system)
        parsed.append((grid_name or None, kind, idx))
    out: list[GridFault] = []
    errors: list[dict[str, Any]] = []
    for given, kind, idx in parsed:
        grid_name = given or ""
        if given is None:
            if len(grids) != 1:
                errors.append({"loc": "affectedArea/energySupplyId",
                               "msg": "name the grid (<grid>/<element>:<index>): the DSO has "
                                      f"{len(grids)} grid models"})
                continue
            grid_name = next(iter(grids))
        grid = grids.get(grid_name)
        if grid is None or not idx.isdigit():
            errors.append({"loc": "affectedArea/energySupplyId",
                           "msg": f"unknown grid element {grid_name}/{kind}:{idx}"})
            continue
        net = _CACHE.get(session, grid.pk)
        if int(idx) not in getattr(net, kind).index:
            errors.append({"loc": "affectedArea/energySupplyId", "msg": f"the grid {grid_name} has no {kind} {idx}"})
            continue
        out.append(GridFault(grid_name, kind, int(idx)))
    if errors:
        raise InvalidInput("energySupplyId names grid elements that do not exist", errors=errors)
    return out


@dataclass(frozen=True)
class BusInfo:
    key: str  # "<grid>/<bus>"
    lon: float
    lat: float
    feeder: str | None
    station: bool


def bus_infos(session: Session, dso_id: str) -> dict[str, BusInfo]:
    rows = session.execute(select(GridModel.name, GridBus.bus_id, GridBus.lon, GridBus.lat, GridBus.feeder,
                                  GridBus.station).join(GridModel, GridModel.pk == GridBus.grid_pk)
                           .where(GridModel.dso_id == dso_id))
    return {f"{r[0]}/{r[1]}": BusInfo(f"{r[0]}/{r[1]}", r[2], r[3], r[4], bool(r[5])) for r in rows}


def supply_buses(session: Session, dso_id: str, ran_site_pks: list[int] | None = None) -> dict[int, str]:
    """RAN site pk → "<grid>/<bus>" powering it on this DSO's grids."""
    stmt = (select(SupplyLink.ran_site_pk, GridModel.name, SupplyLink.bus_id)
            .join(GridModel, GridModel.pk == SupplyLink.grid_pk).where(GridModel.dso_id == dso_id))
    out: dict[int, str] = {}
    if ran_site_pks is None:
        return {r[0]: f"{r[1]}/{r[2]}" for r in session.execute(stmt)}
    pks = sorted(set(ran_site_pks))
    for i in range(0, len(pks), 500):
        for r in session.execute(stmt.where(SupplyLink.ran_site_pk.in_(pks[i:i + 500]))):
            out[r[0]] = f"{r[1]}/{r[2]}"
    return out


def hex_sites(bounds: tuple[float, float, float, float], isd_m: float) -> list[tuple[float, float]]:
    """Hexagonal layout (ITU-R M.2135: UMa ISD 500 m, RMa 1,732 m) over a lon/lat bounding box."""
    minx, miny, maxx, maxy = bounds
    lat0 = (miny + maxy) / 2
    dlat = isd_m * math.sqrt(3) / 2 / 111_320.0
    dlon = isd_m / (111_320.0 * max(math.cos(math.radians(lat0)), 1e-6))
    out = []
    row = 0
    lat = miny
    while lat <= maxy:
        lon = minx + (dlon / 2 if row % 2 else 0.0)
        while lon <= maxx:
            out.append((lon, lat))
            lon += dlon
        lat += dlat
        row += 1
    return out


def place_ran_sites(session: Session, dso_id: str, grid_name: str, mno_id: str, plmn: str, isd_m: float,
                    autonomy_h: float) -> int:
    """Place an MNO's RAN sites on a hex grid over a DSO grid (no offline tower data exists) and import them."""
    if tenancy.get_org(session, mno_id).kind != "mno":
        raise InvalidInput(f"{mno_id} is not an MNO")
    grid = session.scalars(select(GridModel).where(GridModel.dso_id == dso_id, GridModel.name == grid_name)).first()
    if grid is None:
        raise NotFound(f"grid {grid_name} not found")
    pts = [(b.lon, b.lat) for b in session.scalars(select(GridBus).where(GridBus.grid_pk == grid.pk))]
    bounds = (min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts), max(p[1] for p in pts))
    ran_sites = []
    for i, (lon, lat) in enumerate(hex_sites(bounds, isd_m)):
        sid = f"{grid_name}-{plmn}-R{i}"
        ran_sites.append({"id": sid, "lat": lat, "lon": lon, "autonomyH": autonomy_h,
                          "cells": [{"cellId": f"{sid}-C1", "plmn": plmn, "rangeM": isd_m * 0.8}]})
    topology.import_topology(session, mno_id, {"ranSites": ran_sites})
    session.flush()
    link_ran_sites(session, grid.pk, [mno_id])
    return len(ran_sites)


def grid_lines(session: Session, dso_id: str) -> list[dict[str, Any]]:
    """The DSO's grid lines as drawn on a map: `{"grid", "line", "name", "buses", "coordinates": [[lon, lat], ...],
    "inService"}` (the line's own WGS84 geometry when the model has one, else straight between its buses)."""
    out: list[dict[str, Any]] = []
    for g in grids_of(session, dso_id):
        net = _CACHE.get(session, g.pk)
        coords = _bus_coords(net)
        has_geo = "geo" in net.line.columns
        for idx, row in net.line.iterrows():
            line: list[list[float]] = []
            geo = row.get("geo") if has_geo else None
            if isinstance(geo, str) and geo:
                pts = json.loads(geo).get("coordinates") or []
                line = [[float(p[0]), float(p[1])] for p in pts if isinstance(p, list) and len(p) >= 2]
            if len(line) < 2:
                a, b = coords.get(int(row["from_bus"])), coords.get(int(row["to_bus"]))
                if a is None or b is None:
                    continue
                line = [[a[0], a[1]], [b[0], b[1]]]
            out.append({"grid": g.name, "line": int(idx), "name": str(row.get("name") or "") or None,
                        "buses": [f"{g.name}/{int(row['from_bus'])}", f"{g.name}/{int(row['to_bus'])}"],
                        "coordinates": line, "inService": bool(row.get("in_service", True))})
    return out
