"""Dashboard pages: login/logout, the DSO and MNO overviews, their live data, the wake-up stream, static assets.

Pages are rendered on the server (Jinja2, autoescaped); a small script swaps in fresh panels and recolours the
map when the org-wide stream (`/web/events`) says something changed for the organisation. Authentication is a
session cookie (HttpOnly, SameSite=Strict, Secure over https); form posts carry a per-session CSRF token and
must come from this origin.
"""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from gridcell.core.bus import Bus, Message, on_loop
from gridcell.core.clock import isoformat, utcnow
from gridcell.core.security import hash_token
from gridcell.web import auth, guard, render, views
from gridcell.web.auth import WebCaller
from gridcell.web.guard import COOKIE, current, redirect, show
from gridcell.web.handlers import WAKE_TOPIC

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
KEEPALIVE_S = 15.0
COALESCE_S = 0.05

pages = APIRouter(tags=["dashboard"], include_in_schema=False)


@pages.get("/")
def root(request: Request) -> Response:
    return redirect("/web/")


@pages.get("/web")
@pages.get("/web/")
def web_root(request: Request) -> Response:
    web = current(request)
    return redirect(guard.home(web) if web else "/web/login")


@pages.get("/web/login")
def login_page(request: Request) -> Response:
    web = current(request)
    if web is not None:
        return redirect(guard.home(web))
    return show(request, "login.html", None)


def _login_limits(request: Request) -> auth.LoginLimits:
    """One per app (its process), made on the first login."""
    limits = getattr(request.app.state, "login_limits", None)
    if limits is None:
        limits = request.app.state.login_limits = auth.LoginLimits()
    return limits


