"""sim_year_wall_s (goal <= 30 s on 2 cores) and sim_seeds_wall_s (30 seeds, goal <= 10 min on 2 cores) of the
default twin scenario. Prints one JSON object per line as each is measured."""

from __future__ import annotations

import json

from gridcell.bench.sim import run

if __name__ == "__main__":
    for figure in run():
        print(json.dumps(figure), flush=True)
