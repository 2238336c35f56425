"""TS 28.104 MDA failure predictions: a prediction for a cell puts its sites at risk with the predicted time and a
reason of its own, moves the failover advisor before the failure, and ends when withdrawn or past its end; other
MDA outputs are recorded as ignored; a report that cannot be understood is refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gridcell.failover import advisor
from tests.conftest import PLMN_A, PLMN_B, World, cell_dn
from tests.outages.schema3gpp import validator_for

MDA = "/api/v1/ingest/mdaReports"
SITE = "D1-S0"  # served by cell 0 of PLMN A


def prediction(issue: str, dn: str, *, at: datetime, until: datetime | None = None,
               severity: str = "MAJOR") -> dict[str, Any]:
    output: dict[str, Any] = {"failurePredictionObject": [dn], "potentialFailureType": "RF_UNIT_FAILURE",
                              "potentialFailureCause": "power amplifier temperature trend", "eventTime": at.isoformat(),
                              "issueID": issue, "issueDomain": "RAN_ISSUE", "perceivedSeverity": severity,
                              "trendIndication": "MORE_SEVERE"}
    if until is not None:
        output["predictedFailureEndTime"] = until.isoformat()
    return output


def report(report_id: str, *outputs: dict[str, Any], confidence: float = 0.87) -> dict[str, Any]:
    return {"id": report_id, "attributes": {"mDAReportID": report_id, "mDAOutputs": [
        {"mDAOutputList": o, "confidenceDegree": confidence} for o in outputs]}}


def _site(c: TestClient, world: World) -> dict[str, Any]:
    r = c.get(f"/api/v1/status/sites/{SITE}", headers=world.dso.auth("viewer"))
    assert r.status_code == 200, r.text
    return {i["plmn"]: i for i in r.json()}


def test_a_failure_prediction_puts_the_site_at_risk_until_withdrawn(app_client: TestClient, world: World) -> None:
    c = app_client
    now = datetime.now(UTC)
    fails_at = now + timedelta(minutes=90)
    output = prediction("ISSUE-7", cell_dn(PLMN_A, 0), at=fails_at, until=fails_at + timedelta(hours=2))
    body = report("MDA-1", output)
    validator_for("TS28104_MdaReport.yaml", "FailurePredictionOutput").validate(output)
    validator_for("TS28104_MdaReport.yaml", "MDAReport/allOf/1").validate(body)
    r = c.post(MDA, json=body, headers=world.mno.auth())
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    pair = _site(c, world)[PLMN_A]
    assert pair["status"] == "at_risk"
    (reason,) = [x for x in pair["reasons"] if x["category"] == "failure_predicted"]
    assert datetime.fromisoformat(reason["predictedFailureAt"]) == fails_at
    assert reason["events"][0]["confidenceDegree"] == 0.87
    assert _site(c, world)[PLMN_B]["status"] == "ok"  # the other MNO's PLMN is untouched
    assert c.post(MDA, json=body, headers=world.mno.auth()).json()["duplicates"] == 1  # a resend
    withdrawn = report("MDA-2", prediction("ISSUE-7", cell_dn(PLMN_A, 0), at=fails_at, severity="CLEARED"))
    assert c.post(MDA, json=withdrawn, headers=world.mno.auth()).status_code == 200
    assert _site(c, world)[PLMN_A]["status"] == "ok"


def test_a_prediction_past_its_end_no_longer_counts(app_client: TestClient, world: World) -> None:
    now = datetime.now(UTC)
    lapsed = report("MDA-3", prediction("ISSUE-8", cell_dn(PLMN_A, 0), at=now - timedelta(hours=3),
                                        until=now - timedelta(hours=1)))
    assert app_client.post(MDA, json=lapsed, headers=world.mno.auth()).json()["accepted"] == 1
    assert _site(app_client, world)[PLMN_A]["status"] == "ok"


def test_other_mda_outputs_are_recorded_as_ignored(app_client: TestClient, world: World) -> None:
    coverage = {"id": "MDA-4", "attributes": {"mDAReportID": "MDA-4", "mDAOutputs": [
        {"mDAType": "COVERAGE_PROBLEM_ANALYSIS", "mDAOutputList": [{"mDAOutputIEName": "coverageProblemId",
                                                                    "mDAOutputIEValue": 17}]}]}}
    got = app_client.post(MDA, json=coverage, headers=world.mno.auth()).json()
    assert (got["accepted"], got["ignored"]) == (0, 1), got
    assert _site(app_client, world)[PLMN_A]["status"] == "ok"


@pytest.mark.parametrize(("output", "pointer"), [
    ({"failurePredictionObject": [], "eventTime": "2026-12-04T12:00:00Z"},
     "/attributes/mDAOutputs/0/mDAOutputList/failurePredictionObject"),
    ({"failurePredictionObject": ["SubNetwork=1"], "eventTime": "soon"},
     "/attributes/mDAOutputs/0/mDAOutputList/eventTime"),
    ({"failurePredictionObject": ["SubNetwork=1"]}, "/attributes/mDAOutputs/0/mDAOutputList/eventTime"),
    ({"failurePredictionObject": ["SubNetwork=1"], "eventTime": "2026-12-04T12:00:00Z",
      "perceivedSeverity": "DIRE"}, "/attributes/mDAOutputs/0/mDAOutputList/perceivedSeverity"),
])
def test_a_report_that_cannot_be_understood_is_refused_naming_the_field(app_client: TestClient, world: World,
                                                                         output: dict[str, Any],
                                                                         pointer: str) -> None:
    r = app_client.post(MDA, json=report("MDA-9", output), headers=world.mno.auth())
    assert r.status_code == 400, r.text
    assert r.json()["invalidParams"][0]["param"] == pointer, r.json()
    assert _site(app_client, world)[PLMN_A]["status"] == "ok"


def test_the_advisor_leaves_a_plmn_before_its_predicted_failure() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    soon = advisor.PlmnView(PLMN_A, status="at_risk", failure_predicted_at=now + advisor.LEAD / 2)
    later = advisor.PlmnView(PLMN_A, status="at_risk", failure_predicted_at=now + timedelta(hours=3))
    assert advisor.health(soon, now) == ("bad", ["failure_predicted", "status_at_risk"])
    assert advisor.health(later, now)[0] == "warn"
