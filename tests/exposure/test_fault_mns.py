"""The TS 28.532 Fault Supervision MnS toward DSOs: alarm list and counts with the standard's query parameters,
the DSO's own acknowledgements and comments, subscriptions and the notifications they receive.

Every response body of /FaultSupervisionMnS is checked against TS28532_FaultMnS.yaml, every delivered notification
against its TS 28.111 schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator, FormatChecker

from gridcell.app import create_app
from gridcell.core.clock import utcnow
from gridcell.core.db import Database
from gridcell.core.security import verify
from gridcell.exposure import fault_mns_notify
from gridcell.exposure.jex import JexError, compile_condition
from gridcell.faults.service import CellsChanged
from tests.conftest import (
    PLMN_A,
    PLMN_B,
    Org,
    Receiver,
    World,
    alarm,
    build_world,
    cell_dn,
    fresh_database,
    make_settings,
    private_database,
)
from tests.outages.schema3gpp import BASE, registry, validator_for

FM = "/FaultSupervisionMnS/v1"
FAULT_MNS = "TS28532_FaultMnS.yaml"
RAN_DN = f"SubNetwork=1,ManagedElement=gNB-{PLMN_A}"
MANDATORY = ("objectInstance", "notificationId", "alarmRaisedTime", "alarmType", "probableCause", "perceivedSeverity")
LEAKS = (f"{PLMN_A}-C", f"{PLMN_B}-C", "RAN-", "SECRET", "NRCellDU", "ManagedElement")


def _path_validator(pointer: str) -> Draft202012Validator:
    """The schema of a response the standard writes inline under `paths` (the alarm list's map)."""
    return Draft202012Validator({"$ref": f"{BASE}{FAULT_MNS}#/paths/{pointer}"}, registry=registry(),
                                format_checker=FormatChecker())


def _response_validator(method: str, path: str, status: int) -> Draft202012Validator | None:
    """What TS 28.532 says the body of this answer is (None: no body)."""
    if status >= 400 and method == "PATCH" and path.endswith("/alarms"):
        return _path_validator("~1alarms/patch/responses/default/content/application~1json/schema")
    if status >= 400:
        return validator_for("TS28623_ComDefs.yaml", "ErrorResponse")
    if status == 204:
        return None
    if path.endswith("/alarms/alarmCount"):
        return validator_for(FAULT_MNS, "AlarmCount")
    if path.endswith("/alarms") and method == "GET":
        return _path_validator("~1alarms/get/responses/200/content/application~1json/schema")
    if path.endswith("/comments"):
        return validator_for(FAULT_MNS, "Comment")
    if "/subscriptions" in path:
        return validator_for(FAULT_MNS, "Subscription")
    raise AssertionError(f"no schema for {method} {path} {status}")


def _no_nulls(value: Any, where: str = "") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _no_nulls(v, f"{where}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_nulls(v, f"{where}/{i}")
    else:
        assert value is not None, f"null at {where}"


def call(client: TestClient, method: str, url: str, org: Org, role: str = "operator", *, expect: int,
         **kwargs: Any) -> httpx.Response:
    """One request to the Fault MnS; the answer's status is `expect` and its body is valid per the standard."""
    r = client.request(method, url, headers={**org.auth(role), **kwargs.pop("headers", {})}, **kwargs)
    assert r.status_code == expect, r.text
    validator = _response_validator(method, url.split("?")[0], r.status_code)
    if validator is None:
        assert r.content == b""
        return r
    body = r.json()
    if r.status_code >= 400 and isinstance(body, list):  # a multiple-alarm patch: FailedAlarm per alarm
        assert r.headers["content-type"].startswith("application/json") and body
        validator.validate(body)
        return r
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json")
        assert body["status"] == expect and body["cause"]
        if method == "PATCH" and url.split("?")[0].endswith("/alarms"):  # no alarm named: as every operation
            validator = validator_for("TS28623_ComDefs.yaml", "ErrorResponse")
    else:
        _no_nulls(body)
    items = body if isinstance(body, list) else [body]
    for item in items:
        validator.validate(item)
    if method == "GET" and url.split("?")[0].endswith("/alarms") and r.status_code == 200:
        for rec in body.values():  # mandatory in TS 28.532's AlarmRecord (the OpenAPI marks none required)
            assert set(MANDATORY) <= set(rec), rec
    return r


def alarms(client: TestClient, org: Org, **params: Any) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = call(client, "GET", f"{FM}/alarms", org, "viewer", expect=200,
                                             params=params).json()
    return result


def count(client: TestClient, org: Org, **params: Any) -> dict[str, int]:
    result: dict[str, int] = call(client, "GET", f"{FM}/alarms/alarmCount", org, "viewer", expect=200,
                                  params=params).json()
    return result


def bad(client: TestClient, method: str, url: str, org: Org, field: str, *, expect: int = 400,
        **kwargs: Any) -> None:
    """Refused with a 3GPP ProblemDetails naming `field`, or a multiple-alarm patch with TS 28.532's FailedAlarm list
    naming the alarm (`field`: its alarmId, or alarmId/member)."""
    r = call(client, method, url, org, expect=expect, **kwargs)
    if isinstance(r.json(), list):
        failed = r.json()
        params = [f["alarmId"] for f in failed] + [f"{f['alarmId']}/{f['failureReason'].split(': ')[0]}"
                                                   for f in failed]
        assert field in params, (field, failed)
        return
    params = [p["param"] for p in r.json().get("invalidParams", [])]
    assert any(p == field or p.endswith(f"/{field}") for p in params), (field, r.json())


def ingest(client: TestClient, mno: Org, *notifications: dict[str, Any]) -> None:
    r = client.post("/api/v1/ingest/notifications", json=list(notifications), headers=mno.auth())
    assert r.status_code == 200, r.text


def key(world: World, alarm_id: str, mno: Org | None = None) -> str:
    return f"{(mno or world.mno).id}:{alarm_id}"


def area_key(client: TestClient, org: Org, mno: Org, **params: Any) -> str:
    """The opaque key of an area-level DSO's only alarm of this MNO."""
    found = [k for k, v in alarms(client, org, **params).items() if v["mnoId"] == mno.id]
    assert len(found) == 1, found
    return found[0]


# ---- the alarm list ------------------------------------------------------------------------------------------


def test_alarm_list_is_the_standards_map_with_mandatory_attributes(app_client: TestClient, world: World) -> None:
    c = app_client
    ingest(c, world.mno, alarm("notifyNewAlarm", "L-1", cell_dn(PLMN_A, 0), additionalText="SECRET rectifier",
                               specificProblem="rectifier 2"),
           alarm("notifyNewAlarm", "L-2", RAN_DN, severity="MAJOR", cause="COMMERCIAL_POWER_FAILURE"))
    listed = alarms(c, world.dso)
    assert set(listed) == {key(world, "L-1"), key(world, "L-2")}  # the map is keyed by alarmId
    one = listed[key(world, "L-1")]
    assert {k: one[k] for k in ("objectInstance", "alarmType", "probableCause", "perceivedSeverity",
                                "specificProblem", "additionalText", "ackState", "mnoId", "mnoAlarmId",
                                "category", "affectedSites", "cells")} == {
        "objectInstance": cell_dn(PLMN_A, 0), "alarmType": "EQUIPMENT_ALARM",
        "probableCause": "EQUIPMENT_MALFUNCTION", "perceivedSeverity": "CRITICAL",
        "specificProblem": "rectifier 2", "additionalText": "SECRET rectifier", "ackState": "UNACKNOWLEDGED",
        "mnoId": world.mno.id, "mnoAlarmId": "L-1", "category": "network_outage", "affectedSites": ["D1-S0"],
        "cells": [f"{PLMN_A}-C0"]}
    assert isinstance(one["notificationId"], int) and one["alarmRaisedTime"].endswith("Z")
    assert "alarmClearedTime" not in one and "ackUserId" not in one and "comments" not in one
    ran = listed[key(world, "L-2")]
    assert ran["affectedSites"] == ["D1-S0", "D1-S1", "D1-S2"] and ran["category"] == "power_supply"
    assert ran["cells"] == [f"{PLMN_A}-C0", f"{PLMN_A}-C1", f"{PLMN_A}-C2"]

    # The other DSO's agreement with this MNO is area-level: same alarms, opaque keys, nothing of the network.
    other = alarms(c, world.dso2)
    assert len(other) == 2 and not set(other) & set(listed)
    assert all(k.startswith("a-") for k in other)
    assert not [m for m in LEAKS if m in json.dumps(other)], other
    by_category = {v["category"]: v for v in other.values()}
    assert by_category["network_outage"]["objectInstance"] == f"SubNetwork={world.dso2.id},DsoSite=D2-S0"
    assert (by_category["network_outage"]["alarmType"], by_category["network_outage"]["probableCause"]) == \
        ("COMMUNICATIONS_ALARM", "UNAVAILABLE")
    assert (by_category["power_supply"]["alarmType"], by_category["power_supply"]["probableCause"]) == \
        ("ENVIRONMENTAL_ALARM", "POWER_PROBLEM")
    assert set(by_category["network_outage"]) == {
        "objectInstance", "notificationId", "alarmRaisedTime", "alarmType", "probableCause", "perceivedSeverity",
        "ackState", "mnoId", "category", "affectedSites"}
    # An MNO has no DSO alarm list.
    call(c, "GET", f"{FM}/alarms", world.mno, "viewer", expect=403)
    call(c, "GET", f"{FM}/alarms/alarmCount", world.mno, "viewer", expect=403)


def test_cleared_alarm_is_cleared_and_counted_until_acknowledged(app_client: TestClient, world: World) -> None:
    c = app_client
    ingest(c, world.mno, alarm("notifyNewAlarm", "C-1", cell_dn(PLMN_A, 1), severity="MAJOR"),
           alarm("notifyNewAlarm", "C-2", cell_dn(PLMN_A, 2), severity="MINOR"))
    assert count(c, world.dso) == {"criticalCount": 0, "majorCount": 1, "minorCount": 1, "warningCount": 0,
                                   "indeterminateCount": 0, "clearedCount": 0}
    ingest(c, world.mno, alarm("notifyClearedAlarm", "C-1", cell_dn(PLMN_A, 1), severity="CLEARED"))
    cleared = alarms(c, world.dso)[key(world, "C-1")]
    assert cleared["perceivedSeverity"] == "CLEARED" and cleared["alarmClearedTime"]
    assert count(c, world.dso)["clearedCount"] == 1 and count(c, world.dso)["majorCount"] == 0
    assert count(c, world.dso, alarmAckState="ALL_ACTIVE_ALARMS")["clearedCount"] == 0
    assert set(alarms(c, world.dso, alarmAckState="ALL_ACTIVE_ALARMS")) == {key(world, "C-2")}
    assert set(alarms(c, world.dso, alarmAckState="ALL_CLEARED_AND_UNACKNOWLEDGED_ALARMS")) == {key(world, "C-1")}
    # The other DSO sees the clear too (area level: the severity is all it is told).
    assert count(c, world.dso2)["clearedCount"] == 1

    # Cleared and acknowledged: the alarm leaves the list (TS 28.532), for this DSO only.
    call(c, "PATCH", f"{FM}/alarms/{key(world, 'C-1')}", world.dso, expect=204,
         json={"ackState": "ACKNOWLEDGED", "ackUserId": "op-7"})
    assert set(alarms(c, world.dso)) == {key(world, "C-2")}
    assert count(c, world.dso)["clearedCount"] == 0
    assert alarms(c, world.dso, alarmAckState="ALL_CLEARED_AND_UNACKNOWLEDGED_ALARMS") == {}
    assert count(c, world.dso2)["clearedCount"] == 1

    # Raised again: a new occurrence, unacknowledged and listed again.
    ingest(c, world.mno, alarm("notifyNewAlarm", "C-1", cell_dn(PLMN_A, 1), severity="CRITICAL"))
    again = alarms(c, world.dso)[key(world, "C-1")]
    assert again["perceivedSeverity"] == "CRITICAL" and again["ackState"] == "UNACKNOWLEDGED"
    assert "alarmClearedTime" not in again and "ackUserId" not in again


def test_query_parameters(app_client: TestClient, world: World) -> None:
    c = app_client
    ingest(c, world.mno, alarm("notifyNewAlarm", "Q-1", cell_dn(PLMN_A, 0)),
           alarm("notifyNewAlarm", "Q-2", cell_dn(PLMN_A, 1), severity="MINOR", additionalText="fan 3 slow"),
           alarm("notifyNewAlarm", "Q-3", cell_dn(PLMN_A, 2), severity="WARNING", cause="HIGH_TEMPERATURE"))
    ingest(c, world.mno2, alarm("notifyNewAlarm", "Q-B", cell_dn(PLMN_B, 0), severity="MAJOR"))
    q1, q2, q3 = key(world, "Q-1"), key(world, "Q-2"), key(world, "Q-3")
    qb = area_key(c, world.dso, world.mno2)
    call(c, "PATCH", f"{FM}/alarms/{q2}", world.dso, expect=204, json={"ackState": "ACKNOWLEDGED", "ackUserId": "a"})

    by_state = {s: set(alarms(c, world.dso, alarmAckState=s)) for s in (
        "ALL_ALARMS", "ALL_ACTIVE_ALARMS", "ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS",
        "ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS", "ALL_CLEARED_AND_UNACKNOWLEDGED_ALARMS",
        "ALL_UNACKNOWLEDGED_ALARMS")}
    assert by_state == {"ALL_ALARMS": {q1, q2, q3, qb}, "ALL_ACTIVE_ALARMS": {q1, q2, q3, qb},
                        "ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS": {q2},
                        "ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS": {q1, q3, qb},
                        "ALL_CLEARED_AND_UNACKNOWLEDGED_ALARMS": set(), "ALL_UNACKNOWLEDGED_ALARMS": {q1, q3, qb}}
    assert set(alarms(c, world.dso)) == by_state["ALL_ALARMS"]  # absent: every alarm of the list

    # baseObjectInstance: at or below the MNO's DN (cell level), or the DSO's own sites (every level).
    assert set(alarms(c, world.dso, baseObjectInstance=RAN_DN)) == {q1, q2, q3}
    assert set(alarms(c, world.dso, baseObjectInstance=cell_dn(PLMN_A, 1))) == {q2}
    assert set(alarms(c, world.dso, baseObjectInstance=f"SubNetwork={world.dso.id},DsoSite=D1-S1")) == {q2, qb}
    assert set(alarms(c, world.dso, baseObjectInstance=f"SubNetwork={world.dso.id}")) == {q1, q2, q3, qb}
    assert alarms(c, world.dso, baseObjectInstance=cell_dn(PLMN_A, 1) + "1") == {}  # a prefix, not a parent
    # Area level: the MNO's DN space cannot be probed.
    assert alarms(c, world.dso2, baseObjectInstance="SubNetwork=1") == {}
    assert len(alarms(c, world.dso2, baseObjectInstance=f"SubNetwork={world.dso2.id}")) == 3

    # filter: Jex conditions on the record as the DSO sees it.
    assert set(alarms(c, world.dso, filter='perceivedSeverity="CRITICAL"')) == {q1}
    assert set(alarms(c, world.dso, filter='perceivedSeverity="MINOR" or perceivedSeverity="WARNING"')) == {q2, q3}
    assert set(alarms(c, world.dso, filter='not(mnoId="' + world.mno.id + '") and category="degradation"')) == {qb}
    assert set(alarms(c, world.dso, filter='contains(additionalText, "fan")')) == {q2}
    assert set(alarms(c, world.dso, filter='ackState="ACKNOWLEDGED" and ackUserId="a"')) == {q2}
    assert set(alarms(c, world.dso, filter="additionalText")) == {q2}  # present
    assert set(alarms(c, world.dso, filter='alarmRaisedTime>"2000-01-01" and notificationId>0')) == {q1, q2, q3, qb}
    assert alarms(c, world.dso, filter='cells="26201-C0"') == {}  # an array is not a scalar (TS 32.161 C.2)
    # Area-level records hold nothing to filter the MNO's text on.
    assert alarms(c, world.dso2, filter='contains(additionalText, "fan")') == {}
    # All three parameters at once, on the count too.
    both = {"alarmAckState": "ALL_UNACKNOWLEDGED_ALARMS", "baseObjectInstance": RAN_DN,
            "filter": 'perceivedSeverity!="CRITICAL"'}
    assert set(alarms(c, world.dso, **both)) == {q3}
    assert count(c, world.dso, **both) == {"criticalCount": 0, "majorCount": 0, "minorCount": 0,
                                           "warningCount": 1, "indeterminateCount": 0, "clearedCount": 0}
    assert count(c, world.dso, baseObjectInstance=f"SubNetwork={world.dso.id},DsoSite=D1-S1")["majorCount"] == 1


@pytest.mark.parametrize(("params", "field"), [
    ({"alarmAckState": "ALL"}, "alarmAckState"),
    ({"baseObjectInstance": "SubNetwork=1\x01"}, "baseObjectInstance"),
    ({"baseObjectInstance": " "}, "baseObjectInstance"),
    ({"filter": "/alarms/x=1"}, "filter"),
    ({"filter": "perceivedSeverity=\"CRITICAL"}, "filter"),
    ({"filter": "a[1]=2"}, "filter"),
    ({"filter": "*=1"}, "filter"),
    ({"filter": "starts-with(a, \"x\")"}, "filter"),
    ({"filter": "a=1 or"}, "filter"),
    ({"filter": "(a=1"}, "filter"),
    ({"filter": ""}, "filter"),
    ({"filter": "a=1 | b=2"}, "filter"),
])
def test_query_parameters_that_cannot_be_evaluated_are_refused(app_client: TestClient, world: World,
                                                               params: dict[str, str], field: str) -> None:
    for url in (f"{FM}/alarms", f"{FM}/alarms/alarmCount"):
        bad(app_client, "GET", url, world.dso, field, params=params)


def test_jex_conditions() -> None:
    doc = {"a": 1, "s": "x-y", "t": True, "n": None, "o": {"p": "q"}, "l": [1], "f": 2.5}
    for expr, expected in (('a=1', True), ('a="1"', True), ('a!=1', False), ('a<2 and f>=2.5', True),
                           ('s="x-y"', True), ('o/p="q"', True), ('o="q"', False), ('l=1', False),
                           ('missing=1', False), ('missing!=1', False), ('t=true', True), ('n=null', True),
                           ('n', False), ('o', True), ('not(a=1) or s=\'x-y\'', True), ('(a=2 or a=1) and t', True),
                           ('contains(s, "-")', True), ('contains(a, "1")', False), ('s<"y"', True),
                           ('true()', True), ('./a=1', True)):
        assert compile_condition(expr)(doc) is expected, expr
    for expr in ("", "/a", "a[1]", "a=", "=1", "a b", "foo(a)", "a=1)", "a|b", "@a=1", "a/*", "x" * 2001):
        with pytest.raises(JexError):
            compile_condition(expr)


# ---- acknowledgement and comments: the DSO's own -------------------------------------------------------------


def test_acknowledgement_is_the_dsos_own(app_client: TestClient, world: World) -> None:
    c = app_client
    ingest(c, world.mno, alarm("notifyNewAlarm", "K-1", cell_dn(PLMN_A, 0)),
           alarm("notifyNewAlarm", "K-2", cell_dn(PLMN_A, 1), severity="MAJOR"))
    k1, k2 = key(world, "K-1"), key(world, "K-2")
    call(c, "PATCH", f"{FM}/alarms/{k1}", world.dso, expect=204,
         json={"ackState": "ACKNOWLEDGED", "ackUserId": "op-1", "ackSystemId": "scada-1"},
         headers={"Content-Type": "application/merge-patch+json"})
    rec = alarms(c, world.dso)[k1]
    assert (rec["ackState"], rec["ackUserId"], rec["ackSystemId"]) == ("ACKNOWLEDGED", "op-1", "scada-1")
    assert rec["ackTime"].endswith("Z")
    # Not the MNO's: its own alarm view carries no acknowledgement ...
    own = {a["id"]: a for a in c.get("/api/v1/alarms", headers=world.mno.auth("viewer")).json()}
    assert "ackState" not in own["K-1"]["details"] and "op-1" not in json.dumps(own)
    # ... and not another DSO's: the same alarm is unacknowledged in its list.
    other = alarms(c, world.dso2)
    assert {v["ackState"] for v in other.values()} == {"UNACKNOWLEDGED"}
    assert "op-1" not in json.dumps(other)

    # The other DSO acknowledges under its own key; ours stays as it was.
    dso2_key = next(k for k, v in other.items() if v["category"] == "network_outage")
    call(c, "PATCH", f"{FM}/alarms/{dso2_key}", world.dso2, expect=204,
         json={"ackState": "ACKNOWLEDGED", "ackUserId": "other-op"})
    assert alarms(c, world.dso)[k1]["ackUserId"] == "op-1"
    assert alarms(c, world.dso)[k2]["ackState"] == "UNACKNOWLEDGED"

    # Unacknowledge, and the multiple-alarm patch.
    call(c, "PATCH", f"{FM}/alarms/{k1}", world.dso, expect=204,
         json={"ackState": "UNACKNOWLEDGED", "ackUserId": "op-2"})
    rec = alarms(c, world.dso)[k1]
    assert (rec["ackState"], rec["ackUserId"]) == ("UNACKNOWLEDGED", "op-2") and "ackSystemId" not in rec
    call(c, "PATCH", f"{FM}/alarms", world.dso, expect=204,
         json={k1: {"ackState": "ACKNOWLEDGED", "ackUserId": "op-3"},
               k2: {"ackState": "ACKNOWLEDGED", "ackUserId": "op-3"}})
    assert {v["ackState"] for v in alarms(c, world.dso).values()} == {"ACKNOWLEDGED"}

    # Audited as a cross-organisation action; the MNO learns who, not which state.
    audit = c.get("/api/v1/audit", headers=world.mno.auth("admin")).json()
    entries = [e for e in audit if e["action"] == "acknowledge alarms" and e["orgId"] == world.dso.id]
    assert len(entries) == 3 and "ACKNOWLEDGED" not in json.dumps(entries)


def test_bad_acknowledgements_change_nothing(app_client: TestClient, world: World) -> None:
    c = app_client
    ingest(c, world.mno, alarm("notifyNewAlarm", "B-1", cell_dn(PLMN_A, 0)))
    k1 = key(world, "B-1")
    before = alarms(c, world.dso)
    url = f"{FM}/alarms/{k1}"
    bad(c, "PATCH", url, world.dso, "ackUserId", json={"ackState": "ACKNOWLEDGED"})
    bad(c, "PATCH", url, world.dso, "ackUserId", json={"ackState": "ACKNOWLEDGED", "ackUserId": "  "})
    bad(c, "PATCH", url, world.dso, "ackState", json={"ackState": "acked", "ackUserId": "x"})
    bad(c, "PATCH", url, world.dso, "ackSystemId", json={"ackState": "ACKNOWLEDGED", "ackUserId": "x",
                                                          "ackSystemId": 5})
    bad(c, "PATCH", url, world.dso, "severity", json={"ackState": "ACKNOWLEDGED", "ackUserId": "x", "severity": 1})
    bad(c, "PATCH", url, world.dso, "", json=["ACKNOWLEDGED"])
    bad(c, "PATCH", url, world.dso, "", content=b"{", headers={"Content-Type": "application/json"})
    bad(c, "PATCH", url, world.dso, "Content-Type", expect=415, content=b"ackState=ACKNOWLEDGED",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    # Clearing is the MNO's.
    bad(c, "PATCH", url, world.dso, "perceivedSeverity", expect=403,
        json={"perceivedSeverity": "CLEARED", "clearUserId": "x"})
    # An unknown alarm, alone or beside a good one: nothing acknowledged (all or nothing).
    bad(c, "PATCH", f"{FM}/alarms/{world.mno.id}:NOPE", world.dso, f"{world.mno.id}:NOPE", expect=404,
        json={"ackState": "ACKNOWLEDGED", "ackUserId": "x"})
    bad(c, "PATCH", f"{FM}/alarms", world.dso, "nope", expect=404,
        json={k1: {"ackState": "ACKNOWLEDGED", "ackUserId": "x"}, "nope": {"ackState": "ACKNOWLEDGED",
                                                                            "ackUserId": "x"}})
    bad(c, "PATCH", f"{FM}/alarms", world.dso, f"{k1}/ackState", json={k1: {"ackUserId": "x"}})
    bad(c, "PATCH", f"{FM}/alarms", world.dso, f"{k1}/perceivedSeverity", expect=403,
        json={k1: {"perceivedSeverity": "CLEARED", "clearUserId": "x"}})
    bad(c, "PATCH", f"{FM}/alarms", world.dso, "", json={})
    # The other DSO cannot name our key; an MNO and a viewer may not acknowledge.
    bad(c, "PATCH", url, world.dso2, k1, expect=404, json={"ackState": "ACKNOWLEDGED", "ackUserId": "x"})
    call(c, "PATCH", url, world.mno, expect=403, json={"ackState": "ACKNOWLEDGED", "ackUserId": "x"})
    call(c, "PATCH", url, world.dso, "viewer", expect=403, json={"ackState": "ACKNOWLEDGED", "ackUserId": "x"})
    assert alarms(c, world.dso) == before


def test_comments_are_the_dsos_own(app_client: TestClient, world: World) -> None:
    c = app_client
    ingest(c, world.mno, alarm("notifyNewAlarm", "M-1", cell_dn(PLMN_A, 0)))
    k1 = key(world, "M-1")
    r = call(c, "POST", f"{FM}/alarms/{k1}/comments", world.dso, expect=201,
             json={"commentText": "crew on the way", "commentUserId": "op-1"})
    assert r.headers["Location"] == f"{FM}/alarms/{k1}/comments/1"
    assert r.json()["commentText"] == "crew on the way" and r.json()["commentTime"].endswith("Z")
    r = call(c, "POST", f"{FM}/alarms/{k1}/comments", world.dso, expect=201,
             json={"commentText": "feeder 4 isolated", "commentTime": "2026-11-26T10:00:00+01:00"})
    assert r.headers["Location"].endswith("/comments/2") and r.json()["commentTime"] == "2026-11-26T09:00:00Z"
    comments = alarms(c, world.dso)[k1]["comments"]
    assert [comments[i]["commentText"] for i in ("1", "2")] == ["crew on the way", "feeder 4 isolated"]
    validator_for(FAULT_MNS, "Comments").validate(comments)
    assert "crew" not in json.dumps(alarms(c, world.dso2))
    assert "crew" not in c.get("/api/v1/alarms", headers=world.mno.auth("viewer")).text

    url = f"{FM}/alarms/{k1}/comments"
    bad(c, "POST", url, world.dso, "commentText", json={"commentUserId": "op"})
    bad(c, "POST", url, world.dso, "commentText", json={"commentText": "x" * 2001})
    bad(c, "POST", url, world.dso, "commentTime", json={"commentText": "x", "commentTime": "yesterday"})
    bad(c, "POST", url, world.dso, "commentId", json={"commentText": "x", "commentId": "9"})
    bad(c, "POST", f"{FM}/alarms/nope/comments", world.dso, "nope", expect=404, json={"commentText": "x"})
    call(c, "POST", url, world.mno, expect=403, json={"commentText": "x"})
    assert len(alarms(c, world.dso)[k1]["comments"]) == 2


# ---- subscriptions and notifications -------------------------------------------------------------------------


def subscribe(client: TestClient, org: Org, body: dict[str, Any]) -> dict[str, Any]:
    r = call(client, "POST", f"{FM}/subscriptions", org, expect=201, json=body)
    out: dict[str, Any] = r.json()
    assert r.headers["Location"] == f"{FM}/subscriptions/{out['id']}"
    return out


def validate_notification(body: dict[str, Any]) -> None:
    validator_for("TS28111_FaultNrm.yaml", body["notificationType"][0].upper() + body["notificationType"][1:]
                  ).validate(body)
    _no_nulls(body)


def of_sub(receiver: Receiver, sub_id: str) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    return lambda got: [g["body"] for g in got if g["body"].get("subscriptionId") == sub_id]


@pytest.fixture
def engine_world(storage_url: str) -> Iterator[tuple[TestClient, World]]:
    """An app and a world on each store (SQLite, and PostgreSQL where reachable)."""
    with private_database(storage_url) as url:
        db = fresh_database(url)
        app = create_app(make_settings(db.url), db=db, migrate=False)
        with TestClient(app) as client:
            yield client, build_world(client, db)
        db.dispose()


def test_subscription_receives_new_changed_cleared_and_own_acks(engine_world: tuple[TestClient, World],
                                                                receiver: Receiver) -> None:
    c, world = engine_world
    sub = subscribe(c, world.dso, {"consumerReference": receiver.url, "timeTick": 15})
    assert sub["consumerReference"] == receiver.url and sub["timeTick"] == 15 and sub["secret"]
    assert call(c, "GET", f"{FM}/subscriptions/{sub['id']}", world.dso, "viewer", expect=200).json() == \
        {"consumerReference": receiver.url, "timeTick": 15, "id": sub["id"]}
    assert [s["id"] for s in call(c, "GET", f"{FM}/subscriptions", world.dso, "viewer", expect=200).json()] == \
        [sub["id"]]
    mine = of_sub(receiver, sub["id"])

    ingest(c, world.mno, alarm("notifyNewAlarm", "N-1", cell_dn(PLMN_A, 0), severity="MAJOR",
                               additionalText="SECRET board"))
    got = receiver.wait_for(lambda rs: len(mine(rs)) >= 1, timeout=30)
    new = mine(got)[0]
    validate_notification(new)
    k1 = key(world, "N-1")
    assert (new["notificationType"], new["alarmId"], new["perceivedSeverity"], new["sequenceNo"]) == \
        ("notifyNewAlarm", k1, "MAJOR", 1)
    assert new["objectInstance"] == cell_dn(PLMN_A, 0) and new["href"].endswith("/NRCellDU=0")
    assert new["notificationId"] == alarms(c, world.dso)[k1]["notificationId"]
    assert verify(sub["secret"], got[0]["raw"], got[0]["headers"]["X-Gridcell-Signature"])

    ingest(c, world.mno, alarm("notifyChangedAlarm", "N-1", cell_dn(PLMN_A, 0), severity="CRITICAL"))
    changed = mine(receiver.wait_for(lambda rs: len(mine(rs)) >= 2, timeout=30))[1]
    validate_notification(changed)
    assert changed["notificationType"] == "notifyChangedAlarmGeneral"
    assert changed["changedAlarmAttributes"] == {"perceivedSeverity": "CRITICAL"}

    call(c, "PATCH", f"{FM}/alarms/{k1}", world.dso, expect=204, json={"ackState": "ACKNOWLEDGED", "ackUserId": "o"})
    call(c, "POST", f"{FM}/alarms/{k1}/comments", world.dso, expect=201, json={"commentText": "on it"})
    ingest(c, world.mno, alarm("notifyClearedAlarm", "N-1", cell_dn(PLMN_A, 0), severity="CLEARED"))
    bodies = mine(receiver.wait_for(lambda rs: len(mine(rs)) >= 5, timeout=30))
    for b in bodies:
        validate_notification(b)
    assert [b["notificationType"] for b in bodies] == ["notifyNewAlarm", "notifyChangedAlarmGeneral",
                                                       "notifyAckStateChanged", "notifyComments",
                                                       "notifyClearedAlarm"]
    assert [b["sequenceNo"] for b in bodies] == [1, 2, 3, 4, 5]
    assert (bodies[2]["ackState"], bodies[2]["ackUserId"]) == ("ACKNOWLEDGED", "o")
    assert [v["commentText"] for v in bodies[3]["comments"].values()] == ["on it"]
    cleared = bodies[4]
    assert (cleared["alarmId"], cleared["perceivedSeverity"]) == (k1, "CLEARED")
    assert len({b["notificationId"] for b in bodies}) == 5
    # Cleared and acknowledged: gone from the list.
    assert k1 not in alarms(c, world.dso)

    # Unsubscribed: nothing more for it (a second subscription shows the next alarm did go out).
    call(c, "DELETE", f"{FM}/subscriptions/{sub['id']}", world.dso, expect=204)
    call(c, "GET", f"{FM}/subscriptions/{sub['id']}", world.dso, "viewer", expect=404)
    marker = subscribe(c, world.dso, {"consumerReference": receiver.url})
    ingest(c, world.mno, alarm("notifyNewAlarm", "N-2", cell_dn(PLMN_A, 1)))
    receiver.wait_for(lambda rs: len(of_sub(receiver, marker["id"])(rs)) >= 1, timeout=30)
    assert len(mine(receiver.received)) == 5


def test_notifications_follow_agreement_level_and_filter(app_client: TestClient, world: World,
                                                          receiver: Receiver) -> None:
    c = app_client
    area = subscribe(c, world.dso2, {"consumerReference": receiver.url})
    cleared_only = subscribe(c, world.dso, {"consumerReference": receiver.url,
                                            "filter": 'notificationType="notifyClearedAlarm"'})
    critical = subscribe(c, world.dso, {"consumerReference": receiver.url,
                                        "filter": 'perceivedSeverity="CRITICAL" and mnoId="' + world.mno.id + '"'})
    every = subscribe(c, world.dso, {"consumerReference": receiver.url})
    ingest(c, world.mno, alarm("notifyNewAlarm", "F-1", cell_dn(PLMN_A, 0), additionalText="SECRET"),
           alarm("notifyNewAlarm", "F-2", cell_dn(PLMN_A, 1), severity="MINOR", additionalText="SECRET"))
    ingest(c, world.mno2, alarm("notifyNewAlarm", "F-B", cell_dn(PLMN_B, 0), additionalText="SECRET"))
    ingest(c, world.mno, alarm("notifyClearedAlarm", "F-2", cell_dn(PLMN_A, 1), severity="CLEARED"))
    # A change only the cell level sees: the area-level DSO is told nothing.
    ingest(c, world.mno, alarm("notifyChangedAlarm", "F-1", cell_dn(PLMN_A, 0), additionalText="SECRET 2"))
    expected = {every["id"]: 5, area["id"]: 3, cleared_only["id"]: 1, critical["id"]: 2}
    got = receiver.wait_for(lambda rs: all(len(of_sub(receiver, sub_id)(rs)) >= n for sub_id, n in expected.items()),
                            timeout=30)
    for g in got:
        validate_notification(g["body"])

    def kinds(sub: dict[str, Any]) -> list[tuple[str, str]]:
        return [(b["notificationType"], b["alarmId"]) for b in of_sub(receiver, sub["id"])(got)]

    f1, f2 = key(world, "F-1"), key(world, "F-2")
    fb = area_key(c, world.dso, world.mno2)
    assert kinds(every) == [("notifyNewAlarm", f1), ("notifyNewAlarm", f2), ("notifyNewAlarm", fb),
                            ("notifyClearedAlarm", f2), ("notifyChangedAlarmGeneral", f1)]
    assert kinds(cleared_only) == [("notifyClearedAlarm", f2)]
    assert kinds(critical) == [("notifyNewAlarm", f1), ("notifyChangedAlarmGeneral", f1)]
    area_bodies = of_sub(receiver, area["id"])(got)
    assert [b["notificationType"] for b in area_bodies] == ["notifyNewAlarm", "notifyNewAlarm",
                                                           "notifyClearedAlarm"]
    assert {b["alarmId"] for b in area_bodies} == set(alarms(c, world.dso2, alarmAckState="ALL_ALARMS"))
    raw = [g["raw"].decode() for g in got if g["body"]["subscriptionId"] == area["id"]]
    raw += [json.dumps(b) for b in of_sub(receiver, every["id"])(got) if b["alarmId"] == fb]
    assert not [m for r in raw for m in LEAKS if m in r], raw
    assert area_bodies[0]["objectInstance"].startswith(f"SubNetwork={world.dso2.id},DsoSite=D2-")


def test_bad_subscriptions_are_refused_and_create_nothing(app_client: TestClient, world: World) -> None:
    c = app_client
    url = f"{FM}/subscriptions"
    bad(c, "POST", url, world.dso, "consumerReference", json={"consumerReference": "ftp://example.com/x"})
    bad(c, "POST", url, world.dso, "consumerReference", json={"consumerReference": "http://u:p@example.com/x"})
    bad(c, "POST", url, world.dso, "consumerReference", json={"timeTick": 1})
    bad(c, "POST", url, world.dso, "filter", json={"consumerReference": "http://127.0.0.1:9/h", "filter": "a[1]"})
    bad(c, "POST", url, world.dso, "timeTick", json={"consumerReference": "http://127.0.0.1:9/h", "timeTick": -1})
    bad(c, "POST", url, world.dso, "notificationTypes",
        json={"consumerReference": "http://127.0.0.1:9/h", "notificationTypes": ["notifyNewAlarm"]})
    call(c, "POST", url, world.mno, expect=403, json={"consumerReference": "http://127.0.0.1:9/h"})
    call(c, "POST", url, world.dso, "viewer", expect=403, json={"consumerReference": "http://127.0.0.1:9/h"})
    assert call(c, "GET", url, world.dso, "viewer", expect=200).json() == []
    sub = subscribe(c, world.dso, {"consumerReference": "http://127.0.0.1:9/h"})
    call(c, "GET", f"{url}/{sub['id']}", world.dso2, "viewer", expect=404)
    call(c, "DELETE", f"{url}/{sub['id']}", world.dso2, expect=404)
    call(c, "GET", f"{url}/{sub['id']}", world.dso, "viewer", expect=200)
    # Native site-status subscriptions and Fault MnS subscriptions are separate resources.
    assert c.get(f"/api/v1/subscriptions/{sub['id']}", headers=world.dso.auth()).status_code == 404


def test_private_consumer_reference_is_refused_unless_allowed(world_private: tuple[TestClient, World]) -> None:
    client, world = world_private
    bad(client, "POST", f"{FM}/subscriptions", world.dso, "consumerReference",
        json={"consumerReference": "http://127.0.0.1:9/hook"})
    assert call(client, "GET", f"{FM}/subscriptions", world.dso, "viewer", expect=200).json() == []


@pytest.fixture
def world_private(db: Database) -> Iterator[tuple[TestClient, World]]:
    app = create_app(make_settings(db.url, allow_private_webhooks=False), db=db, migrate=False)
    with TestClient(app) as client:
        yield client, build_world(client, db)


def test_ingest_without_fault_mns_subscription_costs_one_query(app_client: TestClient, world: World, db: Database,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """No subscription: one statement per ingest unit of work, no alarm looked up, nothing kept."""
    ingest(app_client, world.mno, alarm("notifyNewAlarm", "H-1", cell_dn(PLMN_A, 0)))

    def no_lookup(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("alarms looked up without a Fault MnS subscription")

    monkeypatch.setattr(fault_mns_notify.faults, "list_conditions", no_lookup)
    statements: list[str] = []
    with db.write() as session:
        driver = session.connection().connection.driver_connection
        driver.set_trace_callback(statements.append)  # this unit of work's connection only
        try:
            fault_mns_notify.on_cells_changed(session, CellsChanged(world.mno.id, frozenset({1, 2, 3}), utcnow()))
        finally:
            driver.set_trace_callback(None)
        assert session.execute(fault_mns_notify.select(fault_mns_notify._PUB)).all() == []
    assert len(statements) == 1 and "FROM subscriptions" in statements[0], statements
    # A subscription of a DSO that sees none of the changed cells: still no alarm looked up, nothing kept.
    monkeypatch.undo()  # the subscription records what dso2 sees
    subscribe(app_client, world.dso2, {"consumerReference": "http://127.0.0.1:9/h"})
    monkeypatch.setattr(fault_mns_notify.faults, "list_conditions", no_lookup)
    ingest(app_client, world.mno2, alarm("notifyNewAlarm", "H-2", cell_dn(PLMN_B, 0)))
    with db.read() as session:
        kept = session.execute(fault_mns_notify.select(fault_mns_notify._PUB)).all()
    assert [(r.mno_id, r.alarm_key) for r in kept] == [(world.mno.id, "H-1")]  # what dso2 saw when it subscribed


def test_alarms_open_before_the_subscription_are_followed(app_client: TestClient, world: World,
                                                          receiver: Receiver) -> None:
    """A first subscription records what its DSO sees: an alarm raised before it changes and clears as such, one
    cleared while nobody subscribed is not announced again, one cleared and raised again in a batch is both."""
    c = app_client
    ingest(c, world.mno, alarm("notifyNewAlarm", "P-1", cell_dn(PLMN_A, 0), severity="MAJOR"),
           alarm("notifyNewAlarm", "P-2", cell_dn(PLMN_A, 0), severity="MINOR"))
    first = subscribe(c, world.dso, {"consumerReference": receiver.url})
    call(c, "DELETE", f"{FM}/subscriptions/{first['id']}", world.dso, expect=204)
    ingest(c, world.mno, alarm("notifyClearedAlarm", "P-2", cell_dn(PLMN_A, 0), severity="CLEARED"))
    sub = subscribe(c, world.dso, {"consumerReference": receiver.url})
    mine = of_sub(receiver, sub["id"])
    ingest(c, world.mno, alarm("notifyChangedAlarm", "P-1", cell_dn(PLMN_A, 0), severity="CRITICAL"))
    ingest(c, world.mno, alarm("notifyClearedAlarm", "P-1", cell_dn(PLMN_A, 0), severity="CLEARED"),
           alarm("notifyNewAlarm", "P-3", cell_dn(PLMN_A, 0)))
    ingest(c, world.mno, alarm("notifyClearedAlarm", "P-3", cell_dn(PLMN_A, 0), severity="CLEARED"),
           alarm("notifyNewAlarm", "P-3", cell_dn(PLMN_A, 0), severity="MINOR"))
    bodies = mine(receiver.wait_for(lambda rs: len(mine(rs)) >= 5, timeout=30))
    for b in bodies:
        validate_notification(b)
    p1, p3 = key(world, "P-1"), key(world, "P-3")
    assert [(b["notificationType"], b["alarmId"], b["perceivedSeverity"]) for b in bodies] == [
        ("notifyChangedAlarmGeneral", p1, "CRITICAL"), ("notifyClearedAlarm", p1, "CLEARED"),
        ("notifyNewAlarm", p3, "CRITICAL"), ("notifyClearedAlarm", p3, "CLEARED"), ("notifyNewAlarm", p3, "MINOR")]
    assert bodies[-1]["notificationId"] == alarms(c, world.dso)[p3]["notificationId"]
    # Nothing else came in between (deliveries are in order per subscription): the next one is the next alarm.
    ingest(c, world.mno, alarm("notifyNewAlarm", "P-4", cell_dn(PLMN_A, 1)))
    assert mine(receiver.wait_for(lambda rs: len(mine(rs)) >= 6, timeout=30))[5]["alarmId"] == key(world, "P-4")
