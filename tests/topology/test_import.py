"""Topology import, serving links and the query functions other capabilities call."""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gridcell.tenancy.models
import gridcell.topology.models  # noqa: F401  (registers the tables)
from gridcell import errors_http
from gridcell.core.db import Base, Database
from gridcell.core.errors import Forbidden, InvalidInput, NotFound
from gridcell.core.geo import EARTH_RADIUS_M, distance_m
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topo
from gridcell.topology.api import router
from gridcell.topology.cli import import_topology as cli_import

# One RAN site at (10.0, 50.0). At 50°N a degree of longitude is ~71.5 km, of latitude ~111.2 km.
LON0, LAT0 = 10.0, 50.0
M_PER_DEG_LAT = math.pi * EARTH_RADIUS_M / 180.0


def offset(lon: float, lat: float, distance: float, bearing_deg: float) -> tuple[float, float]:
    """A point `distance` metres from (lon, lat) on the given bearing (local tangent plane)."""
    m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(lat))
    b = math.radians(bearing_deg)
    return lon + distance * math.sin(b) / m_per_deg_lon, lat + distance * math.cos(b) / M_PER_DEG_LAT


def make_db(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    Base.metadata.create_all(db.engine)
    return db


def make_org(db: Database, name: str, kind: str) -> str:
    with db.write() as s:
        return tenancy.create_org(s, name, kind)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = make_db(tmp_path / "topo.db")
    yield database
    database.dispose()


@pytest.fixture
def dso(db: Database) -> str:
    return make_org(db, "Netz Süd", "dso")


def agree(db: Database, dso: str, mno: str, plmns: list[str], level: str = "cell") -> None:
    with db.write() as s:
        tenancy.create_agreement(s, dso, mno, plmns, level)


@pytest.fixture
def mno(db: Database, dso: str) -> str:
    """An MNO whose agreement with `dso` names the PLMNs these tests give their cells."""
    org = make_org(db, "Mobil Eins", "mno")
    agree(db, dso, org, ["26201", "26202", "26203"])
    return org


def imp(db: Database, org: str, doc: Any) -> dict[str, int]:
    with db.write() as s:
        return topo.import_topology(s, org, doc).model_dump(by_alias=True)


def site(sid: str, lon: float, lat: float, usims: list[dict[str, Any]], cpe: str | None = None,
         **extra: Any) -> dict[str, Any]:
    return {"id": sid, "name": f"Site {sid}", "kind": "secondary_substation", "lon": lon, "lat": lat,
            "customers": 100, "criticality": "high", **extra,
            "cpes": [{"id": cpe or f"CPE-{sid}", "model": "RUT955", "usims": usims}]}


def ran_site(sid: str, lon: float, lat: float, cells: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": sid, "name": f"Tower {sid}", "lon": lon, "lat": lat, **extra, "cells": cells}


def links_of(db: Database, org: str, site_id: str) -> dict[str, list[str]]:
    """plmn -> sorted cell ids linked to the site's USIMs of that PLMN."""
    with db.read() as s:
        ref = topo.site_by_id(s, org, site_id)
        pairs = {(ref.pk, p) for p in topo.site_plmns(s, [ref.pk])[ref.pk]}
        out = topo.serving_cells_for_pairs(s, pairs)
    return {plmn: sorted(c.cell_id for c in cells) for (_, plmn), cells in out.items()}


# ---- import shapes ------------------------------------------------------------------------------


def test_json_import_counts_and_links(db: Database, dso: str, mno: str) -> None:
    counts = imp(db, mno, {"ranSites": [ran_site("RS-1", LON0, LAT0, [
        {"cellId": "26201-A", "plmn": "26201", "rat": "NR"},  # disc, 2000 m
        {"cellId": "26201-B", "plmn": "26201", "rat": "LTE", "tac": 7}])]})
    assert counts == {"sites": 0, "cpes": 0, "usims": 0, "ranSites": 1, "cells": 2, "links": 0}

    lon, lat = offset(LON0, LAT0, 500, 45)
    counts = imp(db, dso, {"sites": [site("SS-1", lon, lat, [
        {"plmn": "26201", "role": "primary"}, {"plmn": "26202", "role": "alternate"}])]})
    assert counts == {"sites": 1, "cpes": 1, "usims": 2, "ranSites": 0, "cells": 0, "links": 2}
    assert links_of(db, dso, "SS-1") == {"26201": ["26201-A", "26201-B"], "26202": []}


def test_geojson_import(db: Database, dso: str, mno: str) -> None:
    mno_doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [LON0, LAT0]},
         "properties": {"featureType": "ranSite", "id": "RS-1", "batteryCapacityWh": 4800, "loadW": 3000,
                        "cells": [{"cellId": "C1", "plmn": "26201", "azimuth": 0, "rangeM": 1000}]}}]}
    assert imp(db, mno, mno_doc)["cells"] == 1
    north = offset(LON0, LAT0, 600, 0)
    dso_doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(north)},
         "properties": {"featureType": "site", "id": "SS-G", "name": "G", "kind": "recloser",
                        "cpes": [{"id": "CPE-G", "usims": [{"plmn": "26201", "role": "primary"}]}]}}]}
    counts = imp(db, dso, dso_doc)
    assert (counts["sites"], counts["cpes"], counts["usims"], counts["links"]) == (1, 1, 1, 1)
    with db.read() as s:
        ref = topo.site_by_id(s, dso, "SS-G")
        assert (ref.lon, ref.lat) == pytest.approx(north)
        assert ref.kind == "recloser" and ref.criticality == "normal" and ref.customers == 0
        (cell,) = topo.cells_by_ids(s, mno, ["C1"])
        assert cell.autonomy_h == pytest.approx(4800 * 0.8 / 3000)  # default depth of discharge
    assert links_of(db, dso, "SS-G") == {"26201": ["C1"]}


