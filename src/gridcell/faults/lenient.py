"""What real MNO systems send, made into what TS 28.532 / TS 28.111 say, before validation.

Vendor OSSs and VES agents send numeric strings for integers, mixed-case and spaced enum names ("Major",
"Environmental Alarm"), X.733 probable-cause codes ("29"), `uri` for `href` and `additionalInformation` as a
list of name/value pairs. Each is rewritten to the standard form here; the caller keeps the original payload
beside the record whenever anything changed, so an MNO can always see what it sent.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from gridcell.faults import causes
from gridcell.faults import schemas as s

_INTEGER_FIELDS = ("notificationId", "sequenceNo", "heartbeatNtfPeriod", "monitorGranularityPeriod")
_TIME_FIELDS = ("eventTime", "start", "end")
_NOTIFICATION_TYPES = {t.lower(): t for t in s.NOTIFICATION_TYPES}
_ACK_STATES = {"acknowledged": "ACKNOWLEDGED", "unacknowledged": "UNACKNOWLEDGED"}


def squash(name: str) -> str:
    """An enum name without case, spaces, dashes or underscores: 'Environmental Alarm' -> 'environmentalalarm'."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


_ALARM_TYPES = {squash(t.value): t.value for t in s.AlarmType}
_ALARM_TYPES.update({squash(t.value.removesuffix("_ALARM")): t.value for t in s.AlarmType
                     if t.value.endswith("_ALARM")})
_ALARM_TYPES["qosalarm"] = s.AlarmType.QUALITY_OF_SERVICE_ALARM.value
_SEVERITIES = {squash(v.value): v.value for v in s.PerceivedSeverity}


def _enum(value: Any, table: dict[str, str]) -> Any:
    if isinstance(value, str):
        return table.get(squash(value), value)
    return value


def integer(value: Any) -> Any:
    """'123' and 123.0 -> 123; anything else as sent."""
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,19}\s*", value):
        return int(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def _time(value: Any) -> Any:
    """ISO 8601 forms pydantic does not read (hour-only offsets '+01', the basic format '20260101T100000Z') in the
    extended form; everything else as sent (pydantic reads fractions, 'Z', '+0100', spaces and epoch numbers)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if re.fullmatch(r".+T.+[+-]\d{2}", text):
        text += ":00"
    elif not re.fullmatch(r"\d{8}T\d{4,6}(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)?", text):
        return value
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return value


def name_value_pairs(value: Any) -> Any:
    """`additionalInformation` as a list ([{"name": n, "value": v}] or [{n: v}, ...]) becomes one object."""
    if not isinstance(value, list):
        return value
    out: dict[str, Any] = {}
    for i, item in enumerate(value):
        if isinstance(item, dict) and set(item) <= {"name", "value"} and isinstance(item.get("name"), str):
            out[item["name"]] = item.get("value")
        elif isinstance(item, dict):
            out.update(item)
        else:
            out[str(i)] = item
    return out


# Values already in the standard's form: most notifications need no rewriting, and finding that out must cost
# next to nothing on the ingest path (a set lookup per field).
_STANDARD: dict[str, frozenset[Any]] = {
    "notificationType": frozenset(s.NOTIFICATION_TYPES), "alarmType": frozenset(_ALARM_TYPES.values()),
    "perceivedSeverity": frozenset(_SEVERITIES.values()), "ackState": frozenset(_ACK_STATES.values()),
    "probableCause": causes.ANNEX_B}
_REWRITE: dict[str, Any] = {
    "notificationType": lambda v: _NOTIFICATION_TYPES.get(v.strip().lower(), v) if isinstance(v, str) else v,
    "alarmType": lambda v: _enum(v, _ALARM_TYPES), "perceivedSeverity": lambda v: _enum(v, _SEVERITIES),
    "ackState": lambda v: _enum(v, _ACK_STATES), "probableCause": causes.normalise}


def _time_needs_rewriting(value: Any) -> bool:
    """Cheap: only an hour-only offset or the basic format need `_time`."""
    if not isinstance(value, str) or len(value) < 9:
        return False
    return (value[-3] in "+-" and value[-2:].isdigit()) or (value[8:9] == "T" and value[:8].isdigit())


def notification(raw: Any) -> Any:
    """A 3GPP notification in the standard's form: the same dict when nothing needed rewriting, else a new one
    (the original is never touched). Anything that is not an object is left for validation to refuse."""
    if not isinstance(raw, dict):
        return raw
    changes: dict[str, Any] = {}
    for key, standard in _STANDARD.items():
        value = raw.get(key)
        if isinstance(value, (str, int)) and value not in standard:  # others: for validation to refuse
            fixed = _REWRITE[key](value)
            if fixed != value:
                changes[key] = fixed
    for key in _INTEGER_FIELDS:
        value = raw.get(key)
        if isinstance(value, (str, float)):
            fixed = integer(value)
            if fixed is not value:
                changes[key] = fixed
    for key in _TIME_FIELDS:
        value = raw.get(key)
        if _time_needs_rewriting(value):
            changes[key] = _time(value)
    href = raw.get("href", raw.get("uri"))  # TS 28.532 Rel-16 named the header's field `uri`
    if ("href" not in raw and "uri" in raw) or (isinstance(href, int) and not isinstance(href, bool)):
        changes["href"] = str(href) if isinstance(href, int) and not isinstance(href, bool) else href
    if isinstance(raw.get("additionalInformation"), list):
        changes["additionalInformation"] = name_value_pairs(raw["additionalInformation"])
    if not changes:
        return raw
    n = {k: v for k, v in raw.items() if not (k == "uri" and "href" not in raw)}
    n.update(changes)
    return n
