"""Long-window views of the DSO's probes for problem management (gridcell.problems): daily availability per
site × PLMN from the hourly rollups, and the cell drops the DSO's probes saw (cell-health events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridcell.telemetry.models import CellHealthEvent, ProbeHourly
from gridcell.telemetry.store import HOUR_MS
from gridcell.topology import service as topology


@dataclass(frozen=True)
class DailySeries:
    site_pk: int
    plmn: str
    probes: Any  # np.ndarray[int64], one value per day, oldest first
    failures: Any


def daily_availability(session: Session, dso_id: str, days: int, now: datetime) -> list[DailySeries]:
    """Per site × PLMN of the DSO: probes and failed probes per day over the last `days` days (ending now)."""
    now_hour = int(now.timestamp() * 1000) // HOUR_MS
    first = now_hour - 24 * days + 1
    usims = topology.usim_refs(session, dso_id)
    pair_of = {u.pk: (u.site_pk, u.plmn) for u in usims}
    acc: dict[tuple[int, str], tuple[Any, Any]] = {}
    pks = sorted(pair_of)
    for i in range(0, len(pks), 500):
        for usim_pk, hour, probes, failures in session.execute(
                select(ProbeHourly.usim_pk, ProbeHourly.hour, ProbeHourly.probes, ProbeHourly.failures)
                .where(ProbeHourly.usim_pk.in_(pks[i:i + 500]), ProbeHourly.hour >= first,
                       ProbeHourly.hour <= now_hour)):
            pair = pair_of[usim_pk]
            if pair not in acc:
                acc[pair] = (np.zeros(days, dtype=np.int64), np.zeros(days, dtype=np.int64))
            day = (hour - first) // 24
            acc[pair][0][day] += probes
            acc[pair][1][day] += failures
    return [DailySeries(site, plmn, p, f) for (site, plmn), (p, f) in sorted(acc.items())]


@dataclass(frozen=True)
class HourlySeries:
    plmn: str
    hours: list[int]  # epoch hours, oldest first, every hour of the window
    probes: list[int]
    failures: list[int]
    rtt_mean_ms: list[float | None]


def hourly_series(session: Session, dso_id: str, site_pk: int, hours: int, now: datetime) -> list[HourlySeries]:
    """Per PLMN of one of the DSO's sites: probes, failed probes and mean RTT per hour over the last `hours` hours
    (from the hourly rollups: the console's availability and latency charts)."""
    now_hour = int(now.timestamp() * 1000) // HOUR_MS
    first = now_hour - hours + 1
    plmn_of = {u.pk: u.plmn for u in topology.usim_refs(session, dso_id) if u.site_pk == site_pk}
    # per PLMN: probes, failures, RTT sum, RTT count per hour
    acc = {p: np.zeros((4, hours), dtype=np.float64) for p in set(plmn_of.values())}
    if plmn_of:
        for usim_pk, hour, probes, failures, rtt_count, rtt_sum in session.execute(
                select(ProbeHourly.usim_pk, ProbeHourly.hour, ProbeHourly.probes, ProbeHourly.failures,
                       ProbeHourly.rtt_count, ProbeHourly.rtt_sum)
                .where(ProbeHourly.usim_pk.in_(sorted(plmn_of)), ProbeHourly.hour >= first,
                       ProbeHourly.hour <= now_hour)):
            acc[plmn_of[usim_pk]][:, hour - first] += (probes, failures, rtt_sum, rtt_count)
    return [HourlySeries(plmn, list(range(first, now_hour + 1)), [int(x) for x in a[0]], [int(x) for x in a[1]],
                         [round(float(a[2, i] / a[3, i]), 1) if a[3, i] else None for i in range(hours)])
            for plmn, a in sorted(acc.items())]


@dataclass(frozen=True)
class CellDrop:
    id: str
    cell_pk: int
    cell_id: str
    plmn: str
    kind: str
    first_seen: datetime
    cleared_at: datetime | None


def cell_drops(session: Session, cell_pks: list[int], t0: datetime, t1: datetime) -> list[CellDrop]:
    """Cell-health events (the DSO's probes saw a cell stop serving) on these cells that began in [t0, t1]."""
    out: list[CellDrop] = []
    for i in range(0, len(cell_pks), 500):
        for e in session.scalars(select(CellHealthEvent).where(
                CellHealthEvent.cell_pk.in_(cell_pks[i:i + 500]), CellHealthEvent.first_seen >= t0,
                CellHealthEvent.first_seen <= t1).order_by(CellHealthEvent.first_seen)):
            out.append(CellDrop(e.id, e.cell_pk, e.cell_id, e.plmn, e.kind, e.first_seen, e.cleared_at))
    return out
