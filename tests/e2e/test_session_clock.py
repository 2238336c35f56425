"""Login sessions follow the wall clock, not the exchange's: with the demo's clock running 600 times faster, a
browser is still logged in after the exchange's clock has moved a whole day (the clock is driven forward here,
not waited for), and the header shows the exchange's time and speed. The server runs in this process so the test
can drive its clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import Pages, build_assets, check_page, free_port, live, login_password, wait_healthy
from tests.e2e.dashboard_world import Seeded, seed

pytestmark = pytest.mark.timeout(240)
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Seeded, object]]:
    import uvicorn

    from gridcell.app import create_app
    from gridcell.config import Settings
    from gridcell.core.clock import SystemClock, set_clock
    from gridcell.core.db import Database
    from gridcell.sim.live import AcceleratedClock

    build_assets()
    work: Path = tmp_path_factory.mktemp("clock")
    url = f"sqlite:///{work / 'clock.db'}"
    world = seed(url, work)
    clock = AcceleratedClock(START, 600.0)
    set_clock(clock)
    port = free_port()
    app = create_app(Settings(database_url=url, sqlite_synchronous="NORMAL"), db=Database(url))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, None, work / "none.log")
        yield base, world, clock
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        set_clock(SystemClock())


def test_a_session_outlives_a_day_of_demo_time(demo_server: tuple[str, Seeded, object], pages: Pages) -> None:
    from playwright.sync_api import expect

    base, world, clock = demo_server
    page = pages.new()
    login_password(page, base, world.passwords["dso"])
    expect(page).to_have_url(f"{base}/web/dso")
    live(page)
    expect(page.locator("[data-testid=clock-speed]")).to_have_text("demo ×600")
    expect(page.locator("#clock-time")).to_contain_text("01 Mar")
    check_page(page, "dso-demo-clock")

    clock.advance(timedelta(hours=24))  # type: ignore[attr-defined]
    page.reload()
    expect(page).to_have_url(f"{base}/web/dso")  # not sent back to the login page
    live(page)
    expect(page.locator("#clock-time")).to_contain_text("02 Mar")
    assert page.request.get(f"{base}/web/data").status == 200

    clock.advance(timedelta(days=6))  # type: ignore[attr-defined]
    page.goto(f"{base}/web/tickets")
    expect(page).to_have_url(f"{base}/web/tickets")
    expect(page.locator("#clock-time")).to_contain_text("08 Mar")
