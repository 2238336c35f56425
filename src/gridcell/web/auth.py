"""Who is logged in to the dashboard: users with scrypt-hashed passwords, API-token logins, browser sessions.

A session cookie carries 256 random bits; only its SHA-256 is stored. Every request re-checks the principal
(a revoked API client or a disabled user ends the session), so the dashboard never widens what the
organisation's API access allows. Each session has its own CSRF token for state-changing form posts.

Sessions live on the wall clock (`wallnow`), never on the exchange's clock: the demo runs the exchange 600
times faster, and a 12-hour session must not end after 72 seconds. A session ends after SESSION_TTL, after
IDLE_TIMEOUT without a request, at logout, or when an administrator ends it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridcell.core.clock import wallnow
from gridcell.core.errors import Conflict, InvalidInput
from gridcell.core.ids import new_id
from gridcell.core.security import hash_token
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import ROLES, Caller
from gridcell.web.models import WebSession, WebUser

SESSION_TTL = timedelta(hours=12)
IDLE_TIMEOUT = timedelta(minutes=30)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often (one write per minute per browser)
USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,100}$")
MIN_PASSWORD = 12
# scrypt cost: 16 MiB and ~50 ms per hash (RFC 7914 interactive-login parameters).
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32
_DUMMY_HASH: str | None = None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_LEN)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(key).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def create_user(session: Session, org_id: str, username: str, password: str, role: str) -> str:
    """A dashboard user of an organisation; returns its id. Usernames are unique per organisation."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if not USERNAME.match(username):
        raise InvalidInput("username must be 1-100 characters of A-Z a-z 0-9 . _ @ -")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password must have at least {MIN_PASSWORD} characters")
    tenancy.get_org(session, org_id)
    if session.scalar(select(WebUser.id).where(WebUser.org_id == org_id, WebUser.username == username)):
        raise Conflict(f"user {username} exists already in {org_id}")
    user = WebUser(id=new_id("usr"), org_id=org_id, username=username, role=role,
                   password_hash=hash_password(password), created_at=wallnow(), disabled=False)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"user {username} exists already in {org_id}") from exc
    return user.id


@dataclass(frozen=True)
class Login:
    caller: Caller
    display: str


def login_with_token(session: Session, token: str) -> Login | None:
    caller = tenancy.authenticate(session, token.strip()) if token.strip() else None
    if caller is None:
        return None
    return Login(caller, f"API client {caller.client_id}")


@dataclass(frozen=True)
class Candidate:
    """What a password login checks against, read in a short read transaction: the scrypt check (~50 ms)
    runs outside any transaction, never while holding the store's one writer."""

    user_id: str | None
    org_id: str
    org_kind: str
    role: str
    username: str
    password_hash: str


def login_candidate(session: Session, org_id: str, username: str) -> Candidate | None:
    user = session.scalar(select(WebUser).where(WebUser.org_id == org_id.strip(), WebUser.username == username.strip()))
    if user is None or user.disabled:
        return None
    org = tenancy.get_org(session, user.org_id)
    return Candidate(user.id, user.org_id, org.kind, user.role, user.username, user.password_hash)


def check_password(candidate: Candidate | None, password: str) -> Login | None:
    """No transaction needed: same cost whether or not the user exists."""
    if candidate is None:
        verify_password(password, _dummy_hash())
        return None
    if not verify_password(password, candidate.password_hash):
        return None
    return Login(Caller(client_id=f"user:{candidate.user_id}", org_id=candidate.org_id, org_kind=candidate.org_kind,
                        role=candidate.role), candidate.username)


def login_with_password(session: Session, org_id: str, username: str, password: str) -> Login | None:
    return check_password(login_candidate(session, org_id, username), password)


class LoginLimits:
    """Password guessing is slowed per source address and per account (moving windows, `limits`): attempts per
    address, failures per account. Kept in process memory: each process of a cluster counts its own."""

    def __init__(self, per_address: str = "20/minute", per_account: str = "5/minute") -> None:
        from limits import parse, storage, strategies

        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._address, self._account = parse(per_address), parse(per_account)

    def retry_after(self, address: str, account: str) -> int | None:
        """Seconds to wait before this attempt is allowed, or None: it is allowed (and counted per address)."""
        import time

        waits = []
        if not self._limiter.test(self._account, "account", account):
            waits.append(self._limiter.get_window_stats(self._account, "account", account).reset_time)
        if not self._limiter.hit(self._address, "address", address):
            waits.append(self._limiter.get_window_stats(self._address, "address", address).reset_time)
        return max(1, int(max(waits) - time.time()) + 1) if waits else None

    def failed(self, account: str) -> None:
        self._limiter.hit(self._account, "account", account)


@dataclass(frozen=True)
class WebCaller:
    caller: Caller
    display: str
    org_name: str
    csrf: str
    session_key: str = ""  # the stored hash of the cookie: names this session in the session list
    stale: bool = False  # last_seen_at is older than TOUCH_EVERY: the next request should note the activity


def _principal(caller: Caller) -> str:
    return caller.client_id if caller.client_id.startswith("user:") else f"client:{caller.client_id}"


def start_session(session: Session, login: Login) -> str:
    """Store a new session; returns the cookie value (shown to the browser only)."""
    now = wallnow()
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    value = secrets.token_urlsafe(32)
    session.add(WebSession(id_hash=hash_token(value), org_id=login.caller.org_id, principal=_principal(login.caller),
                           display=login.display[:200], csrf=secrets.token_urlsafe(32), created_at=now,
                           expires_at=now + SESSION_TTL, last_seen_at=now))
    return value


def end_session(session: Session, value: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id_hash == hash_token(value)))


def idle_deadline(row: WebSession) -> datetime:
    return (row.last_seen_at or row.created_at) + IDLE_TIMEOUT


def live(row: WebSession, now: datetime) -> bool:
    return row.expires_at > now and idle_deadline(row) > now


def touch(session: Session, key: str) -> None:
    """Note that the session was used now (moves its idle deadline)."""
    row = session.get(WebSession, key)
    if row is not None:
        row.last_seen_at = wallnow()


def resolve(session: Session, value: str | None) -> WebCaller | None:
    """The logged-in caller of a cookie value, re-checked against its principal; None when not logged in."""
    if not value:
        return None
    row = session.get(WebSession, hash_token(value))
    now = wallnow()
    if row is None or not live(row, now):
        return None
    caller = caller_of_principal(session, row.principal)
    if caller is None or caller.org_id != row.org_id:
        return None
    stale = now - (row.last_seen_at or row.created_at) >= TOUCH_EVERY
    return WebCaller(caller, row.display, tenancy.get_org(session, caller.org_id).name, row.csrf, row.id_hash, stale)


def caller_of_principal(session: Session, principal: str) -> Caller | None:
    """Who a session acts as now: the API client while it is not revoked, the user while it is enabled."""
    kind, _, ident = principal.partition(":")
    if kind == "client":
        return tenancy.caller_for_client(session, ident)
    if kind == "user":
        user = session.get(WebUser, ident)
        if user is not None and not user.disabled:
            org_kind = tenancy.get_org(session, user.org_id).kind
            return Caller(client_id=f"user:{user.id}", org_id=user.org_id, org_kind=org_kind, role=user.role)
    return None


def check_csrf(web: WebCaller, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(web.csrf, submitted or "")
