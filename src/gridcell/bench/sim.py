"""The twin's wall time. sim_year_wall_s: one simulated year of the default scenario (mv_oberrhein, two PLMNs),
every policy, the gridcell one through the product's services with virtual time; the baseline runs (no services)
are measured side by side, so the cost of driving the real services shows. sim_seeds_wall_s: the standard Monte
Carlo run (`gridcell demo --headless --seeds 30`: every policy per seed, the ablation on the first seeds) in
parallel processes, one per CPU."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gridcell.sim import faults
from gridcell.sim.config import ABLATION, SimConfig
from gridcell.sim.run import ABLATION_SEEDS, run_policy, simulate
from gridcell.sim.scenario import build


def run(years: float = 1.0, seed: int = 1, seeds: int = 30, jobs: int | None = None,
        result_path: str | None = None) -> Iterator[dict[str, Any]]:
    """One figure at a time, as each is measured (the Monte Carlo run takes minutes); seeds=0 skips it.
    result_path: the Monte Carlo run's figures are written there, as `gridcell demo --headless --json` writes them."""
    t0 = time.perf_counter()
    world = build(SimConfig(years=years), scenario_seed=seed)
    build_s = time.perf_counter() - t0
    try:
        truth = faults.draw(world, seed)
        cp = run_policy(world, seed, "current_practice", truth)
        bp = run_policy(world, seed, "best_practice", truth)
        gc = run_policy(world, seed, "gridcell", truth)
    finally:
        world.cleanup()
    total = time.perf_counter() - t0
    yield {"figure": "sim_year_wall_s", "value": round(total / years, 2), "unit": "s",
           "detail": {"build_s": round(build_s, 2), "gridcell_s": round(gc.wall_s, 2),
                      "current_practice_s": round(cp.wall_s, 2), "best_practice_s": round(bp.wall_s, 2),
                      "service_units_of_work": gc.service_writes, "stations": len(world.stations),
                      "ran_sites": len(world.ran), "years": years, "goal": "<= 30 s per simulated year on 2 cores"}}
    yield {"figure": "sim_service_unit_ms", "value": round(1000 * gc.wall_s / max(gc.service_writes, 1), 2),
           "unit": "ms", "detail": {"comparison": "current_practice run without services",
                                    "current_practice_s": round(cp.wall_s, 3)}}
    if seeds <= 0:
        return
    result, world, _ = simulate(SimConfig(years=years), list(range(seed, seed + seeds)), jobs=jobs)
    world.cleanup()
    if result_path:
        Path(result_path).write_text(json.dumps(result, indent=1))
    yield {"figure": "sim_seeds_wall_s", "value": result["wall_s"], "unit": "s",
           "detail": {"seeds": seeds, "years": years, "jobs": result["jobs"], "cpus": os.cpu_count(),
                      "ablation_seeds": min(seeds, ABLATION_SEEDS),
                      "runs": 3 * seeds + min(seeds, ABLATION_SEEDS) * (len(ABLATION) - 1),
                      "goal": "<= 600 s for 30 seeds of one year on 2 cores"}}
