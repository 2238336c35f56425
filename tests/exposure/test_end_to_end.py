"""MNO alarm in → DSO webhook / SSE out, and back to ok on the clear."""

from __future__ import annotations

import json
import threading
from typing import Any

from fastapi.testclient import TestClient

from gridcell.core.security import verify
from tests.conftest import PLMN_A, PLMN_B, Receiver, World, alarm, cell_dn


def _subscribe(client: TestClient, world: World, **body: Any) -> dict[str, Any]:
    r = client.post("/api/v1/subscriptions", json=body, headers=world.dso.auth())
    assert r.status_code == 201, r.text
    return r.json()


def test_alarm_reaches_webhook_with_reason_and_clear_returns_ok(app_client: TestClient, world: World,
                                                                receiver: Receiver) -> None:
    sub = _subscribe(app_client, world, callbackUri=receiver.url)
    r = app_client.post("/api/v1/ingest/notifications", headers=world.mno.auth(),
                        json=alarm("notifyNewAlarm", "A-1", cell_dn(PLMN_A, 1)))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1

    got = receiver.wait_for(lambda rs: len(rs) >= 1)
    first = got[0]["body"]
    # Cell 1 serves only site D1-S1 on PLMN A; a CRITICAL alarm takes the only serving cell out.
    assert (first["site"]["id"], first["plmn"], first["status"], first["previousStatus"]) == \
        ("D1-S1", PLMN_A, "down", "ok")
    assert first["reasons"][0]["category"] == "network_outage"
    assert first["reasons"][0]["cells"] == [f"{PLMN_A}-C1"]  # cell-level agreement
    assert first["reasons"][0]["events"][0]["id"] == "A-1"
    assert verify(sub["secret"], got[0]["raw"], got[0]["headers"]["X-Gridcell-Signature"])
    assert got[0]["headers"]["X-Gridcell-Notification-Id"] == first["notificationId"]

    status = app_client.get("/api/v1/status/sites/D1-S1", headers=world.dso.auth("viewer")).json()
    assert {s["plmn"]: s["status"] for s in status} == {PLMN_A: "down", PLMN_B: "ok"}

    r = app_client.post("/api/v1/ingest/notifications", headers=world.mno.auth(),
                        json=alarm("notifyClearedAlarm", "A-1", cell_dn(PLMN_A, 1), severity="CLEARED"))
    assert r.status_code == 200, r.text
    got = receiver.wait_for(lambda rs: len(rs) >= 2)
    second = got[1]["body"]
    assert (second["site"]["id"], second["status"], second["previousStatus"]) == ("D1-S1", "ok", "down")
    assert second["sequenceNo"] == first["sequenceNo"] + 1
    assert second["notificationId"] != first["notificationId"]
    # The other DSO is served by the same cell but subscribed to nothing: no stray deliveries.
    assert len(receiver.received) == 2


def test_ran_site_alarm_is_one_reason_not_a_storm(app_client: TestClient, world: World,
                                                  receiver: Receiver) -> None:
    _subscribe(app_client, world, callbackUri=receiver.url, plmns=[PLMN_A])
    # Three per-cell alarms on one RAN site: each affected site gets one notification.
    batch = [alarm("notifyNewAlarm", f"A-{i}", cell_dn(PLMN_A, i)) for i in range(3)]
    batch.append(alarm("notifyChangedAlarm", "A-0", cell_dn(PLMN_A, 0), severity="CRITICAL",
                       additionalText="still down"))
    assert app_client.post("/api/v1/ingest/notifications", headers=world.mno.auth(), json=batch).status_code == 200
    got = receiver.wait_for(lambda rs: len(rs) >= 3)
    sites = sorted(r["body"]["site"]["id"] for r in got)
    assert sites == ["D1-S0", "D1-S1", "D1-S2"]
    for r in got:
        assert len(r["body"]["reasons"]) == 1
        assert r["body"]["reasons"][0]["ranSiteId"] == f"RAN-{PLMN_A}"


