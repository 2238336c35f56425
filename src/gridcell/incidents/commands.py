"""CLI: `gridcell report incidents --org ID [--all] [--json]`, `gridcell bench incidents --json`,
`gridcell admin new-secret-key` (a key for GRIDCELL_SECRET_KEYS)."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def report_incidents(org: Annotated[str, typer.Option(help="the DSO or MNO organisation")],
                     all_states: Annotated[bool, typer.Option("--all", help="closed ones too")] = False,
                     as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Open trouble tickets of one side (reported by a DSO, addressed to an MNO) with their attribution."""
    from gridcell.cli import summaries_as_viewer
    from gridcell.incidents import service

    rows = summaries_as_viewer(org, service.summaries, open_only=not all_states)
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r))
        return
    typer.echo(f"{'id':36}  {'status':12} {'severity':9} {'counterpart':22} {'attribution':14} {'conf':>4}  "
               f"{'etr':20}  sites")
    for r in rows:
        a = r["attribution"]
        other = r["mnoId"] if org == r["dsoId"] else r["dsoId"]
        typer.echo(f"{r['id']:36}  {r['status']:12} {r['severity'][:9]:9} {other[:22]:22} {a['cause'] or '-':14} "
                   f"{a['confidence'] if a['confidence'] is not None else '-':>4}  {a['etr'] or '-':20}  "
                   f"{','.join(r['sites'][:5])}{'…' if len(r['sites']) > 5 else ''}")
    typer.echo(f"{len(rows)} ticket(s)", err=True)


def bench_incidents(as_json: Annotated[bool, typer.Option("--json")] = False, events: int = 1_000_000,
                    sites: int = 100_000, runs: int = 300) -> None:
    """attribution_p99_ms over `events` stored events and `sites` DSO sites, with the naive scan side by side."""
    from gridcell.bench.incidents import run

    for figure in run(n_events=events, n_sites=sites, runs=runs):
        typer.echo(json.dumps(figure) if as_json else f"{figure['figure']}: {figure['value']} {figure['unit']}")


def new_secret_key() -> None:
    """Print a new Fernet key for GRIDCELL_SECRET_KEYS (put it first to seal with it; keep older ones after it)."""
    from gridcell.core import sealed

    typer.echo(sealed.new_key())


def register(groups: dict[str, typer.Typer]) -> None:
    groups["admin"].command("new-secret-key")(new_secret_key)
    groups["report"].command("incidents")(report_incidents)
    groups["bench"].command("incidents")(bench_incidents)
