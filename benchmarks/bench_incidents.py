"""attribution_p99_ms: incident attribution with 1,000,000 stored events and 100,000 sites (see
gridcell.bench.incidents); prints one JSON object per figure."""

from __future__ import annotations

import json

from gridcell.bench.incidents import run

if __name__ == "__main__":
    for figure in run():
        print(json.dumps(figure))