def test_reimport_upserts(db: Database, dso: str) -> None:
    doc = {"sites": [site("SS-1", LON0, LAT0, [{"plmn": "26201", "role": "primary"}])]}
    imp(db, dso, doc)
    doc["sites"][0]["name"] = "Renamed"
    doc["sites"][0]["cpes"][0]["usims"][0]["role"] = "alternate"
    doc["sites"][0]["cpes"][0]["usims"].append({"plmn": "26202", "role": "primary"})
    counts = imp(db, dso, doc)
    assert (counts["sites"], counts["cpes"], counts["usims"]) == (1, 1, 2)
    with db.read() as s:
        (listed,) = topo.list_sites(s, dso)
    assert listed.name == "Renamed"
    assert [(u.plmn, u.role) for u in listed.cpes[0].usims] == [("26201", "alternate"), ("26202", "primary")]


def test_invalid_items_fail_whole_import_with_paths(db: Database, dso: str) -> None:
    good = site("SS-OK", LON0, LAT0, [{"plmn": "26201", "role": "primary"}])
    bad_plmn = site("SS-2", LON0, LAT0, [{"plmn": "2620", "role": "primary"}])
    no_name = {k: v for k, v in site("SS-3", LON0, 95.0, []).items() if k != "name"}
    dup = site("SS-OK", LON0, LAT0, [{"plmn": "26201", "role": "primary"},
                                     {"plmn": "26201", "role": "alternate"}], cpe="CPE-X")
    nul = site("SS-4", LON0, LAT0, [], gridBus="bus\x00")
    with pytest.raises(InvalidInput) as caught:
        imp(db, dso, {"sites": [good, bad_plmn, no_name, dup, nul], "extra": 1})
    locs = {e["loc"] for e in caught.value.errors}
    assert locs == {"extra", "sites/1/cpes/0/usims/0/plmn", "sites/2/name", "sites/2/lat", "sites/3/id",
                    "sites/3/cpes/0/usims/1/plmn", "sites/4/gridBus"}
    assert all(e["msg"] for e in caught.value.errors)
    with db.read() as s:
        assert topo.sites_of_org(s, dso) == []


def test_geojson_errors_point_at_the_geometry(db: Database, dso: str) -> None:
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [10.0, 91.0]},
         "properties": {"featureType": "site", "id": "A", "name": "A", "kind": "rtu"}},
        {"type": "Feature", "geometry": None,
         "properties": {"featureType": "site", "id": "B", "kind": "rtu"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
         "properties": {"featureType": "tower"}}]}
    with pytest.raises(InvalidInput) as caught:
        imp(db, dso, doc)
    locs = {e["loc"] for e in caught.value.errors}
    assert locs == {"features/0/geometry/coordinates/1", "features/1/geometry", "features/1/properties/name",
                    "features/2/properties/featureType"}


