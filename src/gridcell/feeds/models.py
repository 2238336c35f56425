"""One row per MNO feed: where its producer is, how gridcell reaches it, and what is known of its health."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from gridcell.core.db import Base


class MnoFeed(Base):
    __tablename__ = "mno_feeds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)  # the MNO
    kind: Mapped[str] = mapped_column(String(12))  # faultMns (gridcell subscribes and pulls) | push (supervised)
    base_url: Mapped[str | None] = mapped_column(String(2000))  # the producer's .../FaultSupervisionMnS/v1
    # Credentials toward the producer ({"type": "basic", "username", "password"} | {"type": "bearer", "token"}),
    # the secret sealed (core.sealed); never shown by the API.
    auth: Mapped[dict[str, Any] | None]
    filter: Mapped[str | None] = mapped_column(String(2000))
    heartbeat_period_s: Mapped[int]
    sink_key: Mapped[str] = mapped_column(String(64))  # the secret part of the consumerReference URL
    sink_base_url: Mapped[str | None] = mapped_column(String(2000))
    state: Mapped[str] = mapped_column(String(12))  # connecting | active | stale | failed | disconnected
    producer_subscription: Mapped[str | None] = mapped_column(String(2000))  # Location of our subscription
    last_heard_at: Mapped[datetime | None]
    last_reconciled_at: Mapped[datetime | None]
    last_reconcile: Mapped[dict[str, Any] | None]  # what the last reconciliation changed
    reconcile_due: Mapped[bool]
    last_sequence_no: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime]
    changed_at: Mapped[datetime]
