"""sim_year_wall_s: one simulated year of the default twin scenario, both policies (goal <= 30 s on 2 cores).
Prints one JSON object per line."""

from __future__ import annotations

import json

from gridcell.bench.sim import run

if __name__ == "__main__":
    for figure in run():
        print(json.dumps(figure))
