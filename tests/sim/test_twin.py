"""The digital twin on a short horizon of the default grid: deterministic, current practice as described by the
seed, the gridcell policy through the product's services, and outage coordination that matters in a storm."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from gridcell.sim import faults, metrics
from gridcell.sim.config import SimConfig
from gridcell.sim.run import run_policy, simulate
from gridcell.sim.scenario import World, build

SHORT = 0.02  # about a week


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    w = build(SimConfig(years=SHORT))
    yield w
    w.cleanup()


def _strip(result: dict[str, object]) -> dict[str, object]:
    out = {k: v for k, v in result.items() if k != "wall_s"}
    out["scenario"] = {k: v for k, v in result["scenario"].items() if k != "build_s"}  # type: ignore[attr-defined]
    return out


def test_scenario_follows_the_grid(world: World) -> None:
    assert len(world.stations) >= 140  # mv_oberrhein: 141 MV/LV stations (+ MV customers)
    assert {r.plmn for r in world.ran} == {"26201", "26202"}
    assert all(r.bus is not None and 0.5 <= r.autonomy_h <= 4.0 for r in world.ran)
    assert all(set(s.serving) == {"26201", "26202"} for s in world.stations)
    assert world.total_customers > 10_000


def test_same_seed_same_results(world: World) -> None:
    a, _, _ = simulate(world.cfg, [3], world=world)
    b, _, _ = simulate(world.cfg, [3], world=world)
    assert _strip(a) == _strip(b)
    for policy in ("current_practice", "gridcell"):
        for key in metrics.KEYS:
            assert key in a[policy]
    c, _, _ = simulate(world.cfg, [4], world=world)
    assert _strip(c)["current_practice"] != _strip(a)["current_practice"]


def test_current_practice_failover_takes_at_least_the_reregistration(world: World) -> None:
    o = run_policy(world, 5, "current_practice")
    assert o.interruptions, "a week of the default scenario has failovers"
    assert min(d for _, d, _, _ in o.interruptions) >= world.cfg.reregister_s
    assert o.service_writes == 0  # current practice uses no gridcell service


def test_gridcell_goes_through_the_services_and_fails_over_faster(world: World) -> None:
    truth = faults.draw(world, 6)
    cp = metrics.figures(world, run_policy(world, 6, "current_practice", truth))
    o = run_policy(world, 6, "gridcell", truth)
    gc = metrics.figures(world, o)
    assert o.service_writes > 0
    assert gc["failover_interruption_s_p50"] < cp["failover_interruption_s_p50"]
    assert gc["attribution_time_s_median"] < cp["attribution_time_s_median"]
    assert gc["attribution_correct_pct"] is None or gc["attribution_correct_pct"] >= 80


def test_storm_outage_coordination_changes_saidi(world: World) -> None:
    cfg = world.cfg.with_(storm_extra=True, storms_per_year=0.0, storm_faults=(14, 16), storm_spread_h=0.5,
                          crews=1, line_fault_rate_per_km=0.0, years=0.03)
    storm_world = dataclasses.replace(world, cfg=cfg)
    truth = faults.draw(storm_world, 2)
    assert sum(f.storm for f in truth.grid_faults) >= 14
    coordinated = metrics.figures(storm_world, run_policy(storm_world, 2, "gridcell", truth))
    plain_world = dataclasses.replace(world, cfg=cfg.with_(coordination=False))
    plain = metrics.figures(plain_world, run_policy(plain_world, 2, "gridcell", truth))
    assert coordinated["saidi_min"] != plain["saidi_min"]
    assert coordinated["saidi_min"] > 0 and plain["saidi_min"] > 0
