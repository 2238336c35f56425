"""Federation with an MNO's own TMF621 system: a ticket a DSO raises here for that MNO is created there too, the
DSO's later changes (notes, cancel, close, reopen, its description) follow it, and the MNO's desk works it there:
its status, notes, priority, expected and actual resolution come back through gridcell's TMF621 listener
(`incidents.federation_sync`). The HTTP side runs in `incidents.federation_worker`.

Configured by the MNO's admin: where its system is and the credentials gridcell presents there (sealed). gridcell
makes an API client of the MNO for the callbacks and registers at the system's hub with it (in the callback URL,
the one way every TMF621 system can carry credentials).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridcell.core import links, sealed
from gridcell.core.clock import isoformat, utcnow
from gridcell.core.errors import InvalidInput, NotFound
from gridcell.core.ids import new_uuid
from gridcell.core.tmf_hub import parse_auth
from gridcell.exposure.subscriptions import validate_callback
from gridcell.incidents.models import FederatedTicket, Federation, Ticket
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import Caller

# What of a DSO's change goes to the MNO's system (the rest is gridcell's own: sites, area, attribution).
PUSHED = ("name", "description", "severity", "ticketType", "requestedResolutionDate", "status", "statusChangeReason")


def configure(session: Session, caller: Caller, body: Any, *, allow_private: bool) -> dict[str, Any]:
    """PUT: {baseUrl, auth?}. Replaces the settings; registration at the hub starts over."""
    caller.require("admin", "mno")
    if not isinstance(body, dict):
        raise InvalidInput("the federation must be a JSON object", errors=[{"loc": "", "msg": "object"}])
    errors = [{"loc": k, "msg": "unknown member"} for k in sorted(set(body) - {"baseUrl", "auth"})]
    base = body.get("baseUrl")
    if not isinstance(base, str) or not base:
        errors.append({"loc": "baseUrl", "msg": "is mandatory: the TMF621 API base, …/tmf-api/troubleTicket/v4"})
    if errors:
        raise InvalidInput("the federation does not match the schema", errors=errors)
    base = validate_callback(str(base), allow_private=allow_private, loc="baseUrl").rstrip("/")
    auth = parse_auth(body.get("auth"), errors)
    if errors:
        raise InvalidInput("the federation does not match the schema", errors=errors)
    now = utcnow()
    fed = session.get(Federation, caller.org_id)
    if fed is None:
        client_id, token = tenancy.create_client(session, caller.org_id, "operator", "TMF621 federation listener")
        fed = Federation(mno_id=caller.org_id, listener_client_id=client_id, listener_token=sealed.seal(token))
        session.add(fed)
    fed.base_url, fed.auth, fed.hub_id, fed.state = base, auth, None, "registering"
    fed.attempts, fed.next_attempt_at, fed.last_error, fed.updated_at = 0, now, None, now
    session.flush()
    return view(fed)


def get(session: Session, caller: Caller) -> dict[str, Any]:
    caller.require("viewer", "mno")
    return view(_own(session, caller))


def remove(session: Session, caller: Caller) -> None:
    """New tickets stay in gridcell only; the listener client is revoked, so the MNO's system can no longer call."""
    caller.require("admin", "mno")
    fed = _own(session, caller)
    tenancy.revoke_client(session, caller, fed.listener_client_id)
    session.delete(fed)


def _own(session: Session, caller: Caller) -> Federation:
    fed = session.get(Federation, caller.org_id)
    if fed is None:
        raise NotFound("no federation is configured for this MNO")
    return fed


def view(fed: Federation) -> dict[str, Any]:
    out: dict[str, Any] = {"baseUrl": fed.base_url, "state": fed.state, "hubId": fed.hub_id,
                           "lastError": fed.last_error, "updatedAt": isoformat(fed.updated_at)}
    if fed.auth:
        out["auth"] = {"type": fed.auth["type"]}
    return {k: v for k, v in out.items() if v is not None}


def _op(op: str, fields: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    return {"id": new_uuid(), "op": op, "fields": fields, "notes": notes}


def on_created(session: Session, t: Ticket, notes: list[str], summary: str | None, now: datetime) -> None:
    """Queue the ticket's creation in its MNO's system, when that MNO federates."""
    if session.get(Federation, t.mno_id) is None:
        return
    fields = {k: v for k, v in {"name": t.name, "description": t.description, "severity": t.severity,
                                "ticketType": t.ticket_type, "externalId": t.id,
                                "requestedResolutionDate": t.doc.get("requestedResolutionDate"),
                                "relatedParty": _their_parties(t)}.items() if v}
    context = [f"gridcell ticket {t.id}; incident start {isoformat(t.incident_start)}"]
    if summary:
        context.append(f"gridcell attribution: {summary}")
    sent = [*notes, "; ".join(context)]
    session.add(FederatedTicket(ticket_pk=t.pk, mno_id=t.mno_id, state="pending", ops=[_op("create", fields, sent)],
                                own_notes=sent, seen_notes=[], remote_notes=[], attempts=0, next_attempt_at=now))


def _their_parties(t: Ticket) -> list[dict[str, Any]]:
    """The parties the DSO named itself (gridcell's reporter and addressee entries are its own ids)."""
    return [p for p in t.doc.get("relatedParty") or [] if p.get("id") not in (t.dso_id, t.mno_id)]


def on_dso_change(session: Session, t: Ticket, fields: dict[str, Any], notes: list[str], now: datetime) -> None:
    """Queue what the DSO changed (the pushed attributes, its new notes) after the creation, in order."""
    link = session.get(FederatedTicket, t.pk)
    pushed = {k: v for k, v in fields.items() if k in PUSHED}
    if link is None or link.state == "refused" or not (pushed or notes):
        return
    link.ops = [*link.ops, _op("patch", pushed, notes)]
    link.own_notes = [*link.own_notes, *notes]
    if link.next_attempt_at is None:
        link.next_attempt_at = now


def link_by_remote(session: Session, mno_id: str, remote_id: str) -> FederatedTicket | None:
    return session.scalar(select(FederatedTicket).where(FederatedTicket.mno_id == mno_id,
                                                        FederatedTicket.remote_id == remote_id))


def link_of(session: Session, ticket_pk: int) -> FederatedTicket | None:
    return session.get(FederatedTicket, ticket_pk)


def listener_base() -> str:
    """The callback gridcell registers at an MNO system's hub: its events go to {this}/listener/{eventName}."""
    return links.absolute("/tmf-api/troubleTicket/v4")
