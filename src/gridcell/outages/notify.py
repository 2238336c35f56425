"""ProvMnS notifications (notifyMOICreation / AttributeValueChanges / Deletion, notifyThresholdCrossing) and the
plan-change extension, queued on the shared outbox for each subscription that forwards them
(`subscription_control.accepts`: its SubNetwork, notification types, scope and filter).

`systemDN` is the exchange's own DN as an MnS producer: `GRIDCELL_SYSTEM_DN`, from the app's settings once it
starts (`configure`), else from the environment (commands run without an app).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core import identity
from gridcell.core.clock import isoformat, utcnow
from gridcell.exposure import subscriptions
from gridcell.outages import subscription_control
from gridcell.outages.resource import MoiRef

CHANNEL = subscription_control.CHANNEL
configure = identity.configure
system_dn = identity.system_dn


def same_for_all(body: dict[str, Any]) -> Callable[[str], dict[str, Any]]:
    """A `body_for` giving every organisation the same members."""
    return lambda _org: body


def send(session: Session, org_ids: Iterable[str], kind: str, target: MoiRef,
         body_for: Callable[[str], dict[str, Any] | None], now: datetime | None = None) -> int:
    """Queue one notification per subscription of these organisations that forwards it; returns how many.

    `body_for(org_id)` gives the type-specific members as that organisation sees them (None: nothing for it), so
    a filter is evaluated on exactly what its recipient would receive."""
    now = now or utcnow()
    n = 0
    bodies: dict[str, dict[str, Any] | None] = {}
    for sub in subscriptions.channel_subscriptions(session, CHANNEL, list(org_ids)):
        if sub.org_id not in bodies:
            bodies[sub.org_id] = body_for(sub.org_id)
        extra = bodies[sub.org_id]
        if extra is None:
            continue

        def build(seq: int, nid: str, sub: Any = sub, extra: dict[str, Any] = extra) -> dict[str, Any]:
            return {"href": target.href, "notificationId": seq, "notificationType": kind,
                    "eventTime": isoformat(now), "systemDN": system_dn(), "sequenceNo": seq,
                    "subscriptionId": sub.id, "gridcellNotificationId": nid, **extra}

        if not subscription_control.accepts(sub, target.dso_id, kind, build(sub.last_seq + 1, "")):
            continue
        subscriptions.enqueue(session, sub, kind, build, now)
        n += 1
    return n
