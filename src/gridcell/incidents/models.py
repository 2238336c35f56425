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


class Federation(Base):
    """An MNO whose own TMF621 system takes the tickets addressed to it: where it is, the credentials gridcell
    presents there (sealed), the listener client its system calls back with, and gridcell's registration at its
    hub."""

    __tablename__ = "incident_federations"

    mno_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    base_url: Mapped[str] = mapped_column(String(2000))  # e.g. https://sd.mno.example/tmf-api/troubleTicket/v4
    auth: Mapped[dict[str, Any] | None]  # core.tmf_hub.parse_auth form: the secret part sealed
    listener_client_id: Mapped[str] = mapped_column(String(40))
    listener_token: Mapped[str] = mapped_column(Text)  # sealed; given to the MNO's hub in the callback URL
    hub_id: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))  # registering | active
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime]


class FederatedTicket(Base):
    """A ticket's twin in the MNO's system: the DSO's changes waiting to go there (in order), what came back."""

    __tablename__ = "incident_federated_tickets"
    __table_args__ = (Index("ix_incident_federated_tickets_remote", "mno_id", "remote_id"),
                      Index("ix_incident_federated_tickets_due", "next_attempt_at"))

    ticket_pk: Mapped[int] = mapped_column(ForeignKey("incident_tickets.pk", ondelete="CASCADE"), primary_key=True)
    mno_id: Mapped[str] = mapped_column(String(40))
    remote_id: Mapped[str | None] = mapped_column(String(200))
    remote_href: Mapped[str | None] = mapped_column(String(2000))
    state: Mapped[str] = mapped_column(String(16))  # pending | linked | refused
    ops: Mapped[list[Any]]  # {id, op: create|patch, fields, notes}: sent first to last
    own_notes: Mapped[list[Any]]  # texts of the DSO's notes sent there, not to be taken back as the MNO's
    seen_notes: Mapped[list[Any]]  # ids of the remote notes already taken
    remote_notes: Mapped[list[Any]]  # the remote ticket's notes as last seen (a note patch sends them all back)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    synced_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
