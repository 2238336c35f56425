"""RAN site power from MNO alarms (TS 28.111 power probable causes) and the DSO's open outages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gridcell.faults import service as faults
from gridcell.outages.models import OutageInfo
from gridcell.outages.plan import LOW_BATTERY_RESERVE, PowerEvidence
from gridcell.topology import service as topology

BATTERY_CAUSES = frozenset({"COMMERCIAL_POWER_FAILURE", "MAINS_BREAKDOWN_WITH_BATTERY_BACKUP",
                            "BATTERY_DISCHARGING", "LOW_BATTERY_THRESHOLD"})


@dataclass(frozen=True)
class RanSitePower:
    ran_site_pk: int
    state: str  # mains | battery | dark
    since: datetime | None  # on battery since (battery, dark); None on mains
    time_to_dark: timedelta | None  # remaining autonomy; 0 when dark; None on mains or unknown autonomy
    dark_at: datetime | None
    autonomy_h: float | None
    sources: tuple[str, ...]  # "alarm", "outage:<dso>/<id>"


def alarm_evidence(session: Session, ran_site_pks: list[int], now: datetime) -> dict[int, PowerEvidence]:
    """Active power alarms on the sites' cells (impact "power"), and alarms saying the site is dark."""
    cells = topology.ran_site_cells(session, ran_site_pks)
    site_of = {c.pk: c.ran_site_pk for c in cells}
    conds = faults.active_conditions(session, list(site_of), now)
    battery: dict[int, datetime] = {}
    low: dict[int, datetime] = {}
    dark: dict[int, datetime] = {}
    for cell_pk, items in conds.items():
        site = site_of[cell_pk]
        for c in items:
            cause = str(c.details.get("probableCause", "")).upper()
            if c.impact == "power" or cause in BATTERY_CAUSES:
                battery[site] = min(battery.get(site, c.starts_at), c.starts_at)
                if cause == "LOW_BATTERY_THRESHOLD":
                    low[site] = min(low.get(site, c.starts_at), c.starts_at)
            elif cause in faults.DARK_CAUSES:
                dark[site] = min(dark.get(site, c.starts_at), c.starts_at)
    return {pk: PowerEvidence(battery.get(pk), low.get(pk), dark.get(pk))
            for pk in set(battery) | set(low) | set(dark)}


def _outage_since(session: Session, ran_site_pks: set[int], now: datetime) -> dict[int, tuple[datetime, str]]:
    """Open outages (started, not ended) that de-energize these RAN sites: the earliest start per site."""
    out: dict[int, tuple[datetime, str]] = {}
    rows = session.scalars(select(OutageInfo).where(
        OutageInfo.start <= now, or_(OutageInfo.actual_end.is_(None), OutageInfo.actual_end > now)))
    for o in rows:
        for pk in set(o.affected_ran_site_pks) & ran_site_pks:
            if pk not in out or o.start < out[pk][0]:
                out[pk] = (o.start, f"outage:{o.dso_id}/{o.moi_id}")
    return out


def ran_site_power(session: Session, ran_site_pks: list[int], now: datetime) -> dict[int, RanSitePower]:
    refs = topology.ran_site_refs(session, ran_site_pks)
    pks = sorted(refs)
    evidence = alarm_evidence(session, pks, now)
    grid = _outage_since(session, set(pks), now)
    out: dict[int, RanSitePower] = {}
    for pk in pks:
        ev = evidence.get(pk, PowerEvidence())
        sources: list[str] = []
        starts = []
        if ev.battery_since is not None or ev.dark_since is not None:
            sources.append("alarm")
            starts += [t for t in (ev.battery_since, ev.dark_since) if t is not None]
        if pk in grid:
            sources.append(grid[pk][1])
            starts.append(grid[pk][0])
        autonomy = refs[pk].autonomy_h
        if not starts:
            out[pk] = RanSitePower(pk, "mains", None, None, None, autonomy, ())
            continue
        since = min(starts)
        dark_at = since + timedelta(hours=autonomy) if autonomy is not None else None
        if ev.low_battery_at is not None:
            floor = ev.low_battery_at + LOW_BATTERY_RESERVE
            dark_at = floor if dark_at is None else min(dark_at, floor)
        if ev.dark_since is not None:
            dark_at = ev.dark_since if dark_at is None else min(dark_at, ev.dark_since)
        if dark_at is not None and dark_at <= now:
            out[pk] = RanSitePower(pk, "dark", since, timedelta(0), dark_at, autonomy, tuple(sources))
        else:
            ttd = dark_at - now if dark_at is not None else None
            out[pk] = RanSitePower(pk, "battery", since, ttd, dark_at, autonomy, tuple(sources))
    return out
