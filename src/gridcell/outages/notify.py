"""ProvMnS notifications (notifyMOICreation / AttributeValueChanges / Deletion, notifyThresholdCrossing) and
plan-change notifications, through the shared outbox on channel "provmns"."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core.clock import isoformat, utcnow
from gridcell.core.errors import InvalidInput
from gridcell.exposure import subscriptions

CHANNEL = "provmns"
SYSTEM_DN = "DC=gridcell.example"
MNS_ROOT = "/ProvMnS/v1900"
NOTIFICATION_TYPES = ("notifyMOICreation", "notifyMOIAttributeValueChanges", "notifyMOIDeletion",
                      "notifyThresholdCrossing", "notifyOutagePlanChanged")


def href(dso_id: str, object_class: str, moi_id: str) -> str:
    return f"{MNS_ROOT}/SubNetwork={dso_id}/{object_class}={moi_id}"


def dn(dso_id: str, object_class: str, moi_id: str) -> str:
    return f"SubNetwork={dso_id},{object_class}={moi_id}"


def create_subscription(session: Session, org_id: str, body: Any, *, allow_private: bool) -> Any:
    """A TS 28.532-style subscription: {consumerReference, filter?, timeTick?} plus `notificationTypes`."""
    if not isinstance(body, dict):
        raise InvalidInput("the subscription must be a JSON object", errors=[{"loc": "", "msg": "must be an object"}])
    errors = []
    for k in sorted(set(body) - {"consumerReference", "timeTick", "filter", "notificationTypes"}):
        errors.append({"loc": k, "msg": "unknown member of Subscription"})
    ref = body.get("consumerReference")
    if not isinstance(ref, str) or not ref:
        errors.append({"loc": "consumerReference", "msg": "the callback URI is required"})
    types = body.get("notificationTypes")
    if types is not None and (not isinstance(types, list) or not types
                              or not all(t in NOTIFICATION_TYPES for t in types)):
        errors.append({"loc": "notificationTypes", "msg": f"a non-empty array of {', '.join(NOTIFICATION_TYPES)}"})
    tick = body.get("timeTick")
    if tick is not None and (not isinstance(tick, int) or isinstance(tick, bool) or tick < 0):
        errors.append({"loc": "timeTick", "msg": "must be a non-negative integer"})
    flt = body.get("filter")
    if flt is not None and not isinstance(flt, str):
        errors.append({"loc": "filter", "msg": "must be a string"})
    if errors:
        raise InvalidInput("the subscription does not match the schema", errors=errors)
    query = {"notificationTypes": sorted(set(types)) if types else None, "filter": flt, "timeTick": tick}
    return subscriptions.create_channel_subscription(session, org_id, CHANNEL, callback_uri=str(ref), query=query,
                                                     loc="consumerReference",
                                                     allow_private=allow_private)


def subscription_out(sub: Any, *, with_secret: bool = False) -> dict[str, Any]:
    q = sub.query or {}
    out: dict[str, Any] = {"id": sub.id, "consumerReference": sub.callback_uri,
                           "notificationTypes": q.get("notificationTypes") or list(NOTIFICATION_TYPES),
                           "lastSequenceNo": sub.last_seq, "createdAt": isoformat(sub.created_at)}
    if q.get("filter") is not None:
        out["filter"] = q["filter"]
    if q.get("timeTick") is not None:
        out["timeTick"] = q["timeTick"]
    if with_secret:
        out["secret"] = sub.secret
    return out


def _wants(sub: Any, kind: str) -> bool:
    types = (sub.query or {}).get("notificationTypes")
    return types is None or kind in types


def send(session: Session, org_ids: Iterable[str], kind: str, object_href: str,
         body_for: Any, now: datetime | None = None) -> int:
    """Queue one notification per subscription of these organisations that wants this kind.

    `body_for(org_id)` gives the type-specific members (None: nothing for that organisation)."""
    now = now or utcnow()
    n = 0
    for sub in subscriptions.channel_subscriptions(session, CHANNEL, list(org_ids)):
        if not _wants(sub, kind):
            continue
        extra = body_for(sub.org_id)
        if extra is None:
            continue

        def build(seq: int, nid: str, sub: Any = sub, extra: dict[str, Any] = extra) -> dict[str, Any]:
            return {"href": object_href, "notificationId": seq, "notificationType": kind,
                    "eventTime": isoformat(now), "systemDN": SYSTEM_DN, "sequenceNo": seq,
                    "subscriptionId": sub.id, "gridcellNotificationId": nid, **extra}

        subscriptions.enqueue(session, sub, kind, build, now)
        n += 1
    return n
