"""Cluster figures: one JSON line per figure on stdout (same as `gridcell bench cluster --json`).

Needs PostgreSQL and NATS JetStream (default 127.0.0.1; GRIDCELL_BENCH_POSTGRES_URL, GRIDCELL_BENCH_NATS_URL).

    .venv/bin/python benchmarks/bench_cluster.py [--alarms 20000] [--rate 100] [--duration-s 10]
                                                 [--subscriptions 100]
"""

from __future__ import annotations

import sys

from gridcell.cli import main

if __name__ == "__main__":  # the CLI command, so options and output cannot drift apart
    sys.argv = ["gridcell", "bench", "cluster", "--json", *sys.argv[1:]]
    main()
