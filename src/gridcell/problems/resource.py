"""The TMF656 ServiceProblem resource: what clients send (checked against the specification's schema), and what
they get back (every attribute kept as supplied, absolute `href`, absent attributes omitted, the area-level
redaction for the DSO)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator

from gridcell.core import links
from gridcell.core.clock import in_range, isoformat
from gridcell.core.errors import InvalidInput
from gridcell.core.json_schema import schema_errors
from gridcell.problems import schema
from gridcell.problems.models import Problem

BASE = "/tmf-api/serviceProblemManagement/v4"
ALL_KEYS = frozenset(schema.ATTRIBUTES)
# Kept in columns (the lifecycle, the ownership, what lists filter and sort on); the rest lives in `doc`.
COLUMNS = ("id", "href", "name", "category", "priority", "description", "reason", "status", "creationDate",
           "lastUpdate", "statusChangeDate", "resolutionDate")
SERVER_SET = ("id", "href", "lastUpdate", "statusChangeDate", "resolutionDate", "trackingRecord")
DOC_KEYS = tuple(sorted(ALL_KEYS - set(COLUMNS)))


def check(body: Any, validator: Draft202012Validator, what: str) -> dict[str, Any]:
    """The body, or InvalidInput naming every field that does not match the specification."""
    if not isinstance(body, dict):
        raise InvalidInput(f"a {what} must be a JSON object", errors=[{"loc": "", "msg": "must be an object"}])
    errors = schema_errors(validator, body)
    if errors:
        raise InvalidInput(f"the {what} does not match TMF656", errors=errors)
    return body


def parse_date(value: Any) -> datetime | None:
    """A date-time the schema check let through (offset present, within range)."""
    return in_range(datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))) if value else None


def href(problem_id: str) -> str:
    return links.absolute(f"{BASE}/serviceProblem/{problem_id}")


def ref(p: Problem) -> dict[str, Any]:
    """A ServiceProblemRef."""
    return {"id": p.id, "href": href(p.id), **({"name": p.name} if p.name else {}),
            "@referredType": "ServiceProblem"}


def tracking(description: str, user: str, now: datetime, n: int, **extra: Any) -> dict[str, Any]:
    return {"id": str(n), "description": description, "systemId": "gridcell", "time": isoformat(now), "user": user,
            **extra}


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
        "id": p.id, "href": href(p.id), "name": p.name, "category": p.category, "priority": p.priority,
        "description": p.description, "reason": p.reason, "status": p.status,
        "creationDate": isoformat(p.creation_date), "lastUpdate": isoformat(p.last_update),
        "statusChangeDate": isoformat(p.status_change_date), "resolutionDate": isoformat(p.resolution_date),
        **{k: v for k, v in doc.items() if k in ALL_KEYS and k not in COLUMNS},
    }
    out.setdefault("@type", "ServiceProblem")
    return {k: v for k, v in out.items() if v is not None and v != []}
