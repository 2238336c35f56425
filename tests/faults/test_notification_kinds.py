"""Every Fault MnS notification kind, the TS 28.532 heartbeat and ProvMnS MOI creation/changes are accepted
(each example validated against the standard's own schema first): the ones gridcell acts on change what they
should, the others are recorded and counted as ignored, never refused. A VES batch with a heartbeat in it is
not refused either."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import PLMN_A, World, alarm, cell_dn
from tests.outages.schema3gpp import validator_for

INGEST = "/api/v1/ingest/notifications"
_ids = itertools.count(10_000)
SITE = "D1-S0"


def _header(kind: str) -> dict[str, Any]:
    return {"href": "https://oss.example/ProvMnS/v1/SubNetwork/1", "notificationId": next(_ids),
            "notificationType": kind, "eventTime": datetime.now(UTC).isoformat(), "systemDN": "DC=mno.example"}


def _post(c: TestClient, world: World, body: Any) -> dict[str, Any]:
    r = c.post(INGEST, json=body, headers=world.mno.auth())
    assert r.status_code == 200, r.text
    return dict(r.json())


def _alarms(c: TestClient, world: World) -> dict[str, Any]:
    rows = c.get("/api/v1/alarms", params={"active": "false"}, headers=world.mno.auth("viewer")).json()
    return {a["id"]: a for a in rows}


def _status(c: TestClient, world: World) -> dict[str, str]:
    return {i["plmn"]: i["status"] for i in c.get(f"/api/v1/status/sites/{SITE}",
                                                  headers=world.dso.auth("viewer")).json()}


def test_security_alarms_are_listed_and_take_no_cell_down(app_client: TestClient, world: World) -> None:
    body = {**alarm("notifyNewSecAlarm", "SEC-1", cell_dn(PLMN_A, 0), severity="CRITICAL",
                    cause="UNAUTHORIZED_ACCESS_ATTEMPT"),
            "alarmType": "SECURITY_SERVICE_OR_MECHANISM_VIOLATION", "serviceUser": "unknown",
            "serviceProvider": "sshd", "securityAlarmDetector": "ids-7"}
    # The harvested YAML defines NotifyNewSecAlarm but leaves notifyNewSecAlarm out of every NotificationType
    # enum: the body is checked against its own part of the schema, the header against the header's members.
    validator_for("TS28532_FaultMnS.yaml", "NotifyNewSecAlarm/allOf/1").validate(body)
    assert {"href", "notificationId", "eventTime", "systemDN"} <= set(body)
    assert _post(app_client, world, body)["accepted"] == 1
    assert "SEC-1" in _alarms(app_client, world)
    assert _status(app_client, world)[PLMN_A] == "ok"


def test_ack_comments_and_correlation_are_recorded_on_the_alarm(app_client: TestClient, world: World) -> None:
    c = app_client
    assert _post(c, world, alarm("notifyNewAlarm", "A-1", cell_dn(PLMN_A, 0)))["accepted"] == 1
    common = {"alarmId": "A-1", "alarmType": "EQUIPMENT_ALARM", "probableCause": "EQUIPMENT_MALFUNCTION",
              "perceivedSeverity": "CRITICAL"}
    ack = {**_header("notifyAckStateChanged"), **common, "ackState": "ACKNOWLEDGED", "ackUserId": "noc-42"}
    comments = {**_header("notifyComments"), **common,
                "comments": {"1": {"commentTime": datetime.now(UTC).isoformat(), "commentUserId": "noc-42",
                                   "commentSystemId": "oss", "commentText": "crew dispatched"}}}
    correlated = {**_header("notifyCorrelatedNotificationChanged"), "alarmId": "A-1", "rootCauseIndicator": True,
                  "correlatedNotifications": [{"sourceObjectInstance": "SubNetwork=1,ManagedElement=gNB-26201",
                                               "notificationIds": [7]}]}
    for name, body in (("NotifyAckStateChanged", ack), ("NotifyComments", comments),
                       ("NotifyCorrelatedNotificationChanged", correlated)):
        validator_for("TS28532_FaultMnS.yaml", name).validate(body)
        assert _post(c, world, body)["accepted"] == 1, name
    details = _alarms(c, world)["A-1"]["details"]
    assert (details["ackState"], details["ackUserId"]) == ("ACKNOWLEDGED", "noc-42")
    assert details["comments"][0]["comments"]["1"]["commentText"] == "crew dispatched"
    assert details["rootCauseIndicator"] is True and details["correlatedNotifications"][0]["notificationIds"] == [7]
    assert _status(c, world)[PLMN_A] == "down"  # still the alarm's doing, nothing more
    # About an alarm gridcell never received: recorded, counted as ignored.
    assert _post(c, world, {**ack, **_header("notifyAckStateChanged"), "alarmId": "NOPE"})["ignored"] == 1


def test_kinds_without_a_use_here_are_recorded_as_ignored(app_client: TestClient, world: World) -> None:
    c = app_client
    before = (_alarms(c, world), _status(c, world))
    bodies = [
        ("TS28532_FaultMnS.yaml", "NotifyAlarmListRebuilt",
         {**_header("notifyAlarmListRebuilt"), "reason": "restart",
          "alarmListAlignmentRequirement": "ALIGNMENT_REQUIRED"}),
        ("TS28532_FaultMnS.yaml", "NotifyPotentialFaultyAlarmList",
         {**_header("notifyPotentialFaultyAlarmList"), "reason": "lost notifications"}),
        ("TS28532_HeartbeatNtf.yaml", "NotifyHeartbeat", {**_header("notifyHeartbeat"), "heartbeatNtfPeriod": 60}),
        ("TS28532_ProvMnS.yaml", "NotifyMoiCreation",
         {**_header("notifyMOICreation"), "sourceIndicator": "MANAGEMENT_OPERATION",
          "attributeList": {"cellLocalId": 7}}),
        ("TS28532_ProvMnS.yaml", "NotifyMoiChanges",
         {**_header("notifyMOIChanges"), "moiChanges": [{"notificationId": 1, "path": "/x", "op": "add",
                                                          "value": {"a": 1}}]}),
    ]
    for spec, name, body in bodies:
        validator_for(spec, name).validate(body)
        got = _post(c, world, body)
        assert (got["accepted"], got["ignored"]) == (0, 1), (name, got)
        assert _post(c, world, body)["duplicates"] == 1, name  # recorded: a resend is a duplicate
    assert (_alarms(c, world), _status(c, world)) == before


def test_a_ves_batch_with_a_heartbeat_in_it_is_taken(app_client: TestClient, world: World) -> None:
    raised = alarm("notifyNewAlarm", "VES-1", cell_dn(PLMN_A, 1))
    batch = {"eventList": [
        {"commonEventHeader": {"domain": "heartbeat", "eventId": "hb-1", "sourceName": "gNB-26201",
                               "lastEpochMicrosec": 1_700_000_000_000_000}, "heartbeatFields": {
            "heartbeatFieldsVersion": "3.0", "heartbeatInterval": 60}},
        {"commonEventHeader": {"domain": "stndDefined", "eventId": "fm-1",
                               "stndDefinedNamespace": "3GPP-FaultSupervision"},
         "stndDefinedFields": {"data": raised, "stndDefinedFieldsVersion": "1.0"}},
        {"commonEventHeader": {"domain": "measurement", "eventId": "pm-1"}, "measurementFields": {}}]}
    got = _post(app_client, world, batch)
    assert (got["accepted"], got["ignored"]) == (1, 2), got
    assert _post(app_client, world, batch)["duplicates"] == 3
    assert "VES-1" in _alarms(app_client, world)
