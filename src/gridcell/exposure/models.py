"""Exposure tables: the current status of each site × PLMN, subscriptions, and the delivery outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridcell.core.db import Base


class SiteStatus(Base):
    __tablename__ = "site_status"

    site_pk: Mapped[int] = mapped_column(ForeignKey("dso_sites.pk", ondelete="CASCADE"), primary_key=True)
    plmn: Mapped[str] = mapped_column(String(6), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), index=True)  # the DSO
    mno_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))
    since: Mapped[datetime]
    expected_end: Mapped[datetime | None]
    reasons: Mapped[list[Any]]
    updated_at: Mapped[datetime]


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    # exposure: site status (filters below); other capabilities register their own channels
    # (e.g. tmf621, tmf656, provmns) and keep their filter in `query`.
    channel: Mapped[str] = mapped_column(String(20), default="exposure", server_default="exposure", index=True)
    query: Mapped[dict[str, Any] | None]
    callback_uri: Mapped[str | None] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(64))
    site_ids: Mapped[list[Any] | None]
    area: Mapped[dict[str, Any] | None]
    plmns: Mapped[list[Any] | None]
    min_status: Mapped[str] = mapped_column(String(12), default="ok")
    event_kinds: Mapped[list[Any]]
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("subscription_id", "seq"),
        Index("ix_outbox_pending", "subscription_id", "delivered_at", "seq"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    notification_id: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))


class FaultMnsAck(Base):
    """A DSO's own acknowledgement of, and comments on, one occurrence of an MNO alarm in its Fault MnS alarm
    list. Per DSO: never shown to the MNO that raised the alarm nor to another DSO, and never sent to the MNO."""

    __tablename__ = "fault_mns_acks"

    dso_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    mno_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    alarm_key: Mapped[str] = mapped_column(String(400), primary_key=True)  # the MNO's alarmId
    raised_at: Mapped[datetime]  # the occurrence: an alarm raised again after a clear starts unacknowledged
    ack_state: Mapped[str | None] = mapped_column(String(16))
    ack_user_id: Mapped[str | None] = mapped_column(String(200))
    ack_system_id: Mapped[str | None] = mapped_column(String(200))
    ack_time: Mapped[datetime | None]
    comments: Mapped[dict[str, Any]]  # comment id -> TS 28.532 Comment
    updated_at: Mapped[datetime]


class FaultMnsPublished(Base):
    """What Fault MnS subscribers were last told of each open MNO alarm, one row per cell the alarm is on.

    Fault ingest reports which cells changed, not which alarms: comparing the open alarms on those cells with
    these rows tells raised, changed and cleared apart. Kept only while a Fault MnS subscription exists."""

    __tablename__ = "fault_mns_published"
    __table_args__ = (Index("ix_fault_mns_published_alarm", "mno_id", "alarm_key"),)

    cell_pk: Mapped[int] = mapped_column(ForeignKey("cells.pk", ondelete="CASCADE"), primary_key=True)
    mno_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    alarm_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    facts: Mapped[dict[str, Any]]  # the alarm's attributes as last published (see exposure.fault_mns)
