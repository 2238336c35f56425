"""outage_plan_p99_ms: one outage polygon over 10,000 RAN sites and 100,000 DSO sites (goal <= 100 ms),
with the naive loop measured side by side. Prints one JSON object per line."""

from __future__ import annotations

import json

from gridcell.bench.outages import run

if __name__ == "__main__":
    for figure in run():
        print(json.dumps(figure))
