"""Dashboard tables: per-organisation users (scrypt-hashed passwords) and browser sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
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
