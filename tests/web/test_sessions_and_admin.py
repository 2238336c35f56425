"""Dashboard sessions on the wall clock (idle timeout, absolute lifetime, revocation) and an organisation's
administration of its users, API clients and sessions: always its own, always audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from gridcell.core.clock import ManualClock, set_clock
from gridcell.core.db import Database
from gridcell.tenancy import service as tenancy
from gridcell.web import admin, auth
from tests.conftest import World

ORIGIN = {"Origin": "http://testserver"}


def _login(client: TestClient, token: str) -> None:
    r = client.post("/web/login", data={"token": token}, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303, r.text


def _login_user(client: TestClient, org: str, user: str, password: str) -> None:
    r = client.post("/web/login", data={"org": org, "username": user, "password": password}, headers=ORIGIN,
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def _csrf(client: TestClient, url: str = "/web/admin") -> str:
    page = client.get(url)
    assert page.status_code == 200, page.text
    m = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert m is not None
    return m.group(1)


def _post(client: TestClient, url: str, data: dict[str, str]) -> str:
    """Posts a dashboard form; returns the flash text the next page shows."""
    r = client.post(url, data={"csrf": _csrf(client), **data}, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"])
    m = re.search(r'data-testid="flash">([^<]*)<', page.text)
    return m.group(1) if m else ""


def _shift_wall(monkeypatch: pytest.MonkeyPatch, delta: timedelta) -> None:
    real = datetime.now(UTC)
    monkeypatch.setattr(auth, "wallnow", lambda: real + delta)


def test_a_session_outlives_a_day_of_accelerated_exchange_time(app_client: TestClient, world: World) -> None:
    """The demo runs the exchange's clock 600x: a day of exchange time is 144 s of wall time."""
    clock = ManualClock(datetime.now(UTC))
    set_clock(clock)
    _login(app_client, world.dso.tokens["viewer"])
    clock.advance(timedelta(hours=24))
    assert app_client.get("/web/data").status_code == 200
    clock.advance(timedelta(days=30))
    assert app_client.get("/web/data").status_code == 200


