"""VES 7.2 events (O-RAN O1, ONAP) as 3GPP notifications: `stndDefined` carries one already, the classic `fault`
domain maps onto the same alarm model, a `heartbeat` says the feed is alive; other domains are recorded and
counted as ignored.

Alarm identity for the `fault` domain is (sourceName, alarmCondition[, alarmInterfaceA]): agents repeat the
event's fields on every raise and clear of one alarm, and many reuse its eventId, so a notification is
identified by eventId, sequence and severity together (a resend is still a duplicate).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gridcell.faults import causes, lenient

# VES eventSeverity -> TS 28.111 perceivedSeverity; NORMAL is the clear.
SEVERITIES = {"CRITICAL": "CRITICAL", "MAJOR": "MAJOR", "MINOR": "MINOR", "WARNING": "WARNING", "NORMAL": "CLEARED"}
MAPPED_DOMAINS = ("stndDefined", "fault", "heartbeat")


class VesError(ValueError):
    """A field of a VES event that cannot be understood: `pointer` is its JSON Pointer inside the event."""

    def __init__(self, pointer: str, msg: str) -> None:
        super().__init__(msg)
        self.pointer = pointer
        self.msg = msg


def _field(obj: dict[str, Any], key: str, where: str, *, kind: type | tuple[type, ...] = str) -> Any:
    value = obj.get(key)
    if value is None or value == "" or isinstance(value, bool) or not isinstance(value, kind):
        expected = "a non-empty string" if kind is str else "a number"
        raise VesError(f"{where}/{key}", f"required: {expected}")
    return value


def _epoch_us(header: dict[str, Any]) -> str:
    """The event's time from lastEpochMicrosec (else startEpochMicrosec), as ISO 8601 UTC. Some agents fill the
    field with milliseconds or seconds: beyond 10^14 it is read as microseconds, beyond 10^11 as milliseconds,
    else as seconds (the three ranges do not meet between 1973 and 5138)."""
    for key in ("lastEpochMicrosec", "startEpochMicrosec"):
        raw = lenient.integer(header.get(key))
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            scale = 1_000_000 if raw >= 1e14 else 1_000 if raw >= 1e11 else 1
            try:
                return datetime.fromtimestamp(raw / scale, UTC).isoformat()
            except (OverflowError, OSError, ValueError) as exc:
                raise VesError(f"/commonEventHeader/{key}", "microseconds since 1970 expected") from exc
    raise VesError("/commonEventHeader/lastEpochMicrosec", "required: microseconds since 1970 (or startEpochMicrosec)")


def domain_of(event: Any) -> str:
    header = event.get("commonEventHeader") if isinstance(event, dict) else None
    if not isinstance(header, dict):
        raise VesError("/commonEventHeader", "required: an object")
    return str(_field(header, "domain", "/commonEventHeader"))


def notification_id(header: dict[str, Any], *parts: Any) -> str:
    event_id = _field(header, "eventId", "/commonEventHeader")
    return ":".join(str(p) for p in ("ves", event_id, *parts) if p is not None)


def to_notification(event: dict[str, Any]) -> dict[str, Any] | None:
    """The 3GPP notification a VES event stands for (validated afterwards like any other), or None for a domain
    gridcell has no use for."""
    domain = domain_of(event)
    header = event["commonEventHeader"]
    if domain == "stndDefined":
        fields = event.get("stndDefinedFields")
        if not isinstance(fields, dict) or not isinstance(fields.get("data"), dict):
            raise VesError("/stndDefinedFields/data", "required for the stndDefined domain: the 3GPP notification")
        return dict(fields["data"])
    if domain == "fault":
        return _fault(header, event.get("faultFields"))
    if domain == "heartbeat":
        return _heartbeat(header, event.get("heartbeatFields"))
    return None


def _common(header: dict[str, Any], nid: str) -> dict[str, Any]:
    source = _field(header, "sourceName", "/commonEventHeader")
    return {"href": source, "objectInstance": source, "notificationId": nid, "eventTime": _epoch_us(header),
            "systemDN": str(header.get("reportingEntityName") or source)}


def _fault(header: dict[str, Any], fields: Any) -> dict[str, Any]:
    if not isinstance(fields, dict):
        raise VesError("/faultFields", "required for the fault domain: an object")
    condition = _field(fields, "alarmCondition", "/faultFields")
    raw_severity = _field(fields, "eventSeverity", "/faultFields")
    severity = SEVERITIES.get(lenient.squash(raw_severity).upper())
    if severity is None:
        raise VesError("/faultFields/eventSeverity", f"one of {', '.join(SEVERITIES)}")
    info = lenient.name_value_pairs(fields.get("alarmAdditionalInformation")) or {}
    if not isinstance(info, dict):
        raise VesError("/faultFields/alarmAdditionalInformation", "an object or a list of name/value pairs")
    interface = fields.get("alarmInterfaceA")
    alarm_id = "/".join(str(p) for p in (header.get("sourceName"), condition, interface) if p)
    nid = notification_id(header, lenient.integer(header.get("sequence")), severity)
    cause = info.get("probableCause") or causes.standard_name(condition) or condition
    n = _common(header, nid)
    n.update(notificationType="notifyClearedAlarm" if severity == "CLEARED" else "notifyNewAlarm",
             alarmId=alarm_id, perceivedSeverity=severity, probableCause=cause,
             alarmType=info.get("alarmType") or "EQUIPMENT_ALARM",
             specificProblem=fields.get("specificProblem") or None,
             additionalText=fields.get("alarmText") or info.get("additionalText") or None,
             additionalInformation={**info, "vesEventSourceType": fields.get("eventSourceType"),
                                    "vesVfStatus": fields.get("vfStatus")})
    return {k: v for k, v in n.items() if v is not None}


def _heartbeat(header: dict[str, Any], fields: Any) -> dict[str, Any]:
    period = lenient.integer((fields or {}).get("heartbeatInterval")) if isinstance(fields, dict) else None
    n = _common(header, notification_id(header, lenient.integer(header.get("sequence"))))
    n["notificationType"] = "notifyHeartbeat"
    if period is not None:
        n["heartbeatNtfPeriod"] = period
    return n
