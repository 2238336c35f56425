"""Telemetry tables: raw probe blocks (retention window), hourly rollups, detector state, cell health."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, LargeBinary, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from gridcell.core.db import Base


class ProbeBlock(Base):
    """A run of raw probes of one USIM through one serving cell, stored as packed columns.

    One row per (USIM, cell) per upload instead of one per probe: a 100,000-line upload becomes a few
    thousand rows, which is what lets ingest keep up with a whole DSO's fleet. ``t0_ms`` is the block's
    first probe time; since a (USIM, timestamp) is stored at most once (ingest removes duplicates before
    it writes), (usim_pk, t0_ms) is unique. Columns: ``ts`` uint32 little-endian offsets from t0 (the raw
    window is 7 days, far below 2^32 ms), ``ok`` bit-packed, ``rtt`` float32 (NaN: none), ``rsrp``/``sinr``
    float32 or NULL when the whole block has none. ``n``/``failures`` let windows that cover the whole
    block skip decoding.
    """

    __tablename__ = "probe_blocks"
    __table_args__ = (PrimaryKeyConstraint("usim_pk", "t0_ms"), Index("ix_probe_blocks_cell", "cell_pk", "t1_ms"),
                      Index("ix_probe_blocks_t1", "t1_ms"), {"sqlite_with_rowid": False})

    usim_pk: Mapped[int] = mapped_column(Integer)
    t0_ms: Mapped[int] = mapped_column(BigInteger)
    t1_ms: Mapped[int] = mapped_column(BigInteger)
    cell_pk: Mapped[int | None] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    ts: Mapped[bytes] = mapped_column(LargeBinary)
    ok: Mapped[bytes] = mapped_column(LargeBinary)
    rtt: Mapped[bytes] = mapped_column(LargeBinary)
    rsrp: Mapped[bytes | None] = mapped_column(LargeBinary)
    sinr: Mapped[bytes | None] = mapped_column(LargeBinary)


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
