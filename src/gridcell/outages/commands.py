"""CLI: `gridcell import pandapower NET --org DSO [--mno MNO]`, `gridcell import outages FILE --org DSO`,
`gridcell bench outages --json`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from gridcell.core.db import Database
from gridcell.core.errors import DomainError


def _db() -> Database:
    from gridcell.cli import _db as open_db

    return open_db()


def _fail(exc: DomainError) -> None:
    from gridcell.cli import _fail as fail

    fail(exc)


def import_pandapower(
        network: Annotated[str, typer.Argument(help="mv_oberrhein (any pandapower.networks name), a pandapower "
                                                    "JSON file, or a simbench code such as 1-MV-rural--0-sw")],
        org: Annotated[str, typer.Option(help="the DSO organisation that owns the grid")],
        mno: Annotated[list[str] | None, typer.Option(
            help="MNO whose RAN sites get supply links (nearest bus); repeatable; default: the DSO's agreement MNOs")]
        = None,
        place_ran_sites: Annotated[float | None, typer.Option(
            help="also place RAN sites of the (single) --mno on a hex grid with this inter-site distance in m "
                 "(ITU-R M.2135: UMa 500, RMa 1732)")] = None,
        plmn: Annotated[str | None, typer.Option(help="PLMN of the placed RAN sites' cells")] = None,
        autonomy_h: Annotated[float, typer.Option(help="battery autonomy of the placed RAN sites")] = 2.0) -> None:
    """Import a grid model: buses with geodata, lines, switches; MV/LV stations become DSO sites."""
    from gridcell.outages import grid

    try:
        with _db().write() as session:
            result = grid.import_grid(session, org, network, mno_ids=mno)
            if place_ran_sites is not None:
                if not mno or len(mno) != 1 or not plmn:
                    raise typer.BadParameter("--place-ran-sites needs exactly one --mno and --plmn")
                result["ranSitesPlaced"] = grid.place_ran_sites(session, org, result["grid"], mno[0], plmn,
                                                                place_ran_sites, autonomy_h)
    except DomainError as exc:
        _fail(exc)
    typer.echo(json.dumps(result))


def import_outages(file: str, org: Annotated[str, typer.Option(help="the DSO organisation")]) -> None:
    """Import outage records (IEC CIM 61968 Outage XML/JSON, ODIN JSON) as OutageAndRecoveryInfo MOIs."""
    from gridcell.outages import importers, service

    try:
        fmt, records = importers.read(file)
        with _db().write() as session:
            counts = service.import_records(session, org, records)
    except DomainError as exc:
        _fail(exc)
    typer.echo(json.dumps({"format": fmt, **counts}))


def bench_outages(as_json: Annotated[bool, typer.Option("--json")] = False, ran_sites: int = 10_000,
                  dso_sites: int = 100_000, runs: int = 50) -> None:
    """outage_plan_p99_ms and outage_plan_after_topology_change_ms through the service path (PUT → plan), with
    the plan computation alone beside a naive loop."""
    from gridcell.bench.outages import run

    for figure in run(n_ran=ran_sites, n_sites=dso_sites, runs=runs):
        typer.echo(json.dumps(figure) if as_json else f"{figure['figure']}: {figure['value']} {figure['unit']}")


def register(groups: dict[str, typer.Typer]) -> None:
    groups["import"].command("pandapower")(import_pandapower)
    groups["import"].command("outages")(import_outages)
    groups["bench"].command("outages")(bench_outages)
