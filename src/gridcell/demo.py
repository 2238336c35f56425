"""`gridcell demo`: the exchange on SQLite with a seeded region and live MNO events.

Seeds one DSO with 24 secondary substations around Freiburg, two MNOs (PLMN 26201 at cell level,
26202 at area level) with three-sector RAN sites, then feeds a loop of real notifications through
the public API: an equipment alarm and its clear, a mains failure on battery, a maintenance window.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import httpx

from gridcell.core.db import Database
from gridcell.migrations import upgrade
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topology
from gridcell.wiring import register_handlers

CENTER_LAT, CENTER_LON = 47.995, 7.850
PLMNS = {"Telco A": ("26201", "cell"), "Telco B": ("26202", "area")}


def dso_doc() -> dict[str, Any]:
    sites = []
    for i in range(24):
        lat = CENTER_LAT + 0.012 * (i // 6 - 1.5)
        lon = CENTER_LON + 0.016 * (i % 6 - 2.5)
        sites.append({"id": f"SS-{100 + i}", "name": f"Secondary substation {100 + i}",
                      "kind": "recloser" if i % 5 == 0 else "secondary_substation", "lat": round(lat, 6),
                      "lon": round(lon, 6), "customers": 150 + 37 * i,
                      "criticality": "high" if i % 4 == 0 else "normal",
                      "cpes": [{"id": f"CPE-{100 + i}", "model": "dual-SIM router",
                                "usims": [{"plmn": "26201", "role": "primary"},
                                          {"plmn": "26202", "role": "alternate"}]}]})
    return {"sites": sites}


def mno_doc(plmn: str, offset: float) -> dict[str, Any]:
    ran_sites = []
    for j in range(4):
        lat = CENTER_LAT + 0.02 * (j // 2 - 0.5) + offset
        lon = CENTER_LON + 0.04 * (j % 2 - 0.5) - offset
        me = f"gNB-{plmn}-{j}"
        cells = [{"cellId": f"{plmn}-{j:03d}-{k}", "plmn": plmn, "azimuth": 120.0 * k, "rangeM": 4000, "tac": 100 + j,
                  "dn": f"SubNetwork=1,ManagedElement={me},GNBDUFunction=1,NRCellDU={k}"} for k in range(3)]
        ran_sites.append({"id": f"RAN-{plmn}-{j}", "name": f"Site {plmn}/{j}", "lat": round(lat, 6),
                          "lon": round(lon, 6), "dn": f"SubNetwork=1,ManagedElement={me}",
                          "batteryCapacityWh": 4800 + 2400 * j, "loadW": 3000, "depthOfDischarge": 0.8,
                          "cells": cells})
    return {"ranSites": ran_sites}


def seed(db: Database) -> dict[str, Any]:
    with db.write() as s:
        dso = tenancy.create_org(s, "Oberrhein Netz (DSO)", "dso")
        mnos = {name: tenancy.create_org(s, name, "mno") for name in PLMNS}
        s.flush()
        tokens = {"dso_operator": tenancy.create_client(s, dso, "operator", "demo")[1],
                  "dso_viewer": tenancy.create_client(s, dso, "viewer", "demo")[1]}
        for name, org in mnos.items():
            tokens[f"{name} operator"] = tenancy.create_client(s, org, "operator", "demo")[1]
            plmn, level = PLMNS[name]
            tenancy.create_agreement(s, dso, org, [plmn], level, share_telemetry=True)
        s.flush()
        for k, (name, org) in enumerate(mnos.items()):
            topology.import_topology(s, org, mno_doc(PLMNS[name][0], 0.004 * k))
        topology.import_topology(s, dso, dso_doc())
    return {"dso": dso, "mnos": mnos, "tokens": tokens}


def _live_events(base: str, tokens: dict[str, str], stop: threading.Event) -> None:
    """A loop of real MNO notifications through the public API, so the demo moves."""
    ids = count(int(time.time()))
    a = {"Authorization": f"Bearer {tokens['Telco A operator']}"}
    b = {"Authorization": f"Bearer {tokens['Telco B operator']}"}

    def note(kind: str, alarm_id: str, dn: str, cause: str, severity: str) -> dict[str, Any]:
        return {"href": "https://oss.telco.example/ProvMnS/v1/" + dn.replace(",", "/"), "notificationId": next(ids),
                "notificationType": kind, "eventTime": datetime.now(UTC).isoformat(), "systemDN": "DC=telco.example",
                "alarmId": alarm_id, "alarmType": "EQUIPMENT_ALARM", "probableCause": cause,
                "perceivedSeverity": severity}

    with httpx.Client(base_url=base, timeout=10) as client:
        cycle = 0
        while not stop.is_set():
            cycle += 1
            dn = f"SubNetwork=1,ManagedElement=gNB-26201-{cycle % 4},GNBDUFunction=1,NRCellDU={cycle % 3}"
            steps: list[tuple[dict[str, str], Any]] = [
                (a, note("notifyNewAlarm", f"ALM-{cycle}", dn, "TRANSMITTER_FAILURE", "CRITICAL")),
                (b, note("notifyNewAlarm", f"PWR-{cycle}", f"SubNetwork=1,ManagedElement=gNB-26202-{cycle % 4}",
                         "COMMERCIAL_POWER_FAILURE", "MAJOR")),
                (a, {"notificationType": "notifyPlannedMaintenance", "notificationId": next(ids),
                     "eventTime": datetime.now(UTC).isoformat(), "maintenanceId": f"MW-{cycle}",
                     "start": (datetime.now(UTC) + timedelta(seconds=20)).isoformat(),
                     "end": (datetime.now(UTC) + timedelta(seconds=50)).isoformat(),
                     "cells": [f"26201-{(cycle + 1) % 4:03d}-{k}" for k in range(3)], "expectedImpact": "outage",
                     "description": "antenna swap"}),
                (a, note("notifyClearedAlarm", f"ALM-{cycle}", dn, "TRANSMITTER_FAILURE", "CLEARED")),
                (b, note("notifyClearedAlarm", f"PWR-{cycle}", f"SubNetwork=1,ManagedElement=gNB-26202-{cycle % 4}",
                         "COMMERCIAL_POWER_FAILURE", "CLEARED")),
            ]
            for headers, body in steps:
                if stop.wait(12):
                    return
                with contextlib.suppress(httpx.HTTPError):
                    client.post("/api/v1/ingest/notifications", json=body, headers=headers)


def run_demo(host: str, port: int, database: str) -> None:
    import uvicorn

    from gridcell.app import create_app
    from gridcell.config import Settings

    for suffix in ("", "-wal", "-shm"):
        Path(database + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{Path(database).resolve()}"
    db = Database(url)
    upgrade(db)
    register_handlers()
    seeded = seed(db)
    base = f"http://{host}:{port}"
    t = seeded["tokens"]
    print(f"""
