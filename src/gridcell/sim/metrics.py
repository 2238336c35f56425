"""Outcomes of a run, per policy: comm availability, failover interruptions, attribution time, IEEE 1366
reliability indices (SAIDI, SAIFI, CAIDI) and ENS, truck rolls; Monte Carlo confidence intervals."""

from __future__ import annotations

import itertools
import math
import statistics
from typing import Any

import numpy as np

from gridcell.sim.config import YEAR_S
from gridcell.sim.engine import Outcome
from gridcell.sim.scenario import World

KEYS = ("comm_availability_pct", "comm_unavailability_min_per_site_year", "failover_interruption_s_p50",
        "failover_interruption_s_p95", "attribution_time_s_median", "saidi_min", "saifi", "caidi_min", "ens_mwh",
        "truck_rolls")
BATCHES = 12
SWITCH_KINDS = ("failover", "spurious", "proactive", "switch_back")


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def figures(world: World, o: Outcome, t0: float = 0.0, t1: float | None = None) -> dict[str, Any]:
    """The figures of one run, over [t0, t1) (the whole horizon by default), scaled to one year."""
    t1 = o.horizon_s if t1 is None else t1
    span = t1 - t0
    years = span / YEAR_S
    n = len(world.stations)
    down = [sum(max(0.0, min(b, t1) - max(a, t0)) for a, b in iv) for iv in o.unavail]
    avail = [1.0 - d / span for d in down]
    by_kind: dict[str, list[float]] = {k: [] for k in SWITCH_KINDS}
    for t, d, _, kind in o.interruptions:
        if t0 <= t < t1:
            by_kind[kind].append(d)
    inter = by_kind["failover"]
    inter_all = [d for ds in by_kind.values() for d in ds]
    attr = [s for (_, _, s, _) in o.attribution]
    correct = [c for (_, _, _, c) in o.attribution if c is not None]
    cfg = world.cfg
    total = world.total_customers
    ci = cd = ens = 0.0
    for i, a, b in o.customer_interruptions:
        a, b = max(a, t0), min(b, t1)
        if b - a <= cfg.sustained_min * 60.0:
            continue
        st = world.stations[i]
        ci += st.customers
        cd += st.customers * (b - a) / 60.0
        ens += st.p_mw * (b - a) / 3600.0
    saidi = cd / total / years
    saifi = ci / total / years
    out: dict[str, Any] = {
        "comm_availability_pct": round(100.0 * statistics.fmean(avail), 4) if n else None,
        "comm_unavailability_min_per_site_year": round(statistics.fmean(down) / 60.0 / years, 1) if n else None,
        "failover_interruption_s_p50": _pct(inter_all, 50),
        "failover_interruption_s_p95": _pct(inter_all, 95),
        "attribution_time_s_median": round(statistics.median(attr), 1) if attr else None,
        "saidi_min": round(saidi, 2),
        "saifi": round(saifi, 4),
        "caidi_min": round(saidi / saifi, 1) if saifi > 0 else None,
        "ens_mwh": round(ens / years, 2),
        "truck_rolls": round(sum(1 for t, _ in o.truck_rolls if t0 <= t < t1) / years, 1),
        "failover_after_failure_s_p50": _pct(inter, 50),
        "failover_after_failure_s_p95": _pct(inter, 95),
        "failovers": len(inter_all),
        "switches_by_kind": {k: len(v) for k, v in by_kind.items()},
        "switch_s_p50_by_kind": {k: _pct(v, 50) for k, v in by_kind.items()},
        "attribution_automatic_pct": round(100.0 * len(correct) / len(attr), 1) if attr else None,
        "attribution_correct_pct": round(100.0 * sum(correct) / len(correct), 1) if correct else None,
        "incidents": len(attr),
        "grid_faults": len(o.outages),
        "comm_availability_min_site_pct": round(100.0 * min(avail), 3) if n else None,
    }
    if t0 == 0.0 and t1 == o.horizon_s and n:  # where the downtime comes from (whole runs only)
        downtime = sum(o.down_by_cause.values()) or 1.0
        out["comm_downtime_share_pct_by_cause"] = {k: round(100.0 * v / downtime, 1)
                                                   for k, v in sorted(o.down_by_cause.items())}
        out["comm_unavailability_min_per_site_year_excl_cpe"] = round(
            (sum(o.down_by_cause.values()) - o.down_by_cause.get("cpe", 0.0)) / n / 60.0 / years, 1)
    return out


def _mean(values: list[Any]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(statistics.fmean(vals), 4) if vals else None


def ci95(values: list[float]) -> list[float] | None:
    v = [x for x in values if x is not None and not math.isnan(x)]
    if len(v) < 2:
        return None
    m = statistics.fmean(v)
    half = 1.96 * statistics.stdev(v) / math.sqrt(len(v))
    return [round(m - half, 4), round(m + half, 4)]


def summarise(world: World, outcomes: list[Outcome]) -> dict[str, Any]:
    """Mean over seeds of each figure; 95 % CIs across seeds (several seeds) or by batch means (months of one)."""
    per = [figures(world, o) for o in outcomes]
    out: dict[str, Any] = {}
    for k in per[0]:
        if isinstance(per[0][k], dict):
            subs = sorted({s for p in per for s in p.get(k, {})})
            out[k] = {s: _mean([p.get(k, {}).get(s) for p in per]) for s in subs}
            continue
        out[k] = _mean([p[k] for p in per])
    if len(outcomes) >= 2:
        out["ci95"] = {k: ci95([p[k] for p in per if p[k] is not None]) for k in KEYS}
        out["ci_method"] = f"across {len(outcomes)} seeds (normal approximation)"
    else:
        o = outcomes[0]
        edges = np.linspace(0.0, o.horizon_s, BATCHES + 1)
        batches = [figures(world, o, float(a), float(b)) for a, b in itertools.pairwise(edges)]
        out["ci95"] = {k: ci95([b[k] for b in batches if b[k] is not None])
                       for k in ("comm_availability_pct", "comm_unavailability_min_per_site_year", "saidi_min",
                                 "saifi", "ens_mwh", "truck_rolls")}
        out["ci95"].update(_bootstrap(o))
        out["ci_method"] = f"batch means over {BATCHES} periods of one run; bootstrap for percentiles"
    out["seeds"] = [o.seed for o in outcomes]
    return out


def _bootstrap(o: Outcome, n: int = 200) -> dict[str, list[float] | None]:
    rs = np.random.default_rng(o.seed)
    inter = np.array([d for (_, d, _, _) in o.interruptions])
    attr = np.array([s for (_, _, s, _) in o.attribution])
    out: dict[str, list[float] | None] = {}
    for key, arr, q in (("failover_interruption_s_p50", inter, 50), ("failover_interruption_s_p95", inter, 95),
                        ("attribution_time_s_median", attr, 50)):
        if len(arr) < 2:
            out[key] = None
            continue
        samples = [float(np.percentile(rs.choice(arr, len(arr)), q)) for _ in range(n)]
        out[key] = [round(float(np.percentile(samples, 2.5)), 1), round(float(np.percentile(samples, 97.5)), 1)]
    return out
