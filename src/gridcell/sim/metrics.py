"""Outcomes of a run, per policy: comm availability, failover interruptions, attribution time, IEEE 1366
reliability indices (SAIDI, SAIFI, CAIDI) and ENS, truck rolls; Monte Carlo confidence intervals."""

from __future__ import annotations

import itertools
import math
import statistics
from typing import Any

import numpy as np

from gridcell.sim.config import ABLATION, YEAR_S
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


BOOTSTRAP = 2000
PAIRS = (("gridcell", "current_practice"), ("gridcell", "best_practice"), ("best_practice", "current_practice"))
# figures that cannot be negative: their intervals are percentile bootstraps, inside the range of what was seen
PAIRED_KEYS = (*KEYS[:2], "comm_unavailability_min_per_site_year_excl_cpe", *KEYS[2:],
               "failover_after_failure_s_p50", "failover_after_failure_s_p95")


def bootstrap_mean_ci(values: list[float], seed: int = 0) -> list[float] | None:
    """95 % percentile-bootstrap interval of the mean (resampling the values): inside [min, max] of the values, so
    a quantity that cannot be negative never gets a negative bound."""
    v = np.array([x for x in values if x is not None and not math.isnan(x)], dtype=float)
    if len(v) < 2:
        return None
    rs = np.random.default_rng(seed)
    means = v[rs.integers(0, len(v), size=(BOOTSTRAP, len(v)))].mean(axis=1)
    return [round(float(np.percentile(means, 2.5)), 4), round(float(np.percentile(means, 97.5)), 4)]


def _periods(world: World, o: Outcome) -> list[dict[str, Any]]:
    edges = np.linspace(0.0, o.horizon_s, BATCHES + 1)
    return [figures(world, o, float(a), float(b)) for a, b in itertools.pairwise(edges)]


def summarise(world: World, outcomes: list[Outcome]) -> dict[str, Any]:
    """Mean over seeds of each figure; 95 % CIs by percentile bootstrap over the seeds (several seeds) or over the
    12 periods of one run (percentiles: over its switches and attributions)."""
    per = [figures(world, o) for o in outcomes]
    out: dict[str, Any] = {}
    for k in per[0]:
        if isinstance(per[0][k], dict):
            subs = sorted({s for p in per for s in p.get(k, {})})
            out[k] = {s: _mean([p.get(k, {}).get(s) for p in per]) for s in subs}
            continue
        out[k] = _mean([p[k] for p in per])
    if len(outcomes) >= 2:
        out["ci95"] = {k: bootstrap_mean_ci([p[k] for p in per if p.get(k) is not None]) for k in PAIRED_KEYS}
        out["ci_method"] = f"percentile bootstrap of the mean over {len(outcomes)} seeds"
    else:
        o = outcomes[0]
        batches = _periods(world, o)
        out["ci95"] = {k: bootstrap_mean_ci([b[k] for b in batches if b[k] is not None], o.seed)
                       for k in ("comm_availability_pct", "comm_unavailability_min_per_site_year", "saidi_min",
                                 "saifi", "ens_mwh", "truck_rolls")}
        out["ci95"].update(_bootstrap(o))
        out["ci_method"] = (f"percentile bootstrap over {BATCHES} periods of one run; over its switches and "
                            "attributions for percentiles")
    out["seeds"] = [o.seed for o in outcomes]
    return out


def _differences(world: World, a: list[Outcome], b: list[Outcome]) -> dict[str, Any]:
    """Each figure of a minus b, run by run on the same seeds: per seed, the mean and the 95 % CI of the mean
    difference (percentile bootstrap over the seeds; one seed: over its 12 periods, each period of one run paired
    with the same period of the other)."""
    fa, fb = [figures(world, o) for o in a], [figures(world, o) for o in b]
    seeds = [o.seed for o in a]
    one = len(seeds) == 1
    if one:
        pa, pb = _periods(world, a[0]), _periods(world, b[0])
    rows: dict[str, Any] = {}
    for k in PAIRED_KEYS:
        diffs = [None if x[k] is None or y[k] is None else round(x[k] - y[k], 4) for x, y in zip(fa, fb, strict=True)]
        known = [d for d in diffs if d is not None]
        if one:
            ci_src = [x[k] - y[k] for x, y in zip(pa, pb, strict=True)
                      if x.get(k) is not None and y.get(k) is not None]
        else:
            ci_src = known
        rows[k] = {"mean": round(statistics.fmean(known), 4) if known else None,
                   "ci95": bootstrap_mean_ci(ci_src, seeds[0]), "per_seed": diffs}
    return rows


