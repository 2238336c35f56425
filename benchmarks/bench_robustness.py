"""event_loop_max_block_ms, overload_503_share, overload_p99_ms against a real `gridcell serve` (goal: the loop
never blocked more than 50 ms; past capacity, refusals instead of unbounded latency). One JSON object per line."""

from __future__ import annotations

import json

from gridcell.bench.robustness import run

if __name__ == "__main__":
    for figure in run():
        print(json.dumps(figure))
