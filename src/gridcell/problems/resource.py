"""The TMF656 ServiceProblem resource: validation and rendering (with the area-level redaction for the DSO)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gridcell.core.clock import isoformat
from gridcell.core.errors import InvalidInput
from gridcell.problems.models import Problem

BASE = "/tmf-api/serviceProblemManagement/v4"
REQUIRED = ("category", "priority", "description", "reason", "originatorParty")
STRINGS = ("name", "category", "description", "reason", "statusChangeReason", "impactImportanceFactor",
           "problemEscalation", "originatingSystem", "status", "@type", "@baseType", "@schemaLocation")
REF_LISTS = {"affectedResource": ("id",), "affectedService": ("id",), "affectedLocation": (), "relatedEvent": ("id",),
             "underlyingAlarm": ("id",), "relatedEntity": ("id", "role", "@referredType"),
             "relatedParty": ("id", "@referredType"), "rootCauseResource": ("id",), "rootCauseService": ("id",),
             "troubleTicket": ("id",), "slaViolation": (), "externalIdentifier": ("id",),
             "characteristic": ("name",), "note": ("text",), "parentProblem": (), "underlyingProblem": ()}
OBJECTS = ("originatorParty", "responsibleParty", "firstAlert", "impactPattern")
SERVER_SET = ("id", "href", "creationDate", "lastUpdate", "statusChangeDate", "resolutionDate", "trackingRecord")
ALL_KEYS = frozenset(REQUIRED + STRINGS + tuple(REF_LISTS) + OBJECTS + SERVER_SET + ("affectedNumberOfServices",))
DOC_KEYS = tuple(k for k in ALL_KEYS if k not in ("id", "href", "creationDate", "lastUpdate", "statusChangeDate",
                                                  "resolutionDate", "category", "priority", "description", "reason",
                                                  "name", "status"))


def _err(loc: str, msg: str) -> dict[str, str]:
    return {"loc": loc, "msg": msg}


def validate(body: Any, *, creating: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("a ServiceProblem must be a JSON object", errors=[_err("", "must be an object")])
    errors = [_err(k, "unknown member of ServiceProblem") for k in sorted(set(body) - ALL_KEYS)]
    if creating:
        errors += [_err(k, "is mandatory") for k in REQUIRED if body.get(k) in (None, "")]
    for k in STRINGS:
        if body.get(k) is not None and not isinstance(body[k], str):
            errors.append(_err(k, "must be a string"))
    for k in ("priority", "affectedNumberOfServices"):
        v = body.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            errors.append(_err(k, "must be an integer"))
    if isinstance(body.get("priority"), int) and not 1 <= body["priority"] <= 10:
        errors.append(_err("priority", "must be within 1 (highest) .. 10 (lowest)"))
    for k, required in REF_LISTS.items():
        v = body.get(k)
        if v is None:
            continue
        if not isinstance(v, list):
            errors.append(_err(k, "must be an array"))
            continue
        for i, item in enumerate(v):
            if not isinstance(item, dict):
                errors.append(_err(f"{k}/{i}", "must be an object"))
                continue
            errors += [_err(f"{k}/{i}/{r}", "is mandatory (a string)") for r in required
                       if not isinstance(item.get(r), str) or not item[r]]
    for k in OBJECTS:
        v = body.get(k)
        if v is not None and not isinstance(v, dict):
            errors.append(_err(k, "must be an object"))
    for k in ("originatorParty", "responsibleParty"):
        v = body.get(k)
        if isinstance(v, dict) and (not isinstance(v.get("id"), str) or not isinstance(v.get("@referredType"), str)):
            errors.append(_err(k, "needs id and @referredType"))
    if errors:
        raise InvalidInput("the ServiceProblem does not match the schema", errors=errors)
    return body


def tracking(description: str, user: str, now: datetime, n: int) -> dict[str, Any]:
    return {"id": str(n), "description": description, "systemId": "gridcell", "time": isoformat(now), "user": user}


def redact_area(doc: dict[str, Any]) -> dict[str, Any]:
    """What an area-level agreement lets the DSO see: no cells, RAN sites or alarm ids of the MNO."""
    out = dict(doc)
    for k in ("affectedResource", "rootCauseResource"):
        if out.get(k):
            out[k] = [r for r in out[k] if str(r.get("@referredType", "")) not in ("Cell", "RanSite")]
    out.pop("underlyingAlarm", None)
    if out.get("relatedEvent"):
        out["relatedEvent"] = [{k: v for k, v in e.items() if k != "id"} | {"id": "redacted"}
                               if e.get("@referredType") == "Alarm" else e for e in out["relatedEvent"]]
    if out.get("characteristic"):
        out["characteristic"] = [c for c in out["characteristic"] if c.get("name") != "cellEvidence"]
    return out


def render(p: Problem, doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": p.id, "href": f"{BASE}/serviceProblem/{p.id}", "name": p.name, "category": p.category,
        "priority": p.priority, "description": p.description, "reason": p.reason, "status": p.status,
        "creationDate": isoformat(p.creation_date), "lastUpdate": isoformat(p.last_update),
        "statusChangeDate": isoformat(p.status_change_date), "resolutionDate": isoformat(p.resolution_date),
        **{k: v for k, v in doc.items() if k in ALL_KEYS}, "@type": doc.get("@type") or "ServiceProblem",
    }
    return {k: v for k, v in out.items() if v is not None}
