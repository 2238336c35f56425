"""Dashboard tables: per-organisation users (scrypt-hashed passwords), browser sessions, site status history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridcell.core.db import Base


class WebUser(Base):
    __tablename__ = "web_users"
    __table_args__ = (UniqueConstraint("org_id", "username"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    username: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))  # viewer | operator | admin
    password_hash: Mapped[str] = mapped_column(String(200))  # scrypt$n$r$p$salt$hash (base64)
    created_at: Mapped[datetime]
    disabled: Mapped[bool] = mapped_column(default=False)


class WebSession(Base):
    """A logged-in browser. Only the SHA-256 of the cookie value is stored. Times are wall-clock times."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    principal: Mapped[str] = mapped_column(String(60))  # "client:<api client id>" | "user:<web user id>"
    display: Mapped[str] = mapped_column(String(200))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime | None]  # the idle timeout runs from here (None: from created_at)


class StatusHistory(Base):
    """Each change of a DSO site × PLMN status, as the DSO saw it (categories only, never cells or alarm text: an
    area-level agreement shows no more in history than it does live). Written in the unit of work that changed
    the status, so the history never disagrees with the status."""

    __tablename__ = "web_status_history"
    __table_args__ = (Index("ix_web_status_history_site", "org_id", "site_id", "at"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(String(40))  # the DSO
    site_id: Mapped[str] = mapped_column(String(100))
    plmn: Mapped[str] = mapped_column(String(6))
    mno_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))
    previous: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime]
    categories: Mapped[list[Any]]
