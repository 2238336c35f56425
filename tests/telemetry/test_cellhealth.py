"""Outside-in cell health: 3 of 4 CPEs on a cell drop with no MNO alarm → a cell_health event for the MNO."""

from __future__ import annotations

from datetime import timedelta

from gridcell.core.db import Database
from gridcell.faults import schemas as fs
from gridcell.faults import service as faults
from gridcell.telemetry import cellhealth
from gridcell.telemetry import service as telemetry
from gridcell.tenancy.service import Caller
from gridcell.topology import service as topology
from tests.conftest import alarm
from tests.telemetry.helpers import PLMN_A, T0, Small, build, ingest, manual_clock, probes


def _drop_three(db: Database, w: Small) -> None:
    start = T0 - timedelta(minutes=10)
    rows = []
    for i in range(4):
        failing = i < 3
        rows += probes(f"CPE{i}", PLMN_A, start, 60, ok=(lambda k, f=failing: not (f and k >= 40)))
    ingest(db, w.dso, rows)


def _events(db: Database, mno: str) -> list[dict[str, object]]:
    with db.read() as s:
        return cellhealth.list_events(s, Caller("c", mno, "mno", "viewer"))


def test_three_of_four_dropping_raise_cell_health(db: Database) -> None:
    with manual_clock(T0):
        w = build(db)
        _drop_three(db, w)
        events = _events(db, w.mno_a)
    assert len(events) == 1
    ev = events[0]
    assert ev["cellId"] == f"{PLMN_A}-C0" and ev["clearedAt"] is None
    evidence = ev["evidence"]
    assert isinstance(evidence, dict)
    assert (evidence["cpeCount"], evidence["droppingCpes"], evidence["dsoCount"]) == (4, 3, 1)
    assert evidence["firstSeen"] is not None and evidence["failures"] == 60
    # aggregated: no DSO site or CPE identity in the event
    text = str(ev)
    assert "CPE" not in text and "S0" not in text and w.dso not in text
    # the interface for incident attribution sees the same picture
    with db.read() as s:
        cell = topology.cells_by_ids(s, w.mno_a, [f"{PLMN_A}-C0"])[0]
        assert telemetry.cell_peer_evidence(s, [cell.pk], T0 - timedelta(minutes=15), T0) == {cell.pk: (4, 3)}
        ev_rows = telemetry.probe_evidence(s, w.dso, sorted(x.pk for x in topology.sites_of_org(s, w.dso)),
                                           T0 - timedelta(minutes=15), T0)
    a_rows = [e for e in ev_rows if e.plmn == PLMN_A]
    assert len(a_rows) == 4 and sum(1 for e in a_rows if e.failures == 20) == 3
    assert all(e.serving_cell_pk == cell.pk for e in a_rows)


def test_no_event_when_mno_has_an_alarm(db: Database) -> None:
    with manual_clock(T0):
        w = build(db)
        with db.write() as s:
            dn = f"SubNetwork=1,ManagedElement=gNB-{PLMN_A},NRCellDU=0"
            n = fs.NOTIFICATION.validate_python(alarm("notifyNewAlarm", "X-1", dn, severity="MAJOR",
                                                      at=T0 - timedelta(hours=1)))
            faults.ingest(s, w.mno_a, [n])
        _drop_three(db, w)
        assert _events(db, w.mno_a) == []


def test_never_raised_without_telemetry_sharing(db: Database) -> None:
    with manual_clock(T0):
        w = build(db, share_telemetry=False)
        _drop_three(db, w)
        assert _events(db, w.mno_a) == []
