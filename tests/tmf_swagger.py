"""Validate TMF responses and events against TM Forum's swagger files in ../shared/standards/tmf, $refs resolved.

Swagger 2.0 `definitions` are read as JSON Schema. Formats are asserted (the swagger's `date-time` and `uri`:
RFC 3339 with an offset, an absolute URI); a TMF response body, event or error must match its definition.
Skips with a reason when the standards are absent outside CI.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

STANDARDS = Path(__file__).resolve().parents[1] / ".." / "shared" / "standards" / "tmf"
TMF621 = "TMF621-TroubleTicket-v4.0.0.swagger.json"
TMF656 = "TMF656-ServiceProblem-v4.0.0.swagger.json"
BASE = "https://tmforum.example/"
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", re.IGNORECASE)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")
FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time")(lambda v: not isinstance(v, str) or bool(_RFC3339.match(v)))
FORMATS.checks("uri")(lambda v: not isinstance(v, str) or bool(_URI.match(v)))


@functools.lru_cache(maxsize=1)
def registry() -> Registry:
    if not STANDARDS.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            raise AssertionError(f"the TMF standards are missing at {STANDARDS}")
        pytest.skip(f"TMF standards not found at {STANDARDS} (../shared beside the repo)")
    return Registry().with_resources(
        (BASE + name, Resource.from_contents(json.loads((STANDARDS / name).read_text(encoding="utf-8")),
                                             default_specification=DRAFT202012)) for name in (TMF621, TMF656))


def validator(spec: str, definition: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{BASE}{spec}#/definitions/{definition}"}, registry=registry(),
                                format_checker=FORMATS)


def assert_valid(spec: str, definition: str, instance: Any) -> Any:
    """The instance (each item of a list) matches the definition; returns it for chaining."""
    items = instance if isinstance(instance, list) else [instance]
    v = validator(spec, definition)
    for item in items:
        errors = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in v.iter_errors(item)]
        assert not errors, f"not a valid {definition}: {errors[:10]}\n{json.dumps(item)[:2000]}"
        assert not nulls(item), (definition, nulls(item))
    return instance


def nulls(value: Any, path: str = "") -> list[str]:
    """JSON Pointers of the members that are null (TMF leaves absent optional members out)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nulls(v, f"{path}/{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in nulls(v, f"{path}/{i}")]
    return [path] if value is None else []


def assert_event(spec: str, body: dict[str, Any]) -> dict[str, Any]:
    """A TMF event: valid against the definition its eventType names, no member null anywhere."""
    assert_valid(spec, str(body["eventType"]), body)
    assert not nulls(body), (nulls(body), body)
    return body
