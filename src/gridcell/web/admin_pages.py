"""The administration page of an organisation: dashboard users, API clients, open sessions, the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from gridcell.core.errors import Forbidden
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import ROLES
from gridcell.web import admin, auth, guard
from gridcell.web.auth import WebCaller
from gridcell.web.forms import Form
from gridcell.web.guard import current, redirect, show

router = APIRouter(tags=["dashboard"], include_in_schema=False)
BACK = "/web/admin"


@router.get("/web/admin")
def admin_page(request: Request) -> Response:
    web = current(request)
    if web is None:
        return redirect("/web/login")
    try:
        with guard.db(request).read() as session:
            data = {"users": admin.list_users(session, web.caller),
                    "clients": tenancy.list_clients(session, web.caller),
                    "sessions": admin.list_sessions(session, web.caller),
                    "audit": [{"id": e.id, "at": e.at, "who": e.client_id, "org": e.org_id, "action": e.action,
                               "counterparts": e.counterpart_org_ids, "detail": e.detail}
                              for e in tenancy.audit_entries(session, web.caller.org_id, 50)]}
    except Forbidden as exc:
        return show(request, "forbidden.html", web, 403, message=exc.detail)
    return show(request, "admin.html", web, a=data, roles=ROLES)


def _create_user(session: Session, web: WebCaller, form: Form) -> str:
    username = form.text("username", max_len=100)
    password = form.secret("password", min_len=auth.MIN_PASSWORD)
    role = form.choice("role", ROLES)
    form.check("new user")
    assert username is not None and password is not None and role is not None
    admin.create_user(session, web.caller, username, password, role)
    return f"User {username} created ({role})."


@router.post("/web/admin/users")
async def create_user(request: Request) -> Response:
    return await guard.post(request, _create_user, default_back=BACK)


@router.post("/web/admin/users/{user_id}/role")
async def set_role(request: Request, user_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        role = form.choice("role", ROLES)
        form.check("role")
        assert role is not None
        admin.set_role(session, web.caller, user_id, role)
        return f"Role changed to {role}."

    return await guard.post(request, run, default_back=BACK)


@router.post("/web/admin/users/{user_id}/revoke")
async def revoke_user(request: Request, user_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        ended = admin.revoke_user(session, web.caller, user_id)
        return f"User revoked; {ended} open session(s) ended."

    return await guard.post(request, run, default_back=BACK)


@router.post("/web/admin/users/{user_id}/restore")
async def restore_user(request: Request, user_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        admin.restore_user(session, web.caller, user_id)
        return "User restored: it may log in again."

    return await guard.post(request, run, default_back=BACK)


@router.post("/web/admin/clients")
async def create_client(request: Request) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        role = form.choice("role", ROLES)
        name = form.text("name", required=False, max_len=200)
        form.check("new API client")
        assert role is not None
        client_id, token = admin.create_client(session, web.caller, role, name)
        return f"API client {client_id} created ({role}). Its token, shown this once: {token}"

    return await guard.post(request, run, default_back=BACK)


@router.post("/web/admin/clients/{client_id}/revoke")
async def revoke_client(request: Request, client_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        ended = admin.revoke_client(session, web.caller, client_id)
        return f"API client {client_id} revoked; {ended} open session(s) ended."

    return await guard.post(request, run, default_back=BACK)


@router.post("/web/admin/sessions/{key}/end")
async def end_session(request: Request, key: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        admin.end_session(session, web.caller, key)
        return "Session ended."

    return await guard.post(request, run, default_back=BACK)
