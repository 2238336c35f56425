"""Alarm identity is (MNO, alarmId): two MNOs raising the same alarm id are two alarms everywhere."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gridcell.core.db import Database
from tests.conftest import PLMN_A, PLMN_B, alarm, build_world, cell_dn

SITE = "D1-S0"


def test_same_alarm_id_of_two_mnos_is_two_alarms(app_client: TestClient, db: Database) -> None:
    world = build_world(app_client, db, level="cell", level2="cell")
    c = app_client
    for org, plmn in ((world.mno, PLMN_A), (world.mno2, PLMN_B)):
        r = c.post("/api/v1/ingest/notifications", headers=org.auth(),
                   json=alarm("notifyNewAlarm", "V-1", cell_dn(plmn, 0), severity="MAJOR"))
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    listed = c.get("/FaultSupervisionMnS/v1/alarms", headers=world.dso.auth("viewer")).json()
    assert set(listed) == {f"{world.mno.id}:V-1", f"{world.mno2.id}:V-1"}
    assert {(v["mnoId"], v["mnoAlarmId"]) for v in listed.values()} == {(world.mno.id, "V-1"),
                                                                         (world.mno2.id, "V-1")}
    counts = c.get("/FaultSupervisionMnS/v1/alarms/alarmCount", headers=world.dso.auth("viewer")).json()
    assert counts["majorCount"] == 2
    # The status reasons name the MNO of each event.
    items = {i["plmn"]: i for i in c.get(f"/api/v1/status/sites/{SITE}", headers=world.dso.auth("viewer")).json()}
    assert {e["mnoId"] for r in items[PLMN_A]["reasons"] for e in r["events"]} == {world.mno.id}
    assert {e["mnoId"] for r in items[PLMN_B]["reasons"] for e in r["events"]} == {world.mno2.id}
    # MNO 2 clearing its V-1 leaves MNO 1's V-1 active.
    r = c.post("/api/v1/ingest/notifications", headers=world.mno2.auth(),
               json=alarm("notifyClearedAlarm", "V-1", cell_dn(PLMN_B, 0), severity="CLEARED"))
    assert r.status_code == 200, r.text
    listed = c.get("/FaultSupervisionMnS/v1/alarms", params={"alarmAckState": "ALL_ACTIVE_ALARMS"},
                   headers=world.dso.auth("viewer")).json()
    assert set(listed) == {f"{world.mno.id}:V-1"}
    listed = c.get("/FaultSupervisionMnS/v1/alarms", headers=world.dso.auth("viewer")).json()
    assert {k: v["perceivedSeverity"] for k, v in listed.items()} == {f"{world.mno.id}:V-1": "MAJOR",
                                                                      f"{world.mno2.id}:V-1": "CLEARED"}
    items = {i["plmn"]: i["status"] for i in c.get(f"/api/v1/status/sites/{SITE}",
                                                   headers=world.dso.auth("viewer")).json()}
    assert items == {PLMN_A: "degraded", PLMN_B: "ok"}