def test_idle_sessions_end_and_use_keeps_them(app_client: TestClient, world: World,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _login(app_client, world.dso.tokens["viewer"])
    _shift_wall(monkeypatch, timedelta(minutes=20))
    assert app_client.get("/web/data").status_code == 200  # used: the idle deadline moves to +50 min
    _shift_wall(monkeypatch, timedelta(minutes=45))
    assert app_client.get("/web/data").status_code == 200
    _shift_wall(monkeypatch, timedelta(minutes=45 + 31))
    assert app_client.get("/web/data").status_code == 401


def test_sessions_end_after_twelve_hours_however_busy(app_client: TestClient, world: World,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _login(app_client, world.dso.tokens["viewer"])
    for minutes in range(25, 12 * 60, 25):
        _shift_wall(monkeypatch, timedelta(minutes=minutes))
        assert app_client.get("/web/data").status_code == 200, minutes
    _shift_wall(monkeypatch, timedelta(hours=12, minutes=1))
    assert app_client.get("/web/data").status_code == 401


def test_only_admins_reach_the_administration(app_client: TestClient, world: World) -> None:
    _login(app_client, world.dso.tokens["operator"])
    r = app_client.get("/web/admin")
    assert r.status_code == 403 and "admin" in r.text
    assert "/web/admin" not in app_client.get("/web/dso").text  # not offered in the navigation either
    r = app_client.post("/web/admin/users", data={"csrf": _csrf(app_client, "/web/dso"), "username": "x",
                                                  "password": "long enough password", "role": "admin"},
                        headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303
    assert "needs role &#39;admin&#39;" in app_client.get(r.headers["location"]).text


def test_admin_creates_a_user_changes_its_role_and_revokes_it(app_client: TestClient, world: World,
                                                              db: Database) -> None:
    admin_client = app_client
    _login(admin_client, world.dso.tokens["admin"])
    assert "created" in _post(admin_client, "/web/admin/users", {"username": "nina", "role": "viewer",
                                                                "password": "nina's long password"})
    # Server-side validation: a short password is refused with the field named, nothing created.
    text = _post(admin_client, "/web/admin/users", {"username": "short", "role": "viewer", "password": "x"})
    assert "password" in text
    with db.read() as s:
        names = [u.username for u in admin.list_users(s, tenancy.Caller("t", world.dso.id, "dso", "admin"))]
    assert names == ["nina"]

    nina = TestClient(admin_client.app)
    _login_user(nina, world.dso.id, "nina", "nina's long password")
    assert nina.get("/web/data").status_code == 200
    page = admin_client.get("/web/admin").text
    user_id = re.search(r'/web/admin/users/(usr_[0-9a-f]+)/role', page)
    assert user_id is not None
    assert "Role changed to operator" in _post(admin_client, f"/web/admin/users/{user_id.group(1)}/role",
                                               {"role": "operator"})
    assert "nina · operator" in nina.get("/web/dso").text  # the running session follows the new role
    assert "1 open session(s) ended" in _post(admin_client, f"/web/admin/users/{user_id.group(1)}/revoke", {})
    assert nina.get("/web/data").status_code == 401
    r = nina.post("/web/login", data={"org": world.dso.id, "username": "nina", "password": "nina's long password"},
                  headers=ORIGIN)
    assert r.status_code == 401

    with db.read() as s:
        actions = [e.action for e in tenancy.audit_entries(s, world.dso.id, 50)]
    assert {"create dashboard user", "change dashboard user role", "revoke dashboard user"} <= set(actions)


def test_revoking_an_api_client_ends_its_dashboard_sessions(app_client: TestClient, world: World,
                                                            db: Database) -> None:
    with db.write() as s:
        client_id, token = tenancy.create_client(s, world.dso.id, "viewer", "wallboard")
    wallboard = TestClient(app_client.app)
    _login(wallboard, token)
    assert wallboard.get("/web/data").status_code == 200
    _login(app_client, world.dso.tokens["admin"])
    assert "1 open session(s) ended" in _post(app_client, f"/web/admin/clients/{client_id}/revoke", {})
    assert wallboard.get("/web/data").status_code == 401
    assert app_client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    # The token of a new client is shown once, in the answer to its creation.
    text = _post(app_client, "/web/admin/clients", {"role": "viewer", "name": "gateway"})
    new_token = re.search(r"shown this once: (\S+)", text)
    assert new_token is not None
    assert app_client.get("/api/v1/me", headers={"Authorization": f"Bearer {new_token.group(1)}"}).status_code == 200
    assert new_token.group(1) not in app_client.get("/web/admin").text


def test_administration_is_the_organisations_own(app_client: TestClient, world: World, db: Database) -> None:
    with db.write() as s:
        other_user = auth.create_user(s, world.dso2.id, "otto", "otto's long password", "viewer")
        other_client, _ = tenancy.create_client(s, world.dso2.id, "viewer")
    _login(app_client, world.dso.tokens["admin"])
    assert "not found" in _post(app_client, f"/web/admin/users/{other_user}/revoke", {})
    assert "not found" in _post(app_client, f"/web/admin/clients/{other_client}/revoke", {})
    page = app_client.get("/web/admin").text
    assert "otto" not in page and other_client not in page
    with db.read() as s:
        assert tenancy.caller_for_client(s, other_client) is not None  # not revoked


def test_admin_ends_another_session_but_not_its_own_by_mistake(app_client: TestClient, world: World) -> None:
    other = TestClient(app_client.app)
    _login(other, world.dso.tokens["viewer"])
    _login(app_client, world.dso.tokens["admin"])
    page = app_client.get("/web/admin").text
    keys = re.findall(r"/web/admin/sessions/([0-9a-f]{64})/end", page)
    assert len(keys) == 1  # the admin's own session offers no "end" button
    assert "Session ended" in _post(app_client, f"/web/admin/sessions/{keys[0]}/end", {})
    assert other.get("/web/data").status_code == 401
    assert app_client.get("/web/data").status_code == 200


def test_api_lists_and_revokes_clients(app_client: TestClient, world: World) -> None:
    admin_h = world.dso.auth("admin")
    listed = app_client.get("/api/v1/clients", headers=admin_h).json()
    assert {c["role"] for c in listed} == {"viewer", "operator", "admin"} and "token" not in str(listed)
    viewer_id = next(c["id"] for c in listed if c["role"] == "viewer")
    assert app_client.delete(f"/api/v1/clients/{viewer_id}", headers=world.dso2.auth("admin")).status_code == 404
    assert app_client.delete(f"/api/v1/clients/{viewer_id}", headers=admin_h).status_code == 204
    assert app_client.get("/api/v1/me", headers=world.dso.auth("viewer")).status_code == 401
    own = next(c["id"] for c in listed if c["role"] == "admin")
    assert app_client.delete(f"/api/v1/clients/{own}", headers=admin_h).status_code == 409
