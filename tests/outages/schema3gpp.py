"""Validate against the 3GPP OpenAPI YAML in ../shared/standards/3gpp, $refs resolved across the files.

OpenAPI 3.0 is read as JSON Schema the way 3GPP tooling does: `oneOf` as `anyOf` (3GPP's alternatives
overlap), `nullable: true` as "or null". Skips with a reason when the standards are absent outside CI.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

STANDARDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "standards" / "3gpp"
BASE = "https://forge.3gpp.org/specs/"


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {("anyOf" if k == "oneOf" else k): _convert(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@functools.lru_cache(maxsize=1)
def registry() -> Registry:
    if not STANDARDS.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            raise AssertionError(f"the 3GPP standards are missing at {STANDARDS}")
        pytest.skip(f"3GPP standards not found at {STANDARDS} (../shared beside the repo)")
    resources = []
    for f in sorted(STANDARDS.glob("*.yaml")):
        doc = _convert(yaml.safe_load(f.read_text(encoding="utf-8")))
        resources.append((BASE + f.name, Resource.from_contents(doc, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


def validator_for(filename: str, schema: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{BASE}{filename}#/components/schemas/{schema}"},
                                registry=registry(), format_checker=FormatChecker())


def sub_validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A schema of the test's own built from the standards' parts ($refs into BASE), for a whole schema that cannot
    resolve here."""
    return Draft202012Validator(schema, registry=registry(), format_checker=FormatChecker())


def _ref(filename: str, path: str) -> dict[str, str]:
    return {"$ref": f"{BASE}{filename}#/components/schemas/{path}"}


def resource_validator() -> Draft202012Validator:
    """ProvMnS `Resource`, its first alternative (id, objectClass, objectInstance, `attributes`, contained objects as
    arrays): the second refers to NRM files absent from the standards folder (TS28541_NrNrm.yaml, ...)."""
    return sub_validator(_ref("TS28532_ProvMnS.yaml", "Resource/anyOf/0"))


def validate_moi(resource: dict[str, Any], single: str, filename: str = "TS28318_DsoNrm.yaml") -> None:
    """An MOI as ProvMnS returns it: the Resource form, the class schema as is, and the class schema on its
    attributes (TS28318_DsoNrm.yaml draws OutageAndRecoveryInfo's attributes beside `id`, DsoThresholdMonitor's
    `targetThresholdLocation` beside `attributes`: with them also there, their types are checked)."""
    resource_validator().validate(resource)
    cls = validator_for(filename, single)
    cls.validate(resource)
    cls.validate({**resource, **resource.get("attributes", {})})


def subscription_control_validator() -> Draft202012Validator:
    """NtfSubscriptionControl's attributes (TS 28.623), from ComDefs and ProvMnS parts: TS28623_SubscriptionControlNrm
    .yaml is not in the standards folder, and ComDefs' NotificationType refers to the absent
    TS28532_FileDataReportingMnS.yaml (so a type outside the first alternatives cannot resolve)."""
    return sub_validator({"type": "object", "required": ["attributes"], "properties": {"attributes": {
        "type": "object", "required": ["notificationRecipientAddress"], "properties": {
            "notificationRecipientAddress": _ref("TS28623_ComDefs.yaml", "Uri"),
            "notificationTypes": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "scope": _ref("TS28532_ProvMnS.yaml", "Scope"),
            "notificationFilter": _ref("TS28623_ComDefs.yaml", "JexConditions")}}}})


def header_validator() -> Draft202012Validator:
    """ComDefs NotificationHeader but `notificationType`, for gridcell's notifyOutagePlanChanged: the header's type
    enumeration ends in a reference to the absent TS28532_FileDataReportingMnS.yaml, which an unknown type reaches."""
    return sub_validator({"type": "object", "required": ["href", "notificationId", "notificationType", "eventTime",
                                                         "systemDN"], "properties": {
        "href": _ref("TS28623_ComDefs.yaml", "Uri"), "notificationId": _ref("TS28623_ComDefs.yaml", "NotificationId"),
        "notificationType": {"type": "string"}, "eventTime": _ref("TS28623_ComDefs.yaml", "DateTime"),
        "systemDN": _ref("TS28623_ComDefs.yaml", "SystemDN"), "sequenceNo": {"type": "integer"},
        "subscriptionId": {"type": "string"}}})


ERROR_SCHEMAS = {"GET": "ErrorResponseGet", "PATCH": "ErrorResponsePatch"}


def validate_error(body: Any, method: str) -> None:
    """A ProvMnS error body: the ErrorResponse the ProvMnS OpenAPI refers to, and ComDefs' schema for the method
    (ErrorResponseGet, ErrorResponsePatch, ErrorResponseDefault)."""
    validator_for("TS28623_ComDefs.yaml", "ErrorResponse").validate(body)
    validator_for("TS28623_ComDefs.yaml", ERROR_SCHEMAS.get(method, "ErrorResponseDefault")).validate(body)
