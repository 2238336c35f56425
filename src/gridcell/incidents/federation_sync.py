"""What comes back from a federated MNO's TMF621 system: its representation of a ticket (in an event at
gridcell's listener, or in its answer to a create, patch or read) is applied here as the MNO desk's own patch:
status (through the lifecycle), status reason, priority, expected resolution, and the notes its people wrote.

Idempotent: applying the same representation twice changes nothing, so events that arrive twice, late or out
of order against a read are harmless. Notes are taken once each (by the remote note's id); the DSO's own notes,
sent there by gridcell, are recognised and not taken back as the MNO's.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core.clock import utcnow
from gridcell.core.errors import Forbidden, InvalidInput, NotFound
from gridcell.incidents import federation, service
from gridcell.incidents.models import FederatedTicket, Ticket
from gridcell.tenancy.service import Caller

log = logging.getLogger(__name__)
EVENT_TYPES = ("TroubleTicketCreateEvent", "TroubleTicketAttributeValueChangeEvent", "TroubleTicketStatusChangeEvent",
               "TroubleTicketDeleteEvent", "TroubleTicketResolvedEvent", "TroubleTicketInformationRequiredEvent")
FINAL_FOR_DSO = frozenset({"cancelled", "closed"})  # the DSO's to set: gridcell sent them, never taken back


def _desk(mno_id: str) -> Caller:
    return Caller(client_id="tmf621-federation", org_id=mno_id, org_kind="mno", role="operator")


def _new_notes(link: FederatedTicket, remote: dict[str, Any]) -> list[dict[str, Any]]:
    """Remote notes not taken yet and not the DSO's own; marks them seen."""
    seen, own = list(link.seen_notes), list(link.own_notes)
    out = []
    for i, n in enumerate(remote.get("note") or []):
        if not isinstance(n, dict):
            continue
        key = str(n.get("id") if n.get("id") is not None else f"#{i}")
        if key in seen:
            continue
        seen.append(key)
        text = n.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        if text in own:
            own.remove(text)  # the DSO's note, as the MNO's system stored it
            continue
        out.append({"text": text})  # authored here by the MNO (the remote author is the other system's name)
    link.seen_notes, link.own_notes = seen, own
    if isinstance(remote.get("note"), list):
        link.remote_notes = [n for n in remote["note"] if isinstance(n, dict)]
    return out


def _steps(current: str, target: str) -> list[str]:
    """The lifecycle path to the MNO system's status: direct, or through inProgress (systems that resolve an
    acknowledged ticket in one step)."""
    allowed = service.LIFECYCLE.allowed(current)
    if target == current or target in FINAL_FOR_DSO or target not in service.MNO_STATUS:
        return []
    if target in allowed:
        return [target]
    if "inProgress" in allowed and target in service.LIFECYCLE.allowed("inProgress"):
        return ["inProgress", target]
    return []


def apply_remote(session: Session, link: FederatedTicket, remote: Any) -> None:
    """Apply the MNO system's representation of the ticket as its desk's patch (see the module's docstring)."""
    if not isinstance(remote, dict):
        return
    t = session.get(Ticket, link.ticket_pk)
    if t is None:
        return
    if isinstance(remote.get("id"), str) and link.remote_id is None:
        link.remote_id = remote["id"]
    if isinstance(remote.get("href"), str):
        link.remote_href = remote["href"]
    link.synced_at = utcnow()
    desk = _desk(t.mno_id)
    patch: dict[str, Any] = {}
    for key in ("priority", "expectedResolutionDate"):
        value = remote.get(key)
        if isinstance(value, str) and value and service.view(session, t, t.mno_id).get(key) != value:
            patch[key] = value
    notes = _new_notes(link, remote)
    if notes:
        patch["note"] = [*(t.doc.get("note") or []), *notes]
    status = remote.get("status")
    steps = _steps(t.status, status) if isinstance(status, str) else []
    reason = remote.get("statusChangeReason")
    try:
        if patch:
            service.patch_ticket(session, desk, t.id, patch, "application/merge-patch+json")
        for step in steps:
            body: dict[str, Any] = {"status": step}
            if step == status and isinstance(reason, str) and reason:
                body["statusChangeReason"] = reason
            service.patch_ticket(session, desk, t.id, body, "application/merge-patch+json")
    except (InvalidInput, Forbidden) as exc:  # a value gridcell cannot take: the rest of the ticket stays in step
        log.warning("ticket %s: the MNO system's %s not applied: %s", t.id, sorted(patch) + steps, exc.detail)
        link.last_error = f"not applied: {exc.detail}"[:500]


def listen(session: Session, caller: Caller, event_type: str, event: Any) -> dict[str, Any]:
    """An event from the MNO's system at gridcell's TMF621 listener: applied to the ticket it names."""
    caller.require("operator", "mno")
    if not isinstance(event, dict) or not isinstance(event.get("event"), dict) \
            or not isinstance(event["event"].get("troubleTicket"), dict):
        raise InvalidInput(f"a {event_type} carries the ticket in event.troubleTicket",
                           errors=[{"loc": "event/troubleTicket", "msg": "is mandatory (an object)"}])
    remote = event["event"]["troubleTicket"]
    if not isinstance(remote.get("id"), str) or not remote["id"]:
        raise InvalidInput("the event's ticket has no id", errors=[{"loc": "event/troubleTicket/id",
                                                                     "msg": "is mandatory"}])
    link = federation.link_by_remote(session, caller.org_id, remote["id"])
    if link is None:  # not (yet) known here: the sender retries, and a create being answered links it meanwhile
        raise NotFound(f"no ticket here is federated as troubleTicket {remote['id']} of this MNO's system")
    if event_type == "TroubleTicketDeleteEvent":
        link.state, link.last_error = "deleted", "deleted in the MNO's system"
    else:
        apply_remote(session, link, remote)
    return {"id": str(event.get("eventId") or remote["id"]), "callback": federation.listener_base()}
