"""The digital twin on a short horizon of the default grid: deterministic, current practice as described by the
seed, the gridcell policy through the product's services, and outage coordination that matters in a storm."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator

import pytest

from gridcell.sim import faults, metrics
from gridcell.sim.config import ABLATION, CAPABILITIES, SimConfig
from gridcell.sim.run import run_policy, simulate
from gridcell.sim.scenario import World, build, redeclare

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
    a, _, _ = simulate(world.cfg, [3], world=world, ablation_seeds=0)
    b, _, _ = simulate(world.cfg, [3], world=world, ablation_seeds=0)
    assert _strip(a) == _strip(b)
    for policy in ("current_practice", "gridcell"):
        for key in metrics.KEYS:
            assert key in a[policy]
    c, _, _ = simulate(world.cfg, [4], world=world, ablation_seeds=0)
    assert _strip(c)["current_practice"] != _strip(a)["current_practice"]


def _one_failure(world: World, seed: int, modem: str, switch_s: float) -> tuple[faults.Truth, list[int]]:
    """A world where one RAN site of the primary PLMN fails (alarmed, no precursor) and nothing else happens; every
    CPE has the same modem, CPE i switching in switch_s + i seconds."""
    plmn = world.cfg.plmns[0]
    ran = next(r for r in world.ran if r.plmn == plmn and sum(s.serving[plmn] == r.idx for s in world.stations) >= 2)
    truth = faults.draw(world, seed)
    cpes = [faults.Cpe(modem, switch_s + i, c.probe_phase, c.upload_phase) for i, c in enumerate(truth.cpes)]
    failure = faults.RanFailure("F-test", ran.idx, 3600.0, 4 * 3600.0, False, None)
    truth = faults.Truth([failure], [], [], [], [], cpes, truth.autonomy_h)
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
    plain_world = _storm(world, gridcell_capabilities=("agent", "probes", "exposure", "advisor", "attribution"))
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


def _union(iv: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(iv):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _intersect(x: list[tuple[float, float]], y: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(max(a, c), min(b, d)) for a, b in x for c, d in y if max(a, c) < min(b, d)]


def test_a_declared_autonomy_shorter_than_the_true_one_never_flatters_gridcell(world: World) -> None:
    """The MNOs declare half of what their batteries really last. The exchange plans with the declaration (it
    moves CPEs earlier than needed), the batteries last what they last, and no station is ever reachable while
    none of its paths is up: the declaration cannot buy gridcell what physics does not allow."""
    storm = _storm(world, gridcell_capabilities=("agent", "probes", "exposure", "advisor", "attribution"))
    storm = dataclasses.replace(storm, stations=[dataclasses.replace(s, da=False) for s in storm.stations])
    drawn = faults.draw(storm, 3)  # no remote switching: the grid's restoration does not depend on comms
    true = [2.0 * r.autonomy_h for r in storm.ran]
    truth = faults.Truth([], [], [], [], drawn.grid_faults, drawn.cpes, true)
    pessimistic = run_policy(storm, 3, "gridcell", truth)
    accurate = run_policy(redeclare(storm, true, "declared-true"), 3, "gridcell", truth)

    def dark(o: object) -> list[tuple[int, float, float, str]]:
        return sorted(x for x in o.ran_out if x[3] == "dark")  # type: ignore[attr-defined]

    assert dark(pessimistic) and dark(pessimistic) == dark(accurate)  # the true batteries, whatever declared

    def first_move(o: object) -> float:
        return min(t for t, _, _, kind in o.switches if kind == "proactive")  # type: ignore[attr-defined]

    assert first_move(pessimistic) < first_move(accurate)  # the exchange believes the declaration, not the truth
    moves = [sum(k == "proactive" for *_, k in o.switches) for o in (pessimistic, accurate)]
    assert moves[0] > moves[1]
    out: dict[int, list[tuple[float, float]]] = {}
    for ran, a, b, cause in pessimistic.ran_out:
        if cause != "congestion":
            out.setdefault(ran, []).append((a, b))
    for st in storm.stations:
        paths = [_union(out.get(st.serving[p], [])) for p in storm.cfg.plmns]
        no_path = paths[0]
        for other in paths[1:]:
            no_path = _intersect(no_path, other)
        bound = sum(b - a for a, b in no_path)
        assert sum(b - a for a, b in pessimistic.unavail[st.idx]) >= bound - 1e-6, st.site_id


def test_the_operators_know_less_than_the_twin(world: World) -> None:
    """Planned windows are wider than the outage they hold and some works go unannounced; batteries do not last
    what their MNO declares; the OSS's notifications take seconds and sometimes minutes."""
    truth = faults.draw(dataclasses.replace(world, cfg=world.cfg.with_(years=1.0)), 8)
    works = truth.maintenance
    assert works and all(m.window[0] <= m.t and m.t + m.duration <= m.window[1] for m in works)
    assert sum(m.duration for m in works) < 0.5 * sum(m.window[1] - m.window[0] for m in works)
    assert 0.05 < sum(not m.announced for m in works) / len(works) < 0.4
    assert all(true != r.autonomy_h for true, r in zip(truth.autonomy_h, world.ran, strict=True))
    assert sum(true < r.autonomy_h for true, r in zip(truth.autonomy_h, world.ran, strict=True)) > len(world.ran) / 2
    from gridcell.sim.engine import Engine

    engine = Engine(world, truth, 8, "best_practice")
    latency = sorted(engine._latency("alarm", k) for k in range(2000))
    assert 5.0 < latency[1000] < 20.0 and latency[1980] > 60.0  # median ~10 s, a tail beyond a minute