@pages.post("/web/login")
async def login(request: Request) -> Response:
    if not guard.same_origin(request):
        return show(request, "login.html", None, 403, error="The login form must be sent from this site.")
    form = await guard.form_data(request)
    token, org = form.get("token", "").strip(), form.get("org", "").strip()
    username, password = form.get("username", "").strip(), form.get("password", "")
    db = guard.db(request)
    address = request.client.host if request.client else "?"
    account = f"{org}/{username}" if password else f"token:{hash_token(token)[:16]}"
    limits = _login_limits(request)
    wait = limits.retry_after(address, account)
    if wait is not None:
        refused = show(request, "login.html", None, 429, org=org, username=username,
                        error=f"Too many login attempts. Try again in {wait} s.")
        refused.headers["Retry-After"] = str(wait)
        return refused

    def check() -> auth.Login | None:
        if token:
            with db.read() as session:
                return auth.login_with_token(session, token)
        if not (org and username and password):
            return None
        with db.read() as session:  # read, then check the password outside any transaction
            candidate = auth.login_candidate(session, org, username)
        return auth.check_password(candidate, password)

    def start(login: auth.Login) -> str:
        with db.write() as session:
            return auth.start_session(session, login)

    result = await asyncio.to_thread(check)
    value = await asyncio.to_thread(start, result) if result is not None else None
    if value is None:
        if token or password:
            limits.failed(account)
        error = "Wrong organisation, username or password, or an invalid token." if (token or password) \
            else "Enter a username and password, or an API client token."
        return show(request, "login.html", None, 401, error=error, org=org, username=username)
    response = redirect("/web/")
    response.set_cookie(COOKIE, value, max_age=int(auth.SESSION_TTL.total_seconds()), path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


@pages.post("/web/logout")
async def logout(request: Request) -> Response:
    form = await guard.form_data(request)
    web = await asyncio.to_thread(current, request)
    if web is None:
        return redirect("/web/login")
    if not guard.same_origin(request) or not auth.check_csrf(web, form.get("csrf")):
        return Response("CSRF check failed", status_code=403, headers=render.SECURITY_HEADERS)
    db, value = guard.db(request), request.cookies.get(COOKIE, "")

    def run() -> None:
        with db.write() as session:
            auth.end_session(session, value)

    await asyncio.to_thread(run)
    response = redirect("/web/login")
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


def _dashboard(request: Request, web: WebCaller) -> tuple[str, dict[str, Any]]:
    """(kind, data) read through the capability services in one unit of work (the audit entries they write)."""
    with guard.db(request).write() as session:
        if web.caller.org_kind == "dso":
            return "dso", views.dso_dashboard(session, web.caller)
        return "mno", views.mno_dashboard(session, web.caller)


@pages.get("/web/dso")
def dso_page(request: Request) -> Response:
    web = current(request)
    if web is None:
        return redirect("/web/login")
    if web.caller.org_kind != "dso":
        return redirect(guard.home(web))
    _, d = _dashboard(request, web)
    return show(request, "dso.html", web, d=d)


@pages.get("/web/mno")
def mno_page(request: Request) -> Response:
    web = current(request)
    if web is None:
        return redirect("/web/login")
    if web.caller.org_kind != "mno":
        return redirect(guard.home(web))
    _, d = _dashboard(request, web)
    return show(request, "mno.html", web, d=d)


def _map(d: dict[str, Any]) -> dict[str, Any]:
    dead: set[str] = set()
    for o in d["outages"]:
        dead |= {b for b in o["plan"].get("deEnergizedBuses") or [] if b not in set(o["plan"].get("restoredBuses")
                                                                                     or [])}
    return {"plmns": d["plmns"], "sites": d["sites"], "ranSites": d["ranSites"],
            "lines": [{"c": ln["coordinates"], "on": ln["inService"], "name": ln["name"] or f"line {ln['line']}",
                       "dead": all(b in dead for b in ln["buses"])} for ln in d["gridLines"]]}


@pages.get("/web/data")
def data(request: Request) -> Response:
    """The current panels (HTML) and, for a DSO, the map layers (JSON), read in one snapshot."""
    web = current(request)
    if web is None:
        return JSONResponse({"error": "not logged in"}, status_code=401, headers=render.SECURITY_HEADERS)
    kind, d = _dashboard(request, web)
    out: dict[str, Any] = {"kind": kind, "at": d["now"].isoformat(), "clock": {"now": isoformat(d["now"]),
                                                                              "speed": guard.clock_info()["speed"]}}
    if kind == "dso":
        out["side"] = render.fragment("_dso_side.html", web=web, d=d)
        out["panels"] = render.fragment("_dso_panels.html", web=web, d=d)
        out["map"] = _map(d)
    else:
        out["panels"] = render.fragment("_mno_panels.html", web=web, d=d)
    return JSONResponse(out, headers=render.SECURITY_HEADERS)


@pages.get("/web/events")
async def events(request: Request) -> Response:
    """Server-Sent Events: `changed` whenever a committed change concerns the organisation (a wake-up only;
    the page then reads `/web/data`, so nothing can be missed between two events)."""
    web = await asyncio.to_thread(current, request)
    if web is None:
        return JSONResponse({"error": "not logged in"}, status_code=401, headers=render.SECURITY_HEADERS)
    bus: Bus = request.app.state.bus
    return StreamingResponse(_stream(request, bus, web.caller.org_id), media_type="text/event-stream",
                             headers={**render.SECURITY_HEADERS, "X-Accel-Buffering": "no"})


async def _stream(request: Request, bus: Bus, org_id: str) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def on_message(message: Message) -> None:
        payload = message.payload if isinstance(message, Message) else message
        if isinstance(payload, dict) and org_id in payload.get("orgs", ()):
            wake.set()

    unsubscribe: Callable[[], None] = bus.subscribe(WAKE_TOPIC, on_loop(loop, on_message))
    seq = 0
    try:
        yield b"retry: 2000\n\nevent: hello\ndata: {}\n\n"
        while not request.app.state.stopping:
            try:
                await asyncio.wait_for(wake.wait(), timeout=KEEPALIVE_S)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield b": keep-alive\n\n"
                continue
            await asyncio.sleep(COALESCE_S)  # one wake-up for a burst of commits
            wake.clear()
            seq += 1
            yield f"id: {seq}\nevent: changed\ndata: {{\"at\": \"{utcnow().isoformat()}\"}}\n\n".encode()
    finally:
        unsubscribe()


@pages.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for it on every page (and the API docs): the dashboard's icon."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})


@pages.get("/web/static/{path:path}")
def static(path: str) -> Response:
    target = (STATIC / path).resolve()
    if not target.is_file() or STATIC not in target.parents:
        return Response("not found", status_code=404)
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return FileResponse(target, media_type=media, headers={"Cache-Control": "public, max-age=3600",
                                                           "X-Content-Type-Options": "nosniff"})
