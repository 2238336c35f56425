"""Drill-down without a browser: a site's status history is written with each status change and read back as its
timeline; the site's probes become hourly availability and latency; nobody drills into another's site."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import orjson
from fastapi.testclient import TestClient

from gridcell.core.db import Database
from gridcell.tenancy.service import Caller
from gridcell.web import drilldown
from tests.conftest import PLMN_A, PLMN_B, World, alarm, cell_dn

ORIGIN = {"Origin": "http://testserver"}


def _login(client: TestClient, token: str) -> None:
    client.cookies.clear()
    assert client.post("/web/login", data={"token": token}, headers=ORIGIN, follow_redirects=False).status_code == 303


def test_status_changes_are_history_and_the_timeline_shows_them(app_client: TestClient, world: World,
                                                                db: Database) -> None:
    for kind, sev in (("notifyNewAlarm", "CRITICAL"), ("notifyClearedAlarm", "CLEARED")):
        r = app_client.post("/api/v1/ingest/notifications", json=alarm(kind, "H-1", cell_dn(PLMN_A, 1), severity=sev),
                            headers=world.mno.auth())
        assert r.status_code == 200
    caller = Caller("t", world.dso.id, "dso", "viewer")
    with db.write() as s:
        v = drilldown.dso_site(s, caller, "D1-S1", datetime.now(UTC))
    changes = [(c.plmn, c.previous, c.status) for c in sorted(v["changes"], key=lambda c: c.at)]
    assert changes == [(PLMN_A, "ok", "down"), (PLMN_A, "down", "ok")]
    assert v["changes"][0].categories in ([], ["network_outage"])
    row = next(r for r in v["timeline"].rows if r.label == f"PLMN {PLMN_A}")
    assert [s.kind for s in row.segments][-2:] == ["st-down", "st-ok"]
    # Another site's history stays its own.
    with db.write() as s:
        other = drilldown.dso_site(s, caller, "D1-S0", datetime.now(UTC))
    assert other["changes"] == []


def test_probes_become_hourly_availability_and_latency(app_client: TestClient, world: World, db: Database) -> None:
    now = datetime.now(UTC)
    lines = [{"cpe": "D1-CPE0", "plmn": PLMN_B, "ts": (now - timedelta(minutes=m)).isoformat(), "ok": m % 4 != 0,
              "rtt_ms": 40.0} for m in range(0, 120, 2)]
    r = app_client.post("/api/v1/telemetry/probes", content=b"\n".join(orjson.dumps(x) for x in lines),
                        headers={**world.dso.auth(), "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    _login(app_client, world.dso.tokens["viewer"])
    page = app_client.get("/web/sites/D1-S0").text
    data = json.loads(re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S)
                      .group(1))  # type: ignore[union-attr]
    b = next(p for p in data["plmns"] if p["plmn"] == PLMN_B)
    assert b["probes"] == len(lines)
    shown = [a for a in b["availability"] if a is not None]
    assert shown and all(a == 50.0 for a in shown)  # every other probe failed
    assert {x for x in b["rtt"] if x is not None} == {40.0}
    assert len(data["x"]) == 7 * 24


def test_nobody_drills_into_anothers_site(app_client: TestClient, world: World) -> None:
    _login(app_client, world.dso2.tokens["viewer"])
    assert app_client.get("/web/sites/D1-S0").status_code == 404
    assert "D1-S0" not in app_client.get("/web/sites").text
    _login(app_client, world.mno2.tokens["viewer"])
    assert app_client.get(f"/web/ran-sites/RAN-{PLMN_A}").status_code == 404
    assert app_client.get("/web/sites").status_code == 403
    _login(app_client, world.mno.tokens["viewer"])
    page = app_client.get(f"/web/ran-sites/RAN-{PLMN_A}")
    assert page.status_code == 200 and f"{PLMN_A}-C0" in page.text
    assert f"RAN-{PLMN_B}" not in app_client.get("/web/ran-sites").text
