"""Dashboard routes: login/logout, the DSO and MNO pages, their live data, the wake-up stream, static assets.

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
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gridcell.core.bus import Bus, Message, on_loop
from gridcell.core.clock import utcnow
from gridcell.core.db import Database
from gridcell.core.security import hash_token
from gridcell.web import auth, views
from gridcell.web.auth import WebCaller
from gridcell.web.handlers import WAKE_TOPIC

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
COOKIE = "gridcell_session"
MAX_FORM_BYTES = 16 * 1024
KEEPALIVE_S = 15.0
COALESCE_S = 0.05

pages = APIRouter(tags=["dashboard"], include_in_schema=False)
root_routers = [pages]

_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _dt(value: Any) -> str:
    t = views._ts(value)
    return "—" if t is None else t.strftime("%d %b %H:%M UTC")


def _hm(value: Any) -> str:
    t = views._ts(value)
    return "—" if t is None else t.strftime("%H:%M")


def _advice(reason: Any) -> str:
    """A failover command's reason as a sentence: the health of each PLMN and why."""
    if not isinstance(reason, dict):
        return str(reason or "")
    parts = []
    for plmn, v in sorted((reason.get("plmns") or {}).items()):
        why = ", ".join(str(w).replace("_", " ") for w in (v or {}).get("why") or [])
        parts.append(f"{plmn} {(v or {}).get('health', '?')}" + (f" ({why})" if why else ""))
    if reason.get("maintenanceStart"):
        parts.append(f"maintenance from {_hm(reason['maintenanceStart'])}")
    if reason.get("back"):
        parts.append(f"back: {reason['back']}")
    return " · ".join(parts) or str(reason.get("primaryHealth") or "")


env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]),
                  trim_blocks=True, lstrip_blocks=True)
env.filters["dt"] = _dt
env.filters["hm"] = _hm
env.filters["advice"] = _advice
env.globals.update(statuses=views.STATUSES, status_label=views.STATUS_LABEL, category_label=views.CATEGORY_LABEL,
                   cause_label=views.CAUSE_LABEL)


def _html(template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    return HTMLResponse(env.get_template(template).render(**ctx), status_code=status_code, headers=_SECURITY_HEADERS)


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _current(request: Request) -> WebCaller | None:
    with _db(request).read() as session:
        return auth.resolve(session, request.cookies.get(COOKIE))


def _same_origin(request: Request) -> bool:
    """A form post must come from a page of this server (Origin, else Referer); browsers always send one."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    return f"{parts.scheme}://{parts.netloc}" == f"{request.url.scheme}://{request.url.netloc}"


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _home(web: WebCaller) -> str:
    return "/web/dso" if web.caller.org_kind == "dso" else "/web/mno"


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


@pages.get("/")
def root(request: Request) -> Response:
    return _redirect("/web/")


@pages.get("/web")
@pages.get("/web/")
def web_root(request: Request) -> Response:
    web = _current(request)
    return _redirect(_home(web) if web else "/web/login")


@pages.get("/web/login")
def login_page(request: Request) -> Response:
    web = _current(request)
    if web is not None:
        return _redirect(_home(web))
    return _html("login.html", web=None)


def _login_limits(request: Request) -> auth.LoginLimits:
    """One per app (its process), made on the first login."""
    limits = getattr(request.app.state, "login_limits", None)
    if limits is None:
        limits = request.app.state.login_limits = auth.LoginLimits()
    return limits


@pages.post("/web/login")
async def login(request: Request) -> Response:
    if not _same_origin(request):
        return _html("login.html", 403, web=None, error="The login form must be sent from this site.")
    form = await _form(request)
    token, org = form.get("token", "").strip(), form.get("org", "").strip()
    username, password = form.get("username", "").strip(), form.get("password", "")
    db = _db(request)
    address = request.client.host if request.client else "?"
    account = f"{org}/{username}" if password else f"token:{hash_token(token)[:16]}"
    limits = _login_limits(request)
    wait = limits.retry_after(address, account)
    if wait is not None:
        refused = _html("login.html", 429, web=None, org=org, username=username,
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
        return _html("login.html", 401, web=None, error=error, org=org, username=username)
    response = _redirect("/web/")
    response.set_cookie(COOKIE, value, max_age=int(auth.SESSION_TTL.total_seconds()), path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


@pages.post("/web/logout")
async def logout(request: Request) -> Response:
    form = await _form(request)
    web = await asyncio.to_thread(_current, request)
    if web is None:
        return _redirect("/web/login")
    if not _same_origin(request) or not auth.check_csrf(web, form.get("csrf")):
        return Response("CSRF check failed", status_code=403, headers=_SECURITY_HEADERS)
    db, value = _db(request), request.cookies.get(COOKIE, "")

    def run() -> None:
        with db.write() as session:
            auth.end_session(session, value)

    await asyncio.to_thread(run)
    response = _redirect("/web/login")
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


def _dashboard(request: Request, web: WebCaller) -> tuple[str, dict[str, Any]]:
    """(kind, data) read through the capability services in one unit of work (the audit entries they write)."""
    with _db(request).write() as session:
        if web.caller.org_kind == "dso":
            return "dso", views.dso_dashboard(session, web.caller)
        return "mno", views.mno_dashboard(session, web.caller)


@pages.get("/web/dso")
def dso_page(request: Request) -> Response:
    web = _current(request)
    if web is None:
        return _redirect("/web/login")
    if web.caller.org_kind != "dso":
        return _redirect(_home(web))
    _, d = _dashboard(request, web)
    return _html("dso.html", web=web, d=d)


@pages.get("/web/mno")
def mno_page(request: Request) -> Response:
    web = _current(request)
    if web is None:
        return _redirect("/web/login")
    if web.caller.org_kind != "mno":
        return _redirect(_home(web))
    _, d = _dashboard(request, web)
    return _html("mno.html", web=web, d=d)


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
    web = _current(request)
    if web is None:
        return JSONResponse({"error": "not logged in"}, status_code=401, headers=_SECURITY_HEADERS)
    kind, d = _dashboard(request, web)
    out: dict[str, Any] = {"kind": kind, "at": d["now"].isoformat()}
    if kind == "dso":
        out["side"] = env.get_template("_dso_side.html").render(web=web, d=d)
        out["panels"] = env.get_template("_dso_panels.html").render(web=web, d=d)
        out["map"] = _map(d)
    else:
        out["panels"] = env.get_template("_mno_panels.html").render(web=web, d=d)
    return JSONResponse(out, headers=_SECURITY_HEADERS)


@pages.get("/web/events")
async def events(request: Request) -> Response:
    """Server-Sent Events: `changed` whenever a committed change concerns the organisation (a wake-up only;
    the page then reads `/web/data`, so nothing can be missed between two events)."""
    web = await asyncio.to_thread(_current, request)
    if web is None:
        return JSONResponse({"error": "not logged in"}, status_code=401, headers=_SECURITY_HEADERS)
    bus: Bus = request.app.state.bus
    return StreamingResponse(_stream(request, bus, web.caller.org_id), media_type="text/event-stream",
                             headers={**_SECURITY_HEADERS, "X-Accel-Buffering": "no"})


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


@pages.get("/web/static/{path:path}")
def static(path: str) -> Response:
    target = (STATIC / path).resolve()
    if not target.is_file() or STATIC not in target.parents:
        return Response("not found", status_code=404)
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return FileResponse(target, media_type=media, headers={"Cache-Control": "public, max-age=3600",
                                                           "X-Content-Type-Options": "nosniff"})