def test_invalid_cell_coverage_and_shape_errors(db: Database, mno: str) -> None:
    doc = {"ranSites": [ran_site("RS", LON0, LAT0, [
        {"cellId": "C1", "plmn": "26201", "coverage": {"type": "Point", "coordinates": [1, 2]}},
        {"cellId": "C1", "plmn": "26201", "rat": "GSM", "azimuth": 400}])]}
    with pytest.raises(InvalidInput) as caught:
        imp(db, mno, doc)
    locs = {e["loc"] for e in caught.value.errors}
    assert locs == {"ranSites/0/cells/0/coverage", "ranSites/0/cells/1/cellId", "ranSites/0/cells/1/rat",
                    "ranSites/0/cells/1/azimuth"}
    for bad in ([], {}, {"sites": {}}, {"type": "Feature"}):
        with pytest.raises(InvalidInput):
            imp(db, mno, bad)


def test_each_side_imports_only_its_own_items(db: Database, dso: str, mno: str) -> None:
    with pytest.raises(Forbidden):
        imp(db, dso, {"ranSites": [ran_site("RS", LON0, LAT0, [])]})
    with pytest.raises(Forbidden):
        imp(db, mno, {"sites": [site("S", LON0, LAT0, [])]})
    geo = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [LON0, LAT0]},
         "properties": {"featureType": "ranSite", "id": "RS", "cells": []}}]}
    with pytest.raises(Forbidden):
        imp(db, dso, geo)


# ---- serving links ------------------------------------------------------------------------------


def test_reported_serving_cell_beats_coverage(db: Database, dso: str, mno: str) -> None:
    far = offset(LON0, LAT0, 20_000, 90)  # a second RAN site 20 km east, far from the DSO site
    imp(db, mno, {"ranSites": [ran_site("RS-NEAR", LON0, LAT0, [{"cellId": "NEAR", "plmn": "26201"}]),
                               ran_site("RS-FAR", *far, [{"cellId": "FAR", "plmn": "26201"}])]})
    imp(db, dso, {"sites": [site("SS", LON0, LAT0, [{"plmn": "26201", "role": "primary",
                                                     "servingCellId": "FAR"}])]})
    assert links_of(db, dso, "SS") == {"26201": ["FAR"]}
    with db.read() as s:
        (out,) = topo.list_sites(s, dso)
    assert out.cpes[0].usims[0].link_source == "reported" and out.cpes[0].usims[0].linked_cells == 1

    # A reported cell that nobody has imported falls back to coverage...
    imp(db, dso, {"sites": [site("SS", LON0, LAT0, [{"plmn": "26201", "role": "primary",
                                                     "servingCellId": "LATER"}])]})
    assert links_of(db, dso, "SS") == {"26201": ["NEAR"]}
    # ...until the MNO imports it: then the existing USIM is relinked to it.
    counts = imp(db, mno, {"ranSites": [ran_site("RS-FAR", *far, [{"cellId": "LATER", "plmn": "26201"}])]})
    assert counts["links"] >= 1
    assert links_of(db, dso, "SS") == {"26201": ["LATER"]}


def test_reported_cell_must_share_the_plmn(db: Database, dso: str, mno: str) -> None:
    imp(db, mno, {"ranSites": [ran_site("RS", LON0, LAT0, [{"cellId": "X", "plmn": "26203"},
                                                          {"cellId": "Y", "plmn": "26201"}])]})
    imp(db, dso, {"sites": [site("SS", LON0, LAT0, [{"plmn": "26201", "role": "primary",
                                                     "servingCellId": "X"}])]})
    assert links_of(db, dso, "SS") == {"26201": ["Y"]}  # X is another PLMN's: coverage decides


