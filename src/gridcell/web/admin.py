"""An organisation's administrators manage who may use the dashboard: users (create, change role, revoke),
API clients (create, revoke, through tenancy) and open browser sessions (list, end).

Every change is the caller's own organisation only (anything else is "not found") and goes to the audit log.
An administrator cannot revoke or demote the account it is using: the organisation could lose its last admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gridcell.core.clock import wallnow
from gridcell.core.errors import Conflict, InvalidInput, NotFound
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import ROLES, Caller
from gridcell.web import auth
from gridcell.web.models import WebSession, WebUser


@dataclass(frozen=True)
class UserView:
    id: str
    username: str
    role: str
    created_at: datetime
    disabled: bool
    sessions: int


@dataclass(frozen=True)
class SessionView:
    key: str
    principal: str
    display: str
    created_at: datetime
    last_seen_at: datetime
    idle_until: datetime
    expires_at: datetime


def list_users(session: Session, caller: Caller) -> list[UserView]:
    caller.require("admin")
    now = wallnow()
    open_by: dict[str, int] = {}
    for row in session.scalars(select(WebSession).where(WebSession.org_id == caller.org_id)):
        if auth.live(row, now):
            open_by[row.principal] = open_by.get(row.principal, 0) + 1
    users = session.scalars(select(WebUser).where(WebUser.org_id == caller.org_id).order_by(WebUser.username))
    return [UserView(u.id, u.username, u.role, u.created_at, u.disabled, open_by.get(f"user:{u.id}", 0))
            for u in users]


def create_user(session: Session, caller: Caller, username: str, password: str, role: str) -> str:
    caller.require("admin")
    user_id = auth.create_user(session, caller.org_id, username.strip(), password, role)
    tenancy.record_action(session, caller, "create dashboard user", {"user": user_id, "username": username.strip(),
                                                                     "role": role})
    return user_id


def _own_user(session: Session, caller: Caller, user_id: str) -> WebUser:
    user = session.get(WebUser, user_id)
    if user is None or user.org_id != caller.org_id:
        raise NotFound(f"user {user_id} not found")
    return user


def set_role(session: Session, caller: Caller, user_id: str, role: str) -> None:
    caller.require("admin")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", errors=[{"loc": "role", "msg": "unknown role"}])
    user = _own_user(session, caller, user_id)
    if caller.client_id == f"user:{user.id}" and role != "admin":
        raise Conflict("you cannot take the admin role from your own account")
    if user.role != role:
        tenancy.record_action(session, caller, "change dashboard user role",
                              {"user": user.id, "username": user.username, "from": user.role, "to": role})
        user.role = role


def revoke_user(session: Session, caller: Caller, user_id: str) -> int:
    """Disable the user and end its sessions at once; returns how many sessions ended."""
    caller.require("admin")
    user = _own_user(session, caller, user_id)
    if caller.client_id == f"user:{user.id}":
        raise Conflict("you cannot revoke your own account")
    user.disabled = True
    ended = _end_sessions_of(session, caller.org_id, f"user:{user.id}")
    tenancy.record_action(session, caller, "revoke dashboard user", {"user": user.id, "username": user.username,
                                                                     "sessionsEnded": ended})
    return ended


def restore_user(session: Session, caller: Caller, user_id: str) -> None:
    caller.require("admin")
    user = _own_user(session, caller, user_id)
    if user.disabled:
        user.disabled = False
        tenancy.record_action(session, caller, "restore dashboard user", {"user": user.id, "username": user.username})


def create_client(session: Session, caller: Caller, role: str, name: str | None) -> tuple[str, str]:
    """(client id, token): the token is shown once."""
    caller.require("admin")
    clean = (name or "").strip() or None
    if clean is not None and len(clean) > 200:
        raise InvalidInput("the name has at most 200 characters", errors=[{"loc": "name", "msg": "too long"}])
    client_id, token = tenancy.create_client(session, caller.org_id, role, clean)
    tenancy.record_action(session, caller, "create API client", {"client": client_id, "role": role, "name": clean})
    return client_id, token


def revoke_client(session: Session, caller: Caller, client_id: str) -> int:
    """Revoke an API client and end the browser sessions it opened; returns how many ended."""
    tenancy.revoke_client(session, caller, client_id)
    ended = _end_sessions_of(session, caller.org_id, f"client:{client_id}")
    tenancy.record_action(session, caller, "revoke API client", {"client": client_id, "sessionsEnded": ended})
    return ended


def _end_sessions_of(session: Session, org_id: str, principal: str) -> int:
    result = session.execute(delete(WebSession).where(WebSession.org_id == org_id,
                                                      WebSession.principal == principal))
    return int(getattr(result, "rowcount", 0) or 0)


def list_sessions(session: Session, caller: Caller) -> list[SessionView]:
    """The organisation's open browser sessions, most recently used first."""
    caller.require("admin")
    now = wallnow()
    rows = [r for r in session.scalars(select(WebSession).where(WebSession.org_id == caller.org_id))
            if auth.live(r, now)]
    out = [SessionView(r.id_hash, r.principal, r.display, r.created_at, r.last_seen_at or r.created_at,
                       auth.idle_deadline(r), r.expires_at) for r in rows]
    return sorted(out, key=lambda v: v.last_seen_at, reverse=True)


def end_session(session: Session, caller: Caller, key: str) -> None:
    caller.require("admin")
    row = session.get(WebSession, key)
    if row is None or row.org_id != caller.org_id:
        raise NotFound("session not found (it may have ended already)")
    session.delete(row)
    tenancy.record_action(session, caller, "end dashboard session", {"principal": row.principal,
                                                                     "display": row.display})
