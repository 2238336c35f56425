"""The JSON Schemas of TMF656 Service Problem v4 (TMF656-ServiceProblem-v4.0.0.swagger.json) that requests are
checked against: ServiceProblem_Create and _Update, the four task resources' _Create, EventSubscriptionInput.

Written out from the specification's definitions (required members, types, formats), so a body the
specification accepts is accepted and one it refuses is refused naming the field. Beyond the schema only what
its descriptions state: `priority` from 1 (highest) to 10 (lowest). Top-level members the specification does
not define are refused (a misspelt attribute would otherwise be dropped in silence); inside references, extra
members are kept, as the schema allows.
"""

from __future__ import annotations

from typing import Any

from gridcell.core.json_schema import validator

STR: dict[str, Any] = {"type": "string"}
URI: dict[str, Any] = {"type": "string", "format": "uri"}
DATE_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
STATES = ("acknowledged", "rejected", "pending", "held", "inProgress", "resolved", "cancelled", "closed")


def _obj(required: tuple[str, ...] = (), *, href: dict[str, Any] = URI, referred: bool = True,
         **props: dict[str, Any]) -> dict[str, Any]:
    """A TMF reference or entity: id, href, name and the @-members, plus its own properties."""
    properties = {"id": STR, "href": href, "name": STR, "@baseType": STR, "@schemaLocation": URI, "@type": STR,
                  **({"@referredType": STR} if referred else {}), **props}
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    return out


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


CHARACTERISTIC_RELATIONSHIP = _obj(referred=False, relationshipType=STR)
CHARACTERISTIC = _obj(("name", "value"), referred=False, valueType=STR,
                      characteristicRelationship=_list(CHARACTERISTIC_RELATIONSHIP), value={})
REF = _obj(("id",))  # ResourceRef, ServiceRef, SLAViolationRef, TroubleTicketRef, ServiceProblemRef, EntityRef
RELATED_PARTY = _obj(("@referredType", "id"), role=STR)
RELATED_ENTITY = _obj(("@referredType", "id", "role"), role=STR)
RELATED_PLACE = _obj(href=STR, role=STR)
EVENT_REF = _obj(("id",), eventTime=DATE_TIME)
ALARM_REF = _obj(("id",), href=STR, changeRequest=REF)
EXTERNAL_ID = _obj(("id",), referred=False, externalIdentifierType=STR, owner=STR)
NOTE = _obj(referred=False, author=STR, date=DATE_TIME, text=STR)
TRACKING_RECORD = _obj(referred=False, description=STR, systemId=STR, time=DATE_TIME, user=STR,
                       characteristic=_list(CHARACTERISTIC))
IMPACT_PATTERN = _obj(referred=False, description=STR, characteristic=_list(CHARACTERISTIC))

# Every attribute of ServiceProblem; each request form below takes the specification's subset.
ATTRIBUTES: dict[str, dict[str, Any]] = {
    "id": STR, "href": URI, "affectedNumberOfServices": {"type": "integer"}, "category": STR,
    "creationDate": DATE_TIME, "description": STR, "impactImportanceFactor": STR, "lastUpdate": DATE_TIME,
    "name": STR, "originatingSystem": STR, "priority": {"type": "integer", "minimum": 1, "maximum": 10},
    "problemEscalation": STR, "reason": STR, "resolutionDate": DATE_TIME, "statusChangeDate": DATE_TIME,
    "statusChangeReason": STR, "affectedLocation": _list(RELATED_PLACE), "affectedResource": _list(REF),
    "affectedService": _list(REF), "characteristic": _list(CHARACTERISTIC), "externalIdentifier": _list(EXTERNAL_ID),
    "firstAlert": RELATED_ENTITY, "impactPattern": IMPACT_PATTERN, "note": _list(NOTE),
    "originatorParty": RELATED_PARTY, "parentProblem": _list(REF), "relatedEntity": _list(RELATED_ENTITY),
    "relatedEvent": _list(EVENT_REF), "relatedParty": _list(RELATED_PARTY), "responsibleParty": RELATED_PARTY,
    "rootCauseResource": _list(REF), "rootCauseService": _list(REF), "slaViolation": _list(REF),
    "status": {"type": "string", "enum": list(STATES)}, "trackingRecord": _list(TRACKING_RECORD),
    "troubleTicket": _list(REF), "underlyingAlarm": _list(ALARM_REF), "underlyingProblem": _list(REF),
    "@baseType": STR, "@schemaLocation": URI, "@type": STR,
}
CREATE_REQUIRED = ("category", "priority", "description", "reason", "originatorParty")
NOT_ON_CREATE = frozenset({"id", "href"})  # "Skipped properties: id,href"
NOT_ON_UPDATE = frozenset({"id", "href", "firstAlert", "originatingSystem", "trackingRecord"})


def _resource(keys: frozenset[str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": {k: v for k, v in ATTRIBUTES.items() if k in keys},
            "required": list(required), "additionalProperties": False}


CREATE = validator(_resource(frozenset(ATTRIBUTES) - NOT_ON_CREATE, CREATE_REQUIRED))
UPDATE = validator(_resource(frozenset(ATTRIBUTES) - NOT_ON_UPDATE))
_META = {"@baseType": STR, "@schemaLocation": URI, "@type": STR}
ACKNOWLEDGEMENT = validator({"type": "object", "required": ["problem"], "additionalProperties": False,
                             "properties": {"problem": _list(REF), "ackProblem": _list(REF),
                                            "trackingRecord": TRACKING_RECORD, **_META}})
UNACKNOWLEDGEMENT = validator({"type": "object", "required": ["problem"], "additionalProperties": False,
                               "properties": {"problem": _list(REF), "unackProblem": _list(REF),
                                              "trackingRecord": TRACKING_RECORD, **_META}})
GROUPING = validator({"type": "object", "required": ["parentProblem", "childProblem"],
                      "additionalProperties": False,
                      "properties": {"parentProblem": REF, "childProblem": _list(REF), **_META}})
