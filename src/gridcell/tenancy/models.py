"""Tenancy tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridcell.core.db import Base


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8))  # dso | mno
    created_at: Mapped[datetime]


class ApiClient(Base):
    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # viewer | operator | admin
    name: Mapped[str | None] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Agreement(Base):
    __tablename__ = "agreements"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dso_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    mno_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    plmns: Mapped[list[Any]]
    # None: every site of the DSO; otherwise the DSO's site ids the agreement covers.
    site_ids: Mapped[list[Any] | None]
    level: Mapped[str] = mapped_column(String(8))  # area | cell
    share_telemetry: Mapped[bool] = mapped_column(Boolean, default=False)
    sla_target: Mapped[float] = mapped_column(Float, default=0.999)
    created_at: Mapped[datetime]


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_org_at", "org_id", "at"), Index("ix_audit_log_org_id", "org_id", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    client_id: Mapped[str] = mapped_column(String(40))
    org_id: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(200))
    counterpart_org_ids: Mapped[list[Any]]
    detail: Mapped[dict[str, Any] | None]
    # The same counterparts as rows, so "entries reading my data" is an index lookup, not a JSON scan.
    counterparts: Mapped[list[AuditCounterpart]] = relationship(cascade="all, delete-orphan", lazy="raise")


class AuditCounterpart(Base):
    __tablename__ = "audit_counterparts"
    __table_args__ = (Index("ix_audit_counterparts_org_entry", "org_id", "entry_id"),)

    entry_id: Mapped[int] = mapped_column(ForeignKey("audit_log.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
