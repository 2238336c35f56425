"""TMF656 hub, events and event records. Events go through the shared durable outbox (channel "tmf656") to
`{callback}/listener/{eventName}`; each is also kept as a ServiceProblemEventRecord both sides can read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core.ids import new_uuid
from gridcell.core.tmf_hub import parse_hub, tmf_event
from gridcell.exposure import subscriptions
from gridcell.problems.models import Problem, ProblemEventRecord

CHANNEL = "tmf656"
EVENT_TYPES = ("ServiceProblemCreateEvent", "ServiceProblemStateChangeEvent",
               "ServiceProblemAttributeValueChangeEvent", "ServiceProblemInformationRequiredEvent")


def register(session: Session, org_id: str, body: Any, *, allow_private: bool) -> dict[str, Any]:
    hub = parse_hub(body, EVENT_TYPES)
    sub = subscriptions.create_channel_subscription(session, org_id, CHANNEL, callback_uri=hub.callback,
                                                    query=hub.filter, listener=hub.listener,
                                                    allow_private=allow_private, loc="callback")
    session.flush()
    return hub.view(sub.id, sub.callback_uri or hub.callback)


def unregister(session: Session, org_id: str, sub_id: str) -> None:
    session.delete(subscriptions.get_channel_subscription(session, org_id, CHANNEL, sub_id))


def send(session: Session, p: Problem, event_type: str, view: Callable[[str], dict[str, Any]], now: datetime,
         description: str, *, field_path: str | None = None) -> str:
    """Record the event and queue it for the listeners of both sides, each with the problem as its side sees it.
    Returns the event id (the record's id, the same `eventId` for every listener)."""
    event_id = new_uuid()
    extra = {"fieldPath": field_path} if field_path else {}

    def event(problem: dict[str, Any]) -> dict[str, Any]:
        return tmf_event(event_id, event_type, now, description, "serviceProblem", problem, **extra)

    session.add(ProblemEventRecord(id=event_id, problem_id=p.id, dso_id=p.dso_id, mno_id=p.mno_id,
                                   event_type=event_type, event_time=now, record_time=now,
                                   notification=event(view(p.mno_id))))
    for sub in subscriptions.channel_subscriptions(session, CHANNEL, [p.dso_id, p.mno_id]):
        types = (sub.query or {}).get("eventTypes")
        if types and event_type not in types:
            continue
        body = event(view(sub.org_id))

        def build(seq: int, nid: str, body: dict[str, Any] = body) -> dict[str, Any]:
            return body

        subscriptions.enqueue(session, sub, event_type, build, now)
    return event_id

