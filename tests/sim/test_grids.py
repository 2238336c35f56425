"""Any pandapower or SimBench grid: coordinates that cannot be a map of the grid are rescaled (one-line warning) or
refused, RAN sites cover the grid's real extent, unknown names are one-line errors."""

from __future__ import annotations

import json
import math
import statistics
import warnings
from pathlib import Path
from typing import Any

import pytest

from gridcell import cli
from gridcell.outages import grid
from gridcell.sim import scenario
from gridcell.sim.config import SimConfig


def _load(name: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return grid.load_network(name)[1]


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine), independent of the code under test."""
    la1, la2 = math.radians(a[1]), math.radians(b[1])
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin(math.radians(b[0] - a[0]) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _route(net: Any) -> float:
    """The median line's length over the straight distance between its buses."""
    xy = scenario._coords(net)
    return statistics.median(float(r.length_km) / _km(xy[int(r.from_bus)], xy[int(r.to_bus)])
                             for _, r in net.line.iterrows()
                             if _km(xy[int(r.from_bus)], xy[int(r.to_bus)]) > 0 and r.length_km > 0)


def test_real_geodata_is_kept() -> None:
    net = _load("mv_oberrhein")
    before = scenario._coords(net)
    assert scenario.geographic("mv_oberrhein", net) is None
    assert scenario._coords(net) == before
    assert 1.0 <= _route(net) <= 1.2  # its cables follow roads


@pytest.mark.parametrize("name", ["create_cigre_network_mv", "case33bw"])
def test_coordinates_in_other_units_are_placed_and_scaled_to_the_lines(name: str) -> None:
    net = _load(name)
    assert _route(net) < 0.1  # read as degrees, the buses lie hundreds of km apart for a few km of line
    note = scenario.geographic(name, net)
    assert note is not None and "\n" not in note and name in note
    assert _route(net) == pytest.approx(scenario.DETOUR, rel=0.02)
    xy = scenario._coords(net).values()
    centre = (statistics.fmean(x for x, _ in xy), statistics.fmean(y for _, y in xy))
    assert _km(centre, scenario.PLACE) < 1.0  # no longer around 0°N 0°E
    assert scenario.geographic(name, net) is None  # a map now


def test_squeezed_simbench_coordinates_are_spread_around_their_own_place() -> None:
    net = _load("1-MV-rural--0-sw")
    xy0 = list(scenario._coords(net).values())
    centre0 = (statistics.fmean(x for x, _ in xy0), statistics.fmean(y for _, y in xy0))
    span0 = _km((min(x for x, _ in xy0), centre0[1]), (max(x for x, _ in xy0), centre0[1]))
    assert _route(net) > 4.0  # 116 km of line inside a few km
    assert scenario.geographic("1-MV-rural--0-sw", net) is not None
    xy = list(scenario._coords(net).values())
    centre = (statistics.fmean(x for x, _ in xy), statistics.fmean(y for _, y in xy))
    assert _km(centre, centre0) < 0.1
    assert _route(net) == pytest.approx(scenario.DETOUR, rel=0.02)
    assert _km((min(x for x, _ in xy), centre[1]), (max(x for x, _ in xy), centre[1])) > 4 * span0


def test_grids_without_usable_coordinates_are_refused() -> None:
    import pandapower as pp

    net = pp.create_empty_network()
    a, b = pp.create_bus(net, 20.0), pp.create_bus(net, 20.0)
    pp.create_line(net, a, b, 1.0, "NA2XS2Y 1x95 RM/25 12/20 kV")
    with pytest.raises(ValueError, match="no coordinates"):
        scenario.geographic("bare", net)
    net.bus["geo"] = [json.dumps({"type": "Point", "coordinates": [8.0, 48.0]})] * 2
    with pytest.raises(ValueError, match="alike"):
        scenario.geographic("one-point", net)
    net.bus["geo"] = [json.dumps({"type": "Point", "coordinates": c}) for c in ([0.0, 0.0], [1.0, 0.0])]
    net.line["length_km"] = 500.0  # lines this long are no distribution grid
    with pytest.raises(ValueError, match="km across"):
        scenario.geographic("transmission", net)


def test_ran_sites_cover_the_real_extent_on_a_hex_grid() -> None:
    world = scenario.build(SimConfig(grid="create_cigre_network_mv", years=0.001))
    try:
        assert world.geo_note is not None
        xs = [p[0] for p in world.bus_xy.values()]
        ys = [p[1] for p in world.bus_xy.values()]
        assert max(_km((min(xs), ys[0]), (max(xs), ys[0])), _km((xs[0], min(ys)), (xs[0], max(ys)))) < 10.0
        isd_km = SimConfig().isd_m[0] / 1000.0
        for plmn in SimConfig().plmns:
            sites = [(r.lon, r.lat) for r in world.ran if r.plmn == plmn]
            assert sites
            for s in world.stations:  # every station is served by a site of its hex cell, within the cell's reach
                r = world.ran[s.serving[plmn]]
                assert _km((s.lon, s.lat), (r.lon, r.lat)) <= isd_km
            if len(sites) > 1:  # neighbours on the hex grid are one inter-site distance apart
                nearest = [min(_km(a, b) for b in sites if b != a) for a in sites]
                assert min(nearest) == pytest.approx(isd_km, rel=0.05)
    finally:
        world.cleanup()


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    out = capsys.readouterr()
    return int(exit_info.value.code or 0), out.out, out.err


@pytest.mark.parametrize("name", ["no_such_grid", "1-MV-nowhere--0-sw", "__init__", "missing-file.json"])
def test_unknown_grids_are_one_line_errors(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["demo", "--headless", "--grid", name], capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err


def test_a_rescaled_grid_runs_with_one_warning_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    code, _, err = _run(["demo", "--headless", "--grid", "case33bw", "--years", "0.002", "--jobs", "1",
                         "--ablation-seeds", "0", "--json", str(out)], capsys)
    assert code == 0, err
    warned = [ln for ln in err.splitlines() if ln.startswith("warning: ")]
    assert len(warned) == 1 and "case33bw" in warned[0]
    result = json.loads(out.read_text())
    assert result["scenario"]["coordinates"] == warned[0].removeprefix("warning: ")
    assert result["scenario"]["stations"] > 20


def test_bench_sim_prints_the_year_and_the_monte_carlo_wall_times(capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path) -> None:
    code, out, err = _run(["bench", "sim", "--json", "--years", "0.002", "--seeds", "1", "--jobs", "1",
                           "--result", str(tmp_path / "r.json")], capsys)
    assert code == 0, err
    figures = {f["figure"]: f for f in map(json.loads, out.splitlines())}  # one JSON object per line
    assert {"sim_year_wall_s", "sim_seeds_wall_s"} <= set(figures)
    assert figures["sim_seeds_wall_s"]["detail"]["seeds"] == 1 and figures["sim_seeds_wall_s"]["value"] > 0
    assert figures["sim_year_wall_s"]["detail"]["service_units_of_work"] > 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert {"paired", "ablation", "calibration"} <= set(result) and result["wall_s"] == figures["sim_seeds_wall_s"][
        "value"]
