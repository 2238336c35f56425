"""The console's actions without a browser: each through the capability's service (so the API sees the result),
refused without the session's CSRF token or the role, never on another organisation's data, always audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gridcell.app import create_app
from gridcell.core.db import Database
from gridcell.tenancy import service as tenancy
from tests.conftest import PLMN_A, World, alarm, cell_dn, fresh_database, make_settings
from tests.e2e.dashboard_world import GRID, Seeded, seed

ORIGIN = {"Origin": "http://testserver"}


def _login(client: TestClient, token: str) -> None:
    client.cookies.clear()
    r = client.post("/web/login", data={"token": token}, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303, r.text


def _csrf(client: TestClient, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, (url, page.text[:300])
    m = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert m is not None
    return m.group(1)


def _post(client: TestClient, page_url: str, action: str, data: dict[str, Any]) -> tuple[str, str]:
    """(the flash shown after the post, the page it landed on)."""
    r = client.post(action, data={"csrf": _csrf(client, page_url), **data}, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303, r.text
    landed = client.get(r.headers["location"])
    m = re.search(r'data-testid="flash">([^<]*)<', landed.text)
    return (m.group(1) if m else ""), landed.text


def _ticket(client: TestClient, world: World, site: str = "D1-S1") -> str:
    r = client.post("/tmf-api/troubleTicket/v4/troubleTicket", headers=world.dso.auth(), json={
        "name": "Station unreachable", "description": "SCADA polls time out", "severity": "Major",
        "ticketType": "incident", "relatedParty": [{"id": world.mno.id, "role": "addressee",
                                                    "@referredType": "Organization"}],
        "relatedEntity": [{"id": site, "role": "affectedSite", "@referredType": "DsoSite"}]})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _actions(db: Database, org: str) -> list[tuple[str, dict[str, Any]]]:
    with db.read() as s:
        return [(e.action, e.detail or {}) for e in tenancy.audit_entries(s, org, 200)]


def test_the_desk_accepts_answers_and_resolves_a_ticket(app_client: TestClient, world: World, db: Database) -> None:
    tid = _ticket(app_client, world)
    page = f"/web/tickets/{tid}"
    _login(app_client, world.mno.tokens["operator"])
    assert "accepted" in _post(app_client, page, f"{page}/accept", {"note": "looking into it"})[0]
    etr = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    flash, html = _post(app_client, page, f"{page}/answer", {"verdict": "ours", "evidence": "RRU fault at RA-1",
                                                             "etr": etr.strftime("%Y-%m-%dT%H:%M")})
    assert "Answer sent" in flash
    api = app_client.get(f"/tmf-api/troubleTicket/v4/troubleTicket/{tid}", headers=world.dso.auth("viewer")).json()
    assert api["status"] == "inProgress"
    assert api["attribution"]["cause"] == "mno_network" and api["attribution"]["decisionNote"] == "RRU fault at RA-1"
    assert api["expectedResolutionDate"].startswith(etr.strftime("%Y-%m-%dT%H:%M"))
    assert "Resolved" not in html and "resolve-form" in html
    assert "resolved" in _post(app_client, page, f"{page}/resolve", {"resolution": "RRU replaced"})[0].lower()
    assert app_client.get(f"/tmf-api/troubleTicket/v4/troubleTicket/{tid}",
                          headers=world.dso.auth("viewer")).json()["status"] == "resolved"
    done = [a for a, _ in _actions(db, world.mno.id)]
    assert {"accept trouble ticket", "answer trouble ticket", "resolve trouble ticket"} <= set(done)
    # The DSO reads the answer on its ticket page and closes the ticket.
    _login(app_client, world.dso.tokens["operator"])
    dso_page = app_client.get(page).text
    assert "RRU fault at RA-1" in dso_page and 'data-testid="desk-answer"' in dso_page
    assert "closed" in _post(app_client, page, f"{page}/close", {})[0]


def test_not_ours_needs_evidence_and_ours_needs_an_etr(app_client: TestClient, world: World) -> None:
    tid = _ticket(app_client, world)
    page = f"/web/tickets/{tid}"
    _login(app_client, world.mno.tokens["operator"])
    flash, html = _post(app_client, page, f"{page}/answer", {"verdict": "ours", "evidence": "x"})
    assert "etr" in flash and "evidence" in flash
    assert 'aria-invalid="true"' in html  # the fields are marked, the values kept
    flash, _ = _post(app_client, page, f"{page}/answer", {"verdict": "dso", "evidence": "all cells serving"})
    assert "not the mobile network" in flash
    api = app_client.get(f"/tmf-api/troubleTicket/v4/troubleTicket/{tid}", headers=world.mno.auth("viewer")).json()
    assert api["attribution"]["cause"] == "dso_equipment" and api["attribution"]["state"] == "overridden"
    assert api.get("expectedResolutionDate") is None


def test_actions_need_the_sessions_csrf_token_and_the_role(app_client: TestClient, world: World) -> None:
    tid = _ticket(app_client, world)
    _login(app_client, world.mno.tokens["operator"])
    r = app_client.post(f"/web/tickets/{tid}/accept", data={"csrf": "forged"}, headers=ORIGIN)
    assert r.status_code == 403
    csrf = _csrf(app_client, f"/web/tickets/{tid}")
    r = app_client.post(f"/web/tickets/{tid}/accept", data={"csrf": csrf}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    _login(app_client, world.mno.tokens["viewer"])
    flash, _ = _post(app_client, f"/web/tickets/{tid}", f"/web/tickets/{tid}/accept", {})
    assert "needs role" in flash
    # Another MNO does not see the ticket at all; the DSO cannot work it as the desk would.
    _login(app_client, world.mno2.tokens["operator"])
    assert app_client.get(f"/web/tickets/{tid}").status_code == 404
    _login(app_client, world.dso.tokens["operator"])
    flash, _ = _post(app_client, f"/web/tickets/{tid}", f"/web/tickets/{tid}/accept", {})
    assert "set by the MNO service desk" in flash
    assert app_client.get(f"/tmf-api/troubleTicket/v4/troubleTicket/{tid}",
                          headers=world.dso.auth()).json()["status"] == "acknowledged"


def test_the_dso_acknowledges_alerts_and_failover_commands(app_client: TestClient, world: World,
                                                           db: Database) -> None:
    r = app_client.post("/api/v1/ingest/notifications", json=alarm("notifyNewAlarm", "A-1", cell_dn(PLMN_A, 1)),
                        headers=world.mno.auth())
    assert r.status_code == 200
    _login(app_client, world.dso.tokens["operator"])
    alerts = app_client.get("/web/alerts").text
    alarm_id = re.search(r'<tr data-alarm="([^"]+)" data-ack="unacknowledged">', alerts)
    assert alarm_id is not None
    assert "1 alert(s) acknowledged" in _post(app_client, "/web/alerts", "/web/alerts/ack",
                                              {"alarm": alarm_id.group(1), "state": "ack"})[0]
    listed = app_client.get("/FaultSupervisionMnS/v1/alarms", headers=world.dso.auth("viewer")).json()
    assert listed[alarm_id.group(1)]["ackState"] == "ACKNOWLEDGED"
    # The MNO's own alarm is untouched: the acknowledgement is the DSO's.
    mno_view = app_client.get("/api/v1/alarms", headers=world.mno.auth("viewer")).text
    assert "ACKNOWLEDGED" not in mno_view

    commands = app_client.get("/web/commands").text
    cmd = re.search(r'<tr data-command="([^"]+)" data-action="switch">', commands)
    assert cmd is not None, commands
    flash, _html = _post(app_client, "/web/commands", f"/web/commands/{cmd.group(1)}/ack",
                        {"status": "done", "detail": "router confirmed"})
    assert "acknowledged: done" in flash
    api = app_client.get("/api/v1/failover/commands", headers=world.dso.auth("viewer")).json()
    assert next(c for c in api if c["commandId"] == cmd.group(1))["ackStatus"] == "done"
    assert {"acknowledge alerts", "acknowledge failover command"} <= {a for a, _ in _actions(db, world.dso.id)}
    # Filter and search on the commands list.
    switched = app_client.get("/web/commands", params={"action": "switch", "q": "D1-CPE1"}).text
    assert cmd.group(1) in switched and 'data-action="prepare"' not in switched


def test_subscriptions_are_managed_with_their_delivery_record(app_client: TestClient, world: World) -> None:
    _login(app_client, world.dso.tokens["operator"])
    flash, _ = _post(app_client, "/web/subscriptions", "/web/subscriptions", {"min_status": "degraded",
                                                                             "plmns": PLMN_A})
    sub = re.search(r"Subscription (sub_[0-9a-f]+) created \(SSE only\)", flash)
    assert sub is not None, flash
    r = app_client.post("/api/v1/ingest/notifications", json=alarm("notifyNewAlarm", "A-2", cell_dn(PLMN_A, 2)),
                        headers=world.mno.auth())
    assert r.status_code == 200
    page = app_client.get("/web/subscriptions").text
    assert sub.group(1) in page and "siteStatusChanged" in page
    listed = app_client.get("/api/v1/subscriptions", headers=world.dso.auth("viewer")).json()
    assert [s["plmns"] for s in listed if s["id"] == sub.group(1)] == [[PLMN_A]]
    flash, _ = _post(app_client, "/web/subscriptions", "/web/subscriptions", {"min_status": "degraded",
                                                                             "callback": "ftp://user:pw@example.org/"})
    assert "created" not in flash and "callbackUri" in flash  # the same callback checks as the API
    _login(app_client, world.dso2.tokens["operator"])
    assert "not found" in _post(app_client, "/web/subscriptions", f"/web/subscriptions/{sub.group(1)}/delete",
                                {})[0]
    _login(app_client, world.dso.tokens["operator"])
    assert "deleted" in _post(app_client, "/web/subscriptions", f"/web/subscriptions/{sub.group(1)}/delete", {})[0]
    assert app_client.get(f"/api/v1/subscriptions/{sub.group(1)}", headers=world.dso.auth()).status_code == 404


# ---- outages, on a world with a grid model -------------------------------------------------------------------


@pytest.fixture
def grid_world(tmp_path: Path) -> Iterator[tuple[TestClient, Seeded, Database]]:
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    world = seed(url, tmp_path)
    db = fresh_database(url)
    with TestClient(create_app(make_settings(url), db=db)) as client:
        yield client, world, db


def test_the_dso_declares_an_outage_moves_it_and_closes_it_and_the_mno_answers(
        grid_world: tuple[TestClient, Seeded, Database]) -> None:
    client, world, db = grid_world
    _login(client, world.tokens["dso"])
    form = client.get("/web/outages/new").text
    head = re.search(rf'<option value="({GRID}/line:{world.feeder_line["north"]})">whole feeder', form)
    assert head is not None, "the north feeder is offered as a whole"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    fmt = "%Y-%m-%dT%H:%M"
    flash, html = _post(client, "/web/outages/new", "/web/outages", {
        "moi_id": "OUT-WEB-1", "elements": head.group(1), "start": (now - timedelta(minutes=10)).strftime(fmt),
        "end": (now + timedelta(hours=3)).strftime(fmt), "rapid_time": (now + timedelta(minutes=30)).strftime(fmt),
        "rapid_minutes": "60", "priority": "1"})
    assert "declared" in flash, flash
    assert 'data-outage="OUT-WEB-1"' in html and "Losing every PLMN" in html
    plan = client.get("/api/v1/outages/OUT-WEB-1/plan", headers={"Authorization": f"Bearer {world.tokens['dso']}"})
    assert plan.status_code == 200 and plan.json()["dsoSites"]
    page = f"/web/outages/{world.dso}/OUT-WEB-1"
    new_end = now + timedelta(hours=5)
    assert "updated" in _post(client, page, f"{page}/times", {"end": new_end.strftime(fmt),
                                                             "rapid_time": (now + timedelta(hours=1)).strftime(fmt),
                                                             "rapid_minutes": "30"})[0]
    moi = client.get(f"/ProvMnS/v1900/SubNetwork={world.dso}/OutageAndRecoveryInfo=OUT-WEB-1",
                     headers={"Authorization": f"Bearer {world.tokens['dso']}"}).json()
    assert "dsoRapidInterventionDuration" in str(moi) and new_end.strftime(fmt) in str(moi)

    switch = re.search(r'<option value="([^"]+)">north S3 ', client.get(page).text)
    assert switch is not None
    flash, html = _post(client, page, f"{page}/switching", {"switch": switch.group(1), "position": "open"})
    assert "Switching recorded: north S3" in flash
    assert 'data-testid="switching-log"' in html and "opened" in html

    # The MNO answers for itself and confirms a generator.
    _login(client, world.tokens["mno_a"])
    assert "OUT-WEB-1" in client.get("/web/outages").text
    flash, html = _post(client, page, f"{page}/answer", {"max_service": "240", "reason": "generator on site"})
    assert "with the DSO" in flash
    gen = re.search(r'<select name="ran_site" required><option value="([^"]+)"', html)
    assert gen is not None, "the plan needs a generator at a RAN site of Telco A"
    flash, _ = _post(client, page, f"{page}/generators", {"ran_site": gen.group(1),
                                                          "eta": (now + timedelta(minutes=40)).strftime(fmt)})
    assert "confirmed" in flash

    _login(client, world.tokens["dso"])
    html = client.get(page).text
    assert "generator on site" in html and f"{gen.group(1)} ETA" in html
    assert "closed" in _post(client, page, f"{page}/close", {})[0]
    assert 'data-testid="outage-closed"' in client.get(page).text
    done = {a for a, _ in _actions(db, world.dso)}
    assert {"declare energy outage", "set outage times", "record switching", "close energy outage"} <= done


def test_a_declaration_is_validated_on_the_server(grid_world: tuple[TestClient, Seeded, Database]) -> None:
    client, world, _ = grid_world
    _login(client, world.tokens["dso"])
    flash, _html = _post(client, "/web/outages/new", "/web/outages", {"moi_id": "OUT-BAD", "start": "yesterday",
                                                                     "elements": f"{GRID}/line:9999"})
    assert "start" in flash and "elements" in flash
    flash, _ = _post(client, "/web/outages/new", "/web/outages", {"moi_id": "OUT-BAD",
                                                                  "start": "2026-01-01T10:00"})
    assert "pick the de-energized feeder" in flash
    flash, _ = _post(client, "/web/outages/new", "/web/outages", {
        "moi_id": "OUT-AREA", "start": "2026-01-01T10:00",
        "area": "[[7.83, 48.0], [7.86, 48.0], [7.86, 48.05], [7.83, 48.05]]"})
    assert "declared" in flash
    _login(client, world.tokens["mno_a"])
    assert client.get("/web/outages/new").status_code == 403
