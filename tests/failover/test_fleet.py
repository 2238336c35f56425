"""Fleet safety: a cell failing under 50 CPEs does not send them all to the other PLMN at once: at most a share of
them per interval (the others prepared, moved at later ticks), every one of them moved in the end; and the
advisor says when the PLMN it moves to is itself not in good health."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import select

from gridcell.core.db import Database
from gridcell.exposure import status
from gridcell.failover import advisor, service
from gridcell.failover.models import FailoverCommand
from gridcell.faults import schemas as fs
from gridcell.faults import service as faults
from tests.telemetry.helpers import PLMN_A, PLMN_B, T0, build, manual_clock

CPES = 50


def _cell_down(mno: str) -> fs.NotifyNewAlarm:
    dn = f"SubNetwork=1,ManagedElement=gNB-{PLMN_A},NRCellDU=0"
    return fs.NOTIFICATION.validate_python({
        "notificationType": "notifyNewAlarm", "notificationId": 1, "eventTime": T0.isoformat(), "href": dn,
        "objectInstance": dn, "systemDN": "DC=mno", "alarmId": "CELL-DOWN", "alarmType": "EQUIPMENT_ALARM",
        "probableCause": "EQUIPMENT_MALFUNCTION", "perceivedSeverity": "CRITICAL"})


def _switches(db: Database) -> list[FailoverCommand]:
    with db.read() as s:
        return list(s.scalars(select(FailoverCommand).where(FailoverCommand.action == "switch")
                              .order_by(FailoverCommand.issued_at)))


def test_a_cell_failing_under_many_cpes_moves_them_in_waves(db: Database) -> None:
    per_wave = math.ceil(advisor.FLEET.share * CPES)
    with manual_clock(T0) as clock:
        w = build(db, n_sites=CPES)
        with db.write() as s:
            faults.ingest(s, w.mno_a, [_cell_down(w.mno_a)])
        first = _switches(db)
        assert len(first) == per_wave, len(first)
        assert all(c.reason["sourceCells"] for c in first)
        with db.read() as s:
            staggered = [c for c in s.scalars(select(FailoverCommand).where(FailoverCommand.action == "prepare"))
                         if "staggered" in c.reason]
        assert len(staggered) == CPES - per_wave
        # Every CPE evaluated again within the interval (a tick, probe uploads): the moved ones are still the
        # cell's, so the wave stays the share of the cell's CPEs.
        clock.advance(timedelta(seconds=1))
        with db.write() as s:
            service.evaluate(s, w.dso)
        assert len(_switches(db)) == per_wave
        last = clock.now()
        waves = 1
        while len(_switches(db)) < CPES and waves < 20:
            clock.advance(advisor.FLEET.interval + timedelta(seconds=1))
            with db.write() as s:
                status.tick(s, last, clock.now())
                service.tick(s, clock.now() + service.REEVALUATE)  # the held CPEs are due again
            last = clock.now()
            waves += 1
    switches = _switches(db)
    assert len({c.cpe_id for c in switches}) == CPES  # everyone moved in the end
    per_interval: dict[int, int] = {}
    for c in switches:
        bucket = int((c.issued_at - T0) / advisor.FLEET.interval)
        per_interval[bucket] = per_interval.get(bucket, 0) + 1
    assert max(per_interval.values()) <= per_wave, per_interval


def test_a_move_to_a_plmn_in_poor_health_says_so() -> None:
    now = T0
    views = {PLMN_A: advisor.PlmnView(PLMN_A, status="down"), PLMN_B: advisor.PlmnView(PLMN_B, status="degraded")}
    d = advisor.decide(advisor.State(PLMN_A, PLMN_A), views, now)
    assert d.action == "switch" and d.reason["targetCaution"] == {"plmn": PLMN_B, "why": ["status_degraded"]}
    views[PLMN_B] = advisor.PlmnView(PLMN_B, status="down")
    d = advisor.decide(advisor.State(PLMN_A, PLMN_A), views, now)
    assert d.action == "stay" and d.reason["noSafeTarget"] == {PLMN_B: ["status_down"]}
