"""The failover decision for one multi-USIM CPE: pure, so it is tested with any input sequence.

Health of a PLMN for the CPE:
* bad  — status down or maintenance; planned work on its serving cells opening within LEAD; power at
         risk with time-to-dark within LEAD; the CPE's own probes failing FAILING_TAIL times in a row.
* warn — status degraded or at_risk; planned work within PREPARE_HORIZON; the CPE's own probes show a
         latency or loss change.
* good — otherwise.

Hysteresis, so the advisor never flaps:
* a switch (or switch back) happens at most once per HOLD_DOWN;
* switching back — and leaving `prepare` — needs the primary good without a break for HOLD_BACK
  (and any planned window on it closed);
* a switch needs an alternate that is not bad itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

LEAD = timedelta(minutes=2)
PREPARE_HORIZON = timedelta(hours=1)
HOLD_DOWN = timedelta(minutes=5)
HOLD_BACK = timedelta(minutes=10)
FAILING_TAIL = 3
ACTIONS = ("stay", "prepare", "switch", "switch_back")
_RANK = {"good": 0, "warn": 1, "bad": 2}


@dataclass(frozen=True)
class PlmnView:
    plmn: str
    status: str = "ok"  # the status engine's status for the site × PLMN ("ok" without agreement)
    time_to_dark: datetime | None = None
    failure_predicted_at: datetime | None = None  # the MNO's MDA predicts the serving cells fail then
    maintenance_start: datetime | None = None  # planned window on the serving cells, not yet open
    maintenance_end: datetime | None = None
    latency_alarm: bool = False
    loss_alarm: bool = False
    tail_failures: int = 0


@dataclass(frozen=True)
class State:
    primary: str
    active: str
    mode: str = "stay"  # stay | prepare | switched
    last_switch_at: datetime | None = None
    primary_good_since: datetime | None = None


@dataclass(frozen=True)
class FleetLimits:
    """At most `share` of the CPEs served by one cell move to another PLMN per `interval`, but always `burst` of
    them: a cell failing under many CPEs must not send them all to the other network's cell at once, and a few
    CPEs (of one DSO or several) move together without waiting."""

    share: float = 0.2
    interval: timedelta = timedelta(seconds=10)
    burst: int = 5

    def budget(self, cpes_on_cell: int) -> int:
        return max(self.burst, math.ceil(self.share * cpes_on_cell))


FLEET = FleetLimits()  # replaced from the settings at start (GRIDCELL_FAILOVER_FLEET_SHARE, _INTERVAL_S)


def staggered(d: Decision, state: State, cell: str, now: datetime) -> Decision:
    """A switch held back for the fleet: prepared now, decided again at a later tick."""
    reason = {**d.reason, "staggered": {"sourceCell": cell, "share": FLEET.share,
                                        "intervalS": FLEET.interval.total_seconds()}}
    held = State(state.primary, state.active, "prepare", state.last_switch_at, state.primary_good_since)
    return Decision("prepare", d.target, reason, held, state.mode != "prepare")


@dataclass(frozen=True)
class Decision:
    action: str
    target: str
    reason: dict[str, Any]
    state: State
    emit: bool  # a command goes out (the decision changed)


def health(v: PlmnView, now: datetime) -> tuple[str, list[str]]:
    why_bad: list[str] = []
    why_warn: list[str] = []
    if v.status in ("down", "maintenance"):
        why_bad.append(f"status_{v.status}")
    if v.maintenance_start is not None and v.maintenance_start - now <= LEAD:
        why_bad.append("planned_maintenance_imminent")
    elif v.maintenance_start is not None and v.maintenance_start - now <= PREPARE_HORIZON:
        why_warn.append("planned_maintenance_ahead")
    if v.time_to_dark is not None and v.time_to_dark - now <= LEAD:
        why_bad.append("power_time_to_dark")
    if v.failure_predicted_at is not None and v.failure_predicted_at - now <= LEAD:
        why_bad.append("failure_predicted")
    if v.tail_failures >= FAILING_TAIL:
        why_bad.append("probes_failing")
    if v.status in ("degraded", "at_risk"):
        why_warn.append(f"status_{v.status}")
    if v.latency_alarm:
        why_warn.append("probe_latency_change")
    if v.loss_alarm:
        why_warn.append("probe_loss_change")
    if why_bad:
        return "bad", why_bad + why_warn
    if why_warn:
        return "warn", why_warn
    return "good", []


def decide(state: State, views: dict[str, PlmnView], now: datetime) -> Decision:
    health_of = {p: health(v, now) for p, v in views.items()}
    primary = state.primary
    p_health, p_why = health_of.get(primary, ("good", []))
    good_since = state.primary_good_since
    good_since = good_since or now if p_health == "good" else None
    held = state.last_switch_at is not None and now - state.last_switch_at < HOLD_DOWN
    alternates = sorted((p for p in views if p != primary), key=lambda p: (_RANK[health_of[p][0]], p))
    best_alt = next((p for p in alternates if health_of[p][0] != "bad"), None)
    reason: dict[str, Any] = {"primary": primary, "primaryHealth": p_health, "why": p_why,
                              "plmns": {p: {"health": h, "why": w} for p, (h, w) in health_of.items()}}
    if best_alt is not None and health_of[best_alt][0] == "warn":
        reason["targetCaution"] = {"plmn": best_alt, "why": health_of[best_alt][1]}  # a move, but not to safety
    elif best_alt is None and p_health == "bad" and len(views) > 1:
        reason["noSafeTarget"] = {p: health_of[p][1] for p in alternates}
    pv = views.get(primary)
    if pv is not None and pv.maintenance_start is not None:
        reason["maintenanceStart"] = pv.maintenance_start.isoformat()
        reason["maintenanceEnd"] = pv.maintenance_end.isoformat() if pv.maintenance_end else None
    stable_back = good_since is not None and now - good_since >= HOLD_BACK

    def out(action: str, target: str, new: State, emit: bool) -> Decision:
        return Decision(action, target, reason, new, emit)

    base = State(primary, state.active, state.mode, state.last_switch_at, good_since)
    if state.active == primary:
        if p_health == "bad" and best_alt is not None and not held:
            return out("switch", best_alt, State(primary, best_alt, "switched", now, good_since), True)
        if p_health in ("bad", "warn") and best_alt is not None:
            emit = state.mode != "prepare"
            return out("prepare", best_alt, State(primary, primary, "prepare", state.last_switch_at, good_since), emit)
        if state.mode == "prepare" and not stable_back:
            return out("prepare", best_alt or primary, base, False)
        emit = state.mode == "prepare"
        return out("stay", primary, State(primary, primary, "stay", state.last_switch_at, good_since), emit)
    # on an alternate
    a_health = health_of.get(state.active, ("good", []))[0]
    if not held and ((stable_back and p_health == "good") or (a_health == "bad" and p_health != "bad")):
        reason["back"] = "primary stable" if stable_back else "alternate failed"
        return out("switch_back", primary, State(primary, primary, "stay", now, good_since), True)
    return out("stay", state.active, base, False)
