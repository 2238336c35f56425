"""CLI: `gridcell report problems --org ID [--all] [--json]`, `gridcell report trends [--org DSO]` (runs the job)."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def report_problems(org: Annotated[str, typer.Option(help="the DSO or MNO organisation")],
                    all_states: Annotated[bool, typer.Option("--all", help="closed ones too")] = False,
                    as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Open service problems of one side (a DSO's also: trend proposals not yet sent)."""
    from gridcell.cli import summaries_as_viewer
    from gridcell.problems import service

    rows = summaries_as_viewer(org, service.summaries, open_only=not all_states)
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r))
        return
    typer.echo(f"{'id':36}  {'state':12} {'category':16} {'prio':>4}  {'counterpart':22} name")
    for r in rows:
        other = r["mnoId"] if org == r["dsoId"] else r["dsoId"]
        typer.echo(f"{r['id']:36}  {r['state']:12} {r['category'][:16]:16} {r['priority']:>4}  {other[:22]:22} "
                   f"{r['name'] or r['description'][:60]}")
    typer.echo(f"{len(rows)} problem(s)", err=True)


def run_trends(org: Annotated[str | None, typer.Option(help="only this DSO")] = None) -> None:
    """Run the trend job now; prints the ids of the proposals it created or refreshed."""
    from gridcell.cli import _db
    from gridcell.problems import trend

    with _db().write() as session:
        ids = trend.run(session, dso_ids=[org] if org else None)
    for i in ids:
        typer.echo(i)


def register(groups: dict[str, typer.Typer]) -> None:
    groups["report"].command("problems")(report_problems)
    groups["report"].command("trends")(run_trends)
