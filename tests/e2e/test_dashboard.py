"""The operator dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright) against a running
`gridcell serve`: a DSO sees a site turn `down` within 2 s of an MNO alarm, the MNO desk sees the ticket the DSO
created with its attribution and evidence, and no organisation ever sees another's sites. Each view's screenshot
goes to tests/e2e/artifacts/ (fixtures and helpers: tests/e2e/conftest.py).
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import alarm
from tests.e2e.conftest import Server, call, check_page, live, login_password, login_token
from tests.e2e.dashboard_world import GRID, PLMN_A

LIVE_S = 2.0  # an MNO alarm must show on the DSO's screen within this, from the POST's acknowledgement

pytestmark = pytest.mark.timeout(300)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def outage(server: Server) -> Server:
    """An energy outage on the north feeder, under way for 20 minutes: its RAN sites are on battery."""
    now = datetime.now(UTC)
    world = server.world
    status, _ = call("PUT", f"{server.base}/ProvMnS/v1900/SubNetwork={world.dso}/OutageAndRecoveryInfo=OUT-NORTH-1",
                     world.tokens["dso"], {
                         "outageStartTime": _iso(now - timedelta(minutes=20)),
                         "expectedOutageEndTime": _iso(now + timedelta(hours=3)),
                         "dsoRapidInterventionTime": _iso(now + timedelta(minutes=30)),
                         "dsoRapidInterventionDuration": 60,
                         "affectedArea": {"energySupplyId": f"{GRID}/line:{world.feeder_line['north']}"},
                         "isAffectedAreaPriority": True})
    assert status == 201
    return server


def test_dso_sees_a_site_go_down_within_2_s_of_an_mno_alarm(outage: Server, page: Any) -> None:
    from playwright.sync_api import expect

    base, world = outage.base, outage.world
    login_password(page, base, world.passwords["dso"])
    expect(page).to_have_url(f"{base}/web/dso")
    live(page)
    site = world.sites["Mühlbach"]
    cell = page.locator(f'[data-testid=status-board] td[data-site="{site}"][data-plmn="{PLMN_A}"]')
    marker = page.locator(f'path.site-marker[data-site="{site}"]')
    expect(cell).to_have_attribute("data-status", "ok")
    page.select_option("#plmn", PLMN_A)
    expect(marker).to_have_attribute("data-status", "ok")

    body = alarm("notifyNewAlarm", "E2E-RA1", "SubNetwork=1,ManagedElement=RA-1", cause="TRANSMITTER_FAILURE")
    status, _ = call("POST", f"{base}/api/v1/ingest/notifications", world.tokens["mno_a"], body)
    acknowledged = time.monotonic()
    assert status == 200
    expect(cell).to_have_attribute("data-status", "down", timeout=LIVE_S * 1000)
    expect(marker).to_have_attribute("data-status", "down", timeout=max(LIVE_S - (time.monotonic() - acknowledged),
                                                                        0.05) * 1000)
    elapsed = time.monotonic() - acknowledged
    print(f"alarm acknowledged → site down on screen: {elapsed * 1000:.0f} ms")
    assert elapsed < LIVE_S

    attention = page.locator(f'[data-testid=at-risk] tr[data-site="{site}"][data-plmn="{PLMN_A}"]')
    expect(attention).to_contain_text("Network outage")
    expect(attention).to_contain_text("RA-1")  # cell-level agreement: the RAN site is named
    outage = page.locator('[data-testid=outages] [data-outage="OUT-NORTH-1"]')
    expect(outage).to_contain_text("60 min")
    expect(outage.locator("svg .tl-row")).to_have_count(4)  # the four stations of the de-energized feeder
    expect(outage.locator("svg .tl-window.misses")).to_have_count(1)  # comms fail before the window ends
    expect(page.locator('.ran-marker[data-ran="RA-1"]')).to_have_attribute("data-status", "down")
    # The board tells the plan's story: each site × PLMN the plan loses is at risk (or down), not green.
    _, plan = call("GET", f"{base}/api/v1/outages/OUT-NORTH-1/plan", world.tokens["dso"], None)
    lost = [(s["siteId"], p["plmn"]) for s in plan["dsoSites"] for p in s["plmnsLost"]]
    assert lost, plan["dsoSites"]
    for site_id, plmn in lost:
        expect(page.locator(f'[data-testid=status-board] td[data-site="{site_id}"][data-plmn="{plmn}"]')) \
            .to_have_attribute("data-status", re.compile("at_risk|down"))
    page.select_option("#plmn", "")
    check_page(page, "dso")


def test_mno_desk_sees_the_ticket_the_dso_created(outage: Server, page: Any) -> None:
    from playwright.sync_api import expect

    base, world = outage.base, outage.world
    site = world.sites["Kläranlage"]
    body = alarm("notifyNewAlarm", "E2E-RA3", "SubNetwork=1,ManagedElement=RA-3", cause="TRANSMITTER_FAILURE")
    assert call("POST", f"{base}/api/v1/ingest/notifications", world.tokens["mno_a"], body)[0] == 200
    status, ticket = call("POST", f"{base}/tmf-api/troubleTicket/v4/troubleTicket", world.tokens["dso"], {
        "name": "Kläranlage unreachable over 26201", "description": "Station Kläranlage: SCADA polls time out on "
        "the primary PLMN since 10:02", "severity": "Major", "ticketType": "connectivity",
        "relatedParty": [{"id": world.mno_a, "role": "addressee", "@referredType": "Organization"}],
        "relatedEntity": [{"id": site, "@referredType": "DsoSite", "role": "affected", "name": site}]})
    assert status == 201

    login_password(page, base, world.passwords["mno_a"])
    expect(page).to_have_url(f"{base}/web/mno")
    live(page)
    row = page.locator(f'[data-testid=tickets] tr[data-ticket="{ticket["id"]}"]')
    expect(row).to_contain_text("Kläranlage unreachable over 26201")
    expect(row).to_contain_text("Ortenau Netz")
    expect(row.locator("[data-cause]")).to_have_attribute("data-cause", "mno_network")
    row.locator("details.evidence summary").click()
    expect(row.locator("details.evidence")).to_contain_text("RA-3")
    outage = page.locator('[data-testid=outage-requests] [data-outage="OUT-NORTH-1"]')
    expect(outage.locator("[data-testid=max-service]")).to_have_text("60 min")
    expect(outage.locator("[data-testid=generators]")).to_contain_text("RA-2")
    check_page(page, "mno")

    # The DSO's screen lists it too, attributed.
    page.context.clear_cookies()
    login_token(page, base, world.tokens["dso"])
    live(page)
    expect(page.locator(f'[data-testid=incidents] tr[data-ticket="{ticket["id"]}"] [data-cause]')) \
        .to_have_attribute("data-cause", "mno_network")


def test_an_organisation_never_sees_another_organisations_sites(outage: Server, page: Any) -> None:
    from playwright.sync_api import expect

    base, world = outage.base, outage.world
    login_token(page, base, world.tokens["dso2"])
    expect(page).to_have_url(f"{base}/web/dso")
    live(page)
    expect(page.locator("[data-testid=org-name]")).to_have_text("Kraichgau Energie")
    expect(page.locator("path.site-marker")).to_have_count(len(world.dso2_sites))
    data = page.request.get(f"{base}/web/data").json()
    shown = {s["id"] for s in data["map"]["sites"]}
    assert shown == set(world.dso2_sites)
    assert {r["id"] for r in data["map"]["ranSites"]} == {"RA-9"}
    assert data["map"]["lines"] == []  # the grid is the other DSO's
    html = page.content()
    for other in world.sites.values():
        assert f'"{other}"' not in html and other not in json.dumps(data)
    assert "OUT-NORTH-1" not in html and "Ortenau" not in html
    check_page(page, "dso-other")

    # The first DSO's view holds none of the second's sites, nor the RAN site that serves only them.
    page.context.clear_cookies()
    login_token(page, base, world.tokens["dso"])
    live(page)
    data = page.request.get(f"{base}/web/data").json()
    ids = {s["id"] for s in data["map"]["sites"]}
    assert ids.isdisjoint(world.dso2_sites) and set(world.sites.values()) <= ids
    assert "RA-9" not in {r["id"] for r in data["map"]["ranSites"]}
    assert not any(k in page.content() for k in ("KR-", "Kraichgau"))
    # Telco B's agreement is area-level: its RAN sites are never drawn for the DSO.
    assert not any(r["id"].startswith("RB-") for r in data["map"]["ranSites"])

    # Telco B sees no ticket addressed to Telco A and no plan part for Telco A's sites.
    page.context.clear_cookies()
    login_token(page, base, world.tokens["mno_b"])
    expect(page).to_have_url(f"{base}/web/mno")
    live(page)
    text = page.locator("#panels").inner_text()
    assert "Kläranlage unreachable" not in text and "RA-2" not in text and "RA-1" not in text


def test_login_page_and_logout(outage: Server, page: Any) -> None:
    from playwright.sync_api import expect

    base, world = outage.base, outage.world
    page.goto(f"{base}/web/dso")
    expect(page).to_have_url(f"{base}/web/login")
    org, user, _ = world.passwords["dso"]
    login_password(page, base, (org, user, "not the password"))
    expect(page.locator("[data-testid=login-error]")).to_be_visible()
    check_page(page, "login")
    login_password(page, base, world.passwords["dso"])
    live(page)
    cookie = next(c for c in page.context.cookies() if c["name"] == "gridcell_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.click(".logout button")
    expect(page).to_have_url(f"{base}/web/login")
    assert page.request.get(f"{base}/web/data").status == 401
