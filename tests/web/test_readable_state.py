"""What the console says must be right and read plainly: which CPEs really left their primary PLMN, what a "stay"
command means, that a site down on one PLMN is still reachable on another, what time it is in the exchange, and
evidence and times in words rather than raw keys and ISO strings."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from gridcell.core.clock import ManualClock, set_clock
from gridcell.core.db import Database
from gridcell.failover import service as failover
from gridcell.sim.live import AcceleratedClock
from gridcell.web import render
from tests.conftest import PLMN_A, PLMN_B, World, alarm, cell_dn

ORIGIN = {"Origin": "http://testserver"}
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _login(client: TestClient, token: str) -> None:
    r = client.post("/web/login", data={"token": token}, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303, r.text


def _data(client: TestClient) -> dict[str, Any]:
    r = client.get("/web/data")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _ingest(client: TestClient, world: World, body: dict[str, Any], mno: str = "mno") -> None:
    r = client.post("/api/v1/ingest/notifications", json=body, headers=getattr(world, mno).auth())
    assert r.status_code == 200, r.text


def _section(html: str, testid: str) -> str:
    m = re.search(rf'data-testid="{testid}"(.*?)</p>', html, re.S)
    assert m is not None, testid
    return m.group(1)


def test_only_cpes_that_left_their_primary_plmn_are_listed_as_such(app_client: TestClient, world: World) -> None:
    # PLMN B degraded everywhere: every CPE gets an advisor state, all still on their primary PLMN A.
    _ingest(app_client, world, alarm("notifyNewAlarm", "B-DEG", cell_dn(PLMN_B, 0), severity="MINOR"), "mno2")
    # PLMN A's cell 1 goes down: the CPE of D1-S1 moves to B.
    _ingest(app_client, world, alarm("notifyNewAlarm", "A-1", cell_dn(PLMN_A, 1)))
    _login(app_client, world.dso.tokens["viewer"])
    panels = _data(app_client)["panels"]
    off = _section(panels, "cpes-off-primary")
    assert "away from their primary PLMN: 1" in off
    assert "D1-CPE1 on 26202 (primary 26201)" in off
    assert "D1-CPE0" not in off and "D1-CPE2" not in off


def test_a_stay_after_preparing_reads_as_standing_down(app_client: TestClient, world: World, db: Database) -> None:
    clock = ManualClock(datetime.now(UTC))
    set_clock(clock)
    _ingest(app_client, world, alarm("notifyNewAlarm", "A-0", cell_dn(PLMN_A, 0), severity="MINOR",
                                     at=clock.now()))
    _ingest(app_client, world, alarm("notifyClearedAlarm", "A-0", cell_dn(PLMN_A, 0), severity="CLEARED",
                                     at=clock.now()))
    clock.advance(timedelta(minutes=11))
    with db.write() as s:
        failover.tick(s)
    _login(app_client, world.dso.tokens["viewer"])
    panels = _data(app_client)["panels"]
    rows = re.findall(r'<tr data-command="[^"]+" data-action="(\w+)">(.*?)</tr>', panels, re.S)
    actions = [a for a, _ in rows]
    assert "prepare" in actions and "stay" in actions, actions
    stay = next(body for a, body in rows if a == "stay")
    assert "Stand down" in stay and f"stay on {PLMN_A}" in stay
    assert f"{PLMN_A} → {PLMN_A}" not in panels


def test_a_site_down_on_one_plmn_says_it_is_reachable_on_the_other(app_client: TestClient, world: World) -> None:
    _ingest(app_client, world, alarm("notifyNewAlarm", "A-1", cell_dn(PLMN_A, 1)))
    _login(app_client, world.dso.tokens["viewer"])
    d = _data(app_client)
    site = next(s for s in d["map"]["sites"] if s["id"] == "D1-S1")
    assert site["status"] == {PLMN_A: "down", PLMN_B: "ok"}
    assert site["best"] == "ok" and site["worst"] == "down" and site["reachableVia"] == [PLMN_B]
    row = re.search(r'<tr data-site="D1-S1" data-plmn="26201" data-status="down">(.*?)</tr>', d["panels"], re.S)
    assert row is not None and f"reachable via {PLMN_B}" in row.group(1)
    board = re.search(r'<tr data-site-row="D1-S1">(.*?)</tr>', d["panels"], re.S)
    assert board is not None and re.search(rf'data-testid="reachable-via">{PLMN_B}<', board.group(1))
    # And on the map, colouring by reachability (the default) shows it reachable.
    js = app_client.get("/web/static/dashboard.js").text
    assert "site.best" in js and "Reachable via" in js


def test_the_header_shows_the_exchanges_time_and_the_demos_speed(app_client: TestClient, world: World) -> None:
    set_clock(AcceleratedClock(datetime(2026, 3, 1, 10, 0, tzinfo=UTC), 600.0))
    _login(app_client, world.dso.tokens["viewer"])
    page = app_client.get("/web/dso").text
    clock = re.search(r'<p class="clock" id="clock" data-now="([^"]+)" data-speed="([^"]+)"', page)
    assert clock is not None and clock.group(1).startswith("2026-03-01T1") and float(clock.group(2)) == 600.0
    assert "demo ×600" in page and "01 Mar 10:" in page
    assert _data(app_client)["clock"]["speed"] == 600.0


def test_cell_health_evidence_reads_as_facts() -> None:
    event = {"id": "che_1", "cellId": "26201-C1", "plmn": PLMN_A, "kind": "sleeping_cell",
             "suspected": "sleeping_cell", "firstSeen": "2026-03-01T10:00:00.123456Z",
             "lastSeen": "2026-03-01T10:05:00Z", "clearedAt": None,
             "evidence": {"cpeCount": 12, "affectedCpes": 5, "droppingCpes": 4, "degradedCpes": 1, "dsoCount": 1,
                          "window": "PT15M", "probes": 300, "failures": 45, "failureRatio": 0.15, "p50RttMs": None}}
    html = render.fragment("_mno_panels.html", web=None, d={"now": datetime.now(UTC), "dsoNames": {},
                                                            "agreements": [], "tickets": [], "openTickets": 0,
                                                            "cellHealth": [event], "outages": []})
    cell = re.search(r'data-testid="cell-evidence">(.*?)</td>', html, re.S)
    assert cell is not None
    text = cell.group(1)
    assert "5 of 12 CPEs affected (4 dropping, 1 slow)" in text and "45 of 300 probes failed (15 %)" in text
    assert "over 15 min" in text
    for raw in ("p50RttMs", "PT15M", "None", "failureRatio"):
        assert raw not in text
    assert "01 Mar 10:00 UTC" in html and ".123456" not in html


def test_etrs_in_summaries_read_as_times() -> None:
    ticket = {"id": "t-1", "name": "Station unreachable", "description": "SCADA polls time out", "status":
              "acknowledged", "severity": "Major", "dsoId": "dso_1", "mnoId": "mno_1", "sites": ["S1"],
              "creationDate": "2026-03-01T10:00:00Z", "expectedResolutionDate": "2026-03-01T12:30:00.654321Z",
              "attribution": {"cause": "mno_network", "confidence": 0.9, "state": "auto",
                              "etr": "2026-03-01T12:30:00.654321Z",
                              "summary": "mobile network: 1 MNO condition(s) on the serving cells; "
                                         "ETR 2026-03-01T12:30:00.654321Z"},
              "evidenceCount": 1, "evidence": []}
    mno = render.fragment("_mno_panels.html", web=None, d={"now": datetime.now(UTC), "dsoNames": {},
                                                           "agreements": [], "tickets": [ticket], "openTickets": 1,
                                                           "cellHealth": [], "outages": []})
    assert "ETR 01 Mar 12:30 UTC" in mno
    assert not ISO.search(re.sub(r"<[^>]+>", "", mno)), "an ISO time is shown as text"
