"""The TMF621 TroubleTicket resource: validation of what clients send, and rendering of what they get.

Extensions (documented in docs/incidents.md; `@type` DsoMnoTroubleTicket, `@baseType` TroubleTicket):
`incidentStart` (when the DSO saw the failure begin), `incidentArea` (GeoJSON polygon) and the read-only
`attribution` (cause, confidence, evidence, ETR) that the MNO desk may confirm or override.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gridcell.core import links
from gridcell.core.clock import in_range, isoformat
from gridcell.core.errors import InvalidInput
from gridcell.core.geo import parse_geojson_geometry
from gridcell.incidents.models import Ticket

BASE = "/tmf-api/troubleTicket/v4"
TYPE = "DsoMnoTroubleTicket"
REQUIRED = ("description", "severity", "ticketType")
STRINGS = ("name", "description", "severity", "priority", "ticketType", "externalId", "statusChangeReason")
DATES = ("requestedResolutionDate", "expectedResolutionDate", "resolutionDate", "incidentStart")
LISTS = ("note", "relatedEntity", "relatedParty", "attachment", "troubleTicketRelationship")
META = ("@type", "@baseType", "@schemaLocation")
SERVER_SET = ("id", "href", "creationDate", "lastUpdate", "statusChange", "statusChangeDate", "attribution")
# Members a client may send on create (status and server-managed dates are the server's: see `create_fields`).
CREATE_KEYS = frozenset(STRINGS + DATES + LISTS + META + ("channel", "status", "incidentArea"))
ALL_KEYS = frozenset(CREATE_KEYS | set(SERVER_SET))
SITE_TYPES = {"dsosite": "site", "site": "site", "geographicsite": "site", "cpe": "cpe", "cell": "cell"}
FUTURE_TOLERANCE = timedelta(minutes=5)


def _err(loc: str, msg: str) -> dict[str, str]:
    return {"loc": loc, "msg": msg}


def parse_date(value: Any, loc: str, errors: list[dict[str, str]]) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(_err(loc, "must be a date-time string"))
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        errors.append(_err(loc, "not an ISO 8601 date-time"))
        return None
    if parsed.tzinfo is None:
        errors.append(_err(loc, "needs a UTC offset (e.g. Z)"))
        return None
    try:
        return in_range(parsed)
    except ValueError as exc:
        errors.append(_err(loc, str(exc)))
        return None


def _objects(body: dict[str, Any], key: str, required: tuple[str, ...], errors: list[dict[str, str]]) -> None:
    value = body.get(key)
    if value is None:
        return
    if not isinstance(value, list):
        errors.append(_err(key, "must be an array"))
        return
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            errors.append(_err(f"{key}/{i}", "must be an object"))
            continue
        for r in required:
            if not isinstance(item.get(r), str) or not item[r].strip():
                errors.append(_err(f"{key}/{i}/{r}", "is mandatory (a non-empty string)"))


def validate(body: Any, *, creating: bool, now: datetime) -> dict[str, Any]:
    """Check types and mandatory members; returns the body. Raises InvalidInput listing every problem."""
    if not isinstance(body, dict):
        raise InvalidInput("a TroubleTicket must be a JSON object", errors=[_err("", "must be an object")])
    errors: list[dict[str, str]] = []
    for k in sorted(set(body) - ALL_KEYS):
        errors.append(_err(k, "unknown member of TroubleTicket"))
    if creating:
        for k in REQUIRED:
            if not isinstance(body.get(k), str) or not body[k].strip():
                errors.append(_err(k, "is mandatory (a non-empty string)"))
    for k in STRINGS + META + ("status",):
        if k in body and body[k] is not None and not isinstance(body[k], str):
            errors.append(_err(k, "must be a string"))
    for k in REQUIRED:
        if not creating and k in body and (not isinstance(body[k], str) or not body[k].strip()):
            errors.append(_err(k, "must be a non-empty string"))
    for k in DATES:
        if k in body:
            parse_date(body[k], k, errors)
    start = parse_date(body.get("incidentStart"), "incidentStart", [])
    if start is not None and start > now + FUTURE_TOLERANCE:
        errors.append(_err("incidentStart", "is in the future"))
    _objects(body, "note", ("text",), errors)
    _objects(body, "relatedEntity", ("id", "role", "@referredType"), errors)
    _objects(body, "relatedParty", ("id", "@referredType"), errors)
    _objects(body, "attachment", (), errors)
    _objects(body, "troubleTicketRelationship", ("id",), errors)
    channel = body.get("channel")
    if channel is not None and (not isinstance(channel, dict) or not isinstance(channel.get("id"), str)):
        errors.append(_err("channel", "must be an object with an id"))
    if body.get("incidentArea") is not None:
        try:
            parse_geojson_geometry(body["incidentArea"], polygonal=True)
        except InvalidInput as exc:
            errors.append(_err("incidentArea", exc.detail))
    if errors:
        raise InvalidInput("the TroubleTicket does not match the schema", errors=errors)
    return body


def site_refs_of(body: dict[str, Any]) -> dict[str, list[str]]:
    """relatedEntity references by kind (site, cpe, cell), from the known @referredType values."""
    out: dict[str, list[str]] = {"site": [], "cpe": [], "cell": []}
    for e in body.get("relatedEntity") or []:
        kind = SITE_TYPES.get(str(e.get("@referredType", "")).lower())
        if kind is not None:
            out[kind].append(str(e["id"]))
    return out


def _present(value: Any) -> Any:
    """The value without null members at any depth: TMF leaves absent optional members out."""
    if isinstance(value, dict):
        return {k: _present(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_present(v) for v in value if v is not None]
    return value


def render(t: Ticket, attribution: dict[str, Any]) -> dict[str, Any]:
    doc = t.doc
    # Status changes stored before absent reasons were left out held a null changeReason.
    changes = [{k: v for k, v in c.items() if v is not None} for c in doc.get("statusChange") or []]
    out: dict[str, Any] = {
        "id": t.id, "href": links.absolute(f"{BASE}/troubleTicket/{t.id}"), "name": t.name,
        "description": t.description, "severity": t.severity, "priority": t.priority, "ticketType": t.ticket_type,
        "status": t.status, "statusChangeDate": isoformat(t.status_change_date),
        "statusChangeReason": doc.get("statusChangeReason"),
        "creationDate": isoformat(t.creation_date), "lastUpdate": isoformat(t.last_update),
        "expectedResolutionDate": isoformat(t.expected_resolution_date),
        "requestedResolutionDate": doc.get("requestedResolutionDate"),
        "resolutionDate": isoformat(t.resolution_date), "externalId": t.external_id,
        "note": doc.get("note") or [], "relatedEntity": doc.get("relatedEntity") or [],
        "relatedParty": doc.get("relatedParty") or [], "statusChange": changes,
        "attachment": doc.get("attachment"), "channel": doc.get("channel"),
        "troubleTicketRelationship": doc.get("troubleTicketRelationship"),
        "incidentStart": isoformat(t.incident_start), "incidentArea": t.area, "attribution": _present(attribution),
        "@type": TYPE, "@baseType": "TroubleTicket",
    }
    return {k: v for k, v in out.items() if v is not None}