def test_paired_results_over_seeds_run_in_parallel(world: World) -> None:
    parallel, _, outcomes = simulate(world.cfg, [3, 4, 5], world=world, jobs=2, ablation_seeds=1)
    sequential, _, _ = simulate(world.cfg, [3, 4, 5], world=world, jobs=1, ablation_seeds=1)
    assert parallel["jobs"] == 2 and sequential["jobs"] == 1 and parallel["ablation"]["seeds"] == [3]
    assert {k: v for k, v in _strip(parallel).items() if k != "jobs"} == \
        {k: v for k, v in _strip(sequential).items() if k != "jobs"}
    pairs = parallel["paired"]
    assert set(pairs) >= {"gridcell - current_practice", "gridcell - best_practice",
                          "best_practice - current_practice"}
    key = "comm_unavailability_min_per_site_year"
    for seed_index, seed in enumerate((3, 4, 5)):
        gc = metrics.figures(world, outcomes["gridcell"][seed_index])[key]
        bp = metrics.figures(world, outcomes["best_practice"][seed_index])[key]
        assert pairs["gridcell - best_practice"][key]["per_seed"][seed_index] == pytest.approx(gc - bp), seed
    for name, rows in pairs.items():
        if not isinstance(rows, dict) or name == "seeds":
            continue
        for k, row in rows.items():
            if row["ci95"] is not None:  # the interval holds the mean difference
                assert row["ci95"][0] <= row["mean"] <= row["ci95"][1], (name, k)
    for policy in ("current_practice", "best_practice", "gridcell"):
        for k, ci in parallel[policy]["ci95"].items():  # nothing here can be negative, nor can its bounds
            if ci is not None:
                assert 0.0 <= ci[0] <= ci[1], (policy, k, ci)
    cal = parallel["calibration"]
    assert set(cal["per_plmn_path_availability_pct"]) == {"26201", "26202"}
    assert all(90.0 < v < 100.0 for v in cal["per_plmn_path_availability_pct"].values())
    assert cal["seed_observed_pct"] == 98.5


def test_one_run_has_paired_intervals_from_its_periods(world: World) -> None:
    result, _, _ = simulate(world.cfg, [3], world=world, ablation_seeds=0)
    assert "12 paired periods" in result["paired"]["method"]
    row = result["paired"]["gridcell - current_practice"]["comm_unavailability_min_per_site_year"]
    assert row["ci95"] is not None and len(row["per_seed"]) == 1
    assert all(ci is None or ci[0] >= 0.0 for ci in result["gridcell"]["ci95"].values())


def test_information_nobody_acts_on_changes_nothing(world: World) -> None:
    """The ablation's first steps: the MNOs' information (and the DSO's probes) reach the exchange, but no CPE
    follows its advice and no ticket is opened, so every outcome is best practice's — the exchange alone moves no
    traffic and restores no feeder."""
    truth = faults.draw(world, 7)
    best = run_policy(world, 7, "best_practice", truth)
    for _, caps in ABLATION[:2]:
        step = dataclasses.replace(world, cfg=world.cfg.with_(gridcell_capabilities=caps))
        o = run_policy(step, 7, "gridcell", truth)
        assert o.service_writes > 0, caps  # the information did go through the product
        assert _comparable(o) == _comparable(best), caps


def test_ablation_adds_capabilities_one_at_a_time_up_to_the_product() -> None:
    steps = [set(caps) for _, caps in ABLATION]
    assert all(a < b and len(b - a) == 1 for a, b in itertools.pairwise(steps))
    assert steps[-1] == set(SimConfig().gridcell_capabilities) == set(CAPABILITIES)


def test_ablation_is_paired_against_best_practice_and_ends_at_gridcell(world: World) -> None:
    result, _, _ = simulate(world.cfg, [3, 4], world=world, jobs=1, ablation_seeds=1)
    ab = result["ablation"]
    assert ab["seeds"] == [3] and [s["step"] for s in ab["steps"]] == [name for name, _ in ABLATION]
    full = ab["steps"][-1]["minus_best_practice"]
    for k, row in full.items():  # the full step is the gridcell run: its difference is the paired one, seed 3
        assert row["per_seed"] == result["paired"]["gridcell - best_practice"][k]["per_seed"][:1], k
    assert ab["steps"][0]["minus_best_practice"]["saidi_min"]["per_seed"] == [0.0]
    without, _, _ = simulate(world.cfg, [3], world=world, jobs=1, ablation_seeds=0)
    assert "ablation" not in without
