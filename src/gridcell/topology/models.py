"""Topology tables. Natural ids are unique per organisation; integer keys join."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridcell.core.db import Base


class DsoSite(Base):
    __tablename__ = "dso_sites"
    __table_args__ = (UniqueConstraint("org_id", "site_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    site_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    customers: Mapped[int] = mapped_column(Integer, default=0)
    criticality: Mapped[str] = mapped_column(String(16), default="normal")
    grid_bus: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime]


class Cpe(Base):
    __tablename__ = "cpes"
    __table_args__ = (UniqueConstraint("org_id", "cpe_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    cpe_id: Mapped[str] = mapped_column(String(100))
    site_pk: Mapped[int] = mapped_column(ForeignKey("dso_sites.pk", ondelete="CASCADE"), index=True)
    model: Mapped[str | None] = mapped_column(String(100))


class Usim(Base):
    __tablename__ = "usims"
    __table_args__ = (UniqueConstraint("cpe_pk", "plmn"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cpe_pk: Mapped[int] = mapped_column(ForeignKey("cpes.pk", ondelete="CASCADE"), index=True)
    plmn: Mapped[str] = mapped_column(String(6))
    role: Mapped[str] = mapped_column(String(10))  # primary | alternate
    iccid: Mapped[str | None] = mapped_column(String(22))
    # The serving cell the CPE last reported on this USIM; wins over coverage geometry.
    reported_cell_id: Mapped[str | None] = mapped_column(String(40))


class RanSite(Base):
    __tablename__ = "ran_sites"
    __table_args__ = (UniqueConstraint("org_id", "site_id"), Index("ix_ran_sites_org_dn", "org_id", "dn"))

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    site_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    dn: Mapped[str | None] = mapped_column(String(400))
    battery_capacity_wh: Mapped[float | None] = mapped_column(Float)
    load_w: Mapped[float | None] = mapped_column(Float)
    depth_of_discharge: Mapped[float | None] = mapped_column(Float)
    autonomy_h: Mapped[float | None] = mapped_column(Float)
    grid_supply_point: Mapped[str | None] = mapped_column(String(100))


class Cell(Base):
    __tablename__ = "cells"
    __table_args__ = (UniqueConstraint("org_id", "cell_id"), Index("ix_cells_org_dn", "org_id", "dn"))

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    cell_id: Mapped[str] = mapped_column(String(40))  # NCGI / ECGI
    ran_site_pk: Mapped[int] = mapped_column(ForeignKey("ran_sites.pk", ondelete="CASCADE"), index=True)
    plmn: Mapped[str] = mapped_column(String(6))
    rat: Mapped[str] = mapped_column(String(4), default="NR")
    tac: Mapped[int | None] = mapped_column(Integer)
    azimuth: Mapped[float | None] = mapped_column(Float)
    range_m: Mapped[float | None] = mapped_column(Float)
    coverage: Mapped[dict[str, Any] | None]  # GeoJSON polygon; derived from azimuth + range when absent
    dn: Mapped[str | None] = mapped_column(String(400))


class ServingLink(Base):
    """USIM ↔ cell: from the CPE's report where present, else from coverage geometry."""

    __tablename__ = "serving_links"
    __table_args__ = (Index("ix_serving_links_cell", "cell_pk"),)

    usim_pk: Mapped[int] = mapped_column(ForeignKey("usims.pk", ondelete="CASCADE"), primary_key=True)
    cell_pk: Mapped[int] = mapped_column(ForeignKey("cells.pk", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(10))  # reported | coverage


class TopologyVersion(Base):
    """Bumped by every topology write of an organisation: what was derived from its topology (spatial
    indexes, read models) is valid while the version it was built from is current."""

    __tablename__ = "topology_versions"

    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
