"""The offline HTML report: figures with confidence intervals and four plots (inline PNG, no network needed)."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from typing import Any

from gridcell.sim.config import POLICIES, YEAR_S
from gridcell.sim.engine import Outcome
from gridcell.sim.metrics import KEYS, PAIRED_KEYS
from gridcell.sim.scenario import World

COLORS = {"current_practice": "#c0392b", "best_practice": "#d68910", "gridcell": "#2471a3"}
LABELS = {"current_practice": "current practice (seed)", "best_practice": "best practice (mwan3)",
          "gridcell": "gridcell"}


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def plots(world: World, outcomes: dict[str, list[Outcome]]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from shapely.geometry import MultiPoint

    out: dict[str, str] = {}
    # 1. map: lines, outage areas (feeders tripped by faults), stations, RAN sites
    fig, ax = plt.subplots(figsize=(8, 8))
    for xy in world.line_xy.values():
        if xy:
            ax.plot([p[0] for p in xy], [p[1] for p in xy], color="#999999", lw=0.7, zorder=1)
    first = outcomes["gridcell"][0] if outcomes.get("gridcell") else next(iter(outcomes.values()))[0]
    seen: set[int] = set()
    for o in first.outages:
        lf = world.lines[o["line"]]
        if lf.line in seen:
            continue
        seen.add(lf.line)
        pts = [world.bus_xy[b] for b in lf.feeder_buses if b in world.bus_xy]
        if len(pts) >= 3:
            hull = MultiPoint(pts).convex_hull
            if hull.geom_type == "Polygon":
                x, y = hull.exterior.xy
                ax.fill(list(x), list(y), color="#e67e22", alpha=0.12, zorder=0)
        xy = world.line_xy.get(lf.line) or []
        if xy:
            ax.plot([p[0] for p in xy], [p[1] for p in xy], color="#d35400", lw=2.5, zorder=2)
    ax.scatter([s.lon for s in world.stations if s.da], [s.lat for s in world.stations if s.da], s=14, c="#27ae60",
               label="MV/LV station with DA (CPE, 2 USIMs)", zorder=3)
    ax.scatter([s.lon for s in world.stations if not s.da], [s.lat for s in world.stations if not s.da], s=14,
               c="#7f8c8d", label="MV/LV station, manual switching", zorder=3)
    if world.substations:
        ax.scatter([p[0] for p in world.substations], [p[1] for p in world.substations], s=90, marker="s",
                   c="#2c3e50", label="HV/MV substation", zorder=5)
    if world.open_points:
        ax.scatter([p[0] for p in world.open_points], [p[1] for p in world.open_points], s=40, marker="x",
                   c="#c0392b", label="open sectioning point", zorder=5)
    markers = ("^", "s", "D", "v")
    for k, plmn in enumerate(world.cfg.plmns):
        rs = [r for r in world.ran if r.plmn == plmn]
        sc = ax.scatter([r.lon for r in rs], [r.lat for r in rs], s=[20 + 12 * r.autonomy_h for r in rs],
                        marker=markers[k % 4], facecolors="none", edgecolors=["#8e44ad", "#16a085"][k % 2],
                        label=f"RAN site PLMN {plmn} (size: battery h)", zorder=4)
        del sc
    ax.plot([], [], color="#d35400", lw=2.5, label="faulted line (seed 1st run)")
    ax.fill([], [], color="#e67e22", alpha=0.2, label="outage area (tripped feeder)")
    ax.set_title(f"{world.grid_name}: stations, RAN sites, outage areas")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.legend(loc="lower left", fontsize=7)
    ax.set_aspect(1.5)
    out["map"] = _png(fig)

    # 2. availability distributions
    fig, ax = plt.subplots(figsize=(8, 4))
    for p, os_ in outcomes.items():
        mins = sorted(sum(b - a for a, b in iv) / 60.0 / (o.horizon_s / YEAR_S) for o in os_ for iv in o.unavail)
        n = len(mins)
        ax.step(mins, [(i + 1) / n for i in range(n)], where="post", color=COLORS[p], label=LABELS[p])
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("comm unavailability per station (min / year)")
    ax.set_ylabel("share of stations (ECDF)")
    ax.set_title("Comm availability per station")
    ax.grid(alpha=0.3)
    ax.legend()
    out["availability"] = _png(fig)

    # 3. SAIDI comparison
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.5))
    from gridcell.sim import metrics

    figs = {p: [metrics.figures(world, o) for o in os_] for p, os_ in outcomes.items()}
    for ax, key, label in zip(axes, ("saidi_min", "saifi", "caidi_min"), ("SAIDI (min/yr)", "SAIFI (1/yr)",
                                                                        "CAIDI (min)"), strict=True):
        vals = [sum((f[key] or 0.0) for f in figs[p]) / len(figs[p]) for p in outcomes]
        ax.bar([LABELS[p] for p in outcomes], vals, color=[COLORS[p] for p in outcomes])
        ax.set_title(label)
        for i, v in enumerate(vals):
            ax.text(i, v, f"{v:.1f}", ha="center", va="bottom", fontsize=8)
    fig.suptitle("Reliability indices (IEEE 1366, sustained > 3 min)")
    out["saidi"] = _png(fig)

    # 4. failover timeline
    fig, ax = plt.subplots(figsize=(9, 4))
    for p, os_ in outcomes.items():
        run0 = os_[0]
        ax.scatter([t / 86400.0 for t, _, _, _ in run0.interruptions],
                   [max(d, 0.5) for _, d, _, _ in run0.interruptions], s=6, alpha=0.5, color=COLORS[p],
                   label=f"{LABELS[p]} ({len(run0.interruptions)} switches)")
    ax.set_yscale("log")
    ax.set_xlabel("day of the simulated period")
    ax.set_ylabel("interruption per switch (s)")
    ax.set_title("Failover timeline (first seed)")
    ax.grid(alpha=0.3)
    ax.legend()
    out["timeline"] = _png(fig)

    # 5. switch interruptions by cause
    kinds = ("failover", "spurious", "proactive", "switch_back")
    names = {"failover": "after a real failure", "spurious": "false alarm (lost probes)",
             "proactive": "proactive (exchange)", "switch_back": "back to the primary"}
    fig, axes = plt.subplots(1, len(kinds), figsize=(12, 3.2), sharey=True)
    for ax, kind in zip(axes, kinds, strict=True):
        for p, os_ in outcomes.items():
            ds = sorted(max(d, 0.001) for o in os_ for _, d, _, k in o.interruptions if k == kind)
            if ds:
                ax.step(ds, [(i + 1) / len(ds) for i in range(len(ds))], where="post", color=COLORS[p],
                        label=f"{LABELS[p]} ({len(ds)})")
        ax.set_xscale("log")
        ax.set_title(names[kind], fontsize=9)
        ax.set_xlabel("interruption (s)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    axes[0].set_ylabel("share of switches (ECDF)")
    fig.suptitle("Interruption per switch, by cause (all seeds)")
    out["switches"] = _png(fig)

    # 6. restoration over time, per grid fault (first seed)
    fig, ax = plt.subplots(figsize=(9, 4))
    customers = {s.idx: s.customers for s in world.stations}
    for p, os_ in outcomes.items():
        run0 = os_[0]
        labelled = False
        for row in run0.outages:
            t0 = float(row["t"])
            hit = [(customers[i], b - t0) for i, a, b in run0.customer_interruptions if abs(a - t0) < 1.0]
            if not hit:
                continue
            steps = sorted({0.0, *(d for _, d in hit)})
            off = [sum(c for c, d in hit if d > x) for x in steps]
            ax.step([max(x / 60.0, 0.1) for x in steps], off, where="post", color=COLORS[p], alpha=0.6, lw=1,
                    label=None if labelled else LABELS[p])
            labelled = True
    ax.set_xscale("log")
    ax.set_xlabel("minutes after the fault")
    ax.set_ylabel("customers still off")
    ax.set_title("Restoration over time, each grid fault (first seed)")
    ax.grid(alpha=0.3)
    ax.legend()
    out["restoration"] = _png(fig)
    return out


# Each figure's name and unit as a grid operator reads them
FIGURES: dict[str, str] = {
    "comm_availability_pct": "comm availability per station (%)",
    "comm_unavailability_min_per_site_year": "comm unavailability (min per station and year)",
    "comm_unavailability_min_per_site_year_excl_cpe": "… without CPE hardware repairs (min per station and year)",
    "failover_interruption_s_p50": "interruption per switch, median (s)",
    "failover_interruption_s_p95": "interruption per switch, 95th percentile (s)",
    "failover_after_failure_s_p50": "interruption after a real failure, median (s)",
    "failover_after_failure_s_p95": "interruption after a real failure, 95th percentile (s)",
    "attribution_time_s_median": "time to attribute an incident, median (h)",
    "saidi_min": "SAIDI (min per customer and year)",
    "saifi": "SAIFI (interruptions per customer and year)",
    "caidi_min": "CAIDI (min per interruption)",
    "ens_mwh": "energy not supplied (MWh per year)",
    "truck_rolls": "truck rolls (per year)",
    "failovers": "switches (per run)",
    "attribution_automatic_pct": "incidents attributed automatically (%)",
    "attribution_correct_pct": "… of those, correctly (%)",
    "incidents": "incidents (per run)",
    "grid_faults": "grid faults (per run)",
}
HOURS = {"attribution_time_s_median"}  # shown in hours: seconds in the tens of thousands do not read


def _pair(name: str) -> str:
    a, _, b = name.partition(" - ")
    return html.escape(f"{LABELS.get(a, a)} − {LABELS.get(b, b)}")


def _label(key: str) -> str:
    return html.escape(FIGURES.get(key, key))


def _val(key: str, v: Any) -> Any:
    return v / 3600.0 if key in HOURS and isinstance(v, int | float) else v


def _cell(key: str, v: Any, ci: list[float] | None) -> str:
    ci_s = f" <small>[{_fmt(_val(key, ci[0]))}, {_fmt(_val(key, ci[1]))}]</small>" if ci else ""
    return f"<td>{_fmt(_val(key, v))}{ci_s}</td>"


def _fmt(v: Any) -> str:
    """Four significant digits in plain decimals with thousands separators (never 1.493e+04)."""
    if v is None:
        return "–"
    if not isinstance(v, float):
        return html.escape(str(v))
    if v == 0.0:
        return "0"
    size = abs(v)
    decimals = 0 if size >= 1000 else 4 - len(str(int(size))) if size >= 1 else 2 - math.floor(math.log10(size))
    text = f"{v:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def render(result: dict[str, Any], world: World, outcomes: dict[str, list[Outcome]]) -> str:
    imgs = plots(world, outcomes)
    rows = []
    policies = [p for p in POLICIES if p in result]
    extra = ("comm_unavailability_min_per_site_year_excl_cpe", "failover_after_failure_s_p50",
             "failover_after_failure_s_p95", "failovers", "attribution_automatic_pct", "attribution_correct_pct",
             "incidents", "grid_faults")
    diff = (result.get("paired") or {}).get("gridcell - best_practice") or {}
    for k in (*KEYS, *extra):
        cells = [_cell(k, result[p].get(k), (result[p].get("ci95") or {}).get(k)) for p in policies]
        if diff:  # the product's difference to today's best, paired on the same faults
            row = diff.get(k) or {}
            cells.append(_cell(k, row.get("mean"), row.get("ci95")) if row else "<td></td>")
        rows.append(f"<tr><th>{_label(k)}</th>{''.join(cells)}</tr>")
    pair_rows = []
    pairs = [k for k, v in (result.get("paired") or {}).items() if isinstance(v, dict)]
    for k in PAIRED_KEYS:
        cells = [_cell(k, (result["paired"][name].get(k) or {}).get("mean"),
                       (result["paired"][name].get(k) or {}).get("ci95")) for name in pairs]
        pair_rows.append(f"<tr><th>{_label(k)}</th>{''.join(cells)}</tr>")
    ab = result.get("ablation") or {}
    ab_keys = ("comm_unavailability_min_per_site_year", "failover_after_failure_s_p50", "attribution_time_s_median",
               "saidi_min", "truck_rolls")
    ab_rows = []
    for step in ab.get("steps", []):
        cells = [_cell(k, step["minus_best_practice"][k]["mean"], step["minus_best_practice"][k]["ci95"])
                 for k in ab_keys]
        ab_rows.append(f"<tr><th>{html.escape(step['step'])}</th>{''.join(cells)}</tr>")
    ab_html = (f"""<h2>What each capability buys (ablation)</h2>
