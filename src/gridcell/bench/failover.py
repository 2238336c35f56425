"""`gridcell bench failover --json`: failover scenarios in the namespace testbed, side by side in one run, the
interruption of a telecontrol-like stream (a packet every 100 ms each way) measured as its longest gap.

* sudden: a PLMN fails with no warning. Baseline: OpenWrt mwan3's algorithm with its defaults (a ping every 5 s,
  down after 3 misses), run by the agent's own prober with those settings on the same testbed; against it the
  agent's defaults (bursts of 3 echoes every second, down after 3), with the exchange connected (it knows
  nothing ahead here, so this is the agent's own detection).
* planned: the MNO announces maintenance on the serving cell 20 s ahead; the PLMN goes dark when the window opens.
* precursor: the MNO's threshold crossing on the serving cell (degradation) 10 s before the PLMN fails.
* fleet: maintenance announced 75 s ahead on the one cell serving 50 CPEs (each its own namespace, agent and
  stream): the exchange spreads their moves to the other PLMN (at most 20 % of the cell's CPEs, at least 5, per
  10 s), so the other network's cell is not hit by all of them at once, and every one has moved before the window.
"""

from __future__ import annotations

import math
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gridcell.bench.failover_lab import PLMNS, AgentSettings, Lab
from gridcell.bench.testbed import available

SETTLE_S = 60.0
FLEET_LEAD_S = 75.0  # 50 CPEs at 10 per 10 s take 40-50 s; the exchange moves them within its 2-minute lead
FLEET_SHARE, FLEET_INTERVAL_S, FLEET_BURST = 0.2, 10.0, 5  # the exchange's defaults (failover.advisor.FleetLimits)
JITTER_S = 0.5  # commands of one step reach the agents within this: a step is judged by when the agents moved
CELL_DN = "SubNetwork=1,ManagedElement=gNB-{plmn},GNBDUFunction=1,NRCellDU=0"


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _settle(lab: Lab, exchange: bool, cpes: int = 1) -> None:
    for k in range(cpes):
        lab.wait_for(lambda k=k: lab.gap_ms(time.monotonic() - 1.0, time.monotonic(), k) < 300,
                     SETTLE_S, f"CPE {k}'s stream")
        if exchange:
            lab.wait_for(lambda k=k: "connected to the exchange" in lab.tail(f"agent{k or ''}"),
                         SETTLE_S, f"CPE {k}'s agent on the broker")
    time.sleep(2.0)  # a few probes of every path: the bench measures from a steady state


def _after_failure(lab: Lab, failed_at: float) -> dict[str, Any]:
    lab.wait_for(lambda: any(s.to_plmn == PLMNS[1] for s in lab.switches()), 120, "the switch")
    lab.wait_for(lambda: lab.gap_ms(time.monotonic() - 1.5, time.monotonic()) < 300, 60, "the stream back")
    time.sleep(1.0)
    return {"interruption_ms": lab.gap_ms(failed_at - 1.0, time.monotonic()), "switches": lab.switches()}


def sudden(work: Path, settings: AgentSettings, exchange: bool) -> dict[str, Any]:
    with Lab(work, exchange=exchange) as lab:
        lab.start_agent(settings)
        _settle(lab, exchange)
        failed_at = time.monotonic()
        lab.tb.blackhole(0)
        return _after_failure(lab, failed_at)


