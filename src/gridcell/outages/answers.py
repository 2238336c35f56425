"""Who answers what in a plan: each MNO's own answer, the DSO's generator plan and rapid-intervention check.

An MNO's answer (`mnoMaxServiceDuration`, `mnoInterventionTime`, `mnoInterventionDuration`) rests on its own RAN
sites and the DSO's stations alone, never on another MNO's sites: the first of its sites to go dark, and the
generators it needs so that the DSO's stations keep its PLMN until the horizon (the expected end, and the close of
the rapid-intervention window). What the MNO declares itself (a generator en route, a site on a fuel cell)
overrides the computed value attribute by attribute. The DSO's own generator plan is cross-MNO: the fewest
generators that keep every station on at least one PLMN until the horizon.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from datetime import datetime
from typing import Any, TypeVar

from gridcell.outages.plan import Context, Pair, RanPower, iso, minutes

MNO_ATTRS = ("mnoInterventionTime", "mnoInterventionDuration", "mnoMaxServiceDuration")
_T = TypeVar("_T", bound=Hashable)


def _cover(targets: dict[_T, set[int]], power: dict[int, RanPower]) -> list[tuple[int, set[_T]]]:
    """Greedy set cover: RAN sites to keep powered so that every target keeps one of its candidates; the site
    covering most targets first, then the one that goes dark latest (more time to bring a generator)."""
    by_ran: dict[int, set[_T]] = defaultdict(set)
    for target, rans in targets.items():
        for r in rans:
            by_ran[r].add(target)
    uncovered = set(targets)
    picks: list[tuple[int, set[_T]]] = []
    while uncovered and by_ran:
        best = max(by_ran, key=lambda r: (len(by_ran[r] & uncovered), power[r].dark or datetime.min.replace(
            tzinfo=power[r].since.tzinfo), -r))
        got = by_ran.pop(best) & uncovered
        if not got:
            break
        picks.append((best, got))
        uncovered -= got
    return picks


def _until(p: RanPower, horizon: datetime | None) -> datetime | None:
    ends = [t for t in (p.back, horizon) if t is not None]
    return min(ends) if ends else None


def _generator_rows(ctx: Context, picks: list[tuple[int, set[Any]]], site_of: Any) -> list[dict[str, Any]]:
    horizon = ctx.horizon
    rows = []
    for pk, targets in picks:
        p = ctx.power[pk]
        served = sorted({ctx.site_info[site_of(t)].site_id for t in targets if site_of(t) in ctx.site_info})
        rows.append({"ranSitePk": pk, "mnoId": p.site.org_id, "ranSiteId": p.site.site_id, "by": iso(p.dark),
                     "until": iso(_until(p, horizon)), "forSites": served, "dsoSitesServed": len(served)})
    return sorted(rows, key=lambda g: (g["by"] or "", g["ranSitePk"]))


def _needed(ctx: Context, at: datetime | None) -> bool:
    return at is not None and (ctx.horizon is None or at < ctx.horizon)


def per_mno(ctx: Context) -> dict[str, dict[str, Any]]:
    """Each MNO's answer from its own sites, with its generator list; a declared answer wins per attribute."""
    by_mno: dict[str, list[RanPower]] = defaultdict(list)
    for p in ctx.power.values():
        by_mno[p.site.org_id].append(p)
    horizon = ctx.horizon
    out: dict[str, dict[str, Any]] = {}
    for mno in sorted(set(by_mno) | set(ctx.facts.declared)):
        sites = by_mno.get(mno, [])
        darks = [p.dark for p in sites if p.dark is not None and p.goes_dark()]
        targets: dict[Pair, set[int]] = {
            pair: {r for r in ctx.serving[pair] if r in ctx.power}
            for pair, loss in ctx.losses.items() if loss.mno_ids == {mno} and _needed(ctx, loss.at)}
        gens = _generator_rows(ctx, _cover(targets, ctx.power), lambda pair: pair[0])
        computed: dict[str, Any] = {}
        if darks:
            computed["mnoMaxServiceDuration"] = minutes(min(darks) - ctx.facts.start)
        if gens:
            first = min(g["by"] for g in gens)
            computed["mnoInterventionTime"] = first
            if horizon is not None:
                computed["mnoInterventionDuration"] = minutes(horizon - _parse(first))
        declared = ctx.facts.declared.get(mno)
        effective = dict(computed)
        if declared:
            for k in MNO_ATTRS:
                if k in declared:
                    if declared[k] is None:
                        effective.pop(k, None)
                    else:
                        effective[k] = declared[k]
        out[mno] = {"mnoId": mno, "ranSites": len(sites), "unknownAutonomySites": sum(p.dark is None for p in sites),
                    "source": "declared" if declared else "computed", "computed": computed,
                    "declared": declared, "effective": effective, "generators": gens}
    return out


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def earliest(answers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The DSO's copy of the standard attributes: the most pressing of the MNOs' answers (each MNO reads its own)."""
    out: dict[str, Any] = {}
    durations = [a["effective"]["mnoMaxServiceDuration"] for a in answers.values()
                 if a["effective"].get("mnoMaxServiceDuration") is not None]
    if durations:
        out["mnoMaxServiceDuration"] = min(durations)
    times = [a["effective"]["mnoInterventionTime"] for a in answers.values()
             if a["effective"].get("mnoInterventionTime") is not None]
    if times:
        out["mnoInterventionTime"] = min(times, key=_parse)
    spans = [a["effective"]["mnoInterventionDuration"] for a in answers.values()
             if a["effective"].get("mnoInterventionDuration") is not None]
    if spans:
        out["mnoInterventionDuration"] = max(spans)
    return out


def dso_generators(ctx: Context) -> list[dict[str, Any]]:
    """The fewest generators (over every MNO) that keep each station that would lose its last PLMN before the
    horizon on at least one PLMN."""
    targets: dict[int, set[int]] = defaultdict(set)
    for (site_pk, plmn), loss in ctx.losses.items():
        whole = ctx.station_loss.get(site_pk)
        if whole is not None and _needed(ctx, whole.at) and loss.at is not None:
            targets[site_pk] |= {r for r in ctx.serving[(site_pk, plmn)] if r in ctx.power}
    return _generator_rows(ctx, _cover(dict(targets), ctx.power), lambda pk: pk)


def rapid_check(ctx: Context) -> dict[str, Any] | None:
    """The DSO's rapid-intervention window against every station that loses its last PLMN in it, energized or not.
    `fits` is None when only stations whose loss time rests on an unknown autonomy are at risk."""
    facts = ctx.facts
    start, end = facts.rapid_time, facts.window_end
    if start is None or end is None:
        return None
    hits: list[tuple[datetime, int]] = []
    unknown: list[int] = []
    for pk, loss in ctx.station_loss.items():
        if loss.until is not None and loss.until <= start:
            continue  # mains back before the window opens
        if loss.at is None:
            unknown.append(pk)
        elif loss.at < end:
            hits.append((loss.at, pk))
    hits.sort()
    return {"start": iso(start), "end": iso(end),
            "commsFailAt": iso(hits[0][0]) if hits else None,
            "fits": False if hits else (None if unknown else True),
            "stationsLosingComms": [{"siteId": ctx.site_info[pk].site_id, "at": iso(at),
                                     "deEnergized": pk in ctx.covered} for at, pk in hits],
            "stationsUnknown": sorted(ctx.site_info[pk].site_id for pk in unknown)}
