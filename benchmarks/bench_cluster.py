"""Cluster figures: one JSON line per figure on stdout (same as `gridcell bench cluster --json`).

Needs PostgreSQL and NATS JetStream (default 127.0.0.1; GRIDCELL_BENCH_POSTGRES_URL, GRIDCELL_BENCH_NATS_URL).

    .venv/bin/python benchmarks/bench_cluster.py [--alarms 20000] [--rate 100] [--duration-s 10]
                                                 [--subscriptions 100]
"""

from __future__ import annotations

import argparse
import json
import sys

from gridcell.bench.cluster import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alarms", type=int, default=20_000, help="alarms per cluster_alarm_ingest_rate run")
    parser.add_argument("--rate", type=float, default=100.0, help="alarms/s offered in the latency phase")
    parser.add_argument("--duration-s", type=float, default=10.0, help="length of each latency phase")
    parser.add_argument("--subscriptions", type=int, default=100, help="webhook subscriptions (2 per DSO)")
    args = parser.parse_args(argv)
    for figure in run(alarms=args.alarms, rate=args.rate, duration_s=args.duration_s,
                      n_subscriptions=args.subscriptions):
        print(json.dumps(figure), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
