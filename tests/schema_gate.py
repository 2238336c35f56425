"""The schema gate: every answer the tests receive on a standards path and every standards notification the exchange
sends to a test's receiver is validated against the standard's schema for that operation and status code.

Answers are seen where the tests' clients receive them: httpx (TestClient, clients of `gridcell serve` processes),
requests (schemathesis), urllib, and the JSON report of a newman run. Receivers hand each notification to
`notification()`. What is checked, by path:

- `/FaultSupervisionMnS/{version}`, `/ProvMnS/{version}`: the operation of TS28532_FaultMnS.yaml / TS28532_ProvMnS.yaml
  whose server URL and path template match; the response of that status (else `default`, the error case), its body
  for the answer's media type and its required headers. ProvMnS errors also against TS 28.623 ComDefs' body for the
  method (ErrorResponseGet, -Patch, -Default), which the exchange answers with.
- `/tmf-api/...`: the TMF621 / TMF656 v4 swagger operation under its basePath; errors without a declared status
  against the swagger's `Error`.
- `/eventListener/v7[/eventBatch]`: VES 7.2.1: 202 without a body, errors a `requestError`.
- Notifications: a TMF event against its listener operation's body (`{callback}/listener/{eventName}`); a 3GPP one
  (a `notify…` type) against the schema of its type in TS 28.111 / TS 28.532; the exchange's own extension types
  against ComDefs' NotificationHeader.

Schemas that refer to files absent from the standards folder are validated against what resolves: such a reference
is left unchecked, or, as one of `oneOf`/`anyOf`'s alternatives, counts as not matched (as the tests' own
`Resource/anyOf/0` does). A validation that reached one counts as partial in the summary.

A violation fails the test whose setup, call or teardown was running when it was seen (naming method, path, status
and the schema error); the session ends with one summary line of what was validated and what was skipped and why.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import urllib.response
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import requests
import yaml
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests import tmf_swagger
from tests.outages import schema3gpp

IN_CI = os.environ.get("CI", "").lower() == "true"
FAULT_MNS, PROV_MNS, COM_DEFS = "TS28532_FaultMnS.yaml", "TS28532_ProvMnS.yaml", "TS28623_ComDefs.yaml"
# The VES 7.2.1 event listener specification's error body (ves_event_listener_7_2.rst, "requestError").
VES_REQUEST_ERROR: dict[str, Any] = {
    "type": "object", "required": ["requestError"], "additionalProperties": False,
    "properties": {"requestError": {
        "type": "object", "minProperties": 1, "maxProperties": 1,
        "propertyNames": {"enum": ["serviceException", "policyException"]},
        "additionalProperties": {"type": "object", "required": ["messageId", "text"], "properties": {
            "messageId": {"type": "string", "pattern": "^(SVC|POL)\\d{4}$"}, "text": {"type": "string"},
            "variables": {"type": "array", "items": {"type": "string"}}}}}}}
VES_OPERATIONS = ("/eventListener/v7", "/eventListener/v7/eventBatch")  # POST, 202 Accepted without a body
PROVMNS_ERRORS = {"GET": "ErrorResponseGet", "PATCH": "ErrorResponsePatch"}  # else ErrorResponseDefault
_SRC = str(Path(__file__).resolve().parents[1] / "src" / "gridcell")
_TESTS = str(Path(__file__).resolve().parent)
_HERE = str(Path(__file__).resolve())


# ---- schemas: the 3GPP documents with their absent references marked, the TMF swaggers as they are --------------

_local = threading.local()


def _absent(validator: Any, target: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    """A reference into a file the standards folder lacks: recorded as reached; as an alternative, not matched."""
    reached = getattr(_local, "reached", None)
    if reached is not None:
        reached.add(target)
    if schema.get("x-gate-alternative"):
        yield ValidationError(f"matches none of the alternatives that resolve ({target} is not in the standards "
                              "folder)")


GateValidator = validators.extend(Draft202012Validator, {"x-gate-absent": _absent})


def _mark_absent(node: Any, present: set[str], alternative: bool = False) -> Any:
    if isinstance(node, list):
        return [_mark_absent(n, present) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and not ref.startswith("#") and ref.split("#", 1)[0] not in present:
        return {"x-gate-absent": ref.split("#", 1)[0], **({"x-gate-alternative": True} if alternative else {})}
    return {k: ([_mark_absent(n, present, True) for n in v] if k in ("oneOf", "anyOf") and isinstance(v, list)
                else _mark_absent(v, present)) for k, v in node.items()}


@dataclass(eq=False)
class Standards:
    threegpp: dict[str, dict[str, Any]]  # file name -> the OpenAPI document as read (oneOf as anyOf)
    tmf: dict[str, dict[str, Any]]  # file name -> the swagger
    registry: Registry

    @functools.cache  # noqa: B019 - one instance per session
    def validator(self, uri: str) -> Any:
        checker = tmf_swagger.FORMATS if uri.startswith(tmf_swagger.BASE) else FormatChecker()
        return GateValidator({"$ref": uri}, registry=self.registry, format_checker=checker)

    @functools.cache  # noqa: B019
    def inline_validator(self, schema_json: str) -> Any:
        return GateValidator(json.loads(schema_json), registry=self.registry, format_checker=FormatChecker())


@functools.cache
def standards() -> Standards | None:
    folders = (schema3gpp.STANDARDS, tmf_swagger.STANDARDS)
    if not all(f.is_dir() for f in folders):
        if IN_CI:
            raise AssertionError(f"the standards are missing at {folders}")
        return None
    raw = {f.name: yaml.safe_load(f.read_text(encoding="utf-8")) for f in sorted(schema3gpp.STANDARDS.glob("*.yaml"))}
    threegpp = {name: schema3gpp._convert(_mark_absent(doc, set(raw))) for name, doc in raw.items()}
    tmf = {name: json.loads((tmf_swagger.STANDARDS / name).read_text(encoding="utf-8"))
           for name in (tmf_swagger.TMF621, tmf_swagger.TMF656)}
    resources = [(schema3gpp.BASE + n, Resource.from_contents(d, default_specification=DRAFT202012))
                 for n, d in threegpp.items()]
    resources += [(tmf_swagger.BASE + n, Resource.from_contents(d, default_specification=DRAFT202012))
                  for n, d in tmf.items()]
    return Standards(threegpp, tmf, Registry().with_resources(resources))


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _template(path: str) -> str:
    return re.sub(r"\\\{[^}/]+\\\}", "[^/]+", re.escape(path))


# ---- operations ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Api:
    family: str  # "3gpp", "tmf"
    spec: str  # file name
    prefix: str
    base: re.Pattern[str]  # the server URL / basePath; the rest is matched against the document's paths

    @property
    def uri(self) -> str:
        return (schema3gpp.BASE if self.family == "3gpp" else tmf_swagger.BASE) + self.spec


APIS = (Api("3gpp", FAULT_MNS, "/FaultSupervisionMnS", re.compile(r"^/FaultSupervisionMnS/[^/]+(?P<rest>/.*)?$")),
        # {MnSRoot}/ProvMnS/{MnSVersion}/{URI-LDN-first-part}, then /{className}={id}: the LDN part may be empty
        Api("3gpp", PROV_MNS, "/ProvMnS", re.compile(r"^/ProvMnS/[^/]+(?:/.+)?(?P<rest>/[^/]+)$")),
        Api("tmf", tmf_swagger.TMF621, "/tmf-api", re.compile(r"^/tmf-api/troubleTicket/v4(?P<rest>/.*)?$")),
        Api("tmf", tmf_swagger.TMF656, "/tmf-api",
            re.compile(r"^/tmf-api/serviceProblemManagement/v4(?P<rest>/.*)?$")))
PREFIXES = ("/FaultSupervisionMnS", "/ProvMnS", "/tmf-api", "/eventListener")


def _operation(std: Standards, api: Api, method: str, rest: str | None) -> tuple[str, dict[str, Any]] | None:
    if rest is None:
        return None
    doc = std.threegpp[api.spec] if api.family == "3gpp" else std.tmf[api.spec]
    for template, item in doc.get("paths", {}).items():
        if re.fullmatch(_template(template), rest) and isinstance(item.get(method.lower()), dict):
            return template, item[method.lower()]
    return None


@dataclass
class Outcome:
    violations: list[str] = field(default_factory=list)
    checked: bool = False
    reached: set[str] = field(default_factory=set)
    partial: str | None = None
    skipped: str | None = None
    exempt: str | None = None


def _errors(validator: Any, instance: Any, reached: set[str]) -> list[str]:
    _local.reached = reached
    try:
        errors = list(validator.iter_errors(instance))
    finally:
        _local.reached = None
    if not errors:
        return []
    worst = best_match(errors)
    where = "/" + "/".join(map(str, worst.absolute_path))
    return [f"{where}: {worst.message[:400]} ({len(errors)} error(s))"]


def _media(headers: Any) -> str:
    return str(headers.get("content-type") or "").split(";")[0].strip().lower()


def _json(content: bytes, out: Outcome) -> tuple[bool, Any]:
    try:
        return True, json.loads(content)
    except ValueError as exc:
        out.violations.append(f"the body is not JSON ({exc}): {content[:200]!r}")
        return False, None


def _request_refused(api: Api, method: str, template: str, status: int, body: Any, request_body: bytes) -> bool:
    """Exemption: TS28532_FaultMnS.yaml's only error body for PATCH /alarms is a list of FailedAlarm, each with a
    required alarmId. A refusal of the request itself (credentials, role, media type, size, overload, a body that
    is no map of alarm ids) has no alarm to name; the exchange answers it as every other operation of the MnS
    (a ProblemDetails, valid as ComDefs' ErrorResponse). It applies only when the refusal names no alarm of the
    request's body: a failure of named alarms, and an unknown alarm (404), must be a FailedAlarm list."""
    if not (api.spec == FAULT_MNS and method == "PATCH" and template == "/alarms" and status >= 400
            and status != 404 and isinstance(body, dict) and isinstance(body.get("cause"), str)):
        return False
    try:
        sent = json.loads(request_body) if request_body else None
    except ValueError:
        return True
    alarm_ids = [k for k in sent if isinstance(k, str)] if isinstance(sent, dict) else []
    params = [str(p.get("param", "")) for p in body.get("invalidParams", []) if isinstance(p, dict)]
    return not any(p == k or p.startswith(f"{k}/") for p in params for k in alarm_ids if k) \
        and not ("" in alarm_ids and any(p not in ("", "Content-Type") for p in params))


def _check_3gpp(std: Standards, api: Api, method: str, rest: str | None, status: int, headers: Any, content: bytes,
                out: Outcome, request_body: bytes = b"") -> None:
    found = _operation(std, api, method, rest)
    if found is None and status < 400:
        out.skipped = f"{method} not an operation of {api.spec}"
        return
    uri = api.uri
    if found is not None:
        template, op = found
        code = str(status) if str(status) in op["responses"] else "default"
        response = op["responses"].get(code)
        if response is None or (code == "default" and status < 400):
            out.violations.append(f"status {status} is not one {api.spec} declares for {method} {template} "
                                  f"({', '.join(op['responses'])})")
            return
        base = ["paths", template, method.lower(), "responses", code]
        for name, header in (response.get("headers") or {}).items():
            if header.get("required") and name.lower() not in {h.lower() for h in headers}:
                out.violations.append(f"the header {name} is required by {api.spec}")
        content_types = response.get("content") or {}
    else:  # an error on a path the standard does not have: its errors are the operations' `default`
        base, content_types = None, {"application/json": {"schema": {"$ref": f"{COM_DEFS}#/components/schemas/"
                                                                              "ErrorResponse"}}}
    out.checked = True
    if not content_types:
        if content.strip():
            out.violations.append(f"a body where {api.spec} has none: {content[:200]!r}")
        return
    if not content.strip():
        out.violations.append(f"no body where {api.spec} has one ({', '.join(content_types)})")
        return
    ok, body = _json(content, out)
    if not ok:
        return
    if base is not None and _request_refused(api, method, base[1], status, body, request_body):
        out.exempt = ("PATCH /alarms refused as a whole (no alarm to name in a FailedAlarm): ComDefs "
                      "ErrorResponse")
        out.violations += _errors(std.validator(f"{schema3gpp.BASE}{COM_DEFS}#/components/schemas/ErrorResponse"),
                                  body, out.reached)
        return
    media = _media(headers)
    chosen = media if media in content_types else "application/json"
    if chosen not in content_types:
        chosen = next(iter(content_types))
    ref = (f"{uri}#/{_pointer(*base, 'content', chosen, 'schema')}" if base is not None
           else f"{schema3gpp.BASE}{COM_DEFS}#/components/schemas/ErrorResponse")
    out.violations += _errors(std.validator(ref), body, out.reached)
    if api.spec == PROV_MNS and status >= 400:
        name = PROVMNS_ERRORS.get(method, "ErrorResponseDefault")
        out.violations += _errors(std.validator(f"{schema3gpp.BASE}{COM_DEFS}#/components/schemas/{name}"), body,
                                  out.reached)


def _check_tmf(std: Standards, api: Api, method: str, rest: str | None, status: int, content: bytes,
               out: Outcome) -> None:
    found = _operation(std, api, method, rest)
    error_ref = f"{api.uri}#/definitions/Error"
    if found is None:
        if status < 400:
            out.skipped = f"{method} not an operation of {api.spec}"
            return
        ref: str | None = error_ref
    else:
        template, op = found
        declared = op["responses"].get(str(status))
        if declared is None and status < 400:
            out.violations.append(f"status {status} is not one {api.spec} declares for {method} {template} "
                                  f"({', '.join(op['responses'])})")
            return
        if declared is None:  # an error status the operation does not list (413, 503, ...): TMF's Error
            ref = error_ref
        else:
            has_schema = "schema" in declared
            ref = f"{api.uri}#/{_pointer('paths', template, method.lower(), 'responses', str(status), 'schema')}" \
                if has_schema else None
    out.checked = True
    if ref is None:
        if content.strip():
            out.violations.append(f"a body where {api.spec} has none: {content[:200]!r}")
        return
    if not content.strip():
        out.violations.append(f"no body where {api.spec} has one")
        return
    ok, body = _json(content, out)
    if ok:
        out.violations += _errors(std.validator(ref), body, out.reached)


def _check_ves(std: Standards, method: str, path: str, status: int, content: bytes, out: Outcome) -> None:
    operation = method == "POST" and path.rstrip("/") in VES_OPERATIONS
    if status < 400:
        if not operation:
            out.skipped = f"{method} not an operation of the VES 7.2 event listener"
            return
        out.checked = True
        if status != 202:
            out.violations.append(f"status {status}: the VES 7.2 event listener answers 202 Accepted")
        elif content.strip():
            out.violations.append(f"a body in a 202 (VES 7.2 has none): {content[:200]!r}")
        return
    out.checked = True
    ok, body = _json(content, out) if content.strip() else (False, None)
    if not content.strip():
        out.violations.append("no body where VES 7.2 has a requestError")
    if ok:
        out.violations += _errors(std.inline_validator(json.dumps(VES_REQUEST_ERROR)), body, out.reached)


def check_response(method: str, path: str, status: int, headers: Any, content: bytes,
                   request_body: bytes = b"") -> Outcome:
    out = Outcome()
    std = standards()
    if std is None:
        out.skipped = "the standards folder is absent"
        return out
    if method == "HEAD" or status in (101, 304) or status < 200:
        out.skipped = "no body to validate (HEAD, 1xx, 304)"
        return out
    if path.startswith("/eventListener"):
        _check_ves(std, method, path, status, content, out)
        return out
    for api in APIS:
        m = api.base.match(path)
        if m is None:
            continue
        rest = m.group("rest") or "/"
        if api.family == "3gpp":
            _check_3gpp(std, api, method, rest, status, headers, content, out, request_body)
        else:
            _check_tmf(std, api, method, rest, status, content, out)
        return out
    if status >= 400:  # an unknown base path (another version, a typo): the family's error format still applies
        api = next(a for a in APIS if path.startswith(a.prefix))
        if api.family == "3gpp":
            _check_3gpp(std, api, method, None, status, headers, content, out)
        else:
            _check_tmf(std, api, method, None, status, content, out)
        return out
    out.skipped = "a base path no standard in the folder has"
    return out


# ---- notifications ---------------------------------------------------------------------------------------------

def _notification_schema(std: Standards, kind: str) -> str | None:
    """The schema of a 3GPP notification type: TS 28.111's alarm notifications (the body of TS28111_FaultNotifications
    .yaml's POST), else the first document with a `Notify<Type>` schema (TS 28.532 Fault, Prov, Perf, Heartbeat)."""
    for spec in ("TS28111_FaultNrm.yaml", FAULT_MNS, PROV_MNS, "TS28532_PerfMnS.yaml", "TS28532_HeartbeatNtf.yaml"):
        for name in std.threegpp[spec].get("components", {}).get("schemas", {}):
            if name.lower() == kind.lower():
                return f"{schema3gpp.BASE}{spec}#/components/schemas/{name}"
    return None


@functools.cache
def _extension_header() -> str:
    """ComDefs NotificationHeader with any notification type: for the exchange's own extension types."""
    std = standards()
    assert std is not None
    header = std.threegpp[COM_DEFS]["components"]["schemas"]["NotificationHeader"]
    uri = f"{schema3gpp.BASE}{COM_DEFS}#/components/schemas/NotificationHeader/properties/"
    return json.dumps({"type": "object", "required": header["required"], "properties": {
        k: ({"type": "string"} if k == "notificationType" else {"$ref": uri + k}) for k in header["properties"]}})


def check_notification(path: str, body: Any) -> Outcome | None:
    """None: not a standards notification (the native webhooks)."""
    out = Outcome()
    std = standards()
    listener = re.search(r"/listener/(?P<name>[A-Za-z]+)$", path)
    if listener and isinstance(body, dict) and "eventType" in body:
        if std is None:
            out.skipped = "the standards folder is absent"
            return out
        for spec, doc in std.tmf.items():
            op = doc["paths"].get(f"/listener/{listener['name']}", {}).get("post")
            if op is None:
                continue
            index = next(i for i, p in enumerate(op["parameters"]) if p.get("in") == "body")
            out.checked = True
            expected = listener["name"][:1].upper() + listener["name"][1:]
            if body.get("eventType") != expected:
                out.violations.append(f"eventType {body.get('eventType')!r} at the listener of {expected}")
            pointer = _pointer("paths", f"/listener/{listener['name']}", "post", "parameters", str(index), "schema")
            ref = f"{tmf_swagger.BASE}{spec}#/{pointer}"
            out.violations += _errors(std.validator(ref), body, out.reached)
            return out
        out.skipped = "a TMF event no swagger in the folder has a listener for"
        return out
    if isinstance(body, dict) and "eventType" in body and "event" in body:
        out.checked = True
        out.violations.append("a TMF event not POSTed to {callback}/listener/{eventName}")
        return out
    kind = body.get("notificationType") if isinstance(body, dict) else None
    if not (isinstance(kind, str) and re.fullmatch(r"notify[A-Z]\w*", kind)):
        return None
    if std is None:
        out.skipped = "the standards folder is absent"
        return out
    out.checked = True
    schema = _notification_schema(std, kind)
    if schema is None:
        out.partial = f"extension type {kind}: NotificationHeader only"
        out.violations += _errors(std.inline_validator(_extension_header()), body, out.reached)
    else:
        out.violations += _errors(std.validator(schema), body, out.reached)
    return out


# ---- bookkeeping -----------------------------------------------------------------------------------------------

class Gate:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.partial: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.exempt: Counter[str] = Counter()
        self.violations: list[tuple[str, str]] = []  # (the phase it was seen in, what is wrong)
        self.phase = "between tests"

    def record(self, what: str, kind: str, out: Outcome) -> None:
        partial = out.partial or (", ".join(f"{t} absent" for t in sorted(out.reached)) if out.reached else None)
        with self.lock:
            if out.skipped:
                self.skipped[out.skipped] += 1
            elif out.checked:
                self.counts[kind] += 1
                if partial:
                    self.partial[partial] += 1
                if out.exempt:
                    self.exempt[out.exempt] += 1
            self.violations += [(self.phase, f"{what}: {v}") for v in out.violations]

    def drain(self) -> list[str]:
        """The violations seen since the last drain, each naming the phase it was seen in if not the current one."""
        with self.lock:
            found, self.violations = self.violations, []
            return [text if phase == self.phase else f"{text} (seen {phase})" for phase, text in found]

    def summary(self) -> str:
        with self.lock:
            total = sum(self.counts.values())
            parts = [f"schema gate: {total} validated ({self.counts['response']} responses, "
                     f"{self.counts['notification']} notifications)"]
            if self.partial:
                parts.append(f"{sum(self.partial.values())} of them partial ("
                             + "; ".join(f"{r}: {n}" for r, n in self.partial.most_common()) + ")")
            if self.exempt:
                parts.append(f"{sum(self.exempt.values())} under an exemption ("
                             + "; ".join(f"{r}: {n}" for r, n in self.exempt.most_common()) + ")")
            parts.append(f"{sum(self.skipped.values())} skipped, no schema applies"
                         + (" (" + "; ".join(f"{r}: {n}" for r, n in self.skipped.most_common()) + ")"
                            if self.skipped else ""))
            return ", ".join(parts)


GATE = Gate()


def _from_the_exchange() -> bool:
    """The request was made by the exchange's own code (a Fault MnS consumer, a TMF621 federation client): the
    answer is a peer's (a test's double), not the exchange's."""
    frame: Any = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(_SRC):
            return True
        if name.startswith(_TESTS) and name != _HERE:
            return False
        frame = frame.f_back
    return False


def response(method: str, url: str, status: int, headers: Any, content: bytes, *, client: str,
             request_body: bytes = b"") -> None:
    path = urlsplit(url).path
    if not path.startswith(PREFIXES):
        return
    what = f"{method} {path} → {status}"
    if client != "newman" and _from_the_exchange():
        GATE.record(what, "response", Outcome(skipped="a peer's answer to the exchange's own request"))
        return
    try:
        out = check_response(method, path, status, headers, content, request_body)
    except Exception as exc:  # the gate itself must never hide an answer
        out = Outcome(checked=True, violations=[f"could not be validated: {type(exc).__name__}: {exc}"])
    GATE.record(what, "response", out)


def notification(path: str, body: Any) -> None:
    """A receiver got `body` POSTed at `path` from the exchange."""
    try:
        out = check_notification(path, body)
    except Exception as exc:
        out = Outcome(checked=True, violations=[f"could not be validated: {type(exc).__name__}: {exc}"])
    if out is not None:
        kind = body.get("eventType") or body.get("notificationType") if isinstance(body, dict) else "?"
        GATE.record(f"notification {kind} to {path}", "notification", out)


# ---- the clients' hooks ----------------------------------------------------------------------------------------

def _content(request: httpx.Request) -> bytes:
    try:
        return request.content
    except httpx.RequestNotRead:  # a streamed upload
        return b""


def _standards_path(url: Any) -> bool:
    return urlsplit(str(url)).path.startswith(PREFIXES)


def _install() -> Callable[[], None]:
    originals: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, replacement: Any) -> None:
        originals.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)

    sync_send = httpx.Client.send

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        r = sync_send(self, request, **kwargs)
        if _standards_path(request.url):
            r.read()
            response(request.method, str(request.url), r.status_code, r.headers, r.content, client="httpx",
                     request_body=_content(request))
        return r

    async_send = httpx.AsyncClient.send

    async def asend(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        r = await async_send(self, request, **kwargs)
        if _standards_path(request.url):
            await r.aread()
            response(request.method, str(request.url), r.status_code, r.headers, r.content, client="httpx",
                     request_body=_content(request))
        return r

    requests_send = requests.Session.send

    def rsend(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        r = requests_send(self, request, **kwargs)
        if _standards_path(request.url):
            body = request.body.encode() if isinstance(request.body, str) else request.body
            response(str(request.method), str(request.url), r.status_code, r.headers, r.content, client="requests",
                     request_body=body if isinstance(body, bytes) else b"")
        return r

    opener_open = urllib.request.OpenerDirector.open

    def uopen(self: urllib.request.OpenerDirector, fullurl: Any, *args: Any, **kwargs: Any) -> Any:
        req = fullurl if isinstance(fullurl, urllib.request.Request) else urllib.request.Request(fullurl)
        if not _standards_path(req.full_url):
            return opener_open(self, fullurl, *args, **kwargs)
        sent = req.data if isinstance(req.data, bytes) else b""
        try:
            r = opener_open(self, fullurl, *args, **kwargs)
        except urllib.error.HTTPError as exc:
            content = exc.read()
            response(req.get_method(), req.full_url, exc.code, exc.headers, content, client="urllib",
                     request_body=sent)
            raise urllib.error.HTTPError(exc.url, exc.code, exc.msg, exc.headers, io.BytesIO(content)) from None
        content = r.read()
        response(req.get_method(), req.full_url, r.status, r.headers, content, client="urllib", request_body=sent)
        return urllib.response.addinfourl(io.BytesIO(content), r.headers, r.url, r.status)

    subprocess_run = subprocess.run

    def run(args: Any, *rest: Any, **kwargs: Any) -> Any:
        done = subprocess_run(args, *rest, **kwargs)
        if isinstance(args, list | tuple) and args and Path(str(args[0])).name == "newman" \
                and "--reporter-json-export" in args:
            _newman_report(Path(str(args[list(args).index("--reporter-json-export") + 1])))
        return done

    patch(httpx.Client, "send", send)
    patch(httpx.AsyncClient, "send", asend)
    patch(requests.Session, "send", rsend)
    patch(urllib.request.OpenerDirector, "open", uopen)
    patch(subprocess, "run", run)

    def uninstall() -> None:
        for owner, name, original in reversed(originals):
            setattr(owner, name, original)

    return uninstall


def _newman_report(report: Path) -> None:
    """Each request of a newman run, from its JSON report: the answers a conformance kit received."""
    if not report.exists():
        return
    for execution in json.loads(report.read_text(encoding="utf-8")).get("run", {}).get("executions", []):
        request, answer = execution.get("request") or {}, execution.get("response") or {}
        if not answer or "code" not in answer:
            continue
        path = "/" + "/".join(request.get("url", {}).get("path", []))
        stream = answer.get("stream") or {}
        content = bytes(stream.get("data", [])) if isinstance(stream, dict) else b""
        headers = {h["key"].lower(): h["value"] for h in answer.get("header", []) if "key" in h}
        sent = str((request.get("body") or {}).get("raw") or "").encode()
        response(request.get("method", "GET"), path, int(answer["code"]), headers, content, client="newman",
                 request_body=sent)


# ---- pytest ----------------------------------------------------------------------------------------------------

_uninstall: Callable[[], None] | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _uninstall
    if _uninstall is None:
        _uninstall = _install()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _uninstall
    if _uninstall is not None:
        _uninstall()
        _uninstall = None


def _phase(item: pytest.Item, when: str) -> Iterator[None]:
    """Run a phase of a test; what the gate found wrong during it fails it (or, if it failed already, is reported
    beside its failure)."""
    GATE.phase = f"in {when} of {item.nodeid}"
    try:
        result = yield
    except BaseException:
        found = _end_phase()
        if found:
            item.add_report_section(when, "schema gate", "\n".join(found))
        raise
    found = _end_phase()
    if found:
        shown = "\n".join(f"  {v}" for v in found[:20])
        more = f"\n  … and {len(found) - 20} more" if len(found) > 20 else ""
        raise AssertionError(f"schema gate: {len(found)} answer(s)/notification(s) not valid per the standard:\n"
                             f"{shown}{more}")
    return result


def _end_phase() -> list[str]:
    found = GATE.drain()
    GATE.phase = "between tests"
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    return (yield from _phase(item, "setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from _phase(item, "call"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    return (yield from _phase(item, "teardown"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(GATE.summary() if standards() is not None
                                else "schema gate: the standards folder is absent, nothing validated")
