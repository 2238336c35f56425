"""TMF621 hub (listener registration) and events, delivered through the shared durable outbox (channel
"tmf621") to `{callback}/listener/{eventName}`: create, status change, attribute value change, resolved, delete,
information required (the desk set `pending`).
Each subscriber gets the ticket as its organisation sees it (the DSO's view is redacted under an area-level
agreement)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core.tmf_hub import parse_hub, tmf_event
from gridcell.exposure import subscriptions

CHANNEL = "tmf621"
EVENT_TYPES = ("TroubleTicketCreateEvent", "TroubleTicketStatusChangeEvent", "TroubleTicketAttributeValueChangeEvent",
               "TroubleTicketResolvedEvent", "TroubleTicketDeleteEvent", "TroubleTicketInformationRequiredEvent")


def register(session: Session, org_id: str, channel: str, body: Any, event_types: tuple[str, ...], *,
             allow_private: bool) -> dict[str, Any]:
    hub = parse_hub(body, event_types)
    sub = subscriptions.create_channel_subscription(session, org_id, channel, callback_uri=hub.callback,
                                                    query=hub.filter, listener=hub.listener,
                                                    allow_private=allow_private, loc="callback")
    session.flush()
    return hub.view(sub.id, sub.callback_uri or hub.callback)


def unregister(session: Session, org_id: str, channel: str, sub_id: str) -> None:
    session.delete(subscriptions.get_channel_subscription(session, org_id, channel, sub_id))


def send(session: Session, channel: str, org_ids: list[str], event_type: str, resource_key: str,
         view: Callable[[str], dict[str, Any]], now: datetime, description: str) -> int:
    """One event per listener of these organisations; `view(org_id)` is the resource as that side sees it."""
    n = 0
    for sub in subscriptions.channel_subscriptions(session, channel, org_ids):
        types = (sub.query or {}).get("eventTypes")
        if types and event_type not in types:
            continue
        resource = view(sub.org_id)

        def build(seq: int, nid: str, resource: dict[str, Any] = resource) -> dict[str, Any]:
            return tmf_event(nid, event_type, now, description, resource_key, resource, sequenceNo=seq)

        subscriptions.enqueue(session, sub, event_type, build, now)
        n += 1
    return n
