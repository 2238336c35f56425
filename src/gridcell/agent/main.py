"""`gridcell-agent run --config agent.toml` on the router; `gridcell-agent echo --listen 0.0.0.0:7` at the
head-end, answering the agents' probes. Standard library only here: no typer on a router."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from gridcell.agent import config as agent_config
from gridcell.agent.probe import EchoResponder


def run(path: str) -> int:
    from gridcell.agent.drivers import make
    from gridcell.agent.runtime import Agent

    try:
        cfg = agent_config.load(path)
    except agent_config.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    agent = Agent(cfg, make(cfg))
    try:
        asyncio.run(agent.run())
    except KeyboardInterrupt:
        return 130
    return 0


async def _echo(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(EchoResponder, local_addr=(host, port))
    await asyncio.Event().wait()


def echo(listen: str) -> int:
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        print("error: --listen HOST:PORT", file=sys.stderr)
        return 2
    try:
        asyncio.run(_echo(host.strip("[]") or "0.0.0.0", int(port)))
    except KeyboardInterrupt:
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gridcell-agent", description=__doc__)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run the agent on a router")
    p_run.add_argument("--config", required=True, help="the agent's TOML file")
    p_echo = sub.add_parser("echo", help="answer probes at the head-end")
    p_echo.add_argument("--listen", default="0.0.0.0:7", help="HOST:PORT (UDP)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args.config) if args.command == "run" else echo(args.listen)


if __name__ == "__main__":
    sys.exit(main())
