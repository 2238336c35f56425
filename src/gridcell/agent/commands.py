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


def register(groups: dict[str, typer.Typer]) -> None:
    groups["root"].add_typer(agent, name="agent")