def _announce(lab: Lab, lead_s: float) -> float:
    """The MNO announces maintenance on the serving cell of PLMN 0 opening in `lead_s`: its monotonic time."""
    assert lab.world is not None
    opens = time.monotonic() + lead_s
    start = datetime.now(UTC) + timedelta(seconds=lead_s)
    r = lab.post("/api/v1/ingest/notifications", {
        "notificationType": "notifyPlannedMaintenance", "notificationId": "mw-bench",
        "eventTime": datetime.now(UTC).isoformat(), "maintenanceId": "MW-BENCH", "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(), "cells": [lab.world.cells[PLMNS[0]]]},
        lab.world.mno_tokens[PLMNS[0]])
    r.raise_for_status()
    return opens


def planned(work: Path, lead_s: float = 20.0) -> dict[str, Any]:
    with Lab(work, exchange=True) as lab:
        lab.start_agent(AgentSettings())
        _settle(lab, True)
        announced = time.monotonic()
        opens = _announce(lab, lead_s)
        lab.wait_for(lambda: time.monotonic() >= opens, lead_s + 30, "the window")
        lab.tb.blackhole(0)
        time.sleep(5.0)
        return {"interruption_ms": lab.gap_ms(announced, time.monotonic()), "switches": lab.switches()}


def fleet_budget(cpes: int) -> int:
    """The most CPEs under one cell the exchange moves per FLEET_INTERVAL_S (sliding)."""
    return max(FLEET_BURST, math.ceil(FLEET_SHARE * cpes))


def fleet(work: Path, cpes: int, lead_s: float = FLEET_LEAD_S) -> dict[str, Any]:
    with Lab(work, exchange=True, cpes=cpes) as lab:
        for k in range(cpes):
            lab.start_agent(AgentSettings(), k)
        _settle(lab, True, cpes)
        announced = time.monotonic()
        opens = _announce(lab, lead_s)
        lab.wait_for(lambda: time.monotonic() >= opens, lead_s + 30, "the window")
        lab.tb.blackhole(0)
        lab.wait_for(lambda: all(any(s.to_plmn == PLMNS[1] for s in lab.switches(k)) for k in range(cpes)), 120,
                     "every CPE on the other PLMN")
        time.sleep(5.0)
        end = time.monotonic()
        switches = [lab.switches(k) for k in range(cpes)]
        return {"interruptions_ms": [lab.gap_ms(announced, end, k) for k in range(cpes)], "opens": opens,
                "moves": [min(s.at for s in sw if s.to_plmn == PLMNS[1]) for sw in switches],
                "switches": [s for sw in switches for s in sw], "flaps": sum(max(0, len(sw) - 1) for sw in switches)}


def most_within(times: list[float], window_s: float) -> int:
    """The most of `times` that fall within any `window_s` (a sliding window)."""
    ordered, most, lo = sorted(times), 0, 0
    for hi, t in enumerate(ordered):
        while t - ordered[lo] >= window_s:
            lo += 1
        most = max(most, hi - lo + 1)
    return most


def precursor(work: Path, lead_s: float = 10.0) -> dict[str, Any]:
    with Lab(work, exchange=True) as lab:
        assert lab.world is not None
        lab.start_agent(AgentSettings())
        _settle(lab, True)
        dn = CELL_DN.format(plmn=PLMNS[0])
        r = lab.post("/api/v1/ingest/notifications", {
            "notificationType": "notifyThresholdCrossing", "notificationId": "tca-bench",
            "href": "https://oss.mno.example/ProvMnS/v1/" + dn.replace(",", "/"), "objectInstance": dn,
            "eventTime": datetime.now(UTC).isoformat(), "systemDN": "DC=mno.example",
            "observedPerfMetricName": "DRB.PacketLossRateDl", "observedPerfMetricValue": 0.08,
            "observedPerfMetricDirection": "UP", "thresholdValue": 0.05}, lab.world.mno_tokens[PLMNS[0]])
        r.raise_for_status()
        lab.wait_for(lambda: "prepare" in str(lab.get("/api/v1/failover/commands", lab.world.dso_token)), 30,
                     "the exchange's prepare")
        time.sleep(lead_s)
        failed_at = time.monotonic()
        lab.tb.blackhole(0)
        return _after_failure(lab, failed_at)


def _figure(name: str, values: list[float], unit: str, compare: str, **context: Any) -> dict[str, Any]:
    p50, p95 = _percentile(values, 50), _percentile(values, 95)
    return {"figure": name, "value": None if not values else round(statistics.median(values), 1), "unit": unit,
            "p50": None if p50 is None else round(p50, 1), "p95": None if p95 is None else round(p95, 1),
            "values": [round(v, 1) for v in values], "compare": compare, **context}


def _fleet_figures(result: dict[str, Any], cpes: int, testbed: dict[str, Any]) -> Iterator[dict[str, Any]]:
    budget = fleet_budget(cpes)
    moves, context = result["moves"], {**testbed, "runs": 1, "cpes": cpes}
    yield _figure("fleet_interruption_ms_planned", result["interruptions_ms"], "ms",
                  f"each of {cpes} CPEs under one cell, maintenance announced {FLEET_LEAD_S:g} s ahead; "
                  "p50/p95 over the CPEs; goal p95 <= 1000 ms", **context)
    yield {"figure": "fleet_moves_max_per_interval", "value": most_within(moves, FLEET_INTERVAL_S - JITTER_S),
           "unit": "CPEs",
           "compare": f"the most CPEs that moved within any {FLEET_INTERVAL_S:g} s as the agents saw it (less "
                      f"{JITTER_S:g} s for the commands' delivery); the exchange allows {budget} per "
                      f"{FLEET_INTERVAL_S:g} s; without staggering all {cpes} at once", **context}
    yield {"figure": "fleet_move_span_s", "value": round(max(moves) - min(moves), 1), "unit": "s",
           "moved_before_window": sum(m < result["opens"] for m in moves),
           "compare": f"from the first CPE's move to the last; all {cpes} should move before the window opens",
           **context}


def run(runs: int = 3, fleet_cpes: int = 50) -> Iterator[dict[str, Any]]:
    why = available()
    if why is not None:
        raise RuntimeError(f"the failover bench needs the namespace testbed: {why}")
    work = Path(tempfile.mkdtemp(prefix="gridcell-failover-"))
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in ("mwan3", "agent", "sudden", "planned", "precursor")}
    scenarios: dict[str, Callable[[Path], dict[str, Any]]] = {
        "mwan3": lambda w: sudden(w, AgentSettings.mwan3_defaults(), exchange=False),
        "agent": lambda w: sudden(w, AgentSettings(), exchange=False),
        "sudden": lambda w: sudden(w, AgentSettings(), exchange=True),
        "planned": planned, "precursor": precursor}
    try:
        for i in range(runs):  # interleaved, so a slow minute of the machine hits every scenario alike
            for name, scenario in scenarios.items():
                results[name].append(scenario(work / f"{name}-{i}"))
        fleet_result = fleet(work / "fleet", fleet_cpes) if fleet_cpes else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    gaps = {k: [r["interruption_ms"] for r in v] for k, v in results.items()}
    flaps = sum(max(0, len(r["switches"]) - 1) for v in results.values() for r in v)
    flaps += fleet_result["flaps"] if fleet_result else 0
    commands = [s.first_packet_ms for r in results["planned"] + results["precursor"] for s in r["switches"]
                if s.why.startswith("exchange") and s.first_packet_ms is not None]
    testbed = {"testbed": "network namespaces: CPE, two PLMNs, head-end; PLMN failure = blackhole both ways",
               "stream": "UDP, a packet every 100 ms each way", "runs": runs}
    mwan3 = _percentile(gaps["mwan3"], 50)
    yield _figure("mwan3_baseline_interruption_ms", gaps["mwan3"], "ms",
                  "mwan3 defaults (interval 5 s, down 3, one ping) on the same testbed", **testbed)
    for name, label in (("sudden", "sudden failure, no warning (agent's own probes, exchange connected)"),
                        ("planned", "maintenance announced 20 s ahead"),
                        ("precursor", "threshold crossing 10 s before the failure")):
        values = gaps[name]
        yield _figure(f"failover_interruption_ms_{name}", values, "ms",
                      f"{label}; goal p95 <= 1000 ms (planned, precursor), <= the mwan3 baseline "
                      f"(sudden: {mwan3 if mwan3 is None else round(mwan3)} ms in this run)", **testbed)
    yield _figure("agent_alone_interruption_ms_sudden", gaps["agent"], "ms",
                  "the agent's own probes with no exchange at all", **testbed)
    yield _figure("command_to_new_path_ms", [float(c) for c in commands], "ms",
                  "from the command's arrival at the agent to the first echo through the new path", **testbed)
    if fleet_result:
        yield from _fleet_figures(fleet_result, fleet_cpes, testbed)
    yield {"figure": "flaps", "value": flaps, "unit": "switches",
           "compare": "switches beyond the one each scenario needs, over every run; goal 0", **testbed}
