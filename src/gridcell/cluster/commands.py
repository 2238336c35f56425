"""CLI: `gridcell bench cluster --json` (the serve flag `--cluster` lives on `gridcell serve`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def bench_cluster(as_json: Annotated[bool, typer.Option("--json")] = False, alarms: int = 20_000,
                  rate: float = 100.0, duration_s: float = 10.0, subscriptions: int = 100,
                  database_url: Annotated[str | None, typer.Option(
                      help="PostgreSQL server to create the run's database on")] = None,
                  nats_url: Annotated[str | None, typer.Option(help="NATS server with JetStream")] = None) -> None:
    """cluster_alarm_ingest_rate (1 and 2 processes), cluster_alarm_to_webhook_p99_ms (see benchmarks/)."""
    from gridcell.bench.cluster import run

    for figure in run(alarms=alarms, rate=rate, duration_s=duration_s, n_subscriptions=subscriptions,
                      database_url=database_url, nats_url=nats_url):
        typer.echo(json.dumps(figure) if as_json else
                   f"{figure['figure']} ({figure['processes']} process(es)): {figure['value']} {figure['unit']}")


def register(groups: dict[str, typer.Typer]) -> None:
    groups["bench"].command("cluster")(bench_cluster)
