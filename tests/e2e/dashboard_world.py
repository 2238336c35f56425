"""A small, realistic world for the dashboard's browser tests, seeded through the services into a SQLite file.

One DSO ("Ortenau Netz") runs a 20 kV grid (a pandapower network built here: an HV/MV substation and three
feeders) whose MV/LV stations are its sites, each with a dual-SIM CPE; Telco A (PLMN 26201, cell-level
agreement) and Telco B (PLMN 26202, area-level) serve them from RAN sites powered by the grid. A second DSO
("Kraichgau Energie", 40 km away) shares Telco A; the tests check neither DSO ever sees the other's sites.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridcell.core.db import Database
from gridcell.migrations import upgrade
from gridcell.outages import grid
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topology
from gridcell.web import auth
from gridcell.wiring import register_handlers

GRID = "ortenau"
PLMN_A, PLMN_B = "26201", "26202"
HV = (7.850, 48.000)
# feeder → stations (lon, lat, name)
FEEDERS = {
    "east": [(7.862, 48.002, "Lindenweg"), (7.874, 48.004, "Mühlbach"), (7.886, 48.003, "Am Sägewerk"),
             (7.898, 48.006, "Oberdorf"), (7.910, 48.004, "Kapellenberg")],
    "north": [(7.848, 48.010, "Schulstraße"), (7.845, 48.020, "Rebhalde"), (7.842, 48.030, "Waldsiedlung"),
              (7.838, 48.040, "Hochfeld")],
    "southwest": [(7.838, 47.994, "Gewerbepark"), (7.826, 47.988, "Kläranlage"), (7.814, 47.983, "Bahnhof Süd"),
                  (7.802, 47.979, "Wasserwerk")],
}
RAN_A = {"RA-1": (7.880, 47.998, 9600), "RA-2": (7.836, 48.026, 3750), "RA-3": (7.818, 47.990, 7200)}
RAN_B = {"RB-1": (7.868, 48.010, 7200), "RB-2": (7.852, 48.034, 5625), "RB-3": (7.822, 47.978, 9600)}
RAN_A_FAR = {"RA-9": (8.300, 48.300, 9600)}  # serves only the other DSO
LOAD_W = 3000.0


@dataclass
class Seeded:
    dso: str
    dso2: str
    mno_a: str
    mno_b: str
    tokens: dict[str, str] = field(default_factory=dict)
    passwords: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # who → (org, user, password)
    sites: dict[str, str] = field(default_factory=dict)  # station name → site id
    feeder_line: dict[str, int] = field(default_factory=dict)  # feeder → its first line index
    dso2_sites: list[str] = field(default_factory=list)


def _net(path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Write the pandapower network; returns (station name → bus, feeder → first line)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pandapower as pp

        net = pp.create_empty_network(name=GRID)
        hv = pp.create_bus(net, vn_kv=110.0, name="HV", geodata=HV)
        mv = pp.create_bus(net, vn_kv=20.0, name="Umspannwerk Ortenau", geodata=(HV[0] + 0.0004, HV[1]))
        pp.create_ext_grid(net, hv)
        pp.create_transformer(net, hv, mv, std_type="25 MVA 110/20 kV")
        buses: dict[str, int] = {}
        first: dict[str, int] = {}
        for feeder, stations in FEEDERS.items():
            prev, prev_xy = mv, HV
            for i, (lon, lat, name) in enumerate(stations):
                b = pp.create_bus(net, vn_kv=20.0, name=name, geodata=(lon, lat))
                length = max(0.2, math.dist((lon, lat), prev_xy) * 90)  # km, roughly, at 48° N
                line = pp.create_line(net, prev, b, length_km=length, std_type="NA2XS2Y 1x185 RM/25 12/20 kV",
                                      name=f"{feeder} {i + 1}")
                if i == 0:
                    first[feeder] = int(line)
                if i in (0, 2):  # a sectionalising switch at the feeder's head and one along it
                    pp.create_switch(net, prev, line, et="l", closed=True, name=f"{feeder} S{i + 1}")
                pp.create_load(net, b, p_mw=0.25 + 0.05 * (len(name) % 7), name=f"Station {name}",
                               type="MV/LV station")
                buses[name] = int(b)
                prev, prev_xy = b, (lon, lat)
        pp.to_json(net, str(path))
    return buses, first


def _nearest(lon: float, lat: float, sites: dict[str, tuple[float, float, float]]) -> str:
    return min(sites, key=lambda k: math.dist((lon, lat), sites[k][:2]))


def _ran_doc(plmn: str, ran: dict[str, tuple[float, float, float]]) -> dict[str, Any]:
    return {"ranSites": [{
        "id": rid, "name": f"Mast {rid}", "lat": lat, "lon": lon, "dn": f"SubNetwork=1,ManagedElement={rid}",
        "batteryCapacityWh": wh, "loadW": LOAD_W, "depthOfDischarge": 0.8,
        "cells": [{"cellId": f"{plmn}-{rid}-{k}", "plmn": plmn, "azimuth": 120.0 * k, "rangeM": 6000, "tac": 100,
                   "dn": f"SubNetwork=1,ManagedElement={rid},GNBDUFunction=1,NRCellDU={k}"} for k in range(3)]}
        for rid, (lon, lat, wh) in ran.items()]}


def _usims(lon: float, lat: float, ran_a: dict[str, Any], ran_b: dict[str, Any] | None) -> list[dict[str, Any]]:
    a = _nearest(lon, lat, ran_a)
    usims = [{"plmn": PLMN_A, "role": "primary", "servingCellId": f"{PLMN_A}-{a}-0"}]
    if ran_b is not None:
        b = _nearest(lon, lat, ran_b)
        usims.append({"plmn": PLMN_B, "role": "alternate", "servingCellId": f"{PLMN_B}-{b}-0"})
    return usims


def seed(url: str, workdir: Path) -> Seeded:
    db = Database(url, sqlite_synchronous="NORMAL")
    upgrade(db)
    register_handlers()
    net_path = workdir / f"{GRID}.json"
    buses, first = _net(net_path)
    with db.write() as s:
        dso = tenancy.create_org(s, "Ortenau Netz", "dso")
        dso2 = tenancy.create_org(s, "Kraichgau Energie", "dso")
        mno_a = tenancy.create_org(s, "Telco A", "mno")
        mno_b = tenancy.create_org(s, "Telco B", "mno")
        s.flush()
        tenancy.create_agreement(s, dso, mno_a, [PLMN_A], "cell")
        tenancy.create_agreement(s, dso, mno_b, [PLMN_B], "area")
        tenancy.create_agreement(s, dso2, mno_a, [PLMN_A], "cell")
        out = Seeded(dso, dso2, mno_a, mno_b, feeder_line=first)
        for key, org in (("dso", dso), ("dso2", dso2), ("mno_a", mno_a), ("mno_b", mno_b)):
            out.tokens[key] = tenancy.create_client(s, org, "operator", "e2e")[1]
        for key, org in (("dso_admin", dso), ("mno_a_admin", mno_a)):
            out.tokens[key] = tenancy.create_client(s, org, "admin", "e2e admin")[1]
        for key, org, user in (("dso", dso, "anna.leitstelle"), ("mno_a", mno_a, "sam.servicedesk")):
            password = f"{user}-correct horse battery"
            auth.create_user(s, org, user, password, "operator")
            out.passwords[key] = (org, user, password)
    with db.write() as s:
        topology.import_topology(s, mno_a, _ran_doc(PLMN_A, {**RAN_A, **RAN_A_FAR}))
        topology.import_topology(s, mno_b, _ran_doc(PLMN_B, RAN_B))
    with db.write() as s:
        grid.import_grid(s, dso, str(net_path), mno_ids=[mno_a, mno_b])
    sites = []
    for stations in FEEDERS.values():
        for lon, lat, name in stations:
            sid = f"{GRID}-bus{buses[name]}"
            out.sites[name] = sid
            sites.append({"id": sid, "name": f"Station {name}", "kind": "secondary_substation", "lat": lat,
                          "lon": lon, "customers": 120 + 17 * len(name), "criticality": "high" if len(name) > 9
                          else "normal", "gridBus": f"{GRID}/{buses[name]}",
                          "cpes": [{"id": f"CPE-{buses[name]}", "model": "dual-SIM router",
                                    "usims": _usims(lon, lat, RAN_A, RAN_B)}]})
    far = [{"id": f"KR-{i}", "name": f"Kraichgau substation {i}", "kind": "secondary_substation",
            "lat": 48.300 + 0.004 * i, "lon": 8.302 + 0.004 * i, "customers": 300,
            "cpes": [{"id": f"KR-CPE-{i}", "usims": _usims(8.3, 48.3, RAN_A_FAR, None)}]} for i in range(3)]
    out.dso2_sites = [f["id"] for f in far]
    with db.write() as s:
        topology.import_topology(s, dso, {"sites": sites})
        topology.import_topology(s, dso2, {"sites": far})
    db.dispose()
    return out
