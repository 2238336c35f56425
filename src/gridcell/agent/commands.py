"""CLI: `gridcell agent run --config FILE` and `gridcell agent echo --listen HOST:PORT` (the same as the
standalone `gridcell-agent`)."""

from __future__ import annotations

from typing import Annotated

import typer

agent = typer.Typer(help="The CPE agent: executes failover commands on a multi-SIM router.", no_args_is_help=True)


@agent.command("run")
def run(config: Annotated[str, typer.Option(help="the agent's TOML file")]) -> None:
    """Run the agent on a router (see docs/agent.md for the configuration)."""
    from gridcell.agent.main import run as run_agent

    raise typer.Exit(run_agent(config))


@agent.command("echo")
def echo(listen: Annotated[str, typer.Option(help="HOST:PORT to answer probes on (UDP)")] = "0.0.0.0:7") -> None:
    """Answer the agents' path probes at the head-end."""
    from gridcell.agent.main import echo as run_echo

    raise typer.Exit(run_echo(listen))


def bench_failover(as_json: Annotated[bool, typer.Option("--json")] = False,
                   runs: Annotated[int, typer.Option(min=1, max=20, help="runs of every scenario")] = 3,
                   fleet: Annotated[int, typer.Option(min=0, max=200, help="CPEs under one cell in the fleet "
                                                      "scenario (run once; 0: none)")] = 50) -> None:
    """failover_interruption_ms_{planned,precursor,sudden}, mwan3_baseline_interruption_ms, command_to_new_path_ms,
    fleet_interruption_ms_planned, fleet_moves_max_per_interval, fleet_move_span_s, flaps: scenarios in a
    network-namespace testbed (root; see benchmarks/README.md)."""
    import json

    from gridcell.bench.failover import run as run_bench

    try:
        for figure in run_bench(runs=runs, fleet_cpes=fleet):
            typer.echo(json.dumps(figure) if as_json else f"{figure['figure']}: {figure['value']} {figure['unit']}")
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def register(groups: dict[str, typer.Typer]) -> None:
    groups["root"].add_typer(agent, name="agent")
    groups["bench"].command("failover")(bench_failover)
