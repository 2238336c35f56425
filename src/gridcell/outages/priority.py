"""Restoration priority by switchable section: what to re-energize first so that the DSO keeps its comms.

A section (see `area`) is re-energized as a whole. It ranks by the customers behind the stations whose comms it
restores: stations that lose every PLMN and have a serving RAN site powered from the section (a station that
keeps another PLMN depends on nothing). Then the earliest such loss, then the section's own customers. Each
section lists its switching steps with the station at each switch and when that station loses comms, so the
control room sees which steps can be done remotely. An outage given only as an area has no switching model: its
RAN sites and stations are grouped by feeder instead.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from gridcell.outages.area import Section
from gridcell.outages.plan import Context, Index, iso


def _sections(ctx: Context, index: Index) -> list[Section]:
    if ctx.facts.sections:
        return list(ctx.facts.sections)
    groups: dict[str, set[str]] = defaultdict(set)
    buses = [p.site.bus for p in ctx.power.values()] + [s.bus for s in ctx.sites(ctx.covered)]
    for bus in buses:
        if bus is not None:
            groups[ctx.feeders.get(bus) or bus].add(bus)
    return [Section(f"feeder:{key}", frozenset(bs), key, False, (), ()) for key, bs in sorted(groups.items())]


def rank(ctx: Context, index: Index) -> list[dict[str, Any]]:
    depends: dict[str, set[int]] = defaultdict(set)  # bus → stations that lose every PLMN and are served from it
    for site_pk, plmn in ctx.losses:
        if site_pk not in ctx.station_loss:
            continue
        for r in ctx.serving.get((site_pk, plmn), ()):
            bus = ctx.power[r].site.bus if r in ctx.power else None
            if bus is not None:
                depends[bus].add(site_pk)
    rows: list[dict[str, Any]] = []
    for sec in _sections(ctx, index):
        stations = ctx.sites(pk for pks in index.sites_at(sec.buses).values() for pk in pks)
        ran = sorted((p.site for p in ctx.power.values() if p.site.bus in sec.buses), key=lambda r: r.pk)
        dependents = sorted({pk for b in sec.buses for pk in depends.get(b, ())})
        losses = [t for pk in dependents if (t := ctx.station_loss[pk].at) is not None]
        row: dict[str, Any] = {
            "sectionId": sec.id, "feeder": sec.feeder, "faulted": sec.faulted, "buses": sorted(sec.buses),
            "stations": sorted(s.site_id for s in stations), "stationCustomers": sum(s.customers for s in stations),
            "ranSites": [{"mnoId": r.org_id, "ranSiteId": r.site_id} for r in ran],
            "dependentSites": sorted(ctx.site_info[pk].site_id for pk in dependents if pk in ctx.site_info),
            "dependentCustomers": sum(ctx.site_info[pk].customers for pk in dependents if pk in ctx.site_info),
            "reEnergizeBy": min(losses) if losses else None,
            "isolate": [_step(ctx, index, a) for a in sec.isolate],
            "restore": [_step(ctx, index, a) for a in sec.restore]}
        rows.append(row)
    far = datetime.max.replace(tzinfo=ctx.facts.start.tzinfo)
    rows.sort(key=lambda b: (b["faulted"], -b["dependentCustomers"], b["reEnergizeBy"] or far,
                             -b["stationCustomers"], b["sectionId"]))
    for i, b in enumerate(rows, 1):
        b["rank"] = i
        b["reEnergizeBy"] = iso(b["reEnergizeBy"])
    return rows


def _step(ctx: Context, index: Index, action: dict[str, Any]) -> dict[str, Any]:
    """A switching step with the station at its switch and when that station loses comms (if it does)."""
    at = ctx.sites(index.sites_at([action["bus"]]).get(action["bus"], []))
    station = at[0] if at else None
    loss = ctx.station_loss.get(station.pk) if station is not None else None
    return {**action, "stationSiteId": station.site_id if station else None,
            "stationCommsLostAt": iso(loss.at) if loss else None,
            "stationCommsAtRisk": loss is not None}


def feeders(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The section ranking rolled up per feeder (first line out of the HV/MV substation)."""
    out: dict[str, dict[str, Any]] = {}
    for b in sections:
        key = b["feeder"] or b["sectionId"]
        f = out.setdefault(key, {"feeder": key, "sections": [], "dependentCustomers": 0, "ranSites": 0,
                                 "reEnergizeBy": None, "bestRank": b["rank"]})
        f["sections"].append(b["sectionId"])
        f["dependentCustomers"] += b["dependentCustomers"]
        f["ranSites"] += len(b["ranSites"])
        if b["reEnergizeBy"] and (f["reEnergizeBy"] is None or b["reEnergizeBy"] < f["reEnergizeBy"]):
            f["reEnergizeBy"] = b["reEnergizeBy"]
    return sorted(out.values(), key=lambda f: (-f["dependentCustomers"], f["bestRank"]))