<p>gridcell with its capabilities added one at a time, each step minus best practice on the same seeds
{html.escape(str(ab.get('seeds')))} (mean difference, 95 % CI in brackets; negative is better for every figure
here). A step's change from the row above is what its capability adds on top of those above it.</p>
<table><tr><th>step</th>{''.join(f'<th>{_label(k)}</th>' for k in ab_keys)}</tr>{''.join(ab_rows)}</table>"""
              if ab_rows else "")
    cal = result.get("calibration") or {}
    cal_s = ", ".join(f"PLMN {p} {v} %" for p, v in (cal.get("per_plmn_path_availability_pct") or {}).items())
    sc = result.get("scenario", {})
    diff_th = "<th>gridcell − best practice <small>(paired)</small></th>" if diff else ""
    img = "".join(f'<figure><img alt="{k}" src="data:image/png;base64,{v}"/></figure>' for k, v in imgs.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gridcell digital twin report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1000px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{text-align:left}}small{{color:#666}}
figure{{margin:1em 0}}img{{max-width:100%}}</style></head><body>
<h1>Digital twin: current practice, best practice and gridcell</h1>
<p>Grid <b>{html.escape(str(sc.get('grid')))}</b>: {sc.get('stations')} MV/LV stations with a dual-USIM CPE,
{sc.get('customers')} customers, {sc.get('ranSites')} RAN sites of {len(world.cfg.plmns)} PLMNs,
{sc.get('years')} simulated year(s), seeds {html.escape(str(result[policies[0]].get('seeds')))};
wall time {result.get('wall_s')} s. 95 % confidence intervals in brackets
({html.escape(str(result[policies[0]].get('ci_method')))}). Parameters and their sources: docs/sim.md.</p>
<table><tr><th>figure</th>{''.join(f'<th>{LABELS[p]}</th>' for p in policies)}{diff_th}</tr>{''.join(rows)}</table>
<h2>Paired differences (same faults, same hardware)</h2>
<p>{html.escape(str((result.get('paired') or {}).get('method', '')))}</p>
<table><tr><th>figure</th>{''.join(f'<th>{_pair(n)}</th>' for n in pairs)}</tr>{''.join(pair_rows)}</table>
{ab_html}
<h2>Calibration</h2>
<p>Per-PLMN path availability simulated under current practice: {html.escape(cal_s) or '–'}; the seed observes
~{_fmt(cal.get('seed_observed_pct'))} %. Grid faults {_fmt(cal.get('grid_faults_per_100km_year'))} per 100 km and
year ({html.escape(str(cal.get('grid_faults_reference', '')))}); SAIDI under current practice
{_fmt(cal.get('saidi_min_current_practice'))} min ({html.escape(str(cal.get('saidi_reference', '')))}).</p>
{img}
<details><summary>configuration</summary><pre>{html.escape(json.dumps(result.get('config'), indent=1))}</pre></details>
</body></html>"""
