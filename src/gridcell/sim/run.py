"""Run the twin: build the scenario once, then per seed the policies (current practice, best practice, gridcell) on
the same faults; figures and CIs as a dict."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gridcell.core.clock import get_clock, set_clock
from gridcell.sim import faults, metrics
from gridcell.sim.config import POLICIES, SimConfig
from gridcell.sim.engine import Engine, Outcome
from gridcell.sim.scenario import World, build, open_copy
from gridcell.sim.twin import Twin


def run_policy(world: World, seed: int, policy: str, truth: faults.Truth | None = None) -> Outcome:
    t = time.perf_counter()
    truth = truth or faults.draw(world, seed)
    if policy == "gridcell":
        db = open_copy(world, f"run-{seed}")
        try:
            out = Engine(world, truth, seed, policy, Twin(world, db)).run()
        finally:
            db.dispose()
    else:  # the baselines use no gridcell service
        out = Engine(world, truth, seed, policy).run()
    out.wall_s = time.perf_counter() - t
    return out


def simulate(cfg: SimConfig, seeds: list[int], *, world: World | None = None,
             progress: Callable[[str], None] | None = None) -> tuple[dict[str, Any], World, dict[str, list[Outcome]]]:
    t0 = time.perf_counter()
    clock_before = get_clock()  # the twin moves a ManualClock; hand the caller back the clock it had
    world = world or build(cfg, scenario_seed=seeds[0])
    t_build = time.perf_counter() - t0
    outcomes: dict[str, list[Outcome]] = {p: [] for p in POLICIES}
    try:
        for seed in seeds:
            truth = faults.draw(world, seed)
            for p in POLICIES:
                outcomes[p].append(run_policy(world, seed, p, truth))
                if progress:
                    o = outcomes[p][-1]
                    progress(f"seed {seed} {p}: {o.wall_s:.1f} s, {o.service_writes} service units of work")
        result: dict[str, Any] = {"wall_s": round(time.perf_counter() - t0, 2)}
        for p in POLICIES:
            result[p] = metrics.summarise(world, outcomes[p])
        result["scenario"] = {"grid": world.grid_name, "stations": len(world.stations), "ranSites": len(world.ran),
                              "customers": world.total_customers, "lines": len(world.lines),
                              "years": cfg.years, "build_s": round(t_build, 2),
                              "gridcell_service_units_of_work": sum(o.service_writes for o in outcomes["gridcell"])}
        result["config"] = cfg.as_dict()
        return result, world, outcomes
    finally:
        set_clock(clock_before)  # the caller owns the world (the report reads it) and cleans it up
