"""CLI: `gridcell bench sim --json` (sim_year_wall_s). `gridcell demo` lives in gridcell.cli."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def bench_sim(as_json: Annotated[bool, typer.Option("--json")] = False, years: float = 1.0, seed: int = 1) -> None:
    """sim_year_wall_s: one simulated year of the default twin scenario, both policies (see benchmarks/)."""
    from gridcell.bench.sim import run

    for figure in run(years=years, seed=seed):
        typer.echo(json.dumps(figure) if as_json else f"{figure['figure']}: {figure['value']} {figure['unit']}")


def register(groups: dict[str, typer.Typer]) -> None:
    groups["bench"].command("sim")(bench_sim)
