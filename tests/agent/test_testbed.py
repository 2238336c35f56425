"""The agent on a real network stack: a CPE namespace with two uplinks through two PLMN namespaces to a head-end
carrying a telecontrol-like stream (a packet every 100 ms each way); interruption = the longest gap in the
stream. Root and `ip netns` are needed: in CI they are there (and these tests must run); elsewhere they skip."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gridcell.bench import failover
from gridcell.bench.failover_lab import PLMNS, AgentSettings, Lab
from gridcell.bench.testbed import available
from tests.conftest import IN_CI

WHY_NOT = available()
pytestmark = pytest.mark.skipif(WHY_NOT is not None and not IN_CI, reason=f"netns testbed: {WHY_NOT}")
MWAN3_DETECTION_S = 3 * 5.0  # mwan3's defaults: down after 3 missed pings, one every 5 s


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with Lab(tmp_path / "lab") as lab:
        yield lab


def _settled(lab: Lab) -> None:
    """The agent runs and the stream flows both ways."""
    lab.wait_for(lambda: lab.gap_ms(time.monotonic() - 1.0, time.monotonic()) < 300, 60, "the stream flowing")
    lab.wait_for(lambda: "Traceback" not in lab.tail("agent") and lab.procs["agent"].poll() is None, 5, "agent up")


def test_a_sudden_failure_is_seen_on_the_agents_own_probes_faster_than_mwan3(lab: Lab) -> None:
    lab.start_agent(AgentSettings())
    _settled(lab)
    failed_at = time.monotonic()
    lab.tb.blackhole(0)
    lab.wait_for(lambda: any(s.to_plmn == PLMNS[1] for s in lab.switches()), 60, "a local switch")
    lab.wait_for(lambda: lab.gap_ms(time.monotonic() - 1.0, time.monotonic()) < 300, 30, "the stream back")
    interruption = lab.gap_ms(failed_at - 1.0, time.monotonic())
    assert lab.tb.default_route_dev() == "up1"
    assert interruption / 1000 <= MWAN3_DETECTION_S, interruption
    print(f"sudden failure, agent alone: interruption {interruption:.0f} ms (mwan3 detection alone: "
          f"{MWAN3_DETECTION_S:.0f} s)")


def test_back_to_the_primary_only_once_it_is_stable(lab: Lab) -> None:
    settings = AgentSettings(up_after=5)
    lab.start_agent(settings)
    _settled(lab)
    lab.tb.blackhole(0)
    lab.wait_for(lambda: len(lab.switches()) == 1, 60, "the switch away")
    healed = time.monotonic()
    lab.tb.heal(0)
    lab.wait_for(lambda: len(lab.switches()) == 2, 60, "the switch back (no exchange: the agent decides)")
    back = lab.switches()[1]
    assert (back.from_plmn, back.to_plmn) == (PLMNS[1], PLMNS[0])
    # five answers in a row first: not before ~4 probe intervals after the path healed
    assert back.at - healed >= (settings.up_after - 1) * settings.interval_s, back.at - healed
    assert lab.tb.default_route_dev() == "up0"


def test_no_flapping_under_20_percent_loss(tmp_path: Path) -> None:
    with Lab(tmp_path / "lossy", lossy_plmn=0, loss=0.2) as lab:
        lab.start_agent(AgentSettings())
        _settled(lab)
        started = time.monotonic()
        while time.monotonic() - started < 40:  # 40 probes of 3 echoes, a fifth of them lost
            assert not lab.switches(), lab.switches()
            time.sleep(1)
        assert lab.tb.default_route_dev() == "up0"


def test_planned_maintenance_moves_the_traffic_before_the_window_with_no_interruption(tmp_path: Path) -> None:
    with Lab(tmp_path / "planned", exchange=True) as lab:
        assert lab.world is not None
        lab.start_agent(AgentSettings())
        _settled(lab)
        lab.wait_for(lambda: "connected to the exchange" in lab.tail("agent"), 60, "the agent on the broker")
        announced = time.monotonic()
        start = datetime.now(UTC) + timedelta(seconds=20)
        r = lab.post("/api/v1/ingest/notifications", {
            "notificationType": "notifyPlannedMaintenance", "notificationId": "mw-1",
            "eventTime": datetime.now(UTC).isoformat(), "maintenanceId": "MW-1", "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(), "cells": [lab.world.cells[PLMNS[0]]]},
            lab.world.mno_tokens[PLMNS[0]])
        assert r.status_code == 200, r.text
        lab.wait_for(lambda: lab.switches(), 60, "the exchange's switch")
        assert datetime.now(UTC) < start  # before the window opens
        (switch,) = lab.switches()
        assert switch.why.startswith("exchange: switch") and switch.first_packet_ms is not None
        lab.wait_for(lambda: datetime.now(UTC) >= start, 60, "the window opening")
        lab.tb.blackhole(0)  # the work begins: the PLMN goes dark
        lab.wait_for(lambda: time.monotonic() - announced > 25, 60, "a while into the window")
        assert lab.gap_ms(announced, time.monotonic()) <= 1000
        commands = lab.get("/api/v1/failover/commands", lab.world.dso_token)
        acked = [c for c in commands if c["action"] == "switch"]
        assert acked and acked[0]["ackStatus"] == "done", commands


def test_a_cell_under_many_cpes_moves_them_in_steps_before_the_window(tmp_path: Path) -> None:
    """Seven CPEs under one cell, maintenance announced 40 s ahead: the exchange moves at most five of them per
    10 s (its fleet limit: 20 % of the cell's CPEs, at least 5), so the other PLMN's cell is not hit by all at once;
    every CPE is on the other PLMN before the window opens, each with an interruption under a second, none twice."""
    n = 7
    result = failover.fleet(tmp_path / "fleet", n, lead_s=40.0)
    moves = sorted(result["moves"])
    assert len(moves) == n and all(m < result["opens"] for m in moves)
    budget = failover.fleet_budget(n)
    assert budget == 5
    assert failover.most_within(moves, failover.FLEET_INTERVAL_S - failover.JITTER_S) <= budget
    assert moves[budget] - moves[0] >= failover.FLEET_INTERVAL_S - failover.JITTER_S  # the sixth waited a step
    assert max(result["interruptions_ms"]) <= 1000
    assert result["flaps"] == 0
