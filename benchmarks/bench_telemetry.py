"""Probe ingest rate and alarm → CPE command latency; prints one JSON object per figure."""

from __future__ import annotations

import json

from gridcell.bench.telemetry import run

if __name__ == "__main__":
    for figure in run():
        print(json.dumps(figure))
