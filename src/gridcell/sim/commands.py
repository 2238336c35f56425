"""CLI: `gridcell bench sim --json` (sim_year_wall_s, sim_seeds_wall_s). `gridcell demo` lives in gridcell.cli."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def bench_sim(as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
              years: Annotated[float, typer.Option(help="simulated years per run", min=0.001, max=10)] = 1.0,
              seed: Annotated[int, typer.Option(help="first random seed", min=0)] = 1,
              seeds: Annotated[int, typer.Option(help="seeds of the Monte Carlo wall-time run (0: skip it)", min=0,
                                                 max=1000)] = 30,
              jobs: Annotated[int | None, typer.Option(help="processes for the seeds (default one per CPU)", min=1,
                                                       max=256)] = None,
              result: Annotated[str | None, typer.Option(
                  help="write the Monte Carlo run's figures here (as demo --headless --json)")] = None) -> None:
    """sim_year_wall_s: one simulated year of the default twin scenario, every policy; sim_seeds_wall_s: the
    standard 30-seed run in parallel (minutes; see benchmarks/)."""
    from gridcell.bench.sim import run

    for figure in run(years=years, seed=seed, seeds=seeds, jobs=jobs, result_path=result):
        typer.echo(json.dumps(figure) if as_json else f"{figure['figure']}: {figure['value']} {figure['unit']}")


def register(groups: dict[str, typer.Typer]) -> None:
    groups["bench"].command("sim")(bench_sim)
