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


def notification(raw: Any) -> Any:
    """A 3GPP notification in the standard's form; anything that is not an object is left for validation to
    refuse. Returns a new dict (the original is not touched)."""
    if not isinstance(raw, dict):
        return raw
    n = dict(raw)
    if "href" not in n and "uri" in n:  # TS 28.532 Rel-16 named the field `uri` in the header's properties
        n["href"] = n.pop("uri")
    if isinstance(n.get("href"), int) and not isinstance(n["href"], bool):
        n["href"] = str(n["href"])
    if isinstance(n.get("notificationType"), str):
        n["notificationType"] = _NOTIFICATION_TYPES.get(n["notificationType"].strip().lower(), n["notificationType"])
    for key in _INTEGER_FIELDS:
        if key in n:
            n[key] = integer(n[key])
    for key in _TIME_FIELDS:
        if key in n:
            n[key] = _time(n[key])
    if "alarmType" in n:
        n["alarmType"] = _enum(n["alarmType"], _ALARM_TYPES)
    if "perceivedSeverity" in n:
        n["perceivedSeverity"] = _enum(n["perceivedSeverity"], _SEVERITIES)
    if "ackState" in n:
        n["ackState"] = _enum(n["ackState"], _ACK_STATES)
    if "probableCause" in n:
        n["probableCause"] = causes.normalise(n["probableCause"])
    if "additionalInformation" in n:
        n["additionalInformation"] = name_value_pairs(n["additionalInformation"])
    return n
