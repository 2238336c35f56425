"""sim_year_wall_s: one simulated year of the default scenario (mv_oberrhein, two PLMNs), every policy, the
gridcell one through the product's services with virtual time; the baseline runs (no services) are measured side
by side, so the cost of driving the real services shows."""

from __future__ import annotations

import time
from typing import Any

from gridcell.sim import faults
from gridcell.sim.config import SimConfig
from gridcell.sim.run import run_policy
from gridcell.sim.scenario import build


def run(years: float = 1.0, seed: int = 1) -> list[dict[str, Any]]:
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
    return [
        {"figure": "sim_year_wall_s", "value": round(total / years, 2), "unit": "s",
         "detail": {"build_s": round(build_s, 2), "gridcell_s": round(gc.wall_s, 2),
                    "current_practice_s": round(cp.wall_s, 2), "best_practice_s": round(bp.wall_s, 2),
                    "service_units_of_work": gc.service_writes,
                    "years": years, "goal": "<= 30 s per simulated year on 2 cores"}},
        {"figure": "sim_service_unit_ms", "value": round(1000 * gc.wall_s / max(gc.service_writes, 1), 2),
         "unit": "ms", "detail": {"comparison": "current_practice run without services",
                                  "current_practice_s": round(cp.wall_s, 3)}},
    ]