def test_sector_geometry_front_linked_back_not(db: Database, dso: str, mno: str) -> None:
    # An east-facing 120° sector of 1000 m: bearings 30°..150° from the mast, up to 1000 m.
    imp(db, mno, {"ranSites": [ran_site("RS", LON0, LAT0, [
        {"cellId": "EAST", "plmn": "26201", "azimuth": 90, "rangeM": 1000}])]})
    front = offset(LON0, LAT0, 500, 90)  # 500 m due east: inside the beam and the range
    edge_in = offset(LON0, LAT0, 500, 140)  # 50° off boresight, inside ±60°
    behind = offset(LON0, LAT0, 500, 270)  # 500 m due west: behind the antenna
    beyond = offset(LON0, LAT0, 1500, 90)  # in the beam but past the range
    side = offset(LON0, LAT0, 500, 0)  # 90° off boresight: outside the beam
    usim = [{"plmn": "26201", "role": "primary"}]
    imp(db, dso, {"sites": [site("FRONT", *front, usim), site("EDGE", *edge_in, usim),
                            site("BEHIND", *behind, usim), site("BEYOND", *beyond, usim),
                            site("SIDE", *side, usim)]})
    assert links_of(db, dso, "FRONT") == {"26201": ["EAST"]}
    assert links_of(db, dso, "EDGE") == {"26201": ["EAST"]}
    for sid in ("BEHIND", "BEYOND", "SIDE"):
        assert links_of(db, dso, sid) == {"26201": []}, sid


def test_mno_reimport_moves_coverage_and_drops_stale_links(db: Database, dso: str, mno: str) -> None:
    usim = [{"plmn": "26201", "role": "primary"}]
    imp(db, dso, {"sites": [site("SS", LON0, LAT0, usim)]})
    imp(db, mno, {"ranSites": [ran_site("RS", LON0, LAT0, [{"cellId": "C", "plmn": "26201"}])]})
    assert links_of(db, dso, "SS") == {"26201": ["C"]}
    moved = offset(LON0, LAT0, 10_000, 180)  # the RAN site (and its disc) moves 10 km south
    imp(db, mno, {"ranSites": [ran_site("RS", *moved, [])]})
    assert links_of(db, dso, "SS") == {"26201": []}
    # A polygon given explicitly wins over the derived disc.
    lon, lat = LON0, LAT0
    square = {"type": "Polygon", "coordinates": [[[lon - 0.01, lat - 0.01], [lon + 0.01, lat - 0.01],
                                                  [lon + 0.01, lat + 0.01], [lon - 0.01, lat + 0.01],
                                                  [lon - 0.01, lat - 0.01]]]}
    cell = {"cellId": "C", "plmn": "26201", "coverage": square}
    imp(db, mno, {"ranSites": [ran_site("RS", *moved, [cell])]})
    assert links_of(db, dso, "SS") == {"26201": ["C"]}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lat0=st.floats(-60, 60), lon0=st.floats(-170, 170), radius=st.floats(100, 20_000),
       bearing=st.floats(0, 360, exclude_max=True), inside=st.booleans(),
       frac_in=st.floats(0, 0.95, exclude_max=True), frac_out=st.floats(1.05, 3, exclude_min=True))
def test_disc_coverage_property(lat0: float, lon0: float, radius: float, bearing: float, inside: bool,
                                frac_in: float, frac_out: float) -> None:
    distance = radius * (frac_in if inside else frac_out)
    lon, lat = offset(lon0, lat0, distance, bearing)
    # The geodesic distance agrees with the tangent-plane offset well within the 5 % margins.
    assert distance_m(lon0, lat0, lon, lat) == pytest.approx(distance, rel=0.01, abs=0.5)
    with tempfile.TemporaryDirectory() as tmp:
        db = make_db(Path(tmp) / "p.db")
        try:
            dso, mno = make_org(db, "D", "dso"), make_org(db, "M", "mno")
            agree(db, dso, mno, ["26201"])
            imp(db, mno, {"ranSites": [ran_site("RS", lon0, lat0, [
                {"cellId": "DISC", "plmn": "26201", "rangeM": radius}])]})
            imp(db, dso, {"sites": [site("SS", lon, lat, [{"plmn": "26201", "role": "primary"}])]})
            assert links_of(db, dso, "SS") == {"26201": ["DISC"] if inside else []}
        finally:
            db.dispose()


# ---- tenancy ------------------------------------------------------------------------------------


