"""Telemetry tables: raw probe results (retention window), hourly rollups, detector state, cell health."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, PrimaryKeyConstraint, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from gridcell.core.db import Base


class ProbeResult(Base):
    """One probe, compact: integer keys, epoch milliseconds; clustered by (USIM, time) on SQLite.

    The primary key makes a repeated result (same USIM, same timestamp) a duplicate that is ignored.
    """

    __tablename__ = "probe_results"
    __table_args__ = (PrimaryKeyConstraint("usim_pk", "ts_ms"), {"sqlite_with_rowid": False})

    usim_pk: Mapped[int] = mapped_column(Integer)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    ok: Mapped[int] = mapped_column(SmallInteger)
    rtt_ms: Mapped[float | None] = mapped_column(Float)
    cell_pk: Mapped[int | None] = mapped_column(Integer)
    rsrp: Mapped[float | None] = mapped_column(Float)
    sinr: Mapped[float | None] = mapped_column(Float)


class ProbeHourly(Base):
    """Rolled-up probes per USIM and hour: kept long after the raw window; additive, so late data merges."""

    __tablename__ = "probe_hourly"
    __table_args__ = (PrimaryKeyConstraint("usim_pk", "hour"), Index("ix_probe_hourly_hour", "hour"))

    usim_pk: Mapped[int] = mapped_column(Integer)
    hour: Mapped[int] = mapped_column(Integer)  # epoch hours
    probes: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    rtt_count: Mapped[int] = mapped_column(Integer)
    rtt_sum: Mapped[float] = mapped_column(Float)
    hist: Mapped[list[Any]]  # RTT counts per log bucket (see telemetry.rollup.BUCKET_EDGES)


class ProbeDetector(Base):
    """Change-detection state per USIM: EWMA baseline and one-sided CUSUMs on latency and loss."""

    __tablename__ = "probe_detectors"

    usim_pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_pk: Mapped[int] = mapped_column(Integer, index=True)
    plmn: Mapped[str] = mapped_column(String(6))
    n_rtt: Mapped[int] = mapped_column(Integer, default=0)
    mean_rtt: Mapped[float] = mapped_column(Float, default=0.0)
    var_rtt: Mapped[float] = mapped_column(Float, default=0.0)
    s_rtt: Mapped[float] = mapped_column(Float, default=0.0)
    n_loss: Mapped[int] = mapped_column(Integer, default=0)
    p_loss: Mapped[float] = mapped_column(Float, default=0.0)
    s_loss: Mapped[float] = mapped_column(Float, default=0.0)
    latency_alarm_since: Mapped[datetime | None]
    loss_alarm_since: Mapped[datetime | None]
    last_ts_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    tail_failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive failed probes, newest last


class CellHealthEvent(Base):
    """A suspected sleeping cell seen from outside by DSO probes, raised to the cell's MNO."""

    __tablename__ = "cell_health_events"
    __table_args__ = (Index("ix_cell_health_events_open", "cell_pk", "cleared_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    mno_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    cell_pk: Mapped[int] = mapped_column(Integer)
    cell_id: Mapped[str] = mapped_column(String(40))
    plmn: Mapped[str] = mapped_column(String(6))
    kind: Mapped[str] = mapped_column(String(12))  # drop | degraded
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    cleared_at: Mapped[datetime | None]
    evidence: Mapped[dict[str, Any]]
