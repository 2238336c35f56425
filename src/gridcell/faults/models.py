"""Fault-side facts as one table of conditions, each mapped to the cells it affects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridcell.core.db import Base


class ReceivedNotification(Base):
    """Idempotency: one row per (sender organisation, notificationId) ever accepted."""

    __tablename__ = "received_notifications"
    __table_args__ = (Index("ix_received_notifications_at", "received_at"),)  # retention prunes by age

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    received_at: Mapped[datetime]


class Condition(Base):
    """An alarm, a maintenance window, an active threshold crossing or a CM state that affects service."""

    __tablename__ = "fault_conditions"
    __table_args__ = (
        UniqueConstraint("org_id", "kind", "key"),
        Index("ix_fault_conditions_open", "org_id", "cleared_at"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(12))  # alarm | maintenance | threshold | config
    key: Mapped[str] = mapped_column(String(400))  # alarmId, maintenanceId, dn|metric, dn
    impact: Mapped[str] = mapped_column(String(12))  # outage | degradation | power | none
    object_instance: Mapped[str | None] = mapped_column(String(400))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]  # window end for maintenance; the MNO's ETR for alarms
    changed_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]
    mapped: Mapped[bool] = mapped_column(default=True)
    details: Mapped[dict[str, Any]]
    last_notification_id: Mapped[str | None] = mapped_column(String(80))


class ConditionCell(Base):
    __tablename__ = "fault_condition_cells"
    __table_args__ = (Index("ix_fault_condition_cells_cell", "cell_pk"),)

    condition_pk: Mapped[int] = mapped_column(ForeignKey("fault_conditions.pk", ondelete="CASCADE"),
                                              primary_key=True)
    cell_pk: Mapped[int] = mapped_column(ForeignKey("cells.pk", ondelete="CASCADE"), primary_key=True)
