"""Scenario and fault-model parameters, each with its source (PRODUCT.md or a cited reference; see docs/sim.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

YEAR_S = 365.0 * 86400.0


@dataclass(frozen=True)
class SimConfig:
    # ---- scenario -------------------------------------------------------------------------------------
    grid: str = "mv_oberrhein"  # any pandapower.networks name, pandapower JSON file or simbench code
    plmns: tuple[str, ...] = ("26201", "26202")
    isd_m: tuple[float, ...] = (1732.0, 1732.0)  # ITU-R M.2135 RMa inter-site distance per PLMN (UMa: 500)
    autonomy_h: tuple[float, float] = (0.5, 4.0)  # battery autonomy, uniform (PRODUCT.md: 0.5–4 h typical)
    da_share: float = 0.8  # share of MV/LV stations with remote-controlled switches (distribution automation)
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    years: float = 1.0
    # ---- RAN site faults (per RAN site and year) ---------------------------------------------------------
    ran_failure_rate: float = 2.0  # unplanned failures; calibrated to PRODUCT.md ~98.5 % effective availability
    ran_repair_h: tuple[float, float] = (4.0, 0.8)  # lognormal (median h, sigma): field repair
    ran_silent_share: float = 0.2  # failures without an alarm (a "sleeping cell", seen only by probes)
    ran_precursor_share: float = 0.3  # failures announced by a KPI threshold crossing before they happen
    precursor_lead_min: tuple[float, float] = (5.0, 60.0)  # uniform lead of the threshold crossing
    alarm_latency_s: float = 10.0  # OSS → gridcell notification latency
    congestion_rate: float = 6.0  # backhaul congestion episodes
    congestion_h: tuple[float, float] = (1.0, 0.7)  # lognormal duration
    congestion_loss: float = 0.2  # probe/ping loss during an episode
    congestion_reported_share: float = 0.7  # episodes the MNO's PM reports (threshold crossing)
    maintenance_rate: float = 2.0  # planned works with outage impact
    maintenance_h: tuple[float, float] = (1.0, 3.0)  # uniform duration
    maintenance_notice_d: float = 3.0  # announced this many days ahead (gridcell notifyPlannedMaintenance)
    # ---- DSO side ----------------------------------------------------------------------------------------
    cpe_failure_rate: float = 0.2  # per CPE and year (router, power supply, antenna)
    cpe_repair_h: tuple[float, float] = (24.0, 0.6)  # a technician visit
    line_fault_rate_per_km: float = 0.04  # MV line faults per km and year (order of FNN statistics, see docs)
    line_repair_h: tuple[float, float] = (4.0, 0.5)  # lognormal: locate and repair the faulted section
    storms_per_year: float = 1.0
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
    ping_interval_s: float = 60.0  # current practice (seed): ping once a minute
    ping_misses: int = 2  # failover after 2 missed pings
    reregister_s: float = 120.0  # plus 120 s re-registration (seed: ~2 min failover)
    desk_delay_h: tuple[float, float] = (4.0, 0.8)  # lognormal: service desk attribution (seed: hours/days)
    probe_interval_s: float = 10.0  # gridcell CPE probes (mwan3 default 5 s; 10 s keeps uplink cost low)
    reattach_s: float = 30.0  # modem re-attach on a cold switch (PRODUCT.md: seconds to ~30 s)
    warm_switch_s: float = 2.0  # switch to a pre-attached (prepared) USIM, or a planned switch back
    coordination: bool = True  # gridcell: order restoration by the outage plan
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


@dataclass
class RunOptions:
    seeds: list[int] = field(default_factory=lambda: [1])
    policies: tuple[str, ...] = ("current_practice", "gridcell")
