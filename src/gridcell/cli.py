"""gridcell command line: serve, demo, admin, import, report, bench. Values go to stdout, chatter to stderr.

Every command opens the store GRIDCELL_DATABASE_URL names (default ./gridcell.db, the one `make run` and
`gridcell demo` serve) and says which on stderr. What the user typed wrong is one line, `error: …`, and exit 2:
never a traceback."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import make_url

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


def store_label(url: str) -> str:
    """The store as people recognise it: the SQLite file's absolute path, else the URL without its password."""
    if url.startswith("sqlite:///"):
        return f"sqlite:///{Path(url.removeprefix('sqlite:///')).resolve()}"
    return make_url(url).render_as_string(hide_password=True)


def _db(*, must_exist: bool = False) -> Database:
    """The store of GRIDCELL_DATABASE_URL, migrated; says which on stderr. `must_exist`: a command that only reads
    refuses a SQLite file that is not there (instead of creating an empty store and finding nothing in it)."""
    from gridcell.migrations import upgrade
    from gridcell.wiring import register_handlers

    s = get_settings()
    label = store_label(s.database_url)
    if must_exist and s.database_url.startswith("sqlite:///") and not Path(
            s.database_url.removeprefix("sqlite:///")).exists():
        typer.echo(f"error: no store at {label}: start the demo there (`make run`) or set GRIDCELL_DATABASE_URL",
                   err=True)
        raise typer.Exit(2)
    typer.echo(f"store: {label}", err=True)
    register_handlers()
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
        with _db(must_exist=True).write() as session:
            kind = tenancy.get_org(session, org).kind
            caller = tenancy.Caller(client_id="cli", org_id=org, org_kind=kind, role="viewer")
            return summaries(session, caller, open_only=open_only)
    except DomainError as exc:
        _fail(exc)
        return []


PORT = Annotated[int, typer.Option(envvar="GRIDCELL_PORT", min=1, max=65535, help="TCP port (GRIDCELL_PORT)")]
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _check_log_level(value: str) -> str:
    if value not in LOG_LEVELS:
        raise typer.BadParameter(f"one of {', '.join(LOG_LEVELS)}")
    return value


