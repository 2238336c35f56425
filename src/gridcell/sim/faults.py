"""Fault models: the truth the world lives through, drawn once per seed and shared by both policies.

Every draw comes from a string-seeded RNG stream, so a seed gives the same faults whatever the policy does.
Rates and durations: gridcell.sim.config (sources in docs/sim.md).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from gridcell.sim.config import MODEMS, YEAR_S, SimConfig
from gridcell.sim.scenario import World


def rng(seed: int, *key: object) -> random.Random:
    return random.Random(":".join([str(seed), *map(str, key)]))


def lognormal_s(r: random.Random, median_h: float, sigma: float) -> float:
    return median_h * 3600.0 * math.exp(r.gauss(0.0, sigma))


def poisson_times(r: random.Random, rate_per_year: float, horizon_s: float) -> list[float]:
    out: list[float] = []
    if rate_per_year <= 0:
        return out
    t = 0.0
    while True:
        t += r.expovariate(rate_per_year / YEAR_S)
        if t >= horizon_s:
            return out
        out.append(t)


@dataclass(frozen=True)
class RanFailure:
    id: str
    ran: int
    t: float
    duration: float
    silent: bool
    precursor_lead: float | None


@dataclass(frozen=True)
class Congestion:
    id: str
    ran: int
    t: float
    duration: float
    reported: bool


@dataclass(frozen=True)
class Maintenance:
    """Planned work: the window announced (or not), and the real outage somewhere inside it."""

    id: str
    ran: int
    t: float  # the real outage
    duration: float
    window: tuple[float, float]  # what the MNO announces
    announced: bool


@dataclass(frozen=True)
class CpeFailure:
    id: str
    station: int
    t: float
    repair: float  # from the technician's arrival


@dataclass(frozen=True)
class GridFault:
    id: str
    line: int
    t: float
    storm: bool


@dataclass(frozen=True)
class Cpe:
    """The hardware at one station, the same under every policy: its modem, what a switch costs on it, and the
    phases (as a share of the period) of its probes and of its uploads to the exchange."""

    modem: str
    switch_s: float
    probe_phase: float
    upload_phase: float


@dataclass
class Truth:
    ran_failures: list[RanFailure]
    congestion: list[Congestion]
    maintenance: list[Maintenance]
    cpe_failures: list[CpeFailure]
    grid_faults: list[GridFault]
    cpes: list[Cpe]
    autonomy_h: list[float]  # true battery autonomy per RAN site (the declared one is the world's)


def switch_time(r: random.Random, dist: tuple[str, float, float]) -> float:
    kind, a, b = dist
    if kind == "uniform":
        return r.uniform(a, b)
    if kind == "lognormal":
        return a * math.exp(r.gauss(0.0, b))
    raise ValueError(f"unknown distribution {kind}")


def draw_cpe(cfg: SimConfig, seed: int, site_id: str) -> Cpe:
    g = rng(seed, "cpe-hw", site_id)
    names = [m for m, _ in cfg.modem_mix]
    modem = g.choices(names, weights=[w for _, w in cfg.modem_mix])[0]
    return Cpe(modem, switch_time(g, MODEMS[modem].switch_s), g.random(), g.random())


def draw(world: World, seed: int) -> Truth:
    cfg: SimConfig = world.cfg
    h = cfg.horizon_s
    ran_f: list[RanFailure] = []
    cong: list[Congestion] = []
    maint: list[Maintenance] = []
    for r in world.ran:
        g = rng(seed, "ran", r.site_id)
        for k, t in enumerate(poisson_times(g, cfg.ran_failure_rate, h)):
            silent = g.random() < cfg.ran_silent_share
            lead = g.uniform(*cfg.precursor_lead_min) * 60.0 if g.random() < cfg.ran_precursor_share else None
            ran_f.append(RanFailure(f"F-{r.site_id}-{k}", r.idx, t, lognormal_s(g, *cfg.ran_repair_h), silent, lead))
        g = rng(seed, "cong", r.site_id)
        for k, t in enumerate(poisson_times(g, cfg.congestion_rate, h)):
            cong.append(Congestion(f"C-{r.site_id}-{k}", r.idx, t, lognormal_s(g, *cfg.congestion_h),
                                   g.random() < cfg.congestion_reported_share))
        g = rng(seed, "maint", r.site_id)
        for k, t in enumerate(poisson_times(g, cfg.maintenance_rate, h)):
            night = math.floor(t / 86400.0) * 86400.0 + 3600.0 * g.uniform(0.5, 2.0)  # windows open at night
            window = 3600.0 * g.uniform(*cfg.maintenance_window_h)
            outage = min(window, lognormal_s(g, *cfg.maintenance_outage_h))
            start = night + g.uniform(0.0, window - outage)
            announced = g.random() >= cfg.maintenance_unannounced_share
            if night + window < h:
                maint.append(Maintenance(f"M-{r.site_id}-{k}", r.idx, start, outage, (night, night + window),
                                         announced))
    cpe: list[CpeFailure] = []
    for st in world.stations:
        g = rng(seed, "cpe", st.site_id)
        for k, t in enumerate(poisson_times(g, cfg.cpe_failure_rate, h)):
            cpe.append(CpeFailure(f"E-{st.site_id}-{k}", st.idx, t, lognormal_s(g, *cfg.cpe_repair_h)))
    faults: list[GridFault] = []
    g = rng(seed, "lines")
    lines = sorted(world.lines.values(), key=lambda x: x.line)
    for lf in lines:
        for k, t in enumerate(poisson_times(g, cfg.line_fault_rate_per_km * lf.length_km, h)):
            faults.append(GridFault(f"G-{lf.line}-{k}", lf.line, t, False))
    g = rng(seed, "storms")
    storms = poisson_times(g, cfg.storms_per_year, h)
    if cfg.storm_extra:
        storms.append(0.1 * h)
    weights = [lf.length_km for lf in lines]
    for k, t0 in enumerate(storms):
        n = g.randint(*cfg.storm_faults)
        for j, lf in enumerate(g.choices(lines, weights=weights, k=n)):
            faults.append(GridFault(f"S{k}-{lf.line}-{j}", lf.line, t0 + g.uniform(0, cfg.storm_spread_h * 3600.0),
                                    True))
    _no_overlap(maint)
    return Truth(sorted(ran_f, key=lambda x: x.t), sorted(cong, key=lambda x: x.t),
                 sorted(maint, key=lambda x: x.window[0]),
                 sorted(cpe, key=lambda x: x.t), sorted(faults, key=lambda x: (x.t, x.id)),
                 [draw_cpe(cfg, seed, st.site_id) for st in world.stations],
                 [r.autonomy_h * math.exp(math.log(cfg.autonomy_true_factor[0])
                                          + cfg.autonomy_true_factor[1] * rng(seed, "battery", r.site_id).gauss(0, 1))
                  for r in world.ran])


def _no_overlap(maint: list[Maintenance]) -> None:
    """Planned works' windows on one RAN site do not overlap (a second one is dropped)."""
    last: dict[int, float] = {}
    keep = []
    for m in sorted(maint, key=lambda x: x.window[0]):
        if m.window[0] >= last.get(m.ran, -1.0):
            keep.append(m)
            last[m.ran] = m.window[1]
    maint[:] = keep
