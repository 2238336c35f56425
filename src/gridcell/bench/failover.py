"""`gridcell bench failover --json`: failover scenarios in the namespace testbed, side by side in one run, the
interruption of a telecontrol-like stream (a packet every 100 ms each way) measured as its longest gap.

* sudden: a PLMN fails with no warning. Baseline: OpenWrt mwan3's algorithm with its defaults (a ping every 5 s,
  down after 3 misses), run by the agent's own prober with those settings on the same testbed; against it the
  agent's defaults (bursts of 3 echoes every second, down after 3), with the exchange connected (it knows
  nothing ahead here, so this is the agent's own detection).
* planned: the MNO announces maintenance on the serving cell 20 s ahead; the PLMN goes dark when the window opens.
* precursor: the MNO's threshold crossing on the serving cell (degradation) 10 s before the PLMN fails.
"""

from __future__ import annotations

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
CELL_DN = "SubNetwork=1,ManagedElement=gNB-{plmn},GNBDUFunction=1,NRCellDU=0"


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _settle(lab: Lab, exchange: bool) -> None:
    lab.wait_for(lambda: lab.gap_ms(time.monotonic() - 1.0, time.monotonic()) < 300, SETTLE_S, "the stream")
    if exchange:
        lab.wait_for(lambda: "connected to the exchange" in lab.tail("agent"), SETTLE_S, "the agent on the broker")
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


def planned(work: Path, lead_s: float = 20.0) -> dict[str, Any]:
    with Lab(work, exchange=True) as lab:
        assert lab.world is not None
        lab.start_agent(AgentSettings())
        _settle(lab, True)
        announced = time.monotonic()
        start = datetime.now(UTC) + timedelta(seconds=lead_s)
        r = lab.post("/api/v1/ingest/notifications", {
            "notificationType": "notifyPlannedMaintenance", "notificationId": "mw-bench",
            "eventTime": datetime.now(UTC).isoformat(), "maintenanceId": "MW-BENCH", "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(), "cells": [lab.world.cells[PLMNS[0]]]},
            lab.world.mno_tokens[PLMNS[0]])
        r.raise_for_status()
        lab.wait_for(lambda: datetime.now(UTC) >= start, lead_s + 30, "the window")
        lab.tb.blackhole(0)
        time.sleep(5.0)
        return {"interruption_ms": lab.gap_ms(announced, time.monotonic()), "switches": lab.switches()}


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


def run(runs: int = 3) -> Iterator[dict[str, Any]]:
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
    finally:
        shutil.rmtree(work, ignore_errors=True)
    gaps = {k: [r["interruption_ms"] for r in v] for k, v in results.items()}
    flaps = sum(max(0, len(r["switches"]) - 1) for v in results.values() for r in v)
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
    yield {"figure": "flaps", "value": flaps, "unit": "switches",
           "compare": "switches beyond the one each scenario needs, over every run; goal 0", **testbed}