@app.command()
def serve(host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1", port: PORT = 8000,
          log_level: Annotated[str, typer.Option(help=f"{' | '.join(LOG_LEVELS)}", callback=_check_log_level)]
          = "warning",
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
        application = create_app(settings, freeze_gc=True)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    from gridcell.serve_protocol import protocol

    uvicorn.run(application, host=host, port=port, log_level=log_level, loop="uvloop",
                http=protocol(settings.head_timeout_s, settings.body_timeout_s),
                timeout_graceful_shutdown=int(settings.shutdown_grace_s) or None)


def _check_grid(value: str) -> str:
    """A pandapower network name, a pandapower JSON file or a simbench code, checked before anything runs."""
    try:  # by name, as the demo: the simulator is the top layer
        note = importlib.import_module("gridcell.sim.scenario").check_grid(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if note:
        typer.echo(f"warning: {note}", err=True)
    return value


def _sim_config() -> Any:
    return importlib.import_module("gridcell.sim.config")  # by name: the simulator is the top layer


def _check_modem_mix(value: str | None) -> str | None:
    if value is not None:
        try:
            _sim_config().parse_modem_mix(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


def _check_settings(value: list[str] | None) -> list[str] | None:
    if value:
        try:
            _sim_config().with_settings(_sim_config().SimConfig(), value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


@app.command()
def demo(host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1", port: PORT = 8000,
         database: Annotated[str | None, typer.Option(
             help="SQLite file, recreated at each start (default: the store GRIDCELL_DATABASE_URL names, "
                  "./gridcell.db, so every other command reads the demo's store)")] = None,
         headless: Annotated[bool, typer.Option("--headless", help="simulate only; write figures and report")]
         = False,
         years: Annotated[float, typer.Option(help="simulated years (headless)", min=0.001, max=100)] = 1.0,
         seed: Annotated[int, typer.Option(help="first random seed", min=0)] = 1,
         seeds: Annotated[int, typer.Option(help="Monte Carlo runs: seeds seed..seed+N-1 (headless)", min=1,
                                            max=1000)] = 1,
         json_out: Annotated[str | None, typer.Option("--json", help="write the figures here (headless)")] = None,
         html_out: Annotated[str | None, typer.Option("--html", help="write the offline report here (headless)")]
         = None,
         grid: Annotated[str, typer.Option(help="pandapower network name, pandapower JSON file or simbench code",
                                           callback=_check_grid)] = "mv_oberrhein",
         storm: Annotated[bool, typer.Option("--storm", help="add one storm (clustered line faults)")] = False,
         jobs: Annotated[int | None, typer.Option(help="processes for the seeds (headless; default one per seed, "
                                                       "at most one per CPU)", min=1, max=256)] = None,
         modem_mix: Annotated[str | None, typer.Option(
             help="CPE fleet (headless), e.g. sim_slot=0.6,esim=0.1,dual_modem=0.3", callback=_check_modem_mix)]
         = None,
         ablation_seeds: Annotated[int | None, typer.Option(
             help="the first N seeds also run the ablation, one gridcell run per capability step (headless; "
                  "default the first 10, 0 none)", min=0, max=1000)] = None,
         setting: Annotated[list[str] | None, typer.Option(
             "--set", help="KEY=VALUE for a twin parameter (headless, repeatable; docs/sim.md)",
             callback=_check_settings)] = None,
         speed: Annotated[float, typer.Option(help="virtual seconds per wall second (live)", min=1, max=1_000_000)]
         = 600.0) -> None:
    """The exchange with the digital twin streaming into it; --headless: current practice, best practice and gridcell
    on the same faults, with paired differences."""
    # Imported by name: capability commands import this module's helpers, so a static import of the simulator
    # (the top layer) here would make every capability appear to depend on it (import-linter layers).
    demo_module = importlib.import_module("gridcell.demo")
    if headless:
        result = demo_module.run_headless(years=years, seeds=list(range(seed, seed + max(seeds, 1))),
                                          json_path=json_out, html_path=html_out, grid=grid, storm=storm,
                                          jobs=jobs, modem_mix=modem_mix, settings=setting or [],
                                          ablation_seeds=ablation_seeds)
        if not json_out:
            typer.echo(json.dumps(result, indent=1))
        return
    try:
        database = database or demo_module.demo_database(get_settings().database_url)
        demo_module.check_recreatable(database)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--database") from None
    demo_module.run_demo(host, port, database, grid=grid, seed=seed, speed=speed)


@admin.command("create-org")
def create_org(name: Annotated[str, typer.Argument(help="the organisation's name")],
               kind: Annotated[str, typer.Option(help="dso | mno")]) -> None:
    """Create an organisation (a DSO or an MNO); prints only its id, for scripts."""
    from gridcell.tenancy import service

    try:
        with _db().write() as session:
            org_id = service.create_org(session, name, kind)
    except DomainError as exc:
        _fail(exc)
    typer.echo(org_id)


@admin.command("create-client")
def create_client(org_id: Annotated[str, typer.Argument(help="the organisation the client acts for")],
                  role: Annotated[str, typer.Option(help="viewer | operator | admin")],
                  name: Annotated[str | None, typer.Option(help="a name to recognise it by")] = None) -> None:
    """Create an API client; prints its bearer token, shown this once (only its hash is stored)."""
    from gridcell.tenancy import service

    try:
        with _db().write() as session:
            _, token = service.create_client(session, org_id, role, name)
    except DomainError as exc:
        _fail(exc)
    typer.echo(token)


@admin.command("create-agreement")
def create_agreement(dso_id: Annotated[str, typer.Argument(help="the DSO")],
                     mno_id: Annotated[str, typer.Argument(help="the MNO")],
                     plmn: Annotated[list[str], typer.Option(help="PLMN id (MCC+MNC), repeatable")],
                     level: Annotated[str, typer.Option(help="area (status and category only) | cell (cells, RAN "
                                                             "sites, alarms)")],
                     share_telemetry: Annotated[bool, typer.Option(
                         "--share-telemetry", help="the MNO sees the DSO's probes as outside-in cell health")]
                     = False,
                     site: Annotated[list[str] | None, typer.Option(help="covered DSO site id; default all")] = None,
                     sla_target: Annotated[float, typer.Option(help="availability the MNO commits to, in (0, 1]")]
                     = 0.999) -> None:
    """Agree what an MNO exposes to a DSO: PLMNs, level of detail, sites; prints the agreement id."""
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
def import_topology(file: Annotated[str, typer.Argument(help="the JSON or GeoJSON file (schema: docs/topology.md)")],
                    org: Annotated[str, typer.Option(help="organisation id that owns the file")]) -> None:
    """Import DSO sites/CPEs/USIMs or MNO RAN sites/cells (JSON or GeoJSON; examples/ has one of each)."""
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


_registered: list[bool] = []


def _register_capability_commands() -> None:
    from gridcell import plugins

    if _registered:
        return
    groups = {"root": app, "admin": admin, "import": importer, "bench": bench, "report": report}
    for module in plugins.modules("commands"):
        module.register(groups)
    _registered.append(True)


def main(argv: list[str] | None = None) -> None:
    """Run a command; what the user typed wrong (an unknown option, a bad value, a missing argument) is one line
    on stderr and exit 2."""
    _register_capability_commands()
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="gridcell", standalone_mode=False)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        message, exit_code = getattr(exc, "format_message", None), getattr(exc, "exit_code", None)
        if not callable(message) or not isinstance(exit_code, int):
            if type(exc).__name__ == "Abort":
                typer.echo("aborted", err=True)
                sys.exit(1)
            raise
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None and exit_code == 2 else ""
        typer.echo(f"error: {' '.join(str(message()).split())}{hint}", err=True)
        sys.exit(exit_code)
    sys.exit(code if isinstance(code, int) else 0)
