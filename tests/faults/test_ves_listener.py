"""The VES 7.2 event listener as an MNO's VES agents use it unchanged: events shaped like ONAP's and O-RAN SC's
samples (onap/dcaegen2-collectors-ves src/test/resources/ves7_valid.json, ves_stdnDefined_valid.json;
o-ran-sc/oam ves-test-collector templates fault.json, heartbeat.json; o-ran-sc/smo-ves tests events.txt),
HTTP basic or bearer auth, 202 on success, `requestError` on failure naming the field."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from tests.conftest import PLMN_A, World
from tests.schema_gate import VES_REQUEST_ERROR

EVENT = "/eventListener/v7"
BATCH = "/eventListener/v7/eventBatch"
_seq = itertools.count(1)
RAN_SITE = f"RAN-{PLMN_A}"  # the sourceName names the RAN site as the MNO's topology import does

REQUEST_ERROR = Draft202012Validator(VES_REQUEST_ERROR)  # the VES 7.2.1 listener specification's error body


def header(domain: str, *, event_id: str | None = None, source: str = RAN_SITE, **extra: Any) -> dict[str, Any]:
    seq = next(_seq)
    return {"domain": domain, "eventId": event_id or f"{domain}{seq:07d}", "eventName": f"{domain}_gNB_Alarms",
            "sequence": seq, "priority": "High", "reportingEntityName": "oam-vm-1", "sourceName": source,
            "startEpochMicrosec": 1_764_000_000_000_000, "lastEpochMicrosec": 1_764_000_000_000_000 + seq,
            "version": "4.1", "vesEventListenerVersion": "7.2.1", "timeZoneOffset": "+00:00", **extra}


def fault(condition: str, severity: str, *, event_id: str = "fault0000245", **fields: Any) -> dict[str, Any]:
    return {"commonEventHeader": header("fault", event_id=event_id),
            "faultFields": {"faultFieldsVersion": "4.0", "alarmCondition": condition, "eventSourceType": "gNB",
                            "specificProblem": "mains lost at site", "eventSeverity": severity, "vfStatus": "Active",
                            "alarmAdditionalInformation": {"equipType": "BBU"}, **fields}}


def _status(c: TestClient, world: World, site: str = "D1-S0") -> dict[str, str]:
    return {i["plmn"]: i["status"] for i in c.get(f"/api/v1/status/sites/{site}",
                                                  headers=world.dso.auth("viewer")).json()}


def _alarms(c: TestClient, world: World) -> dict[str, Any]:
    rows = c.get("/api/v1/alarms", params={"active": "false"}, headers=world.mno.auth("viewer")).json()
    return {a["id"]: a for a in rows}


def _accepted(r: httpx.Response) -> None:
    assert r.status_code == 202, r.text
    assert r.content == b""
    assert r.headers["X-LatestVersion"] == "7.2.1"


def _refused(r: httpx.Response, status: int, message_id: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    REQUEST_ERROR.validate(body)
    (detail,) = body["requestError"].values()
    assert detail["messageId"] == message_id, body
    return dict(detail)


def test_a_fault_event_raises_and_a_normal_one_clears_with_basic_auth(app_client: TestClient, world: World) -> None:
    c = app_client
    assert _status(c, world)[PLMN_A] == "ok"
    raised = fault("commercialPowerFailure", "CRITICAL")
    _accepted(c.post(EVENT, json={"event": raised}, auth=world.mno.basic()))
    alarm = _alarms(c, world)[f"{RAN_SITE}/commercialPowerFailure"]
    assert alarm["impact"] == "power" and alarm["cells"]  # a power cause, mapped to the RAN site's cells
    assert alarm["details"]["probableCause"] == "COMMERCIAL_POWER_FAILURE"
    assert alarm["details"]["received"] == raised  # the event as the agent sent it
    assert _status(c, world)[PLMN_A] == "at_risk"
    # The agent resends the same event (a retry): nothing changes; then the clear reuses the eventId.
    _accepted(c.post(EVENT, json={"event": raised}, auth=world.mno.basic()))
    _accepted(c.post(EVENT, json={"event": fault("commercialPowerFailure", "NORMAL")}, auth=world.mno.basic()))
    assert _alarms(c, world)[f"{RAN_SITE}/commercialPowerFailure"]["clearedAt"] is not None
    assert _status(c, world)[PLMN_A] == "ok"


def test_a_batch_mixes_domains_and_bearer_auth_works(app_client: TestClient, world: World) -> None:
    c = app_client
    beat = {"commonEventHeader": header("heartbeat"),
            "heartbeatFields": {"heartbeatFieldsVersion": "3.0", "heartbeatInterval": 20}}
    measurement = {"commonEventHeader": header("measurement"),
                   "measurementFields": {"measurementFieldsVersion": "4.0", "measurementInterval": 300,
                                         "additionalMeasurements": [{"name": "LP-1", "hashMap": {"es": "0"}}]}}
    down = fault("lossOfSignal", "MAJOR", event_id="fault0000246", alarmInterfaceA="eth0")
    _accepted(c.post(BATCH, json={"eventList": [beat, down, measurement]}, headers=world.mno.auth()))
    alarms = _alarms(c, world)
    assert set(alarms) == {f"{RAN_SITE}/lossOfSignal/eth0"}  # heartbeat and measurement make no condition
    assert alarms[f"{RAN_SITE}/lossOfSignal/eth0"]["details"]["perceivedSeverity"] == "MAJOR"
    assert _status(c, world)[PLMN_A] == "degraded"


def test_vendor_shaped_stnd_defined_events_are_normalised(app_client: TestClient, world: World) -> None:
    """As in ONAP's ves_stdnDefined_valid.json: `uri` for `href`, a string notificationId, "Major",
    "Environmental Alarm", additionalInformation as a list, an X.733 probable-cause code as a string."""
    data = {"uri": f"https://oss.example/ProvMnS/v1/SubNetwork=1/ManagedElement=gNB-{PLMN_A}",
            "notificationId": "4711", "notificationType": "notifyNewAlarm", "eventTime": "2026-12-04T10:00:00+01",
            "systemDN": "DC=mno.example", "alarmId": "ENV-7", "alarmType": "Environmental Alarm",
            "probableCause": "35", "perceivedSeverity": "Major", "trendIndication": "No change",
            "additionalInformation": [{"name": "siteTemp", "value": "41"}]}
    event = {"commonEventHeader": header("stndDefined", stndDefinedNamespace="3GPP-FaultSupervision"),
             "stndDefinedFields": {"schemaReference": "https://forge.3gpp.org/rep/sa5/MnS/blob/Rel-18/OpenAPI/"
                                                      "TS28532_FaultMnS.yaml#components/schemas/NotifyNewAlarm",
                                   "data": data, "stndDefinedFieldsVersion": "1.0"}}
    _accepted(app_client.post(BATCH, json={"eventList": [event]}, auth=world.mno.basic()))
    got = _alarms(app_client, world)["ENV-7"]
    assert got["details"]["alarmType"] == "ENVIRONMENTAL_ALARM"
    assert got["details"]["perceivedSeverity"] == "MAJOR"
    assert got["details"]["probableCause"] == "POWER_PROBLEM"  # X.733 code 35, powerProblem
    assert got["startsAt"].startswith("2026-12-04T09:00:00")
    assert got["details"]["received"] == event
    assert _status(app_client, world)[PLMN_A] == "at_risk"  # a power problem: on battery


@pytest.mark.parametrize(("body", "pointer"), [
    ({"eventList": []}, "/eventList"),
    ({"notEvent": {}}, "/event"),
    ({"event": {"faultFields": {}}}, "/event/commonEventHeader"),
    ({"event": {"commonEventHeader": header("fault")}}, "/event/faultFields"),
    ({"event": fault("", "MAJOR")}, "/event/faultFields/alarmCondition"),
    ({"event": fault("lossOfSignal", "LOUD")}, "/event/faultFields/eventSeverity"),
    ({"event": {**fault("lossOfSignal", "MAJOR"),
                "commonEventHeader": {**header("fault"), "lastEpochMicrosec": None, "startEpochMicrosec": None}}},
     "/event/commonEventHeader/lastEpochMicrosec"),
    ({"event": {"commonEventHeader": header("stndDefined"), "stndDefinedFields": {"data": {
        "notificationType": "notifyNewAlarm", "href": "x", "notificationId": 1, "eventTime": "yesterday",
        "systemDN": "x", "alarmId": "A", "alarmType": "EQUIPMENT_ALARM", "probableCause": 1,
        "perceivedSeverity": "MAJOR"}}}}, "/event/stndDefinedFields/data/eventTime"),
])
def test_an_event_that_cannot_be_understood_is_refused_naming_the_field(app_client: TestClient, world: World,
                                                                         body: dict[str, Any], pointer: str) -> None:
    before = _alarms(app_client, world)
    url = BATCH if "eventList" in body else EVENT
    detail = _refused(app_client.post(url, json=body, auth=world.mno.basic()), 400, "SVC0002")
    assert detail["variables"][0] == pointer, detail
    assert _alarms(app_client, world) == before


def test_credentials_are_checked_and_refusals_are_request_errors(app_client: TestClient, world: World) -> None:
    c = app_client
    event = {"event": fault("lossOfSignal", "MAJOR")}
    _refused(c.post(EVENT, json=event), 401, "POL2000")
    client_id, token = world.mno.basic()
    _refused(c.post(EVENT, json=event, auth=(world.mno2.basic()[0], token)), 401, "POL2000")  # not its client
    _refused(c.post(EVENT, json=event, auth=(client_id, "gc_wrong")), 401, "POL2000")
    _refused(c.post(EVENT, json=event, headers={"Authorization": "Basic !!!"}), 401, "POL2000")
    _refused(c.post(EVENT, json=event, auth=world.mno.basic("viewer")), 403, "POL2000")
    _refused(c.post(EVENT, json=event, auth=world.dso.basic()), 403, "POL2000")
    _refused(c.post(EVENT, content=b'{"event": ', auth=world.mno.basic(),
                    headers={"Content-Type": "application/json"}), 400, "SVC0002")
    assert _alarms(c, world) == {}


def _kinds() -> list[dict[str, Any]]:
    """One example of every TS 28.111 / 28.532 notification kind gridcell takes (tests/faults/
    test_notification_kinds.py checks each against the standard's schema and its effect through the sink)."""
    from tests.conftest import alarm, cell_dn

    ids = itertools.count(50_000)

    def header(kind: str) -> dict[str, Any]:
        return {"href": "https://oss.example/ProvMnS/v1/SubNetwork/1", "notificationId": next(ids),
                "notificationType": kind, "eventTime": "2026-12-04T10:00:00Z", "systemDN": "DC=mno.example"}

    common = {"alarmId": "K-1", "alarmType": "EQUIPMENT_ALARM", "probableCause": "EQUIPMENT_MALFUNCTION",
              "perceivedSeverity": "MAJOR"}
    dn = cell_dn(PLMN_A, 1)
    return [
        {**alarm("notifyNewAlarm", "K-1", dn, severity="MAJOR"), "notificationId": next(ids)},
        {**alarm("notifyChangedAlarm", "K-1", dn, severity="CRITICAL"), "notificationId": next(ids)},
        {**alarm("notifyChangedAlarmGeneral", "K-1", dn, severity="CRITICAL"), "notificationId": next(ids)},
        {**alarm("notifyNewSecAlarm", "K-SEC", dn), "notificationId": next(ids), "serviceUser": "u",
         "serviceProvider": "sshd", "securityAlarmDetector": "ids"},
        {**header("notifyAckStateChanged"), **common, "ackState": "ACKNOWLEDGED", "ackUserId": "noc"},
        {**header("notifyComments"), **common, "comments": {"1": {"commentText": "crew out"}}},
        {**header("notifyCorrelatedNotificationChanged"), "alarmId": "K-1",
         "correlatedNotifications": [{"sourceObjectInstance": dn, "notificationIds": [1]}]},
        {**header("notifyAlarmListRebuilt"), "reason": "restart"},
        {**header("notifyPotentialFaultyAlarmList"), "reason": "lost"},
        {**header("notifyHeartbeat"), "heartbeatNtfPeriod": 60},
        {**header("notifyMOICreation"), "attributeList": {"cellLocalId": 7}},
        {**header("notifyMOIChanges"), "moiChanges": [{"notificationId": 1, "path": "/x", "op": "add", "value": 1}]},
        {**header("notifyThresholdCrossing"), "href": f"https://oss.example/ProvMnS/v1/{dn.replace(',', '/')}",
         "observedPerfMetricName": "RRC.ConnEstabFailRate", "observedPerfMetricValue": 0.2,
         "observedPerfMetricDirection": "UP", "thresholdValue": 0.1},
        {**header("notifyMOIAttributeValueChanges"), "href": f"https://oss.example/ProvMnS/v1/{dn.replace(',', '/')}",
         "attributeListValueChanges": [{"operationalState": "ENABLED"}]},
        {**header("notifyMOIDeletion"), "href": "https://oss.example/ProvMnS/v1/SubNetwork/1/Nothing=1"},
        {**alarm("notifyClearedAlarm", "K-1", dn, severity="CLEARED"), "notificationId": next(ids)},
    ]


def test_every_notification_kind_is_taken_through_the_listener(app_client: TestClient, world: World) -> None:
    """Each kind wrapped as a stndDefined event in one batch: all recorded (a resend to the sink is a duplicate
    each), the alarm raised, changed and cleared in order, the security alarm listed."""
    kinds = _kinds()
    batch = {"eventList": [{"commonEventHeader": header("stndDefined", stndDefinedNamespace="3GPP-FaultSupervision"),
                            "stndDefinedFields": {"data": n, "stndDefinedFieldsVersion": "1.0"}} for n in kinds]}
    _accepted(app_client.post(BATCH, json=batch, auth=world.mno.basic()))
    again = app_client.post("/api/v1/ingest/notifications", json=kinds, headers=world.mno.auth())
    assert again.status_code == 200 and again.json()["duplicates"] == len(kinds), again.text
    alarms = _alarms(app_client, world)
    assert alarms["K-1"]["clearedAt"] is not None and alarms["K-1"]["details"]["ackState"] == "ACKNOWLEDGED"
    assert alarms["K-SEC"]["impact"] == "none"
    assert _status(app_client, world, "D1-S1")[PLMN_A] == "degraded"  # the threshold crossing, still up
