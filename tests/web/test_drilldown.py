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
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    # The two full hours before this one: 30 probes each, every other one failed.
    lines = [{"cpe": "D1-CPE0", "plmn": PLMN_B, "ts": (hour + timedelta(minutes=2 * k)).isoformat(),
              "ok": k % 2 == 0, "rtt_ms": 40.0} for k in range(60)]
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
    assert shown == [50.0, 50.0]
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


def test_status_history_is_kept_ninety_days(app_client: TestClient, world: World, db: Database) -> None:
    from gridcell.web import handlers
    from gridcell.web.models import StatusHistory

    now = datetime.now(UTC)
    with db.write() as s:
        for days in (200, 91, 89, 1):
            s.add(StatusHistory(org_id=world.dso.id, site_id="D1-S0", plmn=PLMN_A, mno_id=world.mno.id,
                                status="down", previous="ok", at=now - timedelta(days=days), categories=[]))
    with db.write() as s:
        assert handlers.prune_history(s, now) == 2
    with db.read() as s:
        kept = sorted(round((now - r.at).total_seconds() / 86400) for r in s.query(StatusHistory).filter_by(
            site_id="D1-S0"))
    assert kept == [1, 89]
