"""The schema gate itself (tests/schema_gate.py): what it finds wrong, what it lets through, what it counts as partial
or skips, and that each kind of client the tests use is seen by it."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from tests import schema_gate
from tests.schema_gate import GATE, check_notification, check_response

pytestmark = pytest.mark.skipif(schema_gate.standards() is None, reason="the standards folder is absent")

FM = "/FaultSupervisionMnS/v1"
SN = "/ProvMnS/v1900/SubNetwork=D1"
TT = "/tmf-api/troubleTicket/v4"
JSON = {"content-type": "application/json"}
COUNT = {"criticalCount": 1, "majorCount": 0, "minorCount": 0, "warningCount": 0, "indeterminateCount": 0,
         "clearedCount": 0}
HEADER = {"href": "https://gridcell.example/ProvMnS/v1900/SubNetwork=D1", "notificationId": 7,
          "eventTime": "2026-12-01T10:00:00Z", "systemDN": "DC=gridcell.example"}


def answer(method: str, path: str, status: int, body: Any = None, headers: dict[str, str] | None = None,
           sent: Any = None) -> schema_gate.Outcome:
    content = b"" if body is None else json.dumps(body).encode()
    return check_response(method, path, status, headers or JSON, content,
                          b"" if sent is None else json.dumps(sent).encode())


def test_a_fault_mns_answer_is_checked_against_its_operation_and_status() -> None:
    assert answer("GET", f"{FM}/alarms/alarmCount", 200, COUNT).violations == []
    (error,) = answer("GET", f"{FM}/alarms/alarmCount", 200, {**COUNT, "clearedCount": "0"}).violations
    assert error.startswith("/clearedCount: '0' is not of type 'integer'")
    assert "required property" in answer("GET", f"{FM}/alarms/alarmCount", 200, {"criticalCount": 1}).violations[0]
    # 201 needs Location; 204 has no body; a success status the operation does not declare is wrong.
    assert answer("POST", f"{FM}/subscriptions", 201, {"consumerReference": "http://x"}).violations == [
        "the header Location is required by TS28532_FaultMnS.yaml"]
    assert answer("DELETE", f"{FM}/subscriptions/1", 204).violations == []
    assert "a body where" in answer("DELETE", f"{FM}/subscriptions/1", 204, {"x": 1}).violations[0]
    assert "status 200 is not one" in answer("PATCH", f"{FM}/alarms/a1", 200, {}).violations[0]
    # An error of the alarm list is ComDefs' ErrorResponse; one of the multiple-alarm patch a FailedAlarm list.
    assert answer("GET", f"{FM}/alarms", 400, {"error": {"errorInfo": "x"}}).violations == []
    assert answer("GET", f"{FM}/alarms", 400, {"error": "x"}).violations != []
    assert answer("PATCH", f"{FM}/alarms", 404, [{"alarmId": "a1", "failureReason": "unknown"}]).violations == []
    assert "is not of type 'array'" in answer("PATCH", f"{FM}/alarms", 404, {"cause": "RESOURCE_NOT_FOUND"},
                                              sent={"a1": {}}).violations[0]


def test_the_multiple_alarm_patch_exemption_is_for_refusals_that_name_no_alarm() -> None:
    problem = {"status": 401, "title": "Unauthorized", "cause": "UNAUTHORIZED"}
    out = answer("PATCH", f"{FM}/alarms", 401, problem, sent={"a1": {"ackState": "ACKNOWLEDGED"}})
    assert out.violations == [] and out.exempt
    named = {**problem, "status": 400, "invalidParams": [{"param": "a1/ackState", "reason": "required"}]}
    out = answer("PATCH", f"{FM}/alarms", 400, named, sent={"a1": {}})
    assert out.violations != [] and not out.exempt


def test_provmns_answers_and_errors() -> None:
    moi = {"id": "O1", "objectClass": "OutageAndRecoveryInfo", "attributes": {"outageStartTime": "x"}}
    assert answer("GET", f"{SN}/OutageAndRecoveryInfo=O1", 200, moi).violations == []
    out = answer("GET", f"{SN}/OutageAndRecoveryInfo=O1", 200, "O1")
    assert out.violations and "TS28541_NrNrm.yaml" in out.reached  # the alternatives absent here were reached
    flat = {"content-type": "application/vnd.3gpp.object-tree-flat+json"}
    assert answer("GET", f"{SN}/OutageAndRecoveryInfo=O1", 200, [moi], flat).violations == []
    assert answer("DELETE", f"{SN}/OutageAndRecoveryInfo=O1", 200).violations == []
    error = {"status": "400", "type": "about:blank", "badQueryParams": ["scope"]}
    assert answer("GET", f"{SN}/OutageAndRecoveryInfo=O1", 400, error).violations == []
    assert "'badOp' is a required property" in answer("PATCH", f"{SN}/OutageAndRecoveryInfo=O1", 400,
                                                      error).violations[0]
    assert answer("GET", f"{SN}/OutageAndRecoveryInfo", 200, [moi]).skipped == \
        "GET not an operation of TS28532_ProvMnS.yaml"
    assert answer("GET", f"{SN}/OutageAndRecoveryInfo", 404, {"status": 404}).violations != []


def test_tmf_answers_and_errors() -> None:
    ticket = {"id": "t1", "href": "https://gridcell.example/tmf-api/troubleTicket/v4/troubleTicket/t1",
              "severity": "Major", "ticketType": "incident", "creationDate": "2026-12-01T10:00:00Z"}
    assert answer("POST", f"{TT}/troubleTicket", 201, ticket).violations == []
    assert answer("GET", f"{TT}/troubleTicket", 200, [ticket]).violations == []
    assert "is not of type 'string'" in answer("GET", f"{TT}/troubleTicket", 200, [{**ticket, "id": 1}]).violations[0]
    assert "is not a 'date-time'" in answer("POST", f"{TT}/troubleTicket", 201,
                                            {**ticket, "creationDate": "2026-12-01T10:00:00"}).violations[0]
    assert "status 200 is not one" in answer("POST", f"{TT}/troubleTicket", 200, ticket).violations[0]
    assert answer("DELETE", f"{TT}/troubleTicket/t1", 204).violations == []
    error = {"code": "503", "reason": "Service unavailable"}
    assert answer("POST", f"{TT}/troubleTicket", 503, error).violations == []  # not listed: TMF's Error all the same
    assert "'reason' is a required property" in answer("GET", f"{TT}/nothing/here", 404, {"code": "404"}).violations[0]
    assert answer("GET", f"{TT}/nothing/here", 200, {}).skipped == "GET not an operation of " \
                                                                   "TMF621-TroubleTicket-v4.0.0.swagger.json"
    assert answer("POST", "/tmf-api/serviceProblemManagement/v4/problemGroup", 201,
                  {"parentProblem": {"id": "p1"}, "childProblem": [{"id": "p2"}]}).violations == []


def test_ves_answers() -> None:
    assert answer("POST", "/eventListener/v7", 202).violations == []
    assert "a body in a 202" in answer("POST", "/eventListener/v7/eventBatch", 202, {"ok": True}).violations[0]
    refused = {"requestError": {"policyException": {"messageId": "POL2000", "text": "Unauthorized user: %1"}}}
    assert answer("POST", "/eventListener/v7", 401, refused).violations == []
    assert answer("POST", "/eventListener/v7", 400, {"type": "about:blank", "status": 400}).violations != []


def test_notifications() -> None:
    new = {**HEADER, "notificationType": "notifyNewAlarm", "alarmId": "a1", "alarmType": "EQUIPMENT_ALARM",
           "probableCause": "EQUIPMENT_MALFUNCTION", "perceivedSeverity": "CRITICAL"}
    out = check_notification("/hook", new)
    assert out is not None and out.checked and out.violations == []
    out = check_notification("/hook", {**new, "perceivedSeverity": "BAD"})
    assert out is not None and "/perceivedSeverity" in out.violations[0]
    created = {**HEADER, "notificationType": "notifyMOICreation", "attributeList": {"x": 1}}
    assert check_notification("/hook", created).violations == []  # type: ignore[union-attr]
    out = check_notification("/hook", {**HEADER, "notificationType": "notifyOutagePlanChanged"})
    assert out is not None and out.violations == [] and out.partial
    out = check_notification("/hook", {"notificationType": "notifyOutagePlanChanged"})
    assert out is not None and out.violations  # the header's members all the same
    event = {"eventId": "e1", "eventTime": "2026-12-01T10:00:00Z", "eventType": "TroubleTicketCreateEvent",
             "event": {"troubleTicket": {"id": "t1"}}}
    out = check_notification("/hook/listener/troubleTicketCreateEvent", event)
    assert out is not None and out.checked and out.violations == []
    out = check_notification("/hook/listener/troubleTicketStatusChangeEvent", event)
    assert out is not None and "eventType 'TroubleTicketCreateEvent'" in out.violations[0]
    out = check_notification("/hook/listener/serviceProblemCreateEvent",
                             {**event, "eventType": "ServiceProblemCreateEvent", "eventTime": "noon"})
    assert out is not None and "'noon' is not a 'date-time'" in out.violations[0]
    assert check_notification("/hook", {"notificationType": "siteStatusChanged", "site": {}}) is None  # native


class _Double:
    """A server on loopback that answers every request with a TroubleTicket whose id is a number."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = 404 if self.path.endswith("/missing") else 200
                body = json.dumps({"code": "404"} if status == 404 else {"id": 1}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}{TT}/troubleTicket"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def double() -> Iterator[_Double]:
    d = _Double()
    yield d
    d.server.shutdown()
    d.server.server_close()


