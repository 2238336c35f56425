"""gridcell command line: serve, demo, admin, import, bench. Values go to stdout, chatter to stderr."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from gridcell.config import get_settings
from gridcell.core.db import Database
from gridcell.core.errors import DomainError

app = typer.Typer(help="gridcell: the operations exchange between DSOs and MNOs.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
admin = typer.Typer(help="Organisations, API clients and agreements.", no_args_is_help=True)
importer = typer.Typer(help="Bulk imports.", no_args_is_help=True)
bench = typer.Typer(help="Benchmarks; each prints one JSON object per figure.", no_args_is_help=True)
app.add_typer(admin, name="admin")
app.add_typer(importer, name="import")
app.add_typer(bench, name="bench")


def _db() -> Database:
    from gridcell.migrations import upgrade
    from gridcell.wiring import register_handlers

    register_handlers()
    s = get_settings()
    db = Database(s.database_url, sqlite_synchronous=s.sqlite_synchronous)
    upgrade(db)
    return db


def _fail(exc: DomainError) -> None:
    typer.echo(f"error: {exc.detail}", err=True)
    for e in exc.errors[:50]:
        typer.echo(f"  {e.get('loc', '')}: {e.get('msg', '')}", err=True)
    raise typer.Exit(2)


def summaries_as_viewer(org: str, summaries: Callable[..., list[dict[str, Any]]], open_only: bool
                        ) -> list[dict[str, Any]]:
    """What an organisation's viewer would see from a capability's `summaries(session, caller, open_only=…)`
    (the `report` commands); exits 2 with the error when the organisation is unknown."""
    from gridcell.tenancy import service as tenancy

    try:
        with _db().write() as session:
            kind = tenancy.get_org(session, org).kind
            caller = tenancy.Caller(client_id="cli", org_id=org, org_kind=kind, role="viewer")
            return summaries(session, caller, open_only=open_only)
    except DomainError as exc:
        _fail(exc)
        return []


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning",
          cluster: Annotated[bool, typer.Option(
              "--cluster", help="join a cluster: PostgreSQL + NATS JetStream (GRIDCELL_CLUSTER=true)")] = False,
          bus_url: Annotated[str | None, typer.Option(help="NATS URL(s), comma-separated (GRIDCELL_BUS_URL)")] = None,
          ) -> None:
    """Run the API and the delivery workers in one process; with --cluster, as one of several."""
    import uvicorn

    from gridcell.app import create_app

    settings = get_settings()
    changes: dict[str, object] = {}
    if cluster:
        changes["cluster"] = True
    if bus_url:
        changes["bus_url"] = bus_url
    if changes:
        settings = settings.model_copy(update=changes)
    try:
        application = create_app(settings)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    from gridcell.serve_protocol import protocol

    uvicorn.run(application, host=host, port=port, log_level=log_level, loop="uvloop",
                http=protocol(settings.head_timeout_s, settings.body_timeout_s),
                timeout_graceful_shutdown=int(settings.shutdown_grace_s) or None)


@app.command()
def demo(host: str = "127.0.0.1", port: int = 8000,
         database: Annotated[str, typer.Option(help="SQLite file, recreated")] = "gridcell-demo.db",
         headless: Annotated[bool, typer.Option("--headless", help="simulate only; write figures and report")]
         = False,
         years: Annotated[float, typer.Option(help="simulated years (headless)")] = 1.0,
         seed: Annotated[int, typer.Option(help="first random seed")] = 1,
         seeds: Annotated[int, typer.Option(help="Monte Carlo runs: seeds seed..seed+N-1 (headless)")] = 1,
         json_out: Annotated[str | None, typer.Option("--json", help="write the figures here (headless)")] = None,
         html_out: Annotated[str | None, typer.Option("--html", help="write the offline report here (headless)")]
         = None,
         grid: Annotated[str, typer.Option(help="pandapower network name, pandapower JSON file or simbench code")]
         = "mv_oberrhein",
         storm: Annotated[bool, typer.Option("--storm", help="add one storm (clustered line faults)")] = False,
         speed: Annotated[float, typer.Option(help="virtual seconds per wall second (live)")] = 600.0) -> None:
    """The exchange with the digital twin streaming into it; --headless: current practice vs gridcell figures."""
    # Imported by name: capability commands import this module's helpers, so a static import of the simulator
    # (the top layer) here would make every capability appear to depend on it (import-linter layers).
    demo_module = importlib.import_module("gridcell.demo")
    if headless:
        result = demo_module.run_headless(years=years, seeds=list(range(seed, seed + max(seeds, 1))),
                                          json_path=json_out, html_path=html_out, grid=grid, storm=storm)
        if not json_out:
            typer.echo(json.dumps(result, indent=1))
        return
    demo_module.run_demo(host, port, database, grid=grid, seed=seed, speed=speed)


@admin.command("create-org")
def create_org(name: str, kind: Annotated[str, typer.Option(help="dso | mno")]) -> None:
    from gridcell.tenancy import service

    try:
        with _db().write() as session:
            org_id = service.create_org(session, name, kind)
    except DomainError as exc:
        _fail(exc)
    typer.echo(org_id)


@admin.command("create-client")
def create_client(org_id: str, role: Annotated[str, typer.Option(help="viewer | operator | admin")],
                  name: str | None = None) -> None:
    from gridcell.tenancy import service

    try:
        with _db().write() as session:
            _, token = service.create_client(session, org_id, role, name)
    except DomainError as exc:
        _fail(exc)
    typer.echo(token)


@admin.command("create-agreement")
def create_agreement(dso_id: str, mno_id: str,
                     plmn: Annotated[list[str], typer.Option(help="PLMN id (MCC+MNC), repeatable")],
                     level: Annotated[str, typer.Option(help="area | cell")],
                     share_telemetry: Annotated[bool, typer.Option("--share-telemetry")] = False,
                     site: Annotated[list[str] | None, typer.Option(help="covered DSO site id; default all")] = None,
                     sla_target: float = 0.999) -> None:
    from gridcell.tenancy import service

    try:
        with _db().write() as session:  # relinks the DSO's USIMs and rebuilds its status (AGREEMENT_CREATED)
            agreement_id = service.create_agreement(session, dso_id, mno_id, plmn, level,
                                                    share_telemetry=share_telemetry, site_ids=site,
                                                    sla_target=sla_target)
    except DomainError as exc:
        _fail(exc)
    typer.echo(agreement_id)


@importer.command("topology")
def import_topology(file: str, org: Annotated[str, typer.Option(help="organisation id that owns the file")]) -> None:
    """Import DSO sites/CPEs/USIMs or MNO RAN sites/cells (JSON or GeoJSON)."""
    from gridcell.topology.cli import import_topology as run

    try:
        counts = run(_db(), org, file)
    except DomainError as exc:
        _fail(exc)
    typer.echo(json.dumps(counts))


@bench.command("robustness")
def bench_robustness(as_json: Annotated[bool, typer.Option("--json")] = False, duration_s: float = 9.0,
                     overload_s: float = 5.0) -> None:
    """event_loop_max_block_ms under a probe upload and a login flood beside alarms; overload_503_share and
    overload_p99_ms at three times the sustained rate (see benchmarks/README.md)."""
    from gridcell.bench.robustness import run

    for figure in run(duration_s=duration_s, overload_s=overload_s):
        typer.echo(json.dumps(figure) if as_json else f"{figure['figure']}: {figure['value']} {figure['unit']}")


@bench.command("exposure")
def bench_exposure(as_json: Annotated[bool, typer.Option("--json")] = False,
                   alarms: int = 20_000, rate: float = 1000.0, duration_s: float = 10.0,
                   subscriptions: int = 100) -> None:
    """alarm_ingest_rate, alarm_to_webhook_p50_ms, alarm_to_webhook_p99_ms (see benchmarks/)."""
    from gridcell.bench.exposure import run

    for figure in run(alarms=alarms, rate=rate, duration_s=duration_s, n_subscriptions=subscriptions):
        typer.echo(json.dumps(figure) if as_json else f"{figure['figure']}: {figure['value']} {figure['unit']}")


report = typer.Typer(help="Reports as tables.", no_args_is_help=True)
app.add_typer(report, name="report")


def _register_capability_commands() -> None:
    from gridcell import plugins

    groups = {"root": app, "admin": admin, "import": importer, "bench": bench, "report": report}
    for module in plugins.modules("commands"):
        module.register(groups)


def main() -> None:
    _register_capability_commands()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
