"""Bodies checked against a JSON Schema (draft 2020-12) with every error named by its field, so a standard's
schema is applied as written instead of re-implemented field by field.

Formats are asserted, not only annotated: `date-time` must carry a UTC offset and fall within 1970-2199 (what
the exchange can store), `uri` must be absolute (scheme first): a relative reference sent in would come back
out under a schema that says `format: uri`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from gridcell.core.clock import in_range

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")
FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("needs a UTC offset (e.g. Z)")
    in_range(parsed)
    return True


@FORMATS.checks("uri")
def _uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_SCHEME.match(value))


def _loc(error: ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [r for r in error.validator_value if r not in error.instance]
        if missing:
            path.append(str(missing[0]))
    return "/".join(path)


def _message(error: ValidationError) -> str:
    if error.validator == "required":
        return "is mandatory"
    if error.validator == "format":
        cause = f" ({error.cause})" if error.cause else ""
        return f"not a valid {error.validator_value}{cause}"
    if error.validator == "additionalProperties":
        return "unknown member"
    return str(error.message)[:200]


def schema_errors(validator: Draft202012Validator, body: Any) -> list[dict[str, str]]:
    """Every violation as {loc, msg}: loc is the JSON Pointer of the field without the leading slash."""
    out = []
    for error in sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path]):
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            prefix = [str(p) for p in error.absolute_path]
            out += [{"loc": "/".join([*prefix, k]), "msg": "unknown member"} for k in sorted(error.instance)
                    if k not in allowed]
            continue
        out.append({"loc": _loc(error), "msg": _message(error)})
    return out


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=FORMATS)
