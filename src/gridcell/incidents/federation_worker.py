"""The HTTP side of federation (`incidents.federation`), one pass at a time on one process of the cluster:
registers at each federated MNO system's hub, sends each ticket's queued changes there in order (creation first),
and reads open tickets back now and then, so an event the MNO's system failed to send is made up for.

Failures are retried with backoff (0.5 s doubling to 60 s); a ticket the MNO's system refuses (a 4xx other than
408/429) stops being sent and says why (`lastError`). Nothing here holds a transaction during a request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from sqlalchemy import select

from gridcell.core import sealed
from gridcell.core.clock import utcnow
from gridcell.core.db import Database
from gridcell.exposure import listener_target
from gridcell.exposure.subscriptions import validate_callback
from gridcell.incidents import federation, federation_sync, service
from gridcell.incidents.models import FederatedTicket, Federation, Ticket

log = logging.getLogger(__name__)
TIMEOUT_S = 10.0
BACKOFF_S = (0.5, 60.0)
RECONCILE_S = 60.0  # how long an open federated ticket goes without being read back
BATCH = 20


class Refused(Exception):
    """The MNO's system answered 4xx (not 408/429): sending the same again will not help."""


@dataclass(frozen=True)
class _Target:
    base: str
    headers: dict[str, str]


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_S[0] * 2 ** max(attempts - 1, 0), BACKOFF_S[1]))


def _target(fed: Federation, allow_private: bool) -> _Target:
    validate_callback(fed.base_url, allow_private=allow_private, loc="baseUrl")  # again: names may move
    return _Target(fed.base_url, dict(listener_target.credential_headers(fed.auth)))


def _call(client: httpx.Client, method: str, url: str, target: _Target, body: Any = None) -> Any:
    headers = {**target.headers, "Accept": "application/json"}
    if method == "PATCH":
        headers["Content-Type"] = "application/merge-patch+json"
    r = client.request(method, url, json=body, headers=headers)
    if r.status_code >= 400:
        detail = f"{method} {url}: HTTP {r.status_code} {r.text[:200]}"
        if r.status_code < 500 and r.status_code not in (408, 429):
            raise Refused(detail)
        raise httpx.HTTPStatusError(detail, request=r.request, response=r)
    return r.json() if r.content else None


def _callback(fed: Federation) -> str:
    """gridcell's listener base with the MNO's listener client in it (client id : token, as HTTP basic)."""
    parts = urlsplit(federation.listener_base())
    user = f"{quote(fed.listener_client_id, safe='')}:{quote(sealed.unseal(fed.listener_token), safe='')}"
    return urlunsplit((parts.scheme, f"{user}@{parts.netloc}", parts.path, parts.query, ""))


def _register(db: Database, client: httpx.Client, allow_private: bool, now: datetime) -> None:
    with db.read() as session:
        due = list(session.scalars(select(Federation).where(Federation.state != "active",
                                                            Federation.next_attempt_at <= now)))
    for fed in due:
        error: str | None = None
        hub_id: str | None = None
        try:
            answer = _call(client, "POST", f"{fed.base_url}/hub", _target(fed, allow_private),
                           {"callback": _callback(fed)})
            hub_id = str(answer.get("id")) if isinstance(answer, dict) and answer.get("id") is not None else ""
        except Exception as exc:  # any failure: retried with backoff, said in lastError
            error = f"hub registration: {type(exc).__name__}: {exc}"[:500]
        with db.write() as session:
            row = session.get(Federation, fed.mno_id)
            if row is None or row.updated_at != fed.updated_at:
                continue  # removed or reconfigured meanwhile: the next pass starts over
            row.attempts = 0 if error is None else row.attempts + 1
            row.state, row.hub_id, row.last_error = ("active", hub_id, None) if error is None else (
                "registering", None, error)
            row.next_attempt_at = now + _backoff(row.attempts)


def _body(link: FederatedTicket, op: dict[str, Any]) -> dict[str, Any]:
    body = dict(op["fields"])
    if op["notes"]:
        kept = [n for n in link.remote_notes if n.get("id") is not None] if op["op"] == "patch" else []
        body["note"] = [*kept, *({"text": text} for text in op["notes"])]  # a merge patch replaces the list
    return body


