"""Run the twin: build the scenario once, then per seed the policies (current practice, best practice, gridcell) on
the same faults; seeds run in parallel processes; figures, paired differences and CIs as a dict."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from gridcell.core.clock import get_clock, set_clock
from gridcell.sim import faults, metrics
from gridcell.sim.config import ABLATION, POLICIES, SimConfig
from gridcell.sim.engine import Engine, Outcome
from gridcell.sim.scenario import World, build, open_copy
from gridcell.sim.twin import Twin


def run_policy(world: World, seed: int, policy: str, truth: faults.Truth | None = None, tag: str = "") -> Outcome:
    t = time.perf_counter()
    truth = truth or faults.draw(world, seed)
    if policy == "gridcell":
        db = open_copy(world, f"run-{seed}{tag}")
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


def run_ablation(world: World, seed: int, step: int) -> Outcome:
    """gridcell with only the capabilities of ablation step `step` (config.ABLATION), on the seed's faults and
    hardware; the last, full step is the gridcell run itself."""
    clock_before = get_clock()
    try:
        caps = ABLATION[step][1]
        return run_policy(dataclasses.replace(world, cfg=world.cfg.with_(gridcell_capabilities=caps)), seed,
                          "gridcell", faults.draw(world, seed), f"-ablation{step}")
    finally:
        set_clock(clock_before)


ABLATION_SEEDS = 10  # seeds that run the ablation by default (the first ones)


def _worker_init() -> None:
    from gridcell.wiring import register_handlers

    register_handlers()  # the product's in-transaction handlers, as in the parent


def simulate(cfg: SimConfig, seeds: list[int], *, world: World | None = None,
             progress: Callable[[str], None] | None = None, jobs: int | None = None,
             ablation_seeds: int | None = None) -> tuple[dict[str, Any], World, dict[str, list[Outcome]]]:
    """jobs: processes for the seeds (default: one per seed, at most one per CPU; 1 runs them here).
    ablation_seeds: the first this many seeds also run the ablation (default ABLATION_SEEDS; 0: none): its steps
    cost about three gridcell runs per seed, so by default not all of a 30-seed run's seeds run them."""
    t0 = time.perf_counter()
    clock_before = get_clock()  # the twin moves a ManualClock; hand the caller back the clock it had
    world = world or build(cfg, scenario_seed=seeds[0])
    t_build = time.perf_counter() - t0
    outcomes: dict[str, list[Outcome]] = {p: [] for p in POLICIES}
    ab_seeds = seeds[:ABLATION_SEEDS if ablation_seeds is None else max(0, ablation_seeds)]
    # the last step is the full product: the gridcell run itself, unless gridcell runs with fewer capabilities
    reuse = set(cfg.gridcell_capabilities) == set(ABLATION[-1][1])
    n_steps = len(ABLATION) - 1 if reuse else len(ABLATION)
    ab_runs = [(seed, step) for seed in ab_seeds for step in range(n_steps)]
    jobs = min(len(seeds) + len(ab_runs), jobs or os.cpu_count() or 1)
    ablation: dict[int, dict[int, Outcome]] = {seed: {} for seed in ab_seeds}
    total = len(seeds) + len(ab_runs)
    finished = 0

    def tell(seed: int, what: str, runs: list[Outcome]) -> None:
        nonlocal finished
        finished += 1
        if progress:
            took = ", ".join(f"{o.policy} {o.wall_s:.1f} s" for o in runs)
            progress(f"[{finished}/{total}] seed {seed} {what}: {took} ({time.perf_counter() - t0:.0f} s so far)")

    def done(seed: int, runs: dict[str, Outcome]) -> None:
        for p in POLICIES:
            outcomes[p].append(runs[p])
        tell(seed, "policies", [runs[p] for p in POLICIES])

    def done_ablation(seed: int, step: int, run: Outcome) -> None:
        ablation[seed][step] = run
        tell(seed, f"ablation '{ABLATION[step][0]}'", [run])

    try:
        if jobs <= 1:
            for seed in seeds:
                done(seed, run_seed(world, seed))
            for seed, step in ab_runs:
                done_ablation(seed, step, run_ablation(world, seed, step))
        else:
            ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited store, clock or threads
            with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init) as pool:
                futures = [pool.submit(run_seed, world, seed) for seed in seeds]
                ab_futures = [pool.submit(run_ablation, world, seed, step) for seed, step in ab_runs]
                for seed, fut in zip(seeds, futures, strict=True):
                    done(seed, fut.result())
                for (seed, step), ab in zip(ab_runs, ab_futures, strict=True):
                    done_ablation(seed, step, ab.result())
        result: dict[str, Any] = {"wall_s": round(time.perf_counter() - t0, 2), "jobs": jobs}
        for p in POLICIES:
            result[p] = metrics.summarise(world, outcomes[p])
        result["paired"] = metrics.paired(world, outcomes)
        if ab_seeds:
            best = dict(zip(seeds, outcomes["best_practice"], strict=True))
            full = dict(zip(seeds, outcomes["gridcell"], strict=True))
            steps = [[ablation[s][n] for n in range(n_steps)] + ([full[s]] if reuse else []) for s in ab_seeds]
            result["ablation"] = metrics.ablation(world, [best[s] for s in ab_seeds], steps)
        result["calibration"] = metrics.calibration(world, outcomes["current_practice"])
        result["scenario"] = {"grid": world.grid_name, "stations": len(world.stations), "ranSites": len(world.ran),
                              "customers": world.total_customers, "lines": len(world.lines),
                              "years": cfg.years, "build_s": round(t_build, 2), "coordinates": world.geo_note,
                              "gridcell_service_units_of_work": sum(o.service_writes for o in outcomes["gridcell"])}
        result["config"] = cfg.as_dict()
        return result, world, outcomes
    finally:
        set_clock(clock_before)  # the caller owns the world (the report reads it) and cleans it up
