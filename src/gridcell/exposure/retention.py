"""Retention: delivered notifications and the record of received notification ids are kept for
`outbox_retention_days`, then pruned in short units of work. Nothing undelivered is ever pruned."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from gridcell.exposure.models import OutboxRow
from gridcell.faults import service as faults

PAGE = 1000  # rows per unit of work: a few milliseconds of holding SQLite's one writer


def prune_outbox(session: Session, before: datetime, limit: int = PAGE) -> int:
    """Delete up to `limit` outbox rows delivered before `before`; returns how many."""
    t = cast(Table, OutboxRow.__table__)
    pks = list(session.scalars(select(t.c.pk).where(t.c.delivered_at.is_not(None), t.c.delivered_at < before)
                               .order_by(t.c.pk).limit(limit)))
    if pks:
        session.execute(delete(t).where(t.c.pk.in_(pks)))
    return len(pks)


def prune_page(session: Session, now: datetime, days: float) -> int:
    """One unit of work of pruning: delivered outbox rows, then received-notification records (an MNO re-sending
    a notificationId after the retention window is taken as new)."""
    before = now - timedelta(days=days)
    n = prune_outbox(session, before)
    if n < PAGE:
        n += faults.prune_received(session, before, PAGE - n)
    return n
