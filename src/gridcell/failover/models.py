"""Failover tables: the advisor's state per CPE and the commands it sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gridcell.core.db import Base


class FailoverState(Base):
    __tablename__ = "failover_state"

    cpe_pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    primary_plmn: Mapped[str] = mapped_column(String(6))
    active_plmn: Mapped[str] = mapped_column(String(6))  # as commanded
    confirmed_plmn: Mapped[str | None] = mapped_column(String(6))  # as acknowledged by the CPE
    mode: Mapped[str] = mapped_column(String(12))  # stay | prepare | switched
    last_switch_at: Mapped[datetime | None]
    primary_good_since: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class FailoverCommand(Base):
    __tablename__ = "failover_commands"
    __table_args__ = (Index("ix_failover_commands_cpe", "cpe_pk", "issued_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    cpe_pk: Mapped[int] = mapped_column(Integer)
    cpe_id: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(12))  # stay | prepare | switch | switch_back
    from_plmn: Mapped[str] = mapped_column(String(6))
    to_plmn: Mapped[str] = mapped_column(String(6))
    reason: Mapped[dict[str, Any]]
    issued_at: Mapped[datetime]
    acked_at: Mapped[datetime | None]
    ack_status: Mapped[str | None] = mapped_column(String(12))  # done | failed | rejected
    ack_detail: Mapped[str | None] = mapped_column(String(500))
