"""The dashboard without a browser: passwords, the admin command, sessions and CSRF, and what each side sees."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gridcell.core.db import Database
from gridcell.tenancy import service as tenancy
from gridcell.web import auth
from tests.conftest import PLMN_A, PLMN_B, World, alarm, cell_dn

ORIGIN = {"Origin": "http://testserver"}


def _login(client: TestClient, token: str) -> None:
    r = client.post("/web/login", data={"token": token}, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303, r.text


def _data(client: TestClient) -> dict[str, Any]:
    r = client.get("/web/data")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_passwords_are_scrypt_hashed_and_verified() -> None:
    stored = auth.hash_password("a long enough secret")
    assert stored.startswith("scrypt$16384$8$1$") and "a long enough secret" not in stored
    assert auth.verify_password("a long enough secret", stored)
    assert not auth.verify_password("a long enough secreT", stored)
    assert not auth.verify_password("x", "md5$abc")
    assert auth.hash_password("same") != auth.hash_password("same")  # salted


def test_admin_create_user_prints_the_id_and_users_log_in(db: Database, app_client: TestClient, world: World,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from gridcell.cli import _register_capability_commands, app

    monkeypatch.setenv("GRIDCELL_DATABASE_URL", db.url)
    from gridcell.config import get_settings

    get_settings.cache_clear()
    _register_capability_commands()
    runner = CliRunner()
    r = runner.invoke(app, ["admin", "create-user", world.dso.id, "eva", "--role", "viewer", "--password-stdin"],
                      input="eva's long password\n")
    assert r.exit_code == 0, r.output
    assert re.fullmatch(r"usr_[0-9a-f]+\n", r.stdout)
    again = runner.invoke(app, ["admin", "create-user", world.dso.id, "eva", "--role", "viewer", "--generate"])
    assert again.exit_code == 2 and "exists already" in again.stderr
    gen = runner.invoke(app, ["admin", "create-user", world.mno.id, "desk", "--role", "operator", "--generate"])
    assert gen.exit_code == 0
    password = gen.stdout.strip()
    get_settings.cache_clear()

    bad = app_client.post("/web/login", data={"org": world.dso.id, "username": "eva", "password": "wrong one"},
                          headers=ORIGIN)
    assert bad.status_code == 401 and "set-cookie" not in bad.headers
    ok = app_client.post("/web/login", data={"org": world.mno.id, "username": "desk", "password": password},
                         headers=ORIGIN, follow_redirects=False)
    assert ok.status_code == 303
    assert app_client.get("/web/", follow_redirects=False).headers["location"] == "/web/mno"
    with db.read() as s, pytest.raises(Exception, match="at least 12"):
        auth.create_user(s, world.dso.id, "short", "short", "viewer")


def test_session_cookie_csrf_and_logout(app_client: TestClient, world: World) -> None:
    assert app_client.get("/web/data").status_code == 401
    assert app_client.get("/web/dso", follow_redirects=False).headers["location"] == "/web/login"
    # A login posted from another site is refused.
    cross = app_client.post("/web/login", data={"token": world.dso.tokens["viewer"]},
                            headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert cross.status_code == 403
    r = app_client.post("/web/login", data={"token": world.dso.tokens["viewer"]}, headers=ORIGIN,
                        follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    page = app_client.get("/web/dso")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    assert app_client.post("/web/logout", data={"csrf": "forged"}, headers=ORIGIN).status_code == 403
    assert app_client.get("/web/data").status_code == 200
    out = app_client.post("/web/logout", data={"csrf": csrf.group(1)}, headers=ORIGIN, follow_redirects=False)
    assert out.status_code == 303
    app_client.cookies.clear()
    assert app_client.get("/web/data", cookies={"gridcell_session": cookie.split(";")[0].split("=", 1)[1]}) \
        .status_code == 401


def test_a_revoked_client_ends_its_dashboard_session(app_client: TestClient, db: Database, world: World) -> None:
    with db.write() as s:
        client_id, token = tenancy.create_client(s, world.dso.id, "viewer")
    _login(app_client, token)
    assert app_client.get("/web/data").status_code == 200
    with db.write() as s:
        from sqlalchemy import update

        from gridcell.tenancy.models import ApiClient

        s.execute(update(ApiClient).where(ApiClient.id == client_id).values(revoked=True))
    assert app_client.get("/web/data").status_code == 401


def test_each_side_sees_only_its_own_and_area_agreements_are_redacted(app_client: TestClient, world: World) -> None:
    r = app_client.post("/api/v1/ingest/notifications", headers=world.mno2.auth(),
                        json=alarm("notifyNewAlarm", "B-1", cell_dn(PLMN_B, 0)))
    assert r.status_code == 200, r.text
    r = app_client.post("/api/v1/ingest/notifications", headers=world.mno.auth(),
                        json=alarm("notifyNewAlarm", "A-1", cell_dn(PLMN_A, 1)))
    assert r.status_code == 200, r.text

    _login(app_client, world.dso.tokens["viewer"])
    d = _data(app_client)
    assert {s["id"] for s in d["map"]["sites"]} == {"D1-S0", "D1-S1", "D1-S2"}
    assert {r["id"] for r in d["map"]["ranSites"]} == {"RAN-26201"}  # mno2's agreement is area-level
    down = {(s["id"], p) for s in d["map"]["sites"] for p, st in s["status"].items() if st == "down"}
    assert ("D1-S1", PLMN_A) in down and {("D1-S0", PLMN_B), ("D1-S1", PLMN_B), ("D1-S2", PLMN_B)} <= down
    # Cell-level detail for PLMN A, none for the area-level PLMN B.
    assert "26201-C1" in d["panels"]
    assert "26202-C0" not in d["panels"] and "RAN-26202" not in d["panels"] and "B-1" not in d["panels"]
    assert "D2-" not in d["panels"] + d["side"]

    app_client.cookies.clear()
    _login(app_client, world.dso2.tokens["viewer"])
    d2 = _data(app_client)
    assert {s["id"] for s in d2["map"]["sites"]} == {"D2-S0", "D2-S1", "D2-S2"}
    assert "D1-" not in d2["panels"] + d2["side"]

    app_client.cookies.clear()
    _login(app_client, world.mno2.tokens["viewer"])
    assert app_client.get("/web/dso", follow_redirects=False).headers["location"] == "/web/mno"
    m = _data(app_client)
    assert m["kind"] == "mno" and "map" not in m
    assert "D1-S" not in m["panels"]


def test_static_assets_are_served_and_confined(app_client: TestClient) -> None:
    r = app_client.get("/web/static/dashboard.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert app_client.get("/web/static/../api.py").status_code == 404
    assert app_client.get("/web/static/%2e%2e/api.py").status_code == 404


def test_password_guessing_is_slowed_per_account_and_per_address(app_client: TestClient, db: Database,
                                                                 world: World) -> None:
    with db.write() as s:
        auth.create_user(s, world.dso.id, "eva", "a long enough password", "viewer")
    form = {"org": world.dso.id, "username": "eva", "password": "wrong guess"}
    for _ in range(5):
        assert app_client.post("/web/login", data=form, headers=ORIGIN).status_code == 401
    refused = app_client.post("/web/login", data={**form, "password": "a long enough password"}, headers=ORIGIN)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "set-cookie" not in refused.headers  # even the right password waits: the account is under attack
    # Other accounts from the same address still get in, until the address's own limit.
    others = [app_client.post("/web/login", data={"org": world.dso.id, "username": f"u{i}", "password": "x" * 12},
                              headers=ORIGIN).status_code for i in range(20)]
    assert 401 in others and others[-1] == 429