def test_power_alarm_puts_sites_at_risk_with_time_to_dark(app_client: TestClient, world: World) -> None:
    at = "2026-11-26T10:00:00+00:00"
    body = alarm("notifyNewAlarm", "P-1", f"SubNetwork=1,ManagedElement=gNB-{PLMN_B}",
                 cause="COMMERCIAL_POWER_FAILURE", severity="MAJOR")
    body["eventTime"] = at
    assert app_client.post("/api/v1/ingest/notifications", headers=world.mno2.auth(), json=body).status_code == 200
    items = app_client.get("/api/v1/status", params={"plmn": PLMN_B}, headers=world.dso.auth()).json()["items"]
    assert {i["status"] for i in items} == {"at_risk"}
    # Battery 9600 Wh × DoD 0.8 / 2400 W = 3.2 h after the mains failed.
    reason = items[0]["reasons"][0]
    assert reason["category"] == "power_supply"
    assert reason["timeToDark"] == "2026-11-26T13:12:00Z"
    # mno2's agreement is area-level: no RAN site, cell or alarm detail leaks.
    assert set(reason) == {"category", "since", "expectedEnd", "timeToDark"}


def test_sse_stream_carries_the_same_notifications(app_client: TestClient, world: World) -> None:
    sub = _subscribe(app_client, world, siteIds=["D1-S2"])
    events: list[dict[str, Any]] = []
    done = threading.Event()

    def consume() -> None:
        with app_client.stream("GET", f"/api/v1/subscriptions/{sub['id']}/events",
                               headers={**world.dso.auth("viewer"), "Last-Event-ID": "0"}) as resp:
            assert resp.status_code == 200
            current: dict[str, str] = {}
            for line in resp.iter_lines():
                if line.startswith(("id:", "event:", "data:")):
                    k, _, v = line.partition(":")
                    current[k] = v.strip()
                elif line == "" and "data" in current:
                    events.append({"id": int(current["id"]), **json.loads(current["data"])})
                    current = {}
                    if len(events) >= 2:
                        done.set()
                        return

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    for kind, sev in (("notifyNewAlarm", "CRITICAL"), ("notifyClearedAlarm", "CLEARED")):
        r = app_client.post("/api/v1/ingest/notifications", headers=world.mno.auth(),
                            json=alarm(kind, "S-2", cell_dn(PLMN_A, 2), severity=sev))
        assert r.status_code == 200
    assert done.wait(10), f"SSE got {events}"
    assert [(e["id"], e["site"]["id"], e["status"]) for e in events] == [(1, "D1-S2", "down"), (2, "D1-S2", "ok")]


def test_duplicate_notification_is_acknowledged_but_not_applied_twice(app_client: TestClient, world: World,
                                                                      receiver: Receiver) -> None:
    _subscribe(app_client, world, callbackUri=receiver.url, siteIds=["D1-S0"])
    body = alarm("notifyNewAlarm", "D-0", cell_dn(PLMN_A, 0))
    first = app_client.post("/api/v1/ingest/notifications", headers=world.mno.auth(), json=body).json()
    again = app_client.post("/api/v1/ingest/notifications", headers=world.mno.auth(), json=body).json()
    assert (first["accepted"], first["duplicates"]) == (1, 0)
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    receiver.wait_for(lambda rs: len(rs) >= 1)
    seqs = [r["body"]["sequenceNo"] for r in receiver.received]
    assert seqs == [1]


def test_unknown_cell_alarm_is_stored_as_unmapped(app_client: TestClient, world: World) -> None:
    body = alarm("notifyNewAlarm", "U-1", "SubNetwork=1,ManagedElement=unknown,NRCellDU=9")
    r = app_client.post("/api/v1/ingest/notifications", headers=world.mno.auth(), json=body)
    assert r.json()["unmapped"] == 1
    listed = app_client.get("/api/v1/alarms", params={"unmapped": True}, headers=world.mno.auth("viewer")).json()
    assert [a["id"] for a in listed] == ["U-1"]
    assert listed[0]["cells"] is None