def _seen() -> list[str]:
    """What the gate recorded, taken from it so that this test does not fail for the answers it provoked."""
    return GATE.drain()


def test_every_client_is_seen(double: _Double, tmp_path: Path) -> None:
    assert httpx.get(f"{double.base}/t1").json() == {"id": 1}
    assert requests.get(f"{double.base}/t1", timeout=10).json() == {"id": 1}
    with urllib.request.urlopen(f"{double.base}/t1", timeout=10) as r:
        assert json.loads(r.read()) == {"id": 1}  # the body is still there for the caller
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{double.base}/missing", timeout=10)
    assert json.loads(refused.value.read()) == {"code": "404"}
    seen = _seen()
    assert len([v for v in seen if "/id: 1 is not of type 'string'" in v]) == 3, seen
    assert any("→ 404: /: 'reason' is a required property" in v for v in seen), seen

    report = tmp_path / "newman.json"
    report.write_text(json.dumps({"run": {"executions": [{
        "request": {"method": "GET", "url": {"path": ["tmf-api", "troubleTicket", "v4", "troubleTicket", "t1"]}},
        "response": {"code": 200, "header": [], "stream": {"type": "Buffer", "data": list(b'{"id": 2}')}}}]}}))
    subprocess.run(["/bin/true", "--reporter-json-export", str(report)], check=True)
    assert _seen() == []  # only newman's runs are read
    newman = tmp_path / "newman"  # stands for newman: its report is already written
    newman.write_text("#!/bin/sh\nexit 0\n")
    newman.chmod(0o755)
    subprocess.run([str(newman), "run", "ctk.json", "--reporter-json-export", str(report)], check=True)
    assert any("/id: 2 is not of type 'string'" in v for v in _seen())
