"""Browser tests of the console: Debian's Chromium driven by Playwright against a real `gridcell serve` on the
seeded world of `dashboard_world`; axe-core (pinned in package.json, installed with `npm ci`) checks each page;
screenshots of each page at 1440×900 and 390×844 go to tests/e2e/artifacts/.

Outside CI the tests skip with a reason when chromium, Playwright or npm is missing; in CI they must run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.e2e.dashboard_world import Seeded, seed

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
IN_CI = os.environ.get("CI", "").lower() == "true"
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
WIDE, PHONE = {"width": 1440, "height": 900}, {"width": 390, "height": 844}


def need(condition: bool, reason: str) -> None:
    if not condition:
        if IN_CI:
            raise AssertionError(reason)
        pytest.skip(reason)


def call(method: str, url: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        raw = r.read()
        return r.status, json.loads(raw) if raw else None


def wait_healthy(base: str, proc: subprocess.Popen[bytes] | None, log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            raise AssertionError(f"gridcell serve did not come up: {log.read_text()[-2000:] if log.exists() else ''}")
        time.sleep(0.2)


@dataclass
class Server:
    base: str
    world: Seeded
    url: str
    workdir: Path


def build_assets() -> None:
    from gridcell.web import assets

    try:
        assets.build()
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        need(False, f"dashboard assets cannot be built: {exc}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`gridcell serve` on a freshly seeded world, one per test module."""
    build_assets()
    work = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{work / 'console.db'}"
    world = seed(url, work)
    port = free_port()
    env = {**os.environ, "GRIDCELL_DATABASE_URL": url, "GRIDCELL_SQLITE_SYNCHRONOUS": "NORMAL",
           "GRIDCELL_ALLOW_PRIVATE_WEBHOOKS": "true"}
    script = Path(sys.executable).parent / "gridcell"
    exe = str(script) if script.exists() else (shutil.which("gridcell") or "gridcell")
    log_path = work / "serve.log"
    log = log_path.open("wb")
    proc = subprocess.Popen([exe, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, log_path)
        yield Server(base, world, url, work)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


# Scoped to tests/e2e: Playwright's sync API keeps an asyncio loop running in this thread while it is open, and
# every later test that calls asyncio.run() would fail if it stayed open for the whole session.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    need(CHROMIUM.exists(), f"{CHROMIUM} not found (apt-get install -y chromium; `make browser`)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "playwright is not installed (pip install -r requirements.txt)")
        return
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Pages:
    """Browser contexts (each its own cookie jar: one person each) that fail the test on a JavaScript error."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.contexts: list[Any] = []
        self.errors: list[str] = []

    def new(self, viewport: dict[str, int] | None = None, color_scheme: str = "light") -> Any:
        """A page that may only reach this machine (the console works offline: anything else is refused and is
        an error), and whose missing resources (a 404 for a script, a style, an icon) are errors too."""
        context = self.browser.new_context(viewport=viewport or WIDE, locale="en-GB", timezone_id="UTC",
                                           color_scheme=color_scheme)
        context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/])"), self._offline)
        self.contexts.append(context)
        pg = context.new_page()
        pg.on("pageerror", lambda exc: self.errors.append(str(exc)))
        pg.on("response", self._missing)
        return pg

    def _offline(self, route: Any) -> None:
        if not route.request.url.startswith(("data:", "blob:", "about:")):
            self.errors.append(f"request to another host: {route.request.url}")
        route.abort()

    def _missing(self, response: Any) -> None:
        if response.status == 404 and response.request.resource_type != "document":
            self.errors.append(f"404 for {response.request.resource_type} {response.url}")

    def close(self) -> None:
        for c in self.contexts:
            c.close()


@pytest.fixture
def pages(browser: Any) -> Iterator[Pages]:
    out = Pages(browser)
    yield out
    out.close()
    assert not out.errors, f"errors on the page: {out.errors}"


@pytest.fixture
def page(pages: Pages) -> Any:
    return pages.new()


def login_password(page: Any, base: str, who: tuple[str, str, str]) -> None:
    org, user, password = who
    page.goto(f"{base}/web/login")
    page.fill("input[name=org]", org)
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def login_token(page: Any, base: str, token: str) -> None:
    page.goto(f"{base}/web/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")


def live(page: Any) -> None:
    """The page has drawn its data and its event stream is connected."""
    from playwright.sync_api import expect

    expect(page.locator("#live")).to_have_class("live on", timeout=15_000)
    expect(page.locator("body")).to_have_attribute("data-updated", re.compile(".+"), timeout=15_000)


def flash(page: Any) -> str:
    from playwright.sync_api import expect

    box = page.locator("[data-testid=flash]")
    expect(box).to_be_visible(timeout=15_000)
    return str(box.inner_text())


def shot(page: Any, name: str) -> None:
    """Screenshots of the current page, wide and on a phone; on the phone nothing may overflow sideways."""
    ARTIFACTS.mkdir(exist_ok=True)
    before = page.viewport_size
    for size, suffix in ((WIDE, ""), (PHONE, "-390")):
        page.set_viewport_size(size)
        page.wait_for_function("() => document.readyState === 'complete'")
        page.screenshot(path=str(ARTIFACTS / f"{name}{suffix}.png"), full_page=True)
        if size is PHONE:
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{name}: the page is {overflow} px wider than a 390 px screen"
    page.set_viewport_size(before)


def axe(page: Any, name: str) -> None:
    """axe-core on the current page (WCAG 2.0/2.1 A and AA rules): no serious or critical violation."""
    need(AXE.is_file() or _install_axe(), "axe-core is not installed (npm ci in tests/e2e)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())  # through the debugger protocol: the page's own CSP stays strict
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a',
                                                                            'wcag21aa']},
                                           resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: accessibility violations: {json.dumps(bad, indent=1)}"


def _install_axe() -> bool:
    if shutil.which("npm") is None:
        return False
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300,
                   stdout=subprocess.DEVNULL)
    return AXE.is_file()


def check_page(page: Any, name: str) -> None:
    """Every page of the console: accessible (axe) and usable wide and on a phone (screenshots)."""
    axe(page, name)
    shot(page, name)
