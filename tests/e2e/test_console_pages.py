"""Drill-down, history, search and the pages around them, in a real browser: a DSO site's page (status per PLMN and
which PLMN still reaches it, its status timeline, availability and latency charts from its probes, commands,
incidents, outages), the MNO's RAN site page and map with the DSO's outage area, search, filters, sorting and
pages on the lists, the API docs offline, dark mode and keyboard use. Each page passes axe and is photographed."""

from __future__ import annotations

import re
import urllib.request
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.conftest import alarm
from tests.e2e.conftest import Pages, Server, call, check_page, live, login_password, login_token
from tests.e2e.dashboard_world import GRID

pytestmark = pytest.mark.timeout(300)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def busy(server: Server) -> Server:
    """Six hours of probes from Mühlbach's CPE on both PLMNs (26201 failing for the last half hour), then a RAN
    site down and an outage on the north feeder: something for every page to show."""
    world, base = server.world, server.base
    cpe = world.sites["Mühlbach"].replace(f"{GRID}-bus", "CPE-")
    now = datetime.now(UTC)
    lines = []
    for k in range(72):
        at = now - timedelta(hours=6) + timedelta(minutes=5 * k)
        for plmn in ("26201", "26202"):
            ok = plmn == "26202" or at < now - timedelta(minutes=30)
            lines.append({"cpe": cpe, "plmn": plmn, "ts": _iso(at), "ok": ok, "rtt_ms": 38.0 + k % 7 if ok else None})
    req = urllib.request.Request(f"{base}/api/v1/telemetry/probes", data=b"\n".join(orjson.dumps(x) for x in lines),
                                 method="POST", headers={"Authorization": f"Bearer {world.tokens['dso']}",
                                                         "Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200
    body = alarm("notifyNewAlarm", "PAGES-RA1", "SubNetwork=1,ManagedElement=RA-1", cause="TRANSMITTER_FAILURE")
    assert call("POST", f"{base}/api/v1/ingest/notifications", world.tokens["mno_a"], body)[0] == 200
    status, _ = call("PUT", f"{base}/ProvMnS/v1900/SubNetwork={world.dso}/OutageAndRecoveryInfo=OUT-PAGES",
                     world.tokens["dso"], {
                         "outageStartTime": _iso(now - timedelta(minutes=10)),
                         "expectedOutageEndTime": _iso(now + timedelta(hours=3)),
                         "affectedArea": {"energySupplyId": f"{GRID}/line:{world.feeder_line['north']}"}})
    assert status == 201
    return server


def test_a_sites_page_tells_its_story(busy: Server, pages: Pages) -> None:
    from playwright.sync_api import expect

    base, world = busy.base, busy.world
    site = world.sites["Mühlbach"]
    page = pages.new()
    login_password(page, base, world.passwords["dso"])
    page.goto(f"{base}/web/sites")
    live(page)
    check_page(page, "sites")
    page.fill("[data-testid=search]", "Mühlbach")
    page.click("[data-testid=filters] button[type=submit]")
    rows = page.locator("[data-testid=site-list] tbody tr[data-site-row]")
    expect(rows).to_have_count(1)
    rows.first.locator("a").click()
    expect(page).to_have_url(f"{base}/web/sites/{site}")
    live(page)
    status = page.locator("[data-testid=site-status]")
    expect(status.locator('tr[data-plmn="26201"]')).to_have_attribute("data-status", "down")
    expect(status.locator('tr[data-plmn="26201"]')).to_contain_text("reachable via 26202")
    expect(page.locator("[data-testid=site-reachable]")).to_have_text("Reachable via 26202")
    expect(page.locator("[data-testid=site-history] svg .tl-row")).to_have_count(2)
    expect(page.locator("[data-testid=site-history] svg .tl-seg.st-down")).to_have_count(1)
    avail = page.locator('[data-testid=site-availability] tr[data-plmn="26201"] [data-testid=availability24h]')
    expect(avail).to_have_text(re.compile(r"^\d+\.\d+ %$"))
    assert float(avail.inner_text().split()[0]) < 100.0
    for chart in ("#chart-availability", "#chart-rtt"):
        expect(page.locator(chart)).to_have_attribute("data-drawn", re.compile(r"^\d+$"))
        expect(page.locator(f"{chart} canvas")).to_have_count(1)
    expect(page.locator("[data-testid=site-commands] tbody tr[data-command]").first).to_be_visible()
    check_page(page, "site")


def test_lists_search_filter_sort_and_page(busy: Server, pages: Pages) -> None:
    from playwright.sync_api import expect

    base, world = busy.base, busy.world
    page = pages.new()
    login_token(page, base, world.tokens["dso"])
    page.goto(f"{base}/web/sites")
    page.select_option("[data-testid=filter-worst]", "down")
    page.click("[data-testid=filters] button[type=submit]")
    rows = page.locator("[data-testid=site-list] tbody tr[data-site-row]")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 1 and all(r.get_attribute("data-worst") == "down" for r in rows.all())
    page.goto(f"{base}/web/sites?sort=customers&dir=desc&per=5")
    expect(rows).to_have_count(5)
    first_five = [r.get_attribute("data-site-row") for r in rows.all()]
    expect(page.locator("[data-testid=pager-info]")).to_have_text(re.compile(r"^1–5 of \d+"))
    page.click("[data-testid=next-page]")
    expect(page.locator("[data-testid=pager-info]")).to_have_text(re.compile(r"^6–10 of \d+"))
    assert not set(first_five) & {r.get_attribute("data-site-row") for r in rows.all()}
    page.goto(f"{base}/web/commands?per=5")
    expect(page.locator("[data-testid=command-list] tbody tr[data-command]")).to_have_count(5)
    page.select_option("[data-testid=filter-action]", "switch")
    page.click("[data-testid=filters] button[type=submit]")
    actions = page.locator("[data-testid=command-list] tbody tr[data-command]")
    expect(actions.first).to_be_visible()
    assert {r.get_attribute("data-action") for r in actions.all()} == {"switch"}
    page.goto(f"{base}/web/tickets?q=nothing-matches-this")
    expect(page.locator("[data-testid=ticket-list]")).to_contain_text("No ticket matches")


def test_the_mno_sees_its_ran_sites_power_and_the_dsos_outage_area(busy: Server, pages: Pages) -> None:
    from playwright.sync_api import expect

    base, world = busy.base, busy.world
    page = pages.new()
    login_password(page, base, world.passwords["mno_a"])
    page.goto(f"{base}/web/map")
    live(page)
    expect(page.locator("[data-testid=map-areas]")).to_contain_text("OUT-PAGES")
    expect(page.locator('.ran-marker[data-ran="RA-2"]')).to_have_attribute("data-power", "battery")
    expect(page.locator(".leaflet-overlay-pane path")).not_to_have_count(0)  # the outage area
    check_page(page, "mno-map")
    page.goto(f"{base}/web/ran-sites?power=battery")
    expect(page.locator("[data-testid=ran-list] tbody tr[data-ran-row]").first).to_have_attribute("data-power",
                                                                                                 "battery")
    check_page(page, "ran-sites")
    page.click('[data-testid=ran-list] a:text-is("RA-2")')
    expect(page).to_have_url(f"{base}/web/ran-sites/RA-2")
    expect(page.locator("[data-testid=power-state]")).to_have_text("battery")
    expect(page.locator("[data-testid=ran-outages]")).to_contain_text("OUT-PAGES")
    check_page(page, "ran-site")
    # Another MNO's RAN site is not there for it.
    page.goto(f"{base}/web/ran-sites/RB-1")
    expect(page.locator("[data-testid=not-found]")).to_be_visible()


def test_the_api_docs_work_offline(busy: Server, pages: Pages) -> None:
    from playwright.sync_api import expect

    page = pages.new()  # every request to another host is refused and fails the test
    page.goto(f"{busy.base}/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)
    assert page.locator(".opblock").count() > 20
    page.goto(f"{busy.base}/redoc")
    expect(page.locator("h1", has_text="gridcell")).to_be_visible(timeout=20_000)
    assert page.request.get(f"{busy.base}/favicon.ico").status == 200


def test_dark_mode_and_keyboard(busy: Server, pages: Pages) -> None:
    from playwright.sync_api import expect

    base, world = busy.base, busy.world
    page = pages.new(color_scheme="dark")
    login_password(page, base, world.passwords["dso"])
    live(page)
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 23, 32)", background
    check_page(page, "dso-dark")
    page.goto(f"{base}/web/sites/{world.sites['Mühlbach']}")
    check_page(page, "site-dark")
    # Keyboard: the first Tab reaches the skip link, which moves focus to the content; the navigation follows.
    page.goto(f"{base}/web/tickets")
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))
    page.goto(f"{base}/web/tickets")
    for _ in range(3):
        page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.closest('nav, header') ? "
                            "document.activeElement.textContent.trim() : ''")
    assert focused, "the header and navigation are reachable with Tab"


def test_every_remaining_page_is_accessible(busy: Server, pages: Pages) -> None:
    base, world = busy.base, busy.world
    dso = pages.new()
    login_token(dso, base, world.tokens["dso_admin"])
    for path, name in (("/web/admin", "admin-dso"), ("/web/outages", "outages-list-dso"),
                       (f"/web/outages/{world.dso}/OUT-PAGES", "outage-pages-dso"), ("/web/alerts", "alerts-all"),
                       ("/web/commands", "commands-all"), ("/web/tickets", "tickets-list-dso")):
        dso.goto(f"{base}{path}")
        check_page(dso, name)
    mno = pages.new()
    login_token(mno, base, world.tokens["mno_a"])
    for path, name in (("/web/mno", "mno-overview"), ("/web/tickets", "tickets-list-mno"),
                       (f"/web/outages/{world.dso}/OUT-PAGES", "outage-pages-mno")):
        mno.goto(f"{base}{path}")
        check_page(mno, name)
