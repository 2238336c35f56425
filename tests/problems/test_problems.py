"""TMF656 problems: the trend job's proposals (declining availability, recurring short outages), sending one to
the MNO, the TMF656 facade (fields, filters, lifecycle, tracking records) and events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gridcell.core.db import Database
from gridcell.faults import schemas as fs
from gridcell.faults import service as faults
from gridcell.problems import trend
from gridcell.telemetry.models import ProbeHourly
from gridcell.telemetry.store import HOUR_MS, NB
from gridcell.tenancy import service as tenancy
from tests.conftest import Receiver, World, alarm
from tests.telemetry.helpers import PLMN_A, PLMN_B, T0, Small, build, manual_clock

SP = "/tmf-api/serviceProblemManagement/v4"
CELL_A = f"SubNetwork=1,ManagedElement=gNB-{PLMN_A},NRCellDU=0"


@pytest.fixture
def small(db: Database) -> Iterator[Small]:
    with manual_clock(T0):
        yield build(db, n_sites=4)


def _hourly(db: Database, small: Small, plmn: str, failures_on_day: Any) -> None:
    from gridcell.topology import service as topology

    with db.write() as s:
        usims = [u for u in topology.usim_refs(s, small.dso) if u.plmn == plmn]
        now_hour = int(T0.timestamp() * 1000) // HOUR_MS
        for u in usims:
            for h in range(30 * 24):
                day = h // 24
                s.add(ProbeHourly(usim_pk=u.pk, hour=now_hour - 30 * 24 + 1 + h, probes=360,
                                  failures=failures_on_day(day) if h % 24 == 0 else 0, rtt_count=0, rtt_sum=0.0,
                                  hist=[0] * NB))


def _short_outages(db: Database, small: Small, n: int) -> None:
    for i in range(n):
        at = T0 - timedelta(days=3 * (i + 1))
        with db.write() as s:
            faults.ingest(s, small.mno_a, [fs.NOTIFICATION.validate_python(alarm("notifyNewAlarm", f"FLAP-{i}", CELL_A,
                                                                                 at=at))])
        with db.write() as s:
            faults.ingest(s, small.mno_a, [fs.NOTIFICATION.validate_python(alarm(
                "notifyClearedAlarm", f"FLAP-{i}", CELL_A, at=at + timedelta(minutes=12), severity="CLEARED"))])


def test_trend_job_proposes_declining_availability_and_recurring_outages(db: Database, small: Small) -> None:
    _hourly(db, small, PLMN_A, lambda day: 2 * day)  # availability falls day by day on PLMN A
    _hourly(db, small, PLMN_B, lambda day: 3)  # flat on PLMN B
    _short_outages(db, small, 4)
    with db.write() as s:
        ids = trend.run(s, now=T0)
        props = {p.trend_key: p for p in trend.proposals(s, small.dso)}
    assert len(ids) == 2 and set(props) == {f"availability:{PLMN_A}:all", f"cell:{small.mno_a}:{PLMN_A}-C0"}
    avail = props[f"availability:{PLMN_A}:all"]
    value = avail.doc["characteristic"][0]["value"]
    assert value["lastWeek"] < value["firstWeek"] and len(value["daily"]) == 30 and avail.mno_id == small.mno_a
    flap = props[f"cell:{small.mno_a}:{PLMN_A}-C0"]
    assert {a["id"] for a in flap.doc["underlyingAlarm"]} == {f"FLAP-{i}" for i in range(4)}
    assert all(e["eventTime"] for e in flap.doc["relatedEvent"])
    with db.write() as s:  # a second run refreshes, it does not repeat
        assert sorted(trend.run(s, now=T0)) == sorted(ids)
        assert len(trend.proposals(s, small.dso)) == 2


def test_two_short_outages_are_not_a_pattern(db: Database, small: Small) -> None:
    _short_outages(db, small, 2)
    with db.write() as s:
        assert trend.run(s, now=T0) == []


def _tokens(db: Database, small: Small) -> dict[str, dict[str, str]]:
    out = {}
    with db.write() as s:
        for org in (small.dso, small.mno_a, small.mno_b):
            out[org] = {"Authorization": f"Bearer {tenancy.create_client(s, org, 'operator')[1]}"}
    return out


def test_send_proposal_then_work_it_through_tmf656(app_client: TestClient, db: Database, small: Small,
                                                   receiver: Receiver) -> None:
    c = app_client
    tok = _tokens(db, small)
    for org in (small.dso, small.mno_a):
        assert c.post(f"{SP}/hub", json={"callback": receiver.url}, headers=tok[org]).status_code == 201
    _short_outages(db, small, 3)
    with db.write() as s:
        (pid,) = trend.run(s, now=T0)
    # A proposal is the DSO's alone until sent.
    assert [p["state"] for p in c.get("/api/v1/problems", headers=tok[small.dso]).json()] == ["proposed"]
    assert c.get("/api/v1/problems", headers=tok[small.mno_a]).json() == []
    assert c.get(f"{SP}/serviceProblem", headers=tok[small.dso]).json() == []
    assert c.post(f"/api/v1/problems/proposals/{pid}/send", headers=tok[small.mno_a]).status_code == 403
    r = c.post(f"/api/v1/problems/proposals/{pid}/send", headers=tok[small.dso])
    assert r.status_code == 200 and r.json()["status"] == "acknowledged", r.text
    mine = c.get(f"{SP}/serviceProblem/{pid}", headers=tok[small.mno_a]).json()
    assert mine["underlyingAlarm"] and mine["responsibleParty"]["id"] == small.mno_a
    assert c.get(f"{SP}/serviceProblem/{pid}", headers=tok[small.mno_b]).status_code == 404
    r = c.get(f"{SP}/serviceProblem", params={"category": "recurringOutage", "fields": "status,priority"},
              headers=tok[small.mno_a])
    assert r.json() == [{"status": "acknowledged", "priority": 4}] and r.headers["X-Total-Count"] == "1"
    bad = c.patch(f"{SP}/serviceProblem/{pid}", json={"status": "closed"}, headers=tok[small.mno_a])
    assert bad.status_code == 400 and "allowed from 'acknowledged'" in bad.json()["message"]
    r = c.patch(f"{SP}/serviceProblem/{pid}", json={"status": "inProgress", "note": [{"text": "looking"}],
                                                     "rootCauseResource": [{"id": "backhaul-7"}]},
                headers={**tok[small.mno_a], "Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert [t["description"] for t in r.json()["trackingRecord"]][-1].startswith("note, rootCauseResource")
    got = receiver.wait_for(lambda rs: sum(1 for x in rs if x["body"]["eventType"] ==
                                           "ServiceProblemAttributeValueChangeEvent") >= 2)
    assert {g["body"]["eventType"] for g in got} >= {"ServiceProblemCreateEvent", "ServiceProblemStateChangeEvent",
                                                    "ServiceProblemAttributeValueChangeEvent"}


def test_tmf656_create_and_bad_input(app_client: TestClient, world: World) -> None:
    c, h = app_client, world.dso.auth()
    base = {"category": "availability", "priority": 2, "description": "d", "reason": "r",
            "originatorParty": {"id": world.dso.id, "@referredType": "Organization"},
            "responsibleParty": {"id": world.mno.id, "@referredType": "Organization"}}
    r = c.post(f"{SP}/serviceProblem", json=base, headers=h)
    assert r.status_code == 201 and r.json()["status"] == "acknowledged"
    for bad in ({k: v for k, v in base.items() if k != "reason"}, {**base, "priority": "high"},
                {**base, "priority": 11}, {**base, "relatedEvent": [{"name": "no id"}]}, {**base, "bogus": 1},
                {**base, "responsibleParty": {"id": world.mno2.id + "x", "@referredType": "Organization"}}):
        r = c.post(f"{SP}/serviceProblem", json=bad, headers=h)
        assert r.status_code == 400 and r.json()["@type"] == "Error", (bad, r.text)
    assert c.get(f"{SP}/serviceProblem/nope", headers=h).status_code == 404
    assert c.post(f"{SP}/serviceProblem", json=base, headers=world.mno.auth()).status_code == 403