def test_cross_org_isolation(db: Database, dso: str, mno: str) -> None:
    dso2, mno2 = make_org(db, "Other DSO", "dso"), make_org(db, "Other MNO", "mno")
    agree(db, dso2, mno2, ["26202"])
    imp(db, mno, {"ranSites": [ran_site("RS", LON0, LAT0, [{"cellId": "SAME", "plmn": "26201"}])]})
    imp(db, mno2, {"ranSites": [ran_site("RS", LON0, LAT0, [{"cellId": "SAME", "plmn": "26202"}])]})
    imp(db, dso, {"sites": [site("SS", LON0, LAT0, [{"plmn": "26201", "role": "primary"}])]})
    imp(db, dso2, {"sites": [site("SS", LON0, LAT0, [{"plmn": "26202", "role": "primary"}])]})
    with db.read() as s:
        assert [x.org_id for x in topo.sites_of_org(s, dso)] == [dso]
        assert topo.site_by_id(s, dso, "SS").pk != topo.site_by_id(s, dso2, "SS").pk
        assert [c.plmn for c in topo.cells_by_ids(s, mno, ["SAME"])] == ["26201"]
        assert [c.plmn for c in topo.cells_by_ids(s, mno2, ["SAME"])] == ["26202"]
        assert topo.list_sites(s, mno) == [] and topo.list_ran_sites(s, dso) == []
        assert [c.plmn for c in topo.list_cells(s, mno2)] == ["26202"]
        with pytest.raises(NotFound):
            topo.get_ran_site(s, mno2, "nope")
        with pytest.raises(NotFound):
            topo.site_by_id(s, mno, "SS")
    # Each DSO's USIM links to its own PLMN's cell only, of the MNO its agreement names for that PLMN.
    assert links_of(db, dso, "SS") == {"26201": ["SAME"]}
    assert links_of(db, dso2, "SS") == {"26202": ["SAME"]}


# ---- query functions ----------------------------------------------------------------------------


def test_cells_for_dn_rules(db: Database, mno: str) -> None:
    mno2 = make_org(db, "Other", "mno")
    with db.write() as s:
        agree_dso = tenancy.create_org(s, "Other DSO", "dso")
    agree(db, agree_dso, mno2, ["26202"])
    me = "SubNetwork=DE,ManagedElement=RS-1"
    imp(db, mno, {"ranSites": [
        ran_site("RS-1", LON0, LAT0, [
            {"cellId": "CELL-1", "plmn": "26201", "dn": f"{me},GNBDUFunction=1,NRCellDU=1"},
            {"cellId": "CELL-2", "plmn": "26201", "dn": f"{me},GNBDUFunction=1,NRCellDU=2"}], dn=me),
        ran_site("RS-2", LON0 + 0.1, LAT0, [{"cellId": "CELL-3", "plmn": "26201"},
                                            {"cellId": "CELL-4", "plmn": "26201"}])]})
    imp(db, mno2, {"ranSites": [ran_site("RS-1", LON0, LAT0, [{"cellId": "CELL-9", "plmn": "26202"}],
                                         dn=me)]})

    def ids(dn: str, org: str = mno) -> list[str]:
        with db.read() as s:
            return sorted(c.cell_id for c in topo.cells_for_dn(s, org, dn))

    assert ids(f"{me},GNBDUFunction=1,NRCellDU=1") == ["CELL-1"]  # equal
    assert ids(f"{me},GNBDUFunction=1,NRCellDU=1,NRSectorCarrier=0") == ["CELL-1"]  # below the cell
    assert ids(f"{me},GNBDUFunction=1,NRCellDU=10") == ["CELL-1", "CELL-2"]  # not a cell: the site
    assert ids(me) == ["CELL-1", "CELL-2"]  # the site itself
    assert ids(f"{me}X") == []  # a prefix that is not at an RDN boundary matches nothing
    assert ids("SubNetwork=X,ManagedElement=Y,NRCellDU=CELL-3") == ["CELL-3"]  # last RDN value = cell id
    assert ids("SubNetwork=X,ManagedElement=RS-2") == ["CELL-3", "CELL-4"]  # last RDN value = site id
    assert ids("CELL-4") == ["CELL-4"]
    assert ids("SubNetwork=X,ManagedElement=unknown") == []
    assert ids(me, mno2) == ["CELL-9"]  # scoped to the MNO


