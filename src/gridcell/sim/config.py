"""Scenario and fault-model parameters, each with its source (PRODUCT.md or a cited reference; see docs/sim.md).

The CPE hardware (`Modem`) is the same under every policy: a switch costs what the modem needs, whoever decides
it. What differs between policies is the CPE's own path supervision (`Watchdog`) and what the operators know.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

YEAR_S = 365.0 * 86400.0


@dataclass(frozen=True)
class Modem:
    """A CPE's radio hardware. `switch_s` is the time from the decision to traffic on the other PLMN:
    ("uniform", low, high) or ("lognormal", median, sigma); one value per CPE (its modem and firmware), drawn
    once per seed and paid by every switch of that CPE, proactive and switch-backs included, under every policy.
    `probes_standby`: the standby PLMN is attached (hot standby) and can be probed while the other carries
    traffic; a single modem runs one SIM at a time and sees nothing of the other PLMN."""

    name: str
    switch_s: tuple[str, float, float]
    probes_standby: bool


MODEMS: dict[str, Modem] = {
    # single modem, two SIM slots: ModemManager SetPrimarySimSlot forces a modem reprobe (45-120 s)
    "sim_slot": Modem("sim_slot", ("uniform", 45.0, 120.0), False),
    # single modem, eSIM profile switch: one measured switch 8-10 s
    "esim": Modem("esim", ("uniform", 8.0, 10.0), False),
    # two modems, both attached: moving the default route; the agent's command to first packet through the new
    # path, 8 ms p50 / 32 ms p95 (gridcell bench failover): lognormal, sigma = ln(32/8) / 1.645
    "dual_modem": Modem("dual_modem", ("lognormal", 0.008, 0.843), True),
}


@dataclass(frozen=True)
class Watchdog:
    """A CPE's own supervision of its active path: a probe every `interval_s` of `echoes` echoes (lost only when
    all are), lost after `timeout_s`; the path is down after `down_after` lost probes in a row, and a path it can
    probe is up again after `up_after` answered ones. The CPE then switches to another PLMN: on a dual-modem CPE
    only to one its probes show up, on a single modem blindly (it cannot see the other PLMN). `returns`: back to
    the primary once its probes show it up again (only where the CPE can probe it while on the alternate)."""

    name: str
    interval_s: float
    timeout_s: float
    down_after: int
    up_after: int
    echoes: int = 1
    returns: bool = False
    watch_interval_s: float | None = None  # after the exchange's `prepare` (the agent's watch mode)


# The seed: pings once a minute, failover after 2 missed pings; stays on the alternate.
SEED_PING = Watchdog("seed_ping", 60.0, 2.0, 2, 2, 1, False)
# Today's best practice without an exchange: OpenWrt mwan3's defaults (interval 5 s, timeout 2 s, down 3, up 8:
# ~15 s to detect, ~40 s to recover; Teltonika's SIM switch checks every 10 s and switches after 3 failures).
MWAN3 = Watchdog("mwan3", 5.0, 2.0, 3, 8, 1, True)
# gridcell's CPE agent (docs/agent.md defaults): bursts of 3 echoes every second, down after 3, up after 5;
# measured alone in the testbed: 3.7 s from the failure to traffic on the other path (README, bench failover).
AGENT = Watchdog("gridcell_agent", 1.0, 0.8, 3, 5, 3, True, 0.15)


POLICIES = ("current_practice", "best_practice", "gridcell")
CAPABILITIES = {
    "probes": "the DSO's CPEs upload their probe results (whatever probes them) to the exchange",
    "agent": "the CPE runs gridcell's agent: its own probes (AGENT) and the watch after a prepare (staggering)",
    "exposure": "the MNOs' alarms, threshold crossings, planned work and power alarms reach the exchange",
    "advisor": "the CPE follows the failover advisor's commands (switch back included)",
    "attribution": "the DSO's incidents go to the MNO as TMF621 tickets, attributed automatically",
    "coordination": "grid faults go to the exchange (OutageAndRecoveryInfo) and the plan orders the restoration",
}

# The ablation: gridcell's capabilities added one at a time on top of best practice, each step paired against best
# practice on the same seed; the last step is the full product.
ABLATION: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("exposure only", ("exposure",)),
    ("+ DSO probes", ("exposure", "probes")),
    ("+ attribution", ("exposure", "probes", "attribution")),
    ("+ advisor", ("exposure", "probes", "attribution", "advisor")),
    ("+ outage coordination", ("exposure", "probes", "attribution", "advisor", "coordination")),
    ("+ agent (staggered watch)", ("exposure", "probes", "attribution", "advisor", "coordination", "agent")),
)


@dataclass(frozen=True)
class SimConfig:
    # ---- scenario -------------------------------------------------------------------------------------
    grid: str = "mv_oberrhein"  # any pandapower.networks name, pandapower JSON file or simbench code
    plmns: tuple[str, ...] = ("26201", "26202")
    isd_m: tuple[float, ...] = (1732.0, 1732.0)  # ITU-R M.2135 RMa inter-site distance per PLMN (UMa: 500)
    # declared battery autonomy (what the MNO's inventory, and so the exchange, knows): (share, low h, high h),
    # uniform within each; PRODUCT.md: most EU masts ≈ 30 min, Vodafone DE 2–4 h, Ofcom asked ≥ 1 h (shares assumed)
    autonomy_mix: tuple[tuple[float, float, float], ...] = ((0.6, 0.5, 0.5), (0.25, 1.0, 2.0), (0.15, 2.0, 4.0))
    # true autonomy = declared × a factor per site and seed, lognormal (median, sigma): batteries age and lose
    # capacity in the cold (a lead-acid battery is at end of life at 80 % of its rated capacity; spread assumed)
    autonomy_true_factor: tuple[float, float] = (0.85, 0.2)
    da_share: float = 0.8  # share of MV/LV stations with remote-controlled switches (distribution automation)
    # CPE fleet: share of each modem (MODEMS); assumption, see docs/sim.md
    modem_mix: tuple[tuple[str, float], ...] = (("sim_slot", 0.6), ("esim", 0.1), ("dual_modem", 0.3))
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    years: float = 1.0
    # ---- RAN site faults (per RAN site and year) ---------------------------------------------------------
    ran_failure_rate: float = 2.0  # unplanned failures (assumption; see `calibration` in the results)
    ran_repair_h: tuple[float, float] = (4.0, 0.8)  # lognormal (median h, sigma): field repair
    ran_silent_share: float = 0.2  # failures without an alarm (a "sleeping cell", seen only by probes)
    ran_precursor_share: float = 0.3  # failures announced by a KPI threshold crossing before they happen
    precursor_lead_min: tuple[float, float] = (5.0, 60.0)  # uniform lead of the threshold crossing
    alarm_latency_s: tuple[float, float] = (10.0, 1.0)  # OSS → exchange, lognormal (median s, sigma): a tail
    pm_granularity_s: float = 900.0  # PM threshold crossings are evaluated at the end of each granularity period
    congestion_rate: float = 6.0  # backhaul congestion episodes
    congestion_h: tuple[float, float] = (1.0, 0.7)  # lognormal duration
    congestion_loss: float = 0.2  # loss of each probe echo during an episode
    probe_loss: float = 0.001  # loss of each probe echo on a working path, independent (assumption)
    congestion_reported_share: float = 0.7  # episodes the MNO's PM reports (threshold crossing)
    maintenance_rate: float = 2.0  # planned works with outage impact
    maintenance_window_h: tuple[float, float] = (2.0, 4.0)  # the announced window, uniform, starting at night
    maintenance_outage_h: tuple[float, float] = (0.5, 0.8)  # the real outage inside it, lognormal (median h, sigma)
    maintenance_unannounced_share: float = 0.2  # works nobody announces
    maintenance_notice_d: float = 3.0  # announced this many days ahead (gridcell notifyPlannedMaintenance)
    # ---- DSO side ----------------------------------------------------------------------------------------
    cpe_failure_rate: float = 0.2  # per CPE and year (router, power supply, antenna)
    cpe_repair_h: tuple[float, float] = (24.0, 0.6)  # a technician visit
    line_fault_rate_per_km: float = 0.0176  # MV faults per km and year: 1.76 per 100 km (VDE FNN 2024, PRODUCT.md)
    line_repair_h: tuple[float, float] = (4.0, 0.5)  # lognormal: locate and repair the faulted section
    storms_per_year: float = 0.0  # storm years are a separate scenario, not the mean (PRODUCT.md): --storm
    storm_faults: tuple[int, int] = (8, 16)  # clustered line faults in one storm (uniform count)
    storm_spread_h: float = 3.0  # the storm's faults arrive within this many hours
    storm_extra: bool = False  # force one storm at 10 % of the horizon (tests, demos)
    scada_detect_s: float = 60.0  # a breaker trip reaches the control room
    da_step_min: tuple[float, float] = (3.0, 10.0)  # DA restores upstream at 3 min, backfed sections by 10 min
    control_room_min_per_fault: float = 10.0  # operator time per fault (locate, isolate, restore) — one desk
    crews: int = 2  # field crews for manual switching and repairs
    crew_travel_h: tuple[float, float] = (1.0, 0.5)  # lognormal travel + access
    manual_switch_min: float = 15.0  # per station switched by hand
    sustained_min: float = 3.0  # EU: interruptions longer than 3 min count (IEEE 1366 uses 5)
    # ---- policies ------------------------------------------------------------------------------------------
    current_watchdog: Watchdog = SEED_PING  # current practice (the seed)
    best_watchdog: Watchdog = MWAN3  # best practice without an exchange; gridcell without its agent
    agent_watchdog: Watchdog = AGENT  # gridcell: the CPE agent
    desk_delay_h: tuple[float, float] = (4.0, 0.8)  # lognormal: service desk attribution (seed: hours/days)
    telemetry_every_s: float = 60.0  # the agent sends its probe results this often (docs/agent.md)
    # The control room and crews without gridcell: "oms" (an outage-management system takes the fault, and sends
    # crews where, the most customers are still off) or "fifo" (first in, first out)
    grid_dispatch: str = "oms"
    # What gridcell adds on top of best practice (CAPABILITIES); with none the gridcell policy is best practice
    gridcell_capabilities: tuple[str, ...] = ("exposure", "probes", "attribution", "advisor", "coordination",
                                              "agent")
    mno_levels: tuple[str, ...] = ("cell", "area")

    def with_(self, **changes: Any) -> SimConfig:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start"] = self.start.isoformat()
        return d

    @property
    def horizon_s(self) -> float:
        return self.years * YEAR_S


def parse_modem_mix(text: str) -> tuple[tuple[str, float], ...]:
    """`sim_slot=0.6,esim=0.1,dual_modem=0.3` → the fleet mix (shares need not add up to 1)."""
    mix: list[tuple[str, float]] = []
    for part in text.split(","):
        name, _, share = part.strip().partition("=")
        if name not in MODEMS:
            raise ValueError(f"unknown modem {name!r}: one of {', '.join(MODEMS)}")
        try:
            value = float(share)
        except ValueError:
            raise ValueError(f"{name}: the share must be a number, got {share!r}") from None
        if not (value >= 0.0 and math.isfinite(value)):
            raise ValueError(f"{name}: the share must be 0 or more")
        mix.append((name, value))
    if sum(v for _, v in mix) <= 0.0:
        raise ValueError("the modem mix needs a share above 0")
    return tuple(mix)


def with_settings(cfg: SimConfig, settings: list[str]) -> SimConfig:
    """`key=value` for any plain field of SimConfig (numbers, booleans, strings; lists as JSON), for sensitivity
    runs; the modem mix and the watchdogs have their own forms."""
    plain = {f.name: f for f in fields(SimConfig) if f.name not in ("start", "current_watchdog", "best_watchdog",
                                                                     "agent_watchdog", "modem_mix")}
    changes: dict[str, Any] = {}
    for item in settings:
        key, sep, raw = item.partition("=")
        if not sep or key not in plain:
            raise ValueError(f"{item!r}: KEY=VALUE with KEY one of {', '.join(sorted(plain))}")
        current = getattr(cfg, key)
        try:
            value = json.loads(raw) if not isinstance(current, str) else raw
        except json.JSONDecodeError:
            raise ValueError(f"{key}: {raw!r} is not a value (numbers, true/false, JSON lists)") from None
        if isinstance(current, tuple):
            if not isinstance(value, list):
                raise ValueError(f"{key}: a JSON list, like {json.dumps(_plain(current))}")
            value = _as_tuple(value)
        elif isinstance(current, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{key}: true or false")
        elif isinstance(current, int | float):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{key}: a number")
            value = type(current)(value)
        if key == "grid_dispatch" and value not in ("oms", "fifo"):
            raise ValueError("grid_dispatch: oms or fifo")
        if key == "gridcell_capabilities" and not set(value) <= set(CAPABILITIES):
            raise ValueError(f"gridcell_capabilities: some of {', '.join(CAPABILITIES)}")
        changes[key] = value
    return replace(cfg, **changes)


def _as_tuple(value: list[Any]) -> tuple[Any, ...]:
    return tuple(_as_tuple(v) if isinstance(v, list) else v for v in value)


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, tuple) else value
