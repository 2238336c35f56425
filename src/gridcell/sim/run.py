"""Run the twin: build the scenario once, then per seed the policies (current practice, best practice, gridcell) on
the same faults; seeds run in parallel processes; figures, paired differences and CIs as a dict."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
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


def run_seed(world: World, seed: int) -> dict[str, Outcome]:
    """Every policy through the same faults of one seed (common random numbers)."""
    clock_before = get_clock()
    try:
        truth = faults.draw(world, seed)
        return {p: run_policy(world, seed, p, truth) for p in POLICIES}
    finally:
        set_clock(clock_before)


def _worker_init() -> None:
    from gridcell.wiring import register_handlers

    register_handlers()  # the product's in-transaction handlers, as in the parent


def simulate(cfg: SimConfig, seeds: list[int], *, world: World | None = None,
             progress: Callable[[str], None] | None = None,
             jobs: int | None = None) -> tuple[dict[str, Any], World, dict[str, list[Outcome]]]:
    """jobs: processes for the seeds (default: one per seed, at most one per CPU; 1 runs them here)."""
    t0 = time.perf_counter()
    clock_before = get_clock()  # the twin moves a ManualClock; hand the caller back the clock it had
    world = world or build(cfg, scenario_seed=seeds[0])
    t_build = time.perf_counter() - t0
    outcomes: dict[str, list[Outcome]] = {p: [] for p in POLICIES}
    jobs = min(len(seeds), jobs or os.cpu_count() or 1)

    def done(seed: int, runs: dict[str, Outcome]) -> None:
        for p in POLICIES:
            outcomes[p].append(runs[p])
            if progress:
                o = runs[p]
                progress(f"seed {seed} {p}: {o.wall_s:.1f} s, {o.service_writes} service units of work")

    try:
        if jobs <= 1:
            for seed in seeds:
                done(seed, run_seed(world, seed))
        else:
            ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited store, clock or threads
            with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init) as pool:
                futures = [pool.submit(run_seed, world, seed) for seed in seeds]
                for seed, fut in zip(seeds, futures, strict=True):
                    done(seed, fut.result())
        result: dict[str, Any] = {"wall_s": round(time.perf_counter() - t0, 2), "jobs": jobs}
        for p in POLICIES:
            result[p] = metrics.summarise(world, outcomes[p])
        result["paired"] = metrics.paired(world, outcomes)
        result["calibration"] = metrics.calibration(world, outcomes["current_practice"])
        result["scenario"] = {"grid": world.grid_name, "stations": len(world.stations), "ranSites": len(world.ran),
                              "customers": world.total_customers, "lines": len(world.lines),
                              "years": cfg.years, "build_s": round(t_build, 2),
                              "gridcell_service_units_of_work": sum(o.service_writes for o in outcomes["gridcell"])}
        result["config"] = cfg.as_dict()
        return result, world, outcomes
    finally:
        set_clock(clock_before)  # the caller owns the world (the report reads it) and cleans it up
