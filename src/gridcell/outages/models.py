"""Outage tables: grid models, supply links, OutageAndRecoveryInfo and DsoThresholdMonitor MOIs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridcell.core.db import Base


class GridModel(Base):
    """A DSO's grid (pandapower network, kept as pandapower JSON for topology searches)."""

    __tablename__ = "outage_grids"
    __table_args__ = (UniqueConstraint("dso_id", "name"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dso_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(300))
    net_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class GridBus(Base):
    __tablename__ = "outage_grid_buses"
    __table_args__ = (UniqueConstraint("grid_pk", "bus_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grid_pk: Mapped[int] = mapped_column(ForeignKey("outage_grids.pk", ondelete="CASCADE"), index=True)
    bus_id: Mapped[str] = mapped_column(String(40))  # pandapower bus index
    name: Mapped[str | None] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    vn_kv: Mapped[float] = mapped_column(Float)
    feeder: Mapped[str | None] = mapped_column(String(60))  # first line out of the HV/MV substation
    station: Mapped[bool] = mapped_column(Boolean, default=False)


class SupplyLink(Base):
    """Which bus of a DSO grid powers a RAN site (declared by the MNO, else the nearest bus)."""

    __tablename__ = "outage_supply_links"

    grid_pk: Mapped[int] = mapped_column(ForeignKey("outage_grids.pk", ondelete="CASCADE"), primary_key=True)
    ran_site_pk: Mapped[int] = mapped_column(ForeignKey("ran_sites.pk", ondelete="CASCADE"), primary_key=True,
                                             index=True)
    bus_id: Mapped[str] = mapped_column(String(40))
    distance_m: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(10))  # declared | nearest


class OutageInfo(Base):
    """An OutageAndRecoveryInfo MOI under SubNetwork=<dso id>, its grid events and its current plan."""

    __tablename__ = "outage_infos"
    __table_args__ = (UniqueConstraint("dso_id", "moi_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dso_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    moi_id: Mapped[str] = mapped_column(String(100))
    attributes: Mapped[dict[str, Any]]  # the DSO-writable attributes as last written
    start: Mapped[datetime]
    expected_end: Mapped[datetime | None]
    actual_end: Mapped[datetime | None]
    switching: Mapped[list[Any]]  # switching actions [{"grid","switch","closed","at"}]
    mno_attributes: Mapped[dict[str, Any]]  # the DSO's copy of the mno* attributes (earliest MNO answer)
    mno_answers: Mapped[dict[str, Any]]  # answers MNOs declared themselves: {mno id: {mno*..., reason, at, by}}
    affected_ran_site_pks: Mapped[list[Any]]
    covered_site_pks: Mapped[list[Any]]  # DSO sites de-energized or inside the area
    plan: Mapped[dict[str, Any] | None]
    plan_key: Mapped[str | None] = mapped_column(String(64))
    plan_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OutageSiteEffect(Base):
    """A DSO site × PLMN that an open plan says loses its every serving RAN site: what the status engine shows
    (at_risk until `lost_at`, down from then until `regain_at`). Rewritten with every plan."""

    __tablename__ = "outage_site_effects"
    __table_args__ = (Index("ix_outage_site_effects_site", "site_pk"),)

    outage_pk: Mapped[int] = mapped_column(ForeignKey("outage_infos.pk", ondelete="CASCADE"), primary_key=True)
    site_pk: Mapped[int] = mapped_column(ForeignKey("dso_sites.pk", ondelete="CASCADE"), primary_key=True)
    plmn: Mapped[str] = mapped_column(String(6), primary_key=True)
    mno_id: Mapped[str] = mapped_column(String(40))
    lost_at: Mapped[datetime | None]  # None: a serving RAN site's autonomy is unknown
    regain_at: Mapped[datetime | None]  # a serving RAN site gets mains back (switching); None: not before the end


class ThresholdMonitor(Base):
    """A DsoThresholdMonitor MOI and the last side of each of its thresholds."""

    __tablename__ = "outage_threshold_monitors"
    __table_args__ = (UniqueConstraint("dso_id", "moi_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dso_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    moi_id: Mapped[str] = mapped_column(String(100))
    attributes: Mapped[dict[str, Any]]
    target: Mapped[list[Any] | None]
    state: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
