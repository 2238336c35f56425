"""CLI: `gridcell import probes FILE --dso ID`, `gridcell report availability --dso ID`,
`gridcell bench telemetry --json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer


def register(groups: dict[str, typer.Typer]) -> None:
    groups["import"].command("probes")(import_probes)
    groups["report"].command("availability")(report_availability)
    groups["bench"].command("telemetry")(bench_telemetry)


def import_probes(file: Path, dso: Annotated[str, typer.Option(help="the DSO organisation id")],
                  chunk_lines: Annotated[int, typer.Option(help="lines per unit of work")] = 200_000) -> None:
    """Import probe results (NDJSON, or CSV by .csv extension; .gz allowed). Each chunk is all-or-nothing."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from gridcell.cli import _db, _fail
    from gridcell.core.errors import DomainError
    from gridcell.telemetry import parse, service

    data = parse.decompress(file.read_bytes())
    is_csv = file.name.removesuffix(".gz").endswith(".csv")
    lines = data.split(b"\n")
    header = lines[0] + b"\n" if is_csv else b""
    body = lines[1:] if is_csv else lines
    db = _db()
    totals: dict[str, int] = {"received": 0, "accepted": 0, "duplicates": 0, "expired": 0}
    unknown: dict[str, int] = {}
    with Progress(TextColumn("[bold]probes"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} lines"),
                  TransferSpeedColumn(), TimeRemainingColumn(), transient=False) as progress:
        task = progress.add_task("import", total=len(body))
        for start in range(0, len(body), chunk_lines):
            part = body[start:start + chunk_lines]
            chunk = header + b"\n".join(part)
            cols: parse.Columns | None = None
            try:
                cols = parse.parse_csv(chunk) if is_csv else parse.parse_ndjson(chunk)
                cols.line = cols.line + start  # line numbers of the file, not of the chunk
                with db.write() as session:
                    result = service.ingest(session, dso, cols).as_dict()
            except DomainError as exc:
                if cols is None:  # the parser numbered the chunk's lines: make them the file's
                    for e in exc.errors:
                        if "line" in e:
                            e["line"] += start
                            e["loc"] = f"line {e['line']}"
                _fail(exc)
            for k in totals:
                totals[k] += result[k]
            for u in result["unknownCpes"]:
                unknown[u["cpeId"]] = unknown.get(u["cpeId"], 0) + u["results"]
            progress.advance(task, len(part))
    typer.echo(json.dumps({**totals, "unknownCpes": unknown}))


def report_availability(dso: Annotated[str, typer.Option(help="the DSO organisation id")],
                        site: Annotated[list[str] | None, typer.Option(help="site id, repeatable")] = None) -> None:
    """Availability per site × PLMN (1 h, 24 h, 30 d) against the SLA target, as a table."""
    from rich.console import Console
    from rich.table import Table

    from gridcell.cli import _db, _fail
    from gridcell.core.errors import DomainError, InvalidInput
    from gridcell.telemetry import service
    from gridcell.tenancy import service as tenancy
    from gridcell.topology import service as topology

    try:
        with _db(must_exist=True).read() as session:
            if tenancy.get_org(session, dso).kind != "dso":
                raise InvalidInput(f"{dso} is an MNO: availability is measured by a DSO's probes")
            known = {s.site_id for s in topology.sites_of_org(session, dso)}
            missing = sorted(set(site or ()) - known)
            if missing:
                raise InvalidInput(f"no site {', '.join(missing[:5])} at {dso}")
            rows = service.availability_for(session, dso, site_ids=site)
    except DomainError as exc:
        _fail(exc)

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{v * 100:.3f} %"

    # Site ids are never cut: the table takes the width it needs (a pipe or a narrow terminal wraps the rest).
    width = max([len("site"), *(len(r["siteId"]) for r in rows)])
    table = Table(title=f"Availability of {dso}")
    for col in ("site", "PLMN", "role", "1 h", "24 h", "30 d", "p95 ms", "SLA", "meets"):
        if col == "site":
            table.add_column(col, no_wrap=True, min_width=width)
        else:
            table.add_column(col, justify="right" if col not in ("PLMN", "role") else "left", overflow="fold")
    for r in rows:
        meets = "–" if r["meetsSla"] is None else ("[green]yes" if r["meetsSla"] else "[red]no")
        table.add_row(r["siteId"], r["plmn"], r["role"], pct(r["availability1h"]), pct(r["availability24h"]),
                      pct(r["availability30d"]), "–" if r["p95RttMs24h"] is None else f"{r['p95RttMs24h']:.0f}",
                      pct(r["slaTarget"]), meets)
    # A terminal folds what does not fit (never the site id); a pipe or a file gets the table whole.
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    if not rows:
        typer.echo(f"{dso} has no site with a USIM under an agreement yet", err=True)



def bench_telemetry(as_json: Annotated[bool, typer.Option("--json")] = False, results: int = 500_000,
                    cpes: int = 2000, latency_samples: int = 200) -> None:
    """probe_ingest_rate_ndjson, probe_ingest_rate_csv, event_to_cpe_command_p99_ms (see benchmarks/)."""
    from gridcell.bench.telemetry import run

    for figure in run(results=results, cpes=cpes, latency_samples=latency_samples):
        typer.echo(json.dumps(figure) if as_json else f"{figure['figure']}: {figure['value']} {figure['unit']}")