def test_pairs_and_serving_cells(db: Database, dso: str, mno: str) -> None:
    rs_b = offset(LON0, LAT0, 30_000, 0)
    imp(db, mno, {"ranSites": [
        ran_site("RS-A", LON0, LAT0, [{"cellId": "A1", "plmn": "26201"}, {"cellId": "A2", "plmn": "26202"}],
                 batteryCapacityWh=10_000, loadW=2_500, depthOfDischarge=0.5),
        ran_site("RS-B", *rs_b, [{"cellId": "B1", "plmn": "26201"}], autonomyH=3)]})
    near = offset(LON0, LAT0, 300, 200)  # inside RS-A's 2 km discs, 30 km from RS-B
    north = offset(*rs_b, 300, 10)  # inside RS-B's disc only
    imp(db, dso, {"sites": [
        {**site("S1", *near, [{"plmn": "26201", "role": "primary"}, {"plmn": "26202", "role": "alternate"}]),
         "cpes": [{"id": "C1a", "usims": [{"plmn": "26201", "role": "primary"}]},
                  {"id": "C1b", "usims": [{"plmn": "26202", "role": "primary"},
                                          {"plmn": "26201", "role": "alternate", "servingCellId": "B1"}]}]},
        site("S2", *north, [{"plmn": "26201", "role": "primary"}])]})
    with db.read() as s:
        s1, s2 = topo.site_by_id(s, dso, "S1"), topo.site_by_id(s, dso, "S2")
        (a1,) = topo.cells_by_ids(s, mno, ["A1"])
        b1 = topo.cells_by_ids(s, mno, ["B1"])[0]
        assert a1.autonomy_h == pytest.approx(10_000 * 0.5 / 2_500) and b1.autonomy_h == 3
        assert topo.pairs_for_cells(s, [a1.pk]) == {(s1.pk, "26201")}
        assert topo.pairs_for_cells(s, [b1.pk]) == {(s1.pk, "26201"), (s2.pk, "26201")}
        served = topo.serving_cells_for_pairs(s, {(s1.pk, "26201"), (s1.pk, "26202"), (s2.pk, "26202")})
        assert {k: sorted(c.cell_id for c in v) for k, v in served.items()} == {
            (s1.pk, "26201"): ["A1", "B1"], (s1.pk, "26202"): ["A2"], (s2.pk, "26202"): []}
        assert topo.site_plmns(s, [s1.pk, s2.pk]) == {s1.pk: {"26201", "26202"}, s2.pk: {"26201"}}
        assert topo.all_site_pairs(s, dso) == {(s1.pk, "26201"), (s1.pk, "26202"), (s2.pk, "26201")}
        assert set(topo.site_refs(s, [s1.pk, s2.pk, 999_999])) == {s1.pk, s2.pk}
        refs = topo.cell_refs(s, [a1.pk, b1.pk])
        assert refs[a1.pk].ran_site_id == "RS-A" and refs[b1.pk].ran_site_id == "RS-B"
        assert [c.cell_id for c in topo.ran_site_cells(s, [a1.ran_site_pk])] == ["A1", "A2"]


def test_queries_chunk_past_500(db: Database, dso: str, mno: str) -> None:
    cells = [{"cellId": f"C{i}", "plmn": "26201", "azimuth": (i * 7) % 360, "rangeM": 800}
             for i in range(600)]
    imp(db, mno, {"ranSites": [ran_site("RS", LON0, LAT0, cells)]})
    sites = [site(f"S{i}", *offset(LON0, LAT0, 100 + i, i % 360), [{"plmn": "26201", "role": "primary"}])
             for i in range(550)]
    imp(db, dso, {"sites": sites})
    with db.read() as s:
        refs = topo.cells_by_ids(s, mno, [c["cellId"] for c in cells])
        assert len(refs) == 600
        assert len(topo.cell_refs(s, [c.pk for c in refs])) == 600
        pairs = topo.pairs_for_cells(s, [c.pk for c in refs])
        assert len(pairs) == 550
        served = topo.serving_cells_for_pairs(s, pairs)
        assert all(served[p] for p in pairs)
        assert len(topo.site_refs(s, [p[0] for p in pairs])) == 550