def _push(db: Database, client: httpx.Client, allow_private: bool, now: datetime) -> None:
    with db.read() as session:
        links = list(session.scalars(select(FederatedTicket).where(
            FederatedTicket.next_attempt_at <= now, FederatedTicket.state.in_(("pending", "linked")))
            .order_by(FederatedTicket.next_attempt_at).limit(BATCH)))
        feds = {f.mno_id: f for f in session.scalars(select(Federation).where(
            Federation.mno_id.in_({link.mno_id for link in links})))}
    for link in links:
        fed = feds.get(link.mno_id)
        if not link.ops or fed is None or (link.ops[0]["op"] == "patch" and link.remote_id is None):
            with db.write() as session:
                row = session.get(FederatedTicket, link.ticket_pk)
                if row is not None and row.ops == link.ops:
                    row.next_attempt_at = None if fed is not None else now + _backoff(6)
            continue
        op = link.ops[0]
        answer, error, refused = None, None, False
        try:
            target = _target(fed, allow_private)
            if op["op"] == "create":
                answer = _call(client, "POST", f"{fed.base_url}/troubleTicket", target, _body(link, op))
            else:
                answer = _call(client, "PATCH", f"{fed.base_url}/troubleTicket/{quote(str(link.remote_id), safe='')}",
                               target, _body(link, op))
        except Refused as exc:
            error, refused = str(exc)[:500], True
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        _record(db, link.ticket_pk, op, answer, error, refused, now)


def _record(db: Database, ticket_pk: int, op: dict[str, Any], answer: Any, error: str | None, refused: bool,
            now: datetime) -> None:
    with db.write() as session:
        row = session.get(FederatedTicket, ticket_pk)
        if row is None or not row.ops or row.ops[0]["id"] != op["id"]:
            return
        if error is not None and not refused:
            row.attempts += 1
            row.last_error = error
            row.next_attempt_at = now + _backoff(row.attempts)
            return
        row.ops = row.ops[1:]
        row.attempts, row.last_error = 0, error
        if refused and op["op"] == "create":
            row.state, row.next_attempt_at = "refused", None
            return
        if row.state == "pending" and isinstance(answer, dict) and answer.get("id"):
            row.state = "linked"
        row.next_attempt_at = now if row.ops else None
        federation_sync.apply_remote(session, row, answer)


def _reconcile(db: Database, client: httpx.Client, allow_private: bool, now: datetime) -> None:
    stale = now - timedelta(seconds=RECONCILE_S)
    with db.read() as session:
        rows = session.execute(select(FederatedTicket, Federation).join(
            Federation, Federation.mno_id == FederatedTicket.mno_id).join(
            Ticket, Ticket.pk == FederatedTicket.ticket_pk).where(
            FederatedTicket.state == "linked", FederatedTicket.remote_id.is_not(None),
            Ticket.status.in_(service.OPEN),
            (FederatedTicket.synced_at.is_(None)) | (FederatedTicket.synced_at < stale)).limit(BATCH)).all()
    for link, fed in rows:
        try:
            answer = _call(client, "GET", f"{fed.base_url}/troubleTicket/{quote(str(link.remote_id), safe='')}",
                           _target(fed, allow_private))
        except Exception as exc:
            log.warning("reading federated ticket %s back failed: %s", link.remote_id, exc)
            answer = None
        with db.write() as session:
            row = session.get(FederatedTicket, link.ticket_pk)
            if row is not None:
                row.synced_at = now
                federation_sync.apply_remote(session, row, answer)


def run_once(db: Database, client: httpx.Client, *, allow_private: bool) -> None:
    now = utcnow()
    _register(db, client, allow_private, now)
    _push(db, client, allow_private, now)
    _reconcile(db, client, allow_private, now)


def client() -> httpx.Client:
    """No redirects and no proxies from the environment: the MNO's system is reached where it was configured."""
    return httpx.Client(timeout=TIMEOUT_S, follow_redirects=False, trust_env=False)