def _method(seeds: list[int]) -> str:
    return ("same seed, same faults for every policy; CI of the mean difference: percentile bootstrap "
            + (f"over the {BATCHES} paired periods of one run" if len(seeds) == 1 else f"over {len(seeds)} seeds"))


def paired(world: World, outcomes: dict[str, list[Outcome]]) -> dict[str, Any]:
    """Differences between policies on the same faults (common random numbers)."""
    out: dict[str, Any] = {f"{a} - {b}": _differences(world, outcomes[a], outcomes[b])
                           for a, b in PAIRS if a in outcomes and b in outcomes}
    seeds = [o.seed for o in next(iter(outcomes.values()))]
    out["seeds"] = seeds
    out["method"] = _method(seeds)
    return out


def ablation(world: World, best: list[Outcome], steps: list[list[Outcome]]) -> dict[str, Any]:
    """What each capability buys: gridcell with config.ABLATION's capabilities added one at a time, each step
    paired against best practice on the same seeds (`steps`: per seed, one run per step). A step's difference to
    the one before is what its capability adds on top of those before it — in this order only."""
    seeds = [o.seed for o in best]
    rows = []
    for n, (name, caps) in enumerate(ABLATION):
        runs = [per_seed[n] for per_seed in steps]
        rows.append({"step": name, "capabilities": list(caps),
                     "figures": {k: _mean([figures(world, o)[k] for o in runs]) for k in PAIRED_KEYS},
                     "minus_best_practice": _differences(world, runs, best)})
    return {"steps": rows, "seeds": seeds, "method": _method(seeds) + "; every step minus best practice"}


SEED_PATH_AVAILABILITY_PCT = 98.5  # PRODUCT.md / TR 28.829: observed effective availability of a mobile network


def calibration(world: World, outcomes: list[Outcome]) -> dict[str, Any]:
    """The world against the figures it should resemble: each station's path per PLMN (its serving RAN site
    neither failed, in maintenance nor dark; then also not congested) as simulated under current practice, against
    the ~98.5 % the seed observes; grid faults and SAIDI against the German statistics PRODUCT.md cites."""
    per_plmn: dict[str, list[float]] = {p: [] for p in world.cfg.plmns}
    per_plmn_cong: dict[str, list[float]] = {p: [] for p in world.cfg.plmns}
    line_km = sum(lf.length_km for lf in world.lines.values())
    faults_per_100km: list[float] = []
    for o in outcomes:
        down: dict[int, list[tuple[float, float]]] = {}
        congested: dict[int, list[tuple[float, float]]] = {}
        for ran, a, b, cause in o.ran_out:
            (congested if cause == "congestion" else down).setdefault(ran, []).append((a, b))
        for st in world.stations:
            for p in world.cfg.plmns:
                r = st.serving[p]
                out = _measure(down.get(r, []))
                both = _measure(down.get(r, []) + congested.get(r, []))
                per_plmn[p].append(100.0 * (1.0 - out / o.horizon_s))
                per_plmn_cong[p].append(100.0 * (1.0 - both / o.horizon_s))
        faults_per_100km.append(len(o.outages) / (o.horizon_s / YEAR_S) / line_km * 100.0 if line_km else 0.0)
    saidi = [figures(world, o)["saidi_min"] for o in outcomes]
    return {
        "per_plmn_path_availability_pct": {p: round(statistics.fmean(v), 3) for p, v in per_plmn.items()},
        "per_plmn_path_availability_incl_congestion_pct": {p: round(statistics.fmean(v), 3)
                                                           for p, v in per_plmn_cong.items()},
        "seed_observed_pct": SEED_PATH_AVAILABILITY_PCT,
        "seed_source": "TR 28.829 (PRODUCT.md): observed effective availability of a mobile network ~98.5 %",
        "grid_faults_per_100km_year": round(statistics.fmean(faults_per_100km), 2),
        "grid_faults_reference": "1.76 per 100 km and year (VDE FNN disturbance statistics 2024, PRODUCT.md)",
        "saidi_min_current_practice": round(statistics.fmean(saidi), 2),
        "saidi_reference": "12.8 min (BNetzA 2023), 13.7 min (FNN 2023); storm years are a separate scenario",
        "simulated_under": "current_practice",
    }


def _measure(iv: list[tuple[float, float]]) -> float:
    total, end = 0.0, -math.inf
    for a, b in sorted(iv):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


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
