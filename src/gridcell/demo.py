"""`gridcell demo`: the exchange on SQLite with the digital twin streaming into it, or the twin headless.

Live (default): the twin's scenario (pandapower mv_oberrhein, two PLMNs on ITU-R M.2135 hex grids, a dual-USIM
CPE at every MV/LV station) is the exchange's topology; its year of faults streams through the public HTTP API
in accelerated real time (alarms, threshold crossings, planned work, power alarms, DSO probes, ProvMnS outages,
TMF621 tickets), and the CPEs follow the failover advisor's commands.

Headless (`--headless`): one or more simulated years, current practice, best practice and gridcell on the same
faults, figures and paired differences as JSON and an offline HTML report (gridcell.sim).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from gridcell.core.db import Database
from gridcell.migrations import upgrade
from gridcell.wiring import register_handlers

DEMO_MARK = ".demo"  # beside the SQLite file: this store is the demo's, and the next demo may recreate it
PROBE_SWEEP_S = 900.0  # every CPE probes every PLMN each 15 virtual minutes (1.5 s of wall time at 600x)


def demo_database(url: str) -> str:
    """The SQLite file of a store URL (the demo runs on the store every command opens by default)."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"the demo runs on SQLite; GRIDCELL_DATABASE_URL is {url.split('://')[0]}")
    return url.removeprefix("sqlite:///")


def check_recreatable(database: str) -> None:
    """The demo recreates its store at each start: never one it did not make (a store built with the CLI)."""
    path = Path(database)
    if path.exists() and path.stat().st_size > 0 and not Path(database + DEMO_MARK).exists():
        raise ValueError(f"{path.resolve()} holds a store the demo did not make, and the demo recreates its store: "
                         "give another file with --database, or remove this one")


def run_demo(host: str, port: int, database: str, *, grid: str = "mv_oberrhein", seed: int = 1,
             speed: float = 600.0) -> None:
    """Serve the exchange on SQLite, seeded with the twin's world, with the twin's events streaming in."""
    import logging
    import shutil

    import uvicorn

    from gridcell.app import create_app
    from gridcell.config import Settings
    from gridcell.core.clock import set_clock
    from gridcell.sim import faults
    from gridcell.sim.config import SimConfig
    from gridcell.sim.engine import Engine
    from gridcell.sim.live import AcceleratedClock, HttpTwin
    from gridcell.sim.scenario import build

    logging.getLogger("gridcell.sim.live").setLevel(logging.ERROR)
    cfg = SimConfig(grid=grid, years=1.0)
    print("gridcell demo: building the twin's world (pandapower grid, RAN sites, CPEs) ...", file=sys.stderr,
          flush=True)
    world = build(cfg, scenario_seed=seed)
    for suffix in ("", "-wal", "-shm"):
        Path(database + suffix).unlink(missing_ok=True)
    shutil.copyfile(world.template, database)
    Path(database + DEMO_MARK).write_text("made by gridcell demo: recreated at each start\n")
    url = f"sqlite:///{Path(database).resolve()}"
    db = Database(url)
    upgrade(db)
    register_handlers()
    clock = AcceleratedClock(cfg.start, speed)
    set_clock(clock)
    base = f"http://{host}:{port}"
    t = world.tokens
    plmn_a, plmn_b = cfg.plmns[0], cfg.plmns[1]
    print(f"""
gridcell demo — {base}  (store: {url}, what every gridcell command opens by default here;
  twin of {world.grid_name}: {len(world.stations)} stations,
  {len(world.ran)} RAN sites; virtual time runs {speed:g}x from {cfg.start.date()})
  API docs:           {base}/docs
  Dashboard:          {base}/web/login  (log in with any token below: DSO → operations centre, MNO → service desk)
  DSO operator:       {t['dso_operator']}
  DSO viewer:         {t['dso_viewer']}
  MNO {plmn_a} (cell):  {t[f'mno_{plmn_a}']}
  MNO {plmn_b} (area):  {t[f'mno_{plmn_b}']}

Try:
  curl -s -H "Authorization: Bearer {t['dso_viewer']}" "{base}/api/v1/status?minStatus=degraded"
  curl -s -H "Authorization: Bearer {t['dso_operator']}" {base}/api/v1/failover/commands
  curl -s -H "Authorization: Bearer {t['dso_viewer']}" {base}/api/v1/outages
  curl -s -H "Authorization: Bearer {t['dso_viewer']}" {base}/tmf-api/troubleTicket/v4/troubleTicket
  curl -s -N -H "Authorization: Bearer {t['dso_operator']}" -X POST {base}/api/v1/subscriptions \\
       -H 'Content-Type: application/json' -d '{{"minStatus":"degraded"}}'   # then GET …/subscriptions/<id>/events
  gridcell report availability --dso {world.dso_id}      # reads this store
Headless figures and report: gridcell demo --headless --years 1 --seed 1 --json out.json --html report.html
The twin's events stream in now. Ctrl-C stops.
""", file=sys.stderr, flush=True)
    stop = threading.Event()

    def feed() -> None:
        time.sleep(1.0)
        twin = HttpTwin(world, db, base, clock, stop)
        try:
            Engine(world, faults.draw(world, seed), seed, "gridcell", twin, probe_sweep_s=PROBE_SWEEP_S).run()
        except KeyboardInterrupt:
            return
        except Exception as exc:  # the server keeps running; say why the stream stopped
            print(f"twin stream stopped: {exc!r}", file=sys.stderr, flush=True)

    feeder = threading.Thread(target=feed, daemon=True)
    settings = Settings(database_url=url, allow_private_webhooks=os.environ.get(
        "GRIDCELL_ALLOW_PRIVATE_WEBHOOKS", "true").lower() == "true")
    app = create_app(settings, db=db, freeze_gc=True)
    feeder.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        stop.set()
        world.cleanup()


def run_headless(*, years: float, seeds: list[int], json_path: str | None, html_path: str | None,
                 grid: str = "mv_oberrhein", storm: bool = False, jobs: int | None = None,
                 modem_mix: str | None = None, settings: list[str] | None = None,
                 ablation_seeds: int | None = None) -> dict[str, Any]:
    """Simulate current practice, best practice and gridcell on the same faults; write the figures (JSON) and the
    offline report (HTML)."""
    import json

    from gridcell.sim import report
    from gridcell.sim.config import SimConfig, parse_modem_mix, with_settings
    from gridcell.sim.run import simulate

    cfg = with_settings(SimConfig(grid=grid, years=years, storm_extra=storm), settings or [])
    if modem_mix:
        cfg = cfg.with_(modem_mix=parse_modem_mix(modem_mix))
    result, world, outcomes = simulate(cfg, seeds, progress=lambda m: print(m, file=sys.stderr, flush=True),
                                       jobs=jobs, ablation_seeds=ablation_seeds)
    try:
        if json_path:
            Path(json_path).write_text(json.dumps(result, indent=1))
        if html_path:
            Path(html_path).write_text(report.render(result, world, outcomes))
    finally:
        world.cleanup()
    return result
