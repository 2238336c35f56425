"""Incident tables: trouble tickets (TMF621) between a DSO and an MNO, and the sites each ticket names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gridcell.core.db import Base


class Ticket(Base):
    __tablename__ = "incident_tickets"
    __table_args__ = (Index("ix_incident_tickets_dso", "dso_id", "status"),
                      Index("ix_incident_tickets_mno", "mno_id", "status"))

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    dso_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))  # the reporter
    mno_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))  # the addressee
    name: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(40))
    priority: Mapped[str | None] = mapped_column(String(40))
    ticket_type: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(String(200))
    creation_date: Mapped[datetime]
    last_update: Mapped[datetime]
    status_change_date: Mapped[datetime]
    incident_start: Mapped[datetime]  # when the DSO saw the failure begin (extension; default: creation)
    expected_resolution_date: Mapped[datetime | None]
    etr_source: Mapped[str | None] = mapped_column(String(12))  # mno (set by the desk) | attribution
    resolution_date: Mapped[datetime | None]
    # The rest of the TMF621 resource as sent and kept (note, relatedEntity, relatedParty, statusChange, …).
    doc: Mapped[dict[str, Any]]
    attribution: Mapped[dict[str, Any]]  # cause, confidence, evidence, etr, state (auto|confirmed|overridden)
    area: Mapped[dict[str, Any] | None]  # GeoJSON polygon the DSO named (extension `incidentArea`)


class TicketSite(Base):
    """The DSO sites a ticket names (directly, through CPEs, cells or its area): what events re-attribute."""

    __tablename__ = "incident_ticket_sites"
    __table_args__ = (Index("ix_incident_ticket_sites_site", "site_pk"),)

    ticket_pk: Mapped[int] = mapped_column(ForeignKey("incident_tickets.pk", ondelete="CASCADE"), primary_key=True)
    site_pk: Mapped[int] = mapped_column(ForeignKey("dso_sites.pk", ondelete="CASCADE"), primary_key=True)
