"""Lenient in, exact errors: what vendor OSSs and VES agents really send is taken and normalised (the original
kept beside the record); what cannot be understood is refused with the JSON Pointer of the field and what is
accepted there."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from gridcell.faults import causes, lenient, parse
from gridcell.faults import schemas as s
from tests.conftest import PLMN_A, World, alarm, cell_dn
from tests.outages.schema3gpp import validator_for

INGEST = "/api/v1/ingest/notifications"

# Each quirk as seen in vendor and ONAP sample events, and the standard value it stands for.
QUIRKS: dict[str, tuple[dict[str, Any], str, Any]] = {
    "notificationId as a numeric string": ({"notificationId": "90210"}, "notificationId", 90210),
    "X.733 probable cause code as a string": ({"probableCause": "29"}, "probableCause", "LOSS_OF_SIGNAL"),
    "X.733 probable cause code as a number": ({"probableCause": 35}, "probableCause", "POWER_PROBLEM"),
    "probable cause in camelCase": ({"probableCause": "commercialPowerFailure"}, "probableCause",
                                    "COMMERCIAL_POWER_FAILURE"),
    "perceivedSeverity in mixed case": ({"perceivedSeverity": "Major"}, "perceivedSeverity", "MAJOR"),
    "alarmType as X.733 prose": ({"alarmType": "Environmental Alarm"}, "alarmType", "ENVIRONMENTAL_ALARM"),
    "alarmType in camelCase": ({"alarmType": "qualityOfServiceAlarm"}, "alarmType", "QUALITY_OF_SERVICE_ALARM"),
    "additionalInformation as name/value pairs": ({"additionalInformation": [{"name": "temp", "value": "41"}]},
                                                  "additionalInformation", {"temp": "41"}),
    "additionalInformation as a list of objects": ({"additionalInformation": [{"a": 1}, {"b": 2}]},
                                                   "additionalInformation", {"a": 1, "b": 2}),
    "href as a number (ONAP's batch sample)": ({"href": 1}, "href", "1"),
    "notificationType capitalised": ({"notificationType": "NotifyNewAlarm"}, "notificationType", "notifyNewAlarm"),
    "hour-only offset": ({"eventTime": "2026-12-04T10:00:00+01"}, "eventTime", "2026-12-04T09:00:00+00:00"),
    "basic ISO 8601 format": ({"eventTime": "20261204T100000Z"}, "eventTime", "2026-12-04T10:00:00+00:00"),
}


def _base(alarm_id: str) -> dict[str, Any]:
    return alarm("notifyNewAlarm", alarm_id, cell_dn(PLMN_A, 0), severity="MINOR")


@pytest.mark.parametrize("name", sorted(QUIRKS))
def test_each_vendor_quirk_is_normalised(name: str) -> None:
    change, field, expected = QUIRKS[name]
    sent = {**_base("Q-1"), **change}
    (n,) = parse.notifications(sent)
    value = getattr(n, field)
    value = value.isoformat() if field == "eventTime" else getattr(value, "value", value)
    assert value == expected
    assert n.received == sent  # kept as sent, beside the normalised record


def test_times_pydantic_reads_need_no_rewriting() -> None:
    for text in ("2026-12-04T10:00:00.123456789Z", "2026-12-04 10:00:00+0100", "2026-12-04T10:00:00,5Z"):
        (n,) = parse.notifications({**_base("Q-5"), "eventTime": text})
        assert n.eventTime.year == 2026 and n.eventTime.utcoffset() is not None
        assert n.received is None, text


def test_uri_stands_for_href_and_standard_input_keeps_no_copy() -> None:
    sent = _base("Q-2")
    sent["uri"] = sent.pop("href")
    (n,) = parse.notifications(sent)
    assert n.href == sent["uri"] and n.received == sent
    (clean,) = parse.notifications(_base("Q-3"))
    assert clean.received is None  # nothing changed, nothing kept twice


def test_a_vendor_alarm_reaches_status_and_keeps_its_original(app_client: TestClient, world: World) -> None:
    sent = {**_base("V-1"), "perceivedSeverity": "Critical", "alarmType": "Equipment Alarm",
            "probableCause": "15", "notificationId": "77"}
    sent["uri"] = sent.pop("href")
    r = app_client.post(INGEST, json=sent, headers=world.mno.auth())
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [{"notificationId": "77", "outcome": "accepted"}]
    row = next(a for a in app_client.get("/api/v1/alarms", headers=world.mno.auth("viewer")).json()
               if a["id"] == "V-1")
    assert row["details"]["probableCause"] == "EQUIPMENT_MALFUNCTION"  # X.733 code 15
    assert row["details"]["received"] == sent
    status = app_client.get("/api/v1/status/sites/D1-S0", headers=world.dso.auth("viewer")).json()
    assert {i["plmn"]: i["status"] for i in status}[PLMN_A] == "down"


def test_the_normalised_form_is_what_the_standard_defines() -> None:
    sent = {**_base("Q-4"), **{k: v for change, _, _ in QUIRKS.values() for k, v in change.items()
                                if k not in ("eventTime", "notificationType")}}
    normalised = lenient.notification(sent)
    normalised["additionalInformation"] = {"temp": "41"}
    validator_for("TS28532_FaultMnS.yaml", "NotifyNewAlarm/allOf/1").validate(normalised)


@given(st.sampled_from([*s.AlarmType]), st.sampled_from(["upper", "lower", "title", "spaced", "camel"]))
def test_any_spelling_of_an_alarm_type_is_taken(kind: s.AlarmType, style: str) -> None:
    words = kind.value.lower().split("_")
    spelled = {"upper": kind.value, "lower": kind.value.lower(), "title": " ".join(w.title() for w in words),
               "spaced": " ".join(words), "camel": words[0] + "".join(w.title() for w in words[1:])}[style]
    assert lenient.notification({"alarmType": spelled})["alarmType"] == kind.value


@given(st.sampled_from(sorted(causes.ANNEX_B)))
def test_camel_case_of_every_annex_b_cause_comes_back_to_it(name: str) -> None:
    words = name.lower().split("_")
    camel = words[0] + "".join(w.title() for w in words[1:])
    assert causes.normalise(camel) == name
    assert causes.normalise(name) == name


@given(st.text(min_size=1, max_size=40).filter(lambda t: causes.standard_name(t) is None and not t.strip().isdigit()))
def test_a_vendor_cause_is_kept_as_sent(text: str) -> None:
    assert causes.normalise(text) == text


def test_x733_codes_map_to_the_annex_b_names_where_both_exist() -> None:
    mapped = {code: causes.normalise(code) for code in causes.X733_CODES}
    assert mapped[29] == "LOSS_OF_SIGNAL" and mapped[35] == "POWER_PROBLEM" and mapped[18] == "FIRE"
    assert all(v in causes.ANNEX_B for v in mapped.values() if isinstance(v, str))
    assert causes.normalise(999) == 999  # a vendor's own integer


BROKEN: dict[str, tuple[Any, str, str]] = {
    "unknown severity": ({"perceivedSeverity": "APOCALYPTIC"}, "/perceivedSeverity", "'MAJOR'"),
    "severity as a number": ({"perceivedSeverity": 3}, "/perceivedSeverity", "'CRITICAL'"),
    "unknown alarm type": ({"alarmType": "FIRE_ALARM"}, "/alarmType", "'ENVIRONMENTAL_ALARM'"),
    "time without a zone": ({"eventTime": "2026-12-04T10:00:00"}, "/eventTime", "timezone"),
    "time that is no time": ({"eventTime": "yesterday"}, "/eventTime", "datetime"),
    "missing alarmId": ({"alarmId": None}, "/alarmId", "required"),
    "unknown notification type": ({"notificationType": "notifyAlarmParty"}, "/notificationType", "notifyNewAlarm"),
    "notificationId as a list": ({"notificationId": [1]}, "/notificationId", "integer"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_what_cannot_be_understood_is_refused_naming_the_field(app_client: TestClient, world: World,
                                                                 name: str) -> None:
    change, pointer, accepted = BROKEN[name]
    bad = {k: v for k, v in {**_base("B-1"), **change}.items() if v is not None}
    batch = [_base("B-0"), bad]
    before = app_client.get("/api/v1/alarms", headers=world.mno.auth("viewer")).json()
    r = app_client.post(INGEST, json=batch, headers=world.mno.auth())
    assert r.status_code == 400, r.text
    (problem,) = r.json()["invalidParams"]
    assert problem["param"] == "/1" + pointer, problem
    assert re.search(re.escape(accepted), problem["reason"], re.IGNORECASE), problem
    assert app_client.get("/api/v1/alarms", headers=world.mno.auth("viewer")).json() == before
