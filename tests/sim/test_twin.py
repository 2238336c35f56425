"""The digital twin on a short horizon of the default grid: deterministic, current practice as described by the
seed, the gridcell policy through the product's services, and outage coordination that matters in a storm."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from gridcell.sim import faults, metrics
from gridcell.sim.config import SimConfig
from gridcell.sim.run import run_policy, simulate
from gridcell.sim.scenario import World, build

SHORT = 0.02  # about a week


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    w = build(SimConfig(years=SHORT))
    yield w
    w.cleanup()


def _strip(result: dict[str, object]) -> dict[str, object]:
    out = {k: v for k, v in result.items() if k != "wall_s"}
    out["scenario"] = {k: v for k, v in result["scenario"].items() if k != "build_s"}  # type: ignore[attr-defined]
    return out


def test_scenario_follows_the_grid(world: World) -> None:
    assert len(world.stations) >= 140  # mv_oberrhein: 141 MV/LV stations (+ MV customers)
    assert {r.plmn for r in world.ran} == {"26201", "26202"}
    assert all(r.bus is not None and 0.5 <= r.autonomy_h <= 4.0 for r in world.ran)
    assert all(set(s.serving) == {"26201", "26202"} for s in world.stations)
    assert world.total_customers > 10_000


def test_same_seed_same_results(world: World) -> None:
    a, _, _ = simulate(world.cfg, [3], world=world)
    b, _, _ = simulate(world.cfg, [3], world=world)
    assert _strip(a) == _strip(b)
    for policy in ("current_practice", "gridcell"):
        for key in metrics.KEYS:
            assert key in a[policy]
    c, _, _ = simulate(world.cfg, [4], world=world)
    assert _strip(c)["current_practice"] != _strip(a)["current_practice"]


def _one_failure(world: World, seed: int, modem: str, switch_s: float) -> tuple[faults.Truth, list[int]]:
    """A world where one RAN site of the primary PLMN fails (alarmed, no precursor) and nothing else happens; every
    CPE has the same modem, CPE i switching in switch_s + i seconds."""
    plmn = world.cfg.plmns[0]
    ran = next(r for r in world.ran if r.plmn == plmn and sum(s.serving[plmn] == r.idx for s in world.stations) >= 2)
    truth = faults.draw(world, seed)
    cpes = [faults.Cpe(modem, switch_s + i, c.probe_phase, c.upload_phase) for i, c in enumerate(truth.cpes)]
    failure = faults.RanFailure("F-test", ran.idx, 3600.0, 4 * 3600.0, False, None)
    truth = faults.Truth([failure], [], [], [], [], cpes)
    return truth, [s.idx for s in world.stations if s.serving[plmn] == ran.idx]


DETECTION_S = {"current_practice": (60.0, 122.0),  # the second missed ping (60 s apart) + its timeout
               "best_practice": (12.0, 17.0),  # mwan3: the third lost probe (5 s apart) + 2 s timeout
               "gridcell": (2.0, 3.8)}  # the agent: the third lost probe (1 s apart) + 0.8 s timeout


@pytest.mark.parametrize("modem", ["sim_slot", "dual_modem"])
def test_the_same_modem_costs_the_same_switch_time_under_every_policy(world: World, modem: str) -> None:
    base = 60.0 if modem == "sim_slot" else 0.01
    truth, hit = _one_failure(world, 5, modem, base)
    runs = {p: run_policy(world, 5, p, truth) for p in DETECTION_S}
    assert runs["current_practice"].service_writes == 0 and runs["gridcell"].service_writes > 0
    for policy, o in runs.items():
        failovers = {i: d for t, d, i, kind in o.switches if kind == "failover"}
        assert sorted(failovers) == sorted(hit), policy  # each CPE the failure cut switches, once
        for i in hit:
            assert failovers[i] == truth.cpes[i].switch_s  # the modem's time, whoever decides
        low, high = DETECTION_S[policy]
        for _, d, i, kind in o.interruptions:  # the interruption: the policy's detection, then the same hardware
            if kind == "failover":
                assert low <= d - truth.cpes[i].switch_s <= high, (policy, i, d)
        backs = {i: d for t, d, i, kind in o.switches if kind == "switch_back"}
        for i, d in backs.items():  # a switch back pays the modem's time too
            assert d == truth.cpes[i].switch_s
        if policy == "current_practice" or modem == "sim_slot":
            assert not backs, policy  # the seed's CPE stays where it went; one modem cannot see the primary again
        else:  # mwan3's rule on the primary's probes; gridcell: the advisor once the primary is stable
            assert sorted(backs) == sorted(hit), policy


def test_a_dual_modem_switches_in_milliseconds_a_single_modem_in_minutes(world: World) -> None:
    truth = faults.draw(world, 6)
    by_modem: dict[str, list[float]] = {}
    for c in truth.cpes:
        by_modem.setdefault(c.modem, []).append(c.switch_s)
    assert set(by_modem) == {"sim_slot", "esim", "dual_modem"}  # the default fleet mixes all three
    assert all(45.0 <= s <= 120.0 for s in by_modem["sim_slot"]) and all(8.0 <= s <= 10.0 for s in by_modem["esim"])
    assert max(by_modem["dual_modem"]) < 1.0
    assert faults.draw(world, 6).cpes == truth.cpes  # the hardware is part of the seed's truth


def test_gridcell_goes_through_the_services_and_fails_over_faster(world: World) -> None:
    truth = faults.draw(world, 6)
    cp = metrics.figures(world, run_policy(world, 6, "current_practice", truth))
    o = run_policy(world, 6, "gridcell", truth)
    gc = metrics.figures(world, o)
    assert o.service_writes > 0
    assert gc["failover_after_failure_s_p50"] < cp["failover_after_failure_s_p50"]
    assert gc["attribution_time_s_median"] < cp["attribution_time_s_median"]
    assert gc["attribution_correct_pct"] is None or gc["attribution_correct_pct"] >= 80


def _storm(world: World, **changes: object) -> World:
    cfg = world.cfg.with_(storm_extra=True, storms_per_year=0.0, storm_faults=(14, 16), storm_spread_h=0.5,
                          crews=1, line_fault_rate_per_km=0.0, years=0.03, **changes)
    return dataclasses.replace(world, cfg=cfg)


def test_the_outage_management_baseline_takes_the_most_customers_off_first(world: World) -> None:
    oms, fifo = _storm(world), _storm(world, grid_dispatch="fifo")
    truth = faults.draw(oms, 2)
    assert sum(f.storm for f in truth.grid_faults) >= 14
    by_oms = run_policy(oms, 2, "best_practice", truth)
    by_fifo = run_policy(fifo, 2, "best_practice", truth)
    waited = [(fid, off) for _, fid, off in by_oms.desk_picks if len(off) >= 2]
    assert waited, "the storm's faults queue at the control room"
    for fid, off in waited:  # the outage-management system: the fault with the most customers still off
        assert off[fid] == max(off.values())
    detect = {o["id"]: o["t"] for o in by_fifo.outages}
    picked = [fid for _, fid, _ in by_fifo.desk_picks]
    assert [detect[f] for f in picked] == sorted(detect[f] for f in picked)  # first in, first out
    assert [f for _, f, _ in by_oms.desk_picks] != picked


def test_storm_outage_coordination_changes_saidi(world: World) -> None:
    storm_world = _storm(world)
    truth = faults.draw(storm_world, 2)
    coordinated = metrics.figures(storm_world, run_policy(storm_world, 2, "gridcell", truth))
    plain_world = _storm(world, gridcell_capabilities=("agent", "exposure", "advisor", "attribution"))
    plain = metrics.figures(plain_world, run_policy(plain_world, 2, "gridcell", truth))
    assert coordinated["saidi_min"] != plain["saidi_min"]
    assert coordinated["saidi_min"] > 0 and plain["saidi_min"] > 0


def _comparable(o: object) -> dict[str, object]:
    return {k: v for k, v in vars(o).items() if k not in ("policy", "wall_s", "service_writes")}


def test_gridcell_with_every_capability_disabled_is_best_practice(world: World) -> None:
    """gridcell = best practice + what it adds: with nothing added, through the same twin and services, every
    outcome of the same seed is identical — nothing of the exchange leaks into the world by another way."""
    bare = dataclasses.replace(world, cfg=world.cfg.with_(gridcell_capabilities=()))
    truth = faults.draw(bare, 7)
    best = run_policy(bare, 7, "best_practice", truth)
    nothing = run_policy(bare, 7, "gridcell", truth)
    assert best.interruptions and best.unavail and best.attribution
    assert _comparable(nothing) == _comparable(best)
    full = run_policy(world, 7, "gridcell", truth)
    assert _comparable(full) != _comparable(best)
    assert full.service_writes > 0
