"""Bad input is refused with a 4xx in the path's error format, and changes nothing."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridcell.core.db import Database
from gridcell.faults.schemas import NOTIFICATION_TYPES
from tests.conftest import PLMN_A, World, alarm, cell_dn, make_settings

INGEST = "/api/v1/ingest/notifications"
ONE_MIB = 1024 * 1024


def assert_3gpp_problem(r: Any, status: int = 400, *, invalid_params: bool = True) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["status"] == status and body["title"] and body["cause"], body
    if invalid_params:
        assert body.get("invalidParams"), body
        assert all({"param", "reason"} <= set(p) for p in body["invalidParams"]), body
    return dict(body)


def assert_provmns_error(r: Any, status: int = 400) -> dict[str, Any]:
    """TS 28.532 ProvMnS: TS 28.623's error body, `status` a string, what was wrong named in it."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert body["status"] == str(status) and body["type"] and body["error"]["errorInfo"], body
    assert "cause" not in body, body
    return dict(body)


def assert_problem(r: Any, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["status"] == status and body["title"] and "detail" in body, body
    assert "cause" not in body, body
    return dict(body)


def snapshot(client: TestClient, world: World) -> Any:
    """Everything the MNO has sent, active or not, mapped or not."""
    r = client.get("/api/v1/alarms", params={"active": "false", "limit": 1000}, headers=world.mno.auth("viewer"))
    assert r.status_code == 200, r.text
    return r.json()


def site_status(client: TestClient, world: World) -> Any:
    return client.get("/api/v1/status", headers=world.dso.auth("viewer")).json()


def _valid(i: int) -> dict[str, Any]:
    return alarm("notifyNewAlarm", f"B-{i}", cell_dn(PLMN_A, i % 3))


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def _with(**changes: Any) -> dict[str, Any]:
    return {**_valid(0), **changes}


BAD_INGEST_BODIES: dict[str, Any] = {
    "unknown alarmType": _with(alarmType="FIRE_ALARM"),
    "unknown perceivedSeverity": _with(perceivedSeverity="APOCALYPTIC"),
    "unknown notificationType": _with(notificationType="notifyAlarmParty"),
    "missing notificationType": _without(_valid(0), "notificationType"),
    "missing alarmId": _without(_valid(0), "alarmId"),
    "missing eventTime": _without(_valid(0), "eventTime"),
    "missing href": _without(_valid(0), "href"),
    "missing notificationId": _without(_valid(0), "notificationId"),
    "notificationId list": _with(notificationId=[1]),
    "notificationId float": _with(notificationId=1.5),
    "eventTime not a time": _with(eventTime="yesterday"),
    "eventTime without zone": _with(eventTime="2026-01-01T00:00:00"),
    "perceivedSeverity number": _with(perceivedSeverity=3),
    "additionalText object": _with(additionalText={"a": 1}),
    "empty alarmId": _with(alarmId=""),
    "empty list": [],
    "string": "hello",
    "number": 42,
    "null": None,
    "list of strings": ["a", "b"],
    "maintenance without window": {"notificationType": "notifyPlannedMaintenance", "notificationId": 9,
                                   "eventTime": "2026-01-01T00:00:00Z", "maintenanceId": "M-1"},
    "maintenance unknown field": {"notificationType": "notifyPlannedMaintenance", "notificationId": 9,
                                  "eventTime": "2026-01-01T00:00:00Z", "maintenanceId": "M-1",
                                  "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z", "bogus": 1},
    "VES event without valid data": {"event": {"commonEventHeader": {"domain": "stndDefined", "eventId": "e1"},
                                               "stndDefinedFields": {"data": {"notificationType": "nope"}}}},
    "VES fault without faultFields": {"event": {"commonEventHeader": {"domain": "fault", "eventId": "e1"},
                                   "stndDefinedFields": {"data": _valid(0)}}},
}


@pytest.mark.parametrize("name", sorted(BAD_INGEST_BODIES))
def test_invalid_notification_is_refused_in_3gpp_format(app_client: TestClient, world: World, name: str) -> None:
    before, status_before = snapshot(app_client, world), site_status(app_client, world)
    r = app_client.post(INGEST, json=BAD_INGEST_BODIES[name], headers=world.mno.auth())
    body = assert_3gpp_problem(r, 400)
    assert body["instance"] == INGEST
    assert snapshot(app_client, world) == before
    assert site_status(app_client, world) == status_before


@pytest.mark.parametrize("raw", [b'{"notificationType": "notifyNewAlarm",', b"not json", b"[1, 2", b"\xff\xfe",
                                 b""])
def test_malformed_json_is_refused_in_3gpp_format(app_client: TestClient, world: World, raw: bytes) -> None:
    before = snapshot(app_client, world)
    r = app_client.post(INGEST, content=raw, headers={**world.mno.auth(), "Content-Type": "application/json"})
    assert_3gpp_problem(r, 400, invalid_params=bool(raw))
    assert r.json()["cause"] == "INVALID_MSG_FORMAT"
    assert snapshot(app_client, world) == before


@pytest.mark.parametrize("bad", ["schema", "semantic"])
def test_batch_with_one_bad_item_stores_none(app_client: TestClient, world: World, bad: str) -> None:
    batch = [_valid(i) for i in range(5)]
    if bad == "schema":
        batch[2]["perceivedSeverity"] = "NOT_A_SEVERITY"
    else:  # valid JSON for the schema, refused by the service: the whole transaction rolls back
        batch[2] = {"notificationType": "notifyPlannedMaintenance", "notificationId": "mw-1",
                    "eventTime": "2026-01-01T00:00:00Z", "maintenanceId": "M-1", "cells": [f"{PLMN_A}-C0"],
                    "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}
    before, status_before = snapshot(app_client, world), site_status(app_client, world)
    r = app_client.post(INGEST, json=batch, headers=world.mno.auth())
    body = assert_3gpp_problem(r, 400)
    if bad == "schema":
        assert any(p["param"].startswith("list[") or "2" in p["param"] for p in body["invalidParams"]), body
    assert snapshot(app_client, world) == before == []
    assert site_status(app_client, world) == status_before
    # The notification ids of the refused request were not remembered: resending the good ones applies them.
    good = [b for i, b in enumerate(batch) if i != 2]
    r = app_client.post(INGEST, json=good, headers=world.mno.auth())
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["duplicates"]) == (4, 0)
    assert sorted(a["id"] for a in snapshot(app_client, world)) == ["B-0", "B-1", "B-3", "B-4"]


def _chunks(total: int) -> Iterator[bytes]:
    yield b"["
    sent = 1
    while sent < total:
        yield b" " * 65536
        sent += 65536
    yield b"]"


def test_body_over_limit_is_413_with_and_without_content_length(app_client: TestClient, world: World) -> None:
    before = snapshot(app_client, world)
    big_item = _with(additionalText="x" * 3000)
    big = [dict(big_item, notificationId=i, alarmId=f"BIG-{i}") for i in range(ONE_MIB // 3000 + 10)]
    r = app_client.post(INGEST, json=big, headers=world.mno.auth())
    body = assert_3gpp_problem(r, 413, invalid_params=False)
    assert body["cause"] == "PAYLOAD_TOO_LARGE"
    # Chunked: no Content-Length, so the limit trips while the body is read.
    r = app_client.post(INGEST, content=_chunks(ONE_MIB + 10), headers={**world.mno.auth(),
                                                                        "Content-Type": "application/json"})
    body = assert_3gpp_problem(r, 413, invalid_params=False)
    assert body["cause"] == "PAYLOAD_TOO_LARGE"
    assert snapshot(app_client, world) == before

    sites_before = app_client.get("/api/v1/sites", headers=world.dso.auth()).json()
    for kwargs in ({"content": b" " * (ONE_MIB + 1)}, {"content": _chunks(ONE_MIB + 10)}):
        r = app_client.post("/api/v1/topology/import", headers={**world.dso.auth(), "Content-Type": "application/json"},
                            **kwargs)
        assert_problem(r, 413)
    assert app_client.get("/api/v1/sites", headers=world.dso.auth()).json() == sites_before
    # Just under the limit is not refused for its size.
    r = app_client.post(INGEST, content=b" " * (ONE_MIB - 100) + b"{}",
                        headers={**world.mno.auth(), "Content-Type": "application/json"})
    assert r.status_code == 400, r.text


# --- native paths ------------------------------------------------------------------------------------------

AREA = {"type": "Polygon", "coordinates": [[[7.79, 47.99], [7.84, 47.99], [7.84, 48.01], [7.79, 48.01],
                                            [7.79, 47.99]]]}
BAD_SUBSCRIPTIONS: dict[str, Any] = {
    "ftp callback": {"callbackUri": "ftp://example.com/hook"},
    "relative callback": {"callbackUri": "/hook"},
    "callback without host": {"callbackUri": "http:///hook"},
    "callback not a string": {"callbackUri": 5},
    "unknown minStatus": {"minStatus": "apocalypse"},
    "point area": {"area": {"type": "Point", "coordinates": [7.8, 48.0]}},
    "line area": {"area": {"type": "LineString", "coordinates": [[7.8, 48.0], [7.9, 48.1]]}},
    "garbage area": {"area": {"type": "Polygon", "coordinates": "x"}},
    "area without type": {"area": {"coordinates": []}},
    "area not an object": {"area": "Freiburg"},
    "degenerate polygon": {"area": {"type": "Polygon", "coordinates": [[[7.8, 48.0], [7.8, 48.0]]]}},
    "unknown field": {"siteIds": ["D1-S0"], "colour": "blue"},
    "siteIds not a list": {"siteIds": "D1-S0"},
    "unknown event kind": {"eventKinds": ["siteExploded"]},
    "body is a list": [],
}


def _subs(client: TestClient, world: World) -> Any:
    return client.get("/api/v1/subscriptions", headers=world.dso.auth("viewer")).json()


@pytest.mark.parametrize("name", sorted(BAD_SUBSCRIPTIONS))
def test_invalid_subscription_is_refused(app_client: TestClient, world: World, name: str) -> None:
    before = _subs(app_client, world)
    r = app_client.post("/api/v1/subscriptions", json=BAD_SUBSCRIPTIONS[name], headers=world.dso.auth())
    assert_problem(r, 400)
    assert _subs(app_client, world) == before


def test_private_webhook_targets_are_refused_unless_allowed(db: Database, world: World) -> None:
    from gridcell.app import create_app

    app = create_app(make_settings(db.url, allow_private_webhooks=False), db=db, migrate=False)
    with TestClient(app) as client:
        before = _subs(client, world)
        for uri in ("http://127.0.0.1:8080/hook", "https://10.1.2.3/hook", "http://192.168.0.1/",
                    "http://[::1]/hook", "http://169.254.169.254/latest/meta-data", "http://localhost/hook",
                    "http://0.0.0.0/", "http://[fd00::1]/hook"):
            r = client.post("/api/v1/subscriptions", json={"callbackUri": uri}, headers=world.dso.auth())
            body = assert_problem(r, 400)
            assert "callbackUri" in str(body), body
        assert _subs(client, world) == before
        # A public address is accepted (an IP literal: no DNS needed).
        r = client.post("/api/v1/subscriptions", json={"callbackUri": "https://93.184.215.14/hook"},
                        headers=world.dso.auth())
        assert r.status_code == 201, r.text


@pytest.mark.parametrize(("method", "url", "body"), [
    ("POST", "/api/v1/status/area", {"area": {"type": "Point", "coordinates": [7.8, 48.0]}}),
    ("POST", "/api/v1/status/area", {}),
    ("POST", "/api/v1/status/area", {"area": AREA, "minStatus": "terrible"}),
    ("POST", "/api/v1/status/area", {"area": AREA, "extra": 1}),
    ("POST", "/api/v1/status/area", {"area": AREA, "plmn": "26201"}),
    ("GET", "/api/v1/status?minStatus=terrible", None),
    ("GET", "/api/v1/status?site=", None),
    ("GET", "/api/v1/status?site=D1-S0&site=a/b", None),
    ("GET", "/api/v1/status?site=a%1Fb", None),
    ("GET", "/api/v1/status?plmn=2620", None),
    ("GET", "/api/v1/status?plmn=ABCDE", None),
    ("GET", "/api/v1/telemetry/availability?site=", None),
    ("GET", "/api/v1/telemetry/availability?site=" + "x" * 101, None),
    ("POST", "/api/v1/clients", {"role": "superuser"}),
    ("POST", "/api/v1/clients", {}),
    ("POST", "/api/v1/clients", {"role": "viewer", "name": ["x"]}),
    ("POST", "/api/v1/topology/import", {"sites": [{"id": "X"}]}),
    ("POST", "/api/v1/topology/import", {"sites": "nope"}),
    ("POST", "/api/v1/topology/import", {"sites": [{"id": "X", "name": "x", "kind": "recloser", "lat": "north",
                                                    "lon": 7.8}]}),
    ("POST", "/api/v1/topology/import", {"sites": [{"id": "X", "name": "x", "kind": "recloser", "lat": 95,
                                                    "lon": 7.8}]}),
    ("GET", "/api/v1/sites?limit=0", None),
    ("GET", "/api/v1/sites?limit=abc", None),
    ("GET", "/api/v1/sites?offset=-1", None),
    ("GET", "/api/v1/subscriptions/x/deliveries?after=-1", None),
])
def test_invalid_native_requests_are_problem_json(app_client: TestClient, world: World, method: str, url: str,
                                                 body: Any) -> None:
    sites_before = app_client.get("/api/v1/sites", headers=world.dso.auth()).json()
    clients_before = app_client.get("/api/v1/audit", headers=world.dso.auth("admin")).status_code
    r = app_client.request(method, url, json=body, headers=world.dso.auth("admin"))
    assert_problem(r, 400)
    assert app_client.get("/api/v1/sites", headers=world.dso.auth()).json() == sites_before
    assert clients_before == 200


@pytest.mark.parametrize("url", ["/api/v1/subscriptions", "/api/v1/status/area", "/api/v1/topology/import",
                                 "/api/v1/clients"])
def test_malformed_json_on_native_paths(app_client: TestClient, world: World, url: str) -> None:
    sites_before = app_client.get("/api/v1/sites", headers=world.dso.auth()).json()
    r = app_client.post(url, content=b'{"area": ', headers={**world.dso.auth("admin"),
                                                              "Content-Type": "application/json"})
    assert_problem(r, 400)
    assert _subs(app_client, world) == []
    assert app_client.get("/api/v1/sites", headers=world.dso.auth()).json() == sites_before


@pytest.mark.parametrize(("url", "allow"), [("/api/v1/status", "GET"), (INGEST, "POST"),
                                            ("/FaultSupervisionMnS/v1/alarms", "GET, PATCH"),
                                            ("/api/v1/subscriptions", "GET, POST"),
                                            ("/api/v1/subscriptions/sub_x", "GET, DELETE")])
def test_wrong_method_is_405_with_allow(app_client: TestClient, world: World, url: str, allow: str) -> None:
    r = app_client.put(url, json={}, headers=world.dso.auth("admin"))
    assert r.status_code == 405, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers.get("allow") == allow, r.headers  # every method of the resource, not one route's
    assert ("cause" in r.json()) == url.startswith(("/api/v1/ingest", "/FaultSupervisionMnS"))


# --- property: arbitrary JSON never breaks ingest ----------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=6),
    max_leaves=25,
)
FIELDS = ("href", "notificationId", "notificationType", "eventTime", "systemDN", "alarmId", "alarmType",
          "probableCause", "perceivedSeverity", "additionalText", "specificProblem", "sequenceNo",
          "objectInstance", "additionalInformation", "start", "end", "cells", "maintenanceId",
          "attributeListValueChanges", "observedPerfMetricValue", "rootCauseIndicator")


@st.composite
def mutated_notification(draw: st.DrawFn) -> Any:
    """A valid alarm with some fields replaced by arbitrary JSON, removed, or retyped."""
    body = copy.deepcopy(_valid(draw(st.integers(0, 2))))
    body["notificationType"] = draw(st.sampled_from(NOTIFICATION_TYPES))
    body["notificationId"] = draw(st.integers(0, 2**70) | st.text(max_size=90))
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from(FIELDS))
        if draw(st.booleans()):
            body.pop(key, None)
        else:
            body[key] = draw(JSON)
    return body


BODIES = (JSON | mutated_notification() | st.lists(mutated_notification(), min_size=1, max_size=4)
          | st.builds(lambda d: {"event": {"commonEventHeader": {"domain": "stndDefined", "eventId": "e"},
                                           "stndDefinedFields": {"data": d}}}, mutated_notification() | JSON))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(body=BODIES)
def test_fuzzed_ingest_never_5xx_and_refusals_change_nothing(app_client: TestClient, world: World,
                                                              body: Any) -> None:
    before = snapshot(app_client, world)
    r = app_client.post(INGEST, json=body, headers=world.mno.auth())
    assert r.status_code < 500, r.text
    if r.status_code != 200:
        assert 400 <= r.status_code < 500
        assert_3gpp_problem(r, r.status_code, invalid_params=False)
        assert snapshot(app_client, world) == before


# ---- values no peer means: nesting, times and numbers out of range, NUL bytes ----------------------------------

DEEP = b"[" * 50_000 + b"]" * 50_000
DEEP_OBJ = b'{"a":' * 50_000 + b"1" + b"}" * 50_000


@pytest.mark.parametrize(("method", "url", "family"), [
    ("PUT", "/ProvMnS/v1900/SubNetwork={dso}/OutageAndRecoveryInfo=DEEP", "provmns"),
    ("PUT", "/ProvMnS/v1900/SubNetwork={dso}/NtfSubscriptionControl=DEEP", "provmns"),
    ("POST", "/ProvMnS/v1900/subscriptions", "provmns"),
    ("POST", INGEST, "3gpp"),
    ("POST", "/tmf-api/troubleTicket/v4/troubleTicket", "tmf"),
    ("POST", "/tmf-api/serviceProblemManagement/v4/serviceProblem", "tmf"),
    ("POST", "/api/v1/subscriptions", "native"),
])
def test_json_nested_too_deep_is_a_400_in_the_route_format(app_client: TestClient, world: World, method: str,
                                                           url: str, family: str) -> None:
    who = world.mno if url == INGEST else world.dso
    for body in (DEEP, DEEP_OBJ):
        r = app_client.request(method, url.format(dso=world.dso.id), content=body,
                               headers={**who.auth(), "Content-Type": "application/json"})
        assert r.status_code == 400, (url, r.status_code, r.text[:300])
        if family == "tmf":
            assert r.json()["@type"] == "Error" and r.json()["code"] == "400"
        elif family == "provmns":
            assert_provmns_error(r, 400)
        else:
            assert r.headers["content-type"].startswith("application/problem+json")
            assert ("cause" in r.json()) == (family == "3gpp")


@pytest.mark.parametrize(("field", "value"), [
    ("eventTime", "9999-12-31T23:59:59Z"), ("eventTime", "0001-01-01T00:00:00+14:00"),
    ("eventTime", "1900-01-01T00:00:00Z"), ("probableCause", 2**64), ("probableCause", -(2**64)),
    ("notificationId", 2**70), ("sequenceNo", 2**64)])
def test_values_out_of_range_are_refused_naming_the_field(app_client: TestClient, world: World, field: str,
                                                          value: Any) -> None:
    before = snapshot(app_client, world)
    body = alarm("notifyNewAlarm", "RANGE-1", cell_dn(PLMN_A, 0), cause="COMMERCIAL_POWER_FAILURE",
                 severity="MAJOR")
    body[field] = value
    r = app_client.post(INGEST, json=body, headers=world.mno.auth())
    problem = assert_3gpp_problem(r, 400)
    assert any(field in p["param"] for p in problem["invalidParams"]), problem
    assert snapshot(app_client, world) == before


@pytest.mark.parametrize("raw", [b'{"observedPerfMetricValue": NaN}', b'{"thresholdValue": Infinity}'])
def test_nan_and_infinity_are_refused(app_client: TestClient, world: World, raw: bytes) -> None:
    body = {"href": "https://oss.example/x", "notificationId": 77, "notificationType": "notifyThresholdCrossing",
            "eventTime": "2026-12-01T10:00:00Z", "systemDN": "DC=x", "objectInstance": cell_dn(PLMN_A, 0),
            "observedPerfMetricName": "rtt", "observedPerfMetricValue": 1.0, "observedPerfMetricDirection": "UP",
            "thresholdValue": 1.0}
    import json as _json

    text = _json.dumps(body).encode()
    key = raw.split(b'"')[1]
    value = raw.rsplit(b":", 1)[1].rstrip(b"}").strip()
    text = text.replace(b'"' + key + b'": 1.0', b'"' + key + b'": ' + value)
    r = app_client.post(INGEST, content=text, headers={**world.mno.auth(), "Content-Type": "application/json"})
    assert_3gpp_problem(r, 400, invalid_params=False)
    for url in (f"/ProvMnS/v1900/SubNetwork={world.dso.id}/DsoThresholdMonitor=NAN",):
        r = app_client.put(url, content=b'{"attributes": {"thresholdInfoList": [{"performanceMetrics": ["x"], '
                                        b'"thresholdDirection": "UP", "thresholdValue": NaN}]}}',
                           headers={**world.dso.auth(), "Content-Type": "application/json"})
        assert_provmns_error(r, 400)


@pytest.fixture
def any_store_client(storage_url: str) -> Iterator[tuple[TestClient, Database]]:
    from gridcell.app import create_app
    from tests.conftest import fresh_database, private_database

    with private_database(storage_url) as url:
        database = fresh_database(url)
        app = create_app(make_settings(database.url), db=database, migrate=False)
        with TestClient(app) as client:
            yield client, database
        database.dispose()


def test_nul_bytes_are_refused_on_every_store(any_store_client: tuple[TestClient, Database]) -> None:
    """PostgreSQL text cannot hold NUL: wherever one gets through to the store it is a 400, nothing written."""
    from tests.conftest import build_world

    c, database = any_store_client
    world = build_world(c, database)
    r = c.post(INGEST, json=alarm("notifyNewAlarm", "NUL\x00ID", cell_dn(PLMN_A, 0)), headers=world.mno.auth())
    assert 400 <= r.status_code < 500, r.text
    r = c.post(INGEST, json=alarm("notifyNewAlarm", "OK-1", cell_dn(PLMN_A, 0), additionalText="a\x00b",
                                  notificationId="n\x00id"), headers=world.mno.auth())
    assert 400 <= r.status_code < 500, r.text
    assert snapshot(c, world) == []
    r = c.post("/tmf-api/troubleTicket/v4/troubleTicket", headers=world.dso.auth(), json={
        "description": "unreachable\x00", "severity": "Major", "ticketType": "incident",
        "relatedParty": [{"id": world.mno.id, "role": "addressee", "@referredType": "Organization"}]})
    assert r.status_code == 400 and r.json()["@type"] == "Error", r.text
    assert c.get("/tmf-api/troubleTicket/v4/troubleTicket", headers=world.dso.auth("viewer")).json() == []
    for url in ("/api/v1/sites/D1-S0%00", "/api/v1/status/sites/x%00y",
                "/tmf-api/troubleTicket/v4/troubleTicket/a%00b"):
        r = c.get(url, headers=world.dso.auth("viewer"))
        assert r.status_code in (400, 404), (url, r.status_code, r.text)
