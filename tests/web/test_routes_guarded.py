"""Every dashboard route is guarded: pages send the logged-out browser to the login page, and every form post
needs a session, this origin and the session's CSRF token (a post without them changes nothing)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import World
from tests.test_authorization import DASHBOARD_PATHS

ORIGIN = {"Origin": "http://testserver"}
PUBLIC = {"/", "/web", "/web/", "/web/login", "/web/static/{path:path}", "/favicon.ico"}


def _routes(client: TestClient) -> list[tuple[str, str]]:
    routes: list[Any] = list(client.app.routes)  # type: ignore[attr-defined]
    try:  # recent FastAPI includes routers lazily
        from fastapi.routing import iter_route_contexts

        routes = list(iter_route_contexts(routes))
    except ImportError:
        pass
    out = []
    for route in routes:
        path = getattr(route, "path", "")
        if path in DASHBOARD_PATHS and path not in PUBLIC:
            out += [(m, path) for m in sorted(getattr(route, "methods", ()) or ()) if m != "HEAD"]
    return out


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_logged_out_every_page_goes_to_login_and_every_post_is_refused(app_client: TestClient) -> None:
    routes = _routes(app_client)
    assert len(routes) > 30
    for method, path in routes:
        r = app_client.request(method, _url(path), headers=ORIGIN, follow_redirects=False)
        if path in ("/web/data", "/web/events"):
            assert r.status_code == 401, (method, path)
        else:
            assert r.status_code == 303 and r.headers["location"] == "/web/login", (method, path, r.status_code)


def test_every_post_needs_the_sessions_csrf_token(app_client: TestClient, world: World) -> None:
    r = app_client.post("/web/login", data={"token": world.dso.tokens["admin"]}, headers=ORIGIN,
                        follow_redirects=False)
    assert r.status_code == 303
    posts = [p for m, p in _routes(app_client) if m == "POST" and p != "/web/logout"]
    for path in posts:
        r = app_client.post(_url(path), data={"csrf": "forged"}, headers=ORIGIN, follow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)
    page = app_client.get("/web/dso").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    for path in posts:
        r = app_client.post(_url(path), data={"csrf": csrf.group(1)}, headers={"Origin": "https://evil.example"},
                            follow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)