gridcell demo — {base}  (SQLite: {database})
  API docs:        {base}/docs
  DSO operator:    {t['dso_operator']}
  DSO viewer:      {t['dso_viewer']}
  Telco A (MNO):   {t['Telco A operator']}
  Telco B (MNO):   {t['Telco B operator']}

Try:
  curl -s -H "Authorization: Bearer {t['dso_viewer']}" {base}/api/v1/status?minStatus=degraded
  curl -s -N -H "Authorization: Bearer {t['dso_operator']}" -X POST {base}/api/v1/subscriptions \\
       -H 'Content-Type: application/json' -d '{{"minStatus":"degraded"}}'   # then GET …/subscriptions/<id>/events
  curl -s -H "Authorization: Bearer {t['dso_viewer']}" {base}/FaultSupervisionMnS/v1/alarms
Live MNO events arrive every 12 s. Ctrl-C stops.
""", file=sys.stderr, flush=True)
    stop = threading.Event()
    feeder = threading.Thread(target=_live_events, args=(base, t, stop), daemon=True)
    settings = Settings(database_url=url, allow_private_webhooks=os.environ.get(
        "GRIDCELL_ALLOW_PRIVATE_WEBHOOKS", "true").lower() == "true")
    app = create_app(settings, db=db)
    feeder.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        stop.set()

