"""TMF656 hub and events through the shared durable outbox (channel "tmf656")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core.clock import isoformat
from gridcell.core.tmf import parse_hub
from gridcell.exposure import subscriptions

CHANNEL = "tmf656"
EVENT_TYPES = ("ServiceProblemCreateEvent", "ServiceProblemStateChangeEvent",
               "ServiceProblemAttributeValueChangeEvent")


def register(session: Session, org_id: str, body: Any, *, allow_private: bool) -> dict[str, Any]:
    callback, query, types = parse_hub(body, EVENT_TYPES)
    sub = subscriptions.create_channel_subscription(session, org_id, CHANNEL, callback_uri=callback,
                                                    query={"query": query, "eventTypes": types},
                                                    allow_private=allow_private, loc="callback")
    session.flush()
    return {"id": sub.id, "callback": sub.callback_uri, **({"query": query} if query is not None else {})}


def unregister(session: Session, org_id: str, sub_id: str) -> None:
    session.delete(subscriptions.get_channel_subscription(session, org_id, CHANNEL, sub_id))


def send(session: Session, org_ids: list[str], event_type: str, view: Callable[[str], dict[str, Any]],
         now: datetime, description: str) -> int:
    n = 0
    for sub in subscriptions.channel_subscriptions(session, CHANNEL, org_ids):
        types = (sub.query or {}).get("eventTypes")
        if types and event_type not in types:
            continue
        problem = view(sub.org_id)

        def build(seq: int, nid: str, problem: dict[str, Any] = problem) -> dict[str, Any]:
            return {"eventId": nid, "eventTime": isoformat(now), "eventType": event_type,
                    "correlationId": problem.get("id"), "domain": "gridcell", "title": event_type,
                    "description": description, "priority": str(problem.get("priority") or ""),
                    "timeOcurred": isoformat(now), "sequenceNo": seq, "event": {"serviceProblem": problem}}

        subscriptions.enqueue(session, sub, event_type, build, now)
        n += 1
    return n
