"""The request side of the dashboard: who is logged in, form posts (same origin + the session's CSRF token,
validated on the server), and the post/redirect/get round trip with a one-shot flash message that carries the
outcome, the field errors and the values to put back in the form."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from gridcell.core.clock import speed, utcnow
from gridcell.core.db import Database
from gridcell.core.errors import DomainError
from gridcell.web import auth, render
from gridcell.web.auth import WebCaller
from gridcell.web.forms import Form

COOKIE = "gridcell_session"
FLASH = "gridcell_flash"
MAX_FORM_BYTES = 64 * 1024
MAX_FLASH_BYTES = 3000
_SECRET_FIELDS = ("password", "csrf", "token")


def db(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


def current(request: Request) -> WebCaller | None:
    """The logged-in caller, or None; notes the session's activity (idle timeout) at most once a minute."""
    database = db(request)
    value = request.cookies.get(COOKIE)
    with database.read() as session:
        web = auth.resolve(session, value)
    if web is not None and web.stale:
        with database.write() as session:
            auth.touch(session, web.session_key)
    return web


def login_or_redirect(request: Request) -> WebCaller | Response:
    """The logged-in caller of a page, or the redirect to the login page."""
    web = current(request)
    return redirect("/web/login") if web is None else web


def refused(request: Request, web: WebCaller, exc: DomainError) -> HTMLResponse:
    """A page the caller may not see, or that does not exist for it, with the service's own reason."""
    if exc.status == 404:
        return show(request, "not_found.html", web, 404, message=exc.detail)
    return show(request, "forbidden.html", web, exc.status if exc.status in (400, 403, 409) else 403,
                message=exc.detail)


def same_origin(request: Request) -> bool:
    """A form post must come from a page of this server (Origin, else Referer); browsers always send one."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    return f"{parts.scheme}://{parts.netloc}" == f"{request.url.scheme}://{request.url.netloc}"


async def form_data(request: Request) -> dict[str, str]:
    """The urlencoded body; a repeated field keeps every value joined by newlines (multi-selects)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return {k: "\n".join(v) for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def redirect(url: str, flash: dict[str, Any] | None = None) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
    if flash:
        raw = base64.urlsafe_b64encode(json.dumps(flash, separators=(",", ":")).encode()).decode()
        if len(raw) > MAX_FLASH_BYTES:  # values too long to carry: keep the message and the errors
            slim = {k: v for k, v in flash.items() if k != "values"}
            raw = base64.urlsafe_b64encode(json.dumps(slim, separators=(",", ":")).encode()).decode()[:MAX_FLASH_BYTES]
        response.set_cookie(FLASH, raw, max_age=60, path="/web", httponly=True, samesite="strict")
    return response


def read_flash(request: Request) -> dict[str, Any]:
    raw = request.cookies.get(FLASH)
    if not raw:
        return {}
    try:
        value = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def home(web: WebCaller) -> str:
    return "/web/dso" if web.caller.org_kind == "dso" else "/web/mno"


def clock_info() -> dict[str, Any]:
    """The exchange's "now" and how fast it runs, for the header clock (the demo runs faster than the wall)."""
    return {"now": utcnow(), "speed": speed()}


def show(request: Request, template: str, web: WebCaller | None, status_code: int = 200,
         **ctx: Any) -> HTMLResponse:
    """A full page with the header (organisation, clock, navigation) and the flash of the last post, if any."""
    flash = read_flash(request)
    response = render.page(template, status_code, web=web, flash=flash, clock=clock_info(), path=request.url.path,
                           errors={e.get("loc"): e.get("msg") for e in flash.get("errors") or []},
                           values=flash.get("values") or {}, **ctx)
    if flash:
        response.delete_cookie(FLASH, path="/web", httponly=True, samesite="strict")
    return response


def back_to(request: Request, form: dict[str, str], default: str) -> str:
    """Where to go after a post: the form's own `back` when it is a dashboard path, else the default."""
    back = form.get("back", "")
    return back if back.startswith("/web/") and "//" not in back and "\\" not in back else default


Action = Callable[[Session, WebCaller, Form], str | tuple[str, str]]


async def post(request: Request, run: Action, *, default_back: str) -> Response:
    """A dashboard action: checks the session, the origin and the CSRF token, runs `run` in one unit of work with
    the form (it validates, calls the capability service and returns the message to show, or (message, url) to
    go elsewhere), then redirects. Authorization is the services' own, as for the API. A refused action changes
    nothing and comes back with its errors and the values given."""
    web = await asyncio.to_thread(current, request)
    if web is None:
        return redirect("/web/login")
    raw = await form_data(request)
    if not same_origin(request) or not auth.check_csrf(web, raw.get("csrf")):
        return HTMLResponse("The form could not be checked (CSRF): reload the page and try again.", status_code=403,
                            headers=render.SECURITY_HEADERS)
    back = back_to(request, raw, default_back)
    values = {k: v for k, v in raw.items() if not any(s in k for s in _SECRET_FIELDS) and k != "back"}
    database = db(request)

    def work() -> str | tuple[str, str]:
        with database.write() as session:
            return run(session, web, Form(raw))

    try:
        outcome = await asyncio.to_thread(work)
    except DomainError as exc:
        return redirect(back, {"kind": "error", "text": exc.detail, "errors": exc.errors[:20], "values": values,
                               "form": raw.get("form", "")})
    message, target = (outcome, back) if isinstance(outcome, str) else outcome
    return redirect(target, {"kind": "ok", "text": message})