# ---- API and CLI --------------------------------------------------------------------------------


def test_api_routes(db: Database, dso: str, mno: str) -> None:
    app = FastAPI()
    errors_http.install(app)
    app.include_router(router, prefix="/api/v1")
    app.state.db = db
    with db.write() as s:
        _, dso_op = tenancy.create_client(s, dso, "operator")
        _, dso_viewer = tenancy.create_client(s, dso, "viewer")
        _, mno_admin = tenancy.create_client(s, mno, "admin")
    client = TestClient(app)

    def h(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    r = client.post("/api/v1/topology/import", headers=h(mno_admin),
                    json={"ranSites": [ran_site("RS", LON0, LAT0, [{"cellId": "C", "plmn": "26201"}])]})
    assert r.status_code == 200, r.text
    assert r.json() == {"sites": 0, "cpes": 0, "usims": 0, "ranSites": 1, "cells": 1, "links": 0}
    doc = {"sites": [site("SS", LON0, LAT0, [{"plmn": "26201", "role": "primary"}], gridBus="bus-1")]}
    assert client.post("/api/v1/topology/import", headers=h(dso_viewer), json=doc).status_code == 403
    r = client.post("/api/v1/topology/import", headers=h(dso_op), json=doc)
    assert r.status_code == 200 and r.json()["links"] == 1
    r = client.post("/api/v1/topology/import", headers=h(dso_op), json={"sites": [{"id": "x"}]})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    assert {"sites/0/name", "sites/0/kind"} <= {e["loc"] for e in r.json()["errors"]}
    assert client.post("/api/v1/topology/import", headers=h(dso_op), json=doc | {"ranSites": [
        ran_site("X", 0, 0, [])]}).status_code == 403
    assert client.get("/api/v1/sites").status_code == 401

    r = client.get("/api/v1/sites", headers=h(dso_viewer))
    assert r.status_code == 200
    (body,) = r.json()
    assert body["id"] == "SS" and body["gridBus"] == "bus-1"
    assert body["cpes"][0]["usims"][0] == {"plmn": "26201", "role": "primary", "iccid": None,
                                           "servingCellId": None, "linkSource": "coverage", "linkedCells": 1}
    assert client.get("/api/v1/sites/SS", headers=h(dso_viewer)).json()["name"] == "Site SS"
    assert client.get("/api/v1/sites/SS", headers=h(mno_admin)).status_code == 404
    assert client.get("/api/v1/sites", headers=h(mno_admin)).json() == []
    assert client.get("/api/v1/ran-sites", headers=h(dso_viewer)).json() == []
    r = client.get("/api/v1/ran-sites/RS", headers=h(mno_admin))
    assert r.status_code == 200 and r.json()["cells"][0]["cellId"] == "C"
    assert r.json()["depthOfDischarge"] == 0.8
    assert client.get("/api/v1/ran-sites/RS", headers=h(dso_viewer)).status_code == 404
    assert [c["cellId"] for c in client.get("/api/v1/cells", headers=h(mno_admin)).json()] == ["C"]
    assert client.get("/api/v1/cells?plmn=26202", headers=h(mno_admin)).json() == []
    assert client.get("/api/v1/cells?plmn=abc", headers=h(mno_admin)).status_code == 400
    assert client.get("/api/v1/sites?limit=0", headers=h(dso_viewer)).status_code == 400
    schema = app.openapi()
    assert "Problem" in schema["components"]["schemas"]
    assert "/api/v1/topology/import" in schema["paths"]


def test_cli_import(db: Database, dso: str, tmp_path: Path) -> None:
    path = tmp_path / "sites.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [LON0, LAT0]},
         "properties": {"featureType": "site", "id": "SS", "name": "S", "kind": "rtu"}}]}))
    assert cli_import(db, dso, str(path)) == {"sites": 1, "cpes": 0, "usims": 0, "ranSites": 0, "cells": 0,
                                              "links": 0}
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(InvalidInput):
        cli_import(db, dso, str(tmp_path / "broken.json"))
    with pytest.raises(InvalidInput):
        cli_import(db, dso, str(tmp_path / "missing.json"))
