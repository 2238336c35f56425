"""The advisor: never flaps under oscillating input; planned work → switch before the window, back after."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from gridcell.core.db import Database
from gridcell.exposure import status
from gridcell.failover import advisor, service
from gridcell.failover.models import FailoverCommand
from gridcell.faults import schemas as fs
from gridcell.faults import service as faults
from tests.telemetry.helpers import PLMN_A, PLMN_B, T0, build, manual_clock

STATUSES = ("ok", "degraded", "at_risk", "down", "maintenance")


def _run(steps: list[tuple[int, str, str, int]]) -> list[tuple[object, advisor.Decision]]:
    state = advisor.State(PLMN_A, PLMN_A)
    now = T0
    out = []
    for dt, sa, sb, tail in steps:
        now += timedelta(seconds=dt)
        views = {PLMN_A: advisor.PlmnView(PLMN_A, status=sa, tail_failures=tail),
                 PLMN_B: advisor.PlmnView(PLMN_B, status=sb)}
        d = advisor.decide(state, views, now)
        state = d.state
        out.append((now, d))
    return out


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(1, 120), st.sampled_from(STATUSES),
                          st.sampled_from(("ok", "ok", "degraded", "down")), st.integers(0, 5)),
                min_size=10, max_size=300))
def test_never_flaps(steps: list[tuple[int, str, str, int]]) -> None:
    switches = [(now, d) for now, d in _run(steps) if d.emit and d.action in ("switch", "switch_back")]
    for (t1, _), (t2, _) in itertools.pairwise(switches):
        assert t2 - t1 >= advisor.HOLD_DOWN  # type: ignore[operator]
    for i, (_, d) in enumerate(switches):
        if i:
            assert d.action != switches[i - 1][1].action  # switch and switch back alternate


def test_oscillating_primary_switches_once_and_stays() -> None:
    steps = [(30, "down" if i % 2 == 0 else "ok", "ok", 0) for i in range(240)]  # 2 hours, flipping every 30 s
    emitted = [d.action for _, d in _run(steps) if d.emit]
    assert emitted == ["switch"]


def test_stable_primary_brings_the_cpe_back() -> None:
    steps = [(30, "down", "ok", 0)] * 4 + [(30, "ok", "ok", 0)] * 40
    emitted = [(now, d.action) for now, d in _run(steps) if d.emit]
    assert [a for _, a in emitted] == ["switch", "switch_back"]
    assert emitted[1][0] - emitted[0][0] >= advisor.HOLD_BACK  # type: ignore[operator]


def _maintenance(mno: str, start: object, end: object) -> object:
    return fs.NOTIFICATION.validate_python({
        "notificationType": "notifyPlannedMaintenance", "notificationId": "m-1", "eventTime": T0.isoformat(),
        "maintenanceId": "MW-1", "start": start, "end": end, "cells": [f"{PLMN_A}-C0"]})


def test_planned_work_switches_before_the_window_and_back_after(db: Database) -> None:
    start, end = T0 + timedelta(minutes=30), T0 + timedelta(minutes=90)
    with manual_clock(T0) as clock:
        w = build(db, n_sites=1)
        with db.write() as s:
            faults.ingest(s, w.mno_a, [_maintenance(w.mno_a, start.isoformat(), end.isoformat())])
        last = clock.now()

        def step(delta: timedelta) -> None:
            nonlocal last
            clock.advance(delta)
            with db.write() as s:
                status.tick(s, last, clock.now())
                service.tick(s, clock.now())
            last = clock.now()

        step(timedelta(seconds=1))
        with db.read() as s:
            actions = [(c.action, c.issued_at)
                       for c in s.scalars(select(FailoverCommand).order_by(FailoverCommand.issued_at))]
        assert [a for a, _ in actions] == ["prepare"]  # within the hour before the window
        while clock.now() < end + timedelta(minutes=30):
            step(timedelta(seconds=30))
        with db.read() as s:
            cmds = list(s.scalars(select(FailoverCommand).order_by(FailoverCommand.issued_at)))
    assert [c.action for c in cmds] == ["prepare", "switch", "switch_back"]
    switch, back = cmds[1], cmds[2]
    assert start - advisor.LEAD <= switch.issued_at < start
    assert (switch.from_plmn, switch.to_plmn) == (PLMN_A, PLMN_B)
    assert "planned_maintenance_imminent" in switch.reason["why"]
    assert switch.reason["maintenanceStart"].startswith("2026-11-26T10:30")
    assert end + advisor.HOLD_BACK <= back.issued_at <= end + advisor.HOLD_BACK + timedelta(minutes=1)
    assert back.to_plmn == PLMN_A and len({c.id for c in cmds}) == 3
