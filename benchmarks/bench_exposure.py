"""Exposure figures: one JSON line per figure on stdout (same as `gridcell bench exposure --json`).

    .venv/bin/python benchmarks/bench_exposure.py [--alarms 20000] [--rate 1000] [--duration-s 10]
                                                  [--subscriptions 100]
"""

from __future__ import annotations

import sys

from gridcell.cli import main

if __name__ == "__main__":  # the CLI command, so options and output cannot drift apart
    sys.argv = ["gridcell", "bench", "exposure", "--json", *sys.argv[1:]]
    main()
