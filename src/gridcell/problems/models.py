"""Problem tables: TMF656 service problems between a DSO and an MNO, and trend proposals awaiting the DSO."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gridcell.core.db import Base


class Problem(Base):
    __tablename__ = "service_problems"
    __table_args__ = (Index("ix_service_problems_dso", "dso_id", "status"),
                      Index("ix_service_problems_mno", "mno_id", "status"),
                      Index("ix_service_problems_trend", "dso_id", "trend_key"))

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    dso_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))  # the originator
    mno_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))  # the responsible party
    name: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(60))
    priority: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    creation_date: Mapped[datetime]
    last_update: Mapped[datetime]
    status_change_date: Mapped[datetime]
    resolution_date: Mapped[datetime | None]
    # True while a trend proposal only the DSO sees; sending it makes it a problem the MNO sees.
    proposed: Mapped[bool] = mapped_column(Boolean, default=False)
    trend_key: Mapped[str | None] = mapped_column(String(120))
    doc: Mapped[dict[str, Any]]  # the rest of the TMF656 resource (relatedEvent, underlyingAlarm, trackingRecord…)


class ProblemEventRecord(Base):
    """TMF656 ServiceProblemEventRecord: each event a problem went through, as it was notified, readable later by
    both sides (a listener that was down, or none registered, still learns what happened)."""

    __tablename__ = "service_problem_events"
    __table_args__ = (Index("ix_service_problem_events_dso", "dso_id", "pk"),
                      Index("ix_service_problem_events_mno", "mno_id", "pk"),
                      Index("ix_service_problem_events_problem", "problem_id"))

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    problem_id: Mapped[str] = mapped_column(String(40))
    dso_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    mno_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    event_type: Mapped[str] = mapped_column(String(60))
    event_time: Mapped[datetime]
    record_time: Mapped[datetime]
    notification: Mapped[dict[str, Any]]  # the event as the MNO's listeners got it; the DSO's view is derived
