"""TMF656 task resources: acknowledging problems (and taking an acknowledgement back), grouping problems under a
parent (and ungrouping them). All are the responsible MNO's (the problem handler's), all-or-nothing: one problem
that cannot take the task refuses the whole request, naming it, and nothing changes.

Acknowledged here means "the MNO has taken the problem": the acknowledgement is recorded on the problem (who,
when, in its tracking records). TMF656 v4 has no status before `acknowledged`, which a new problem already has,
so the status does not move; an acknowledgement can be taken back while the problem is not yet worked.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gridcell.core.clock import isoformat, utcnow
from gridcell.core.errors import Forbidden, InvalidInput, NotFound
from gridcell.core.ids import new_uuid
from gridcell.problems import resource, schema, service
from gridcell.problems.models import Problem
from gridcell.tenancy.service import Caller

ACK = "_acknowledgement"  # stored with the problem, not an attribute of the resource


def _problems(session: Session, caller: Caller, refs: list[dict[str, Any]], loc: str) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for i, r in enumerate(refs):
        if r["id"] in seen:
            raise InvalidInput(f"problem {r['id']} is named twice", errors=[{"loc": f"{loc}/{i}/id", "msg": "twice"}])
        seen.add(r["id"])
        out.append(service.get(session, caller, r["id"], loc=f"{loc}/{i}/id", lock=True))
    return out


def _handler(caller: Caller, what: str) -> None:
    caller.require("operator")
    if caller.org_kind != "mno":
        raise Forbidden(f"problems are {what} by the responsible MNO (the problem handler)")


def acknowledge(session: Session, caller: Caller, body: Any) -> dict[str, Any]:
    _handler(caller, "acknowledged")
    body = resource.check(body, schema.ACKNOWLEDGEMENT, "ProblemAcknowledgement")
    problems = _problems(session, caller, body["problem"], "problem")
    for i, p in enumerate(problems):
        if service.LIFECYCLE.is_final(p.status):
            raise InvalidInput(f"problem {p.id} is {p.status}", errors=[{"loc": f"problem/{i}/id",
                                                                         "msg": f"{p.status}: nothing to take"}])
    now = utcnow()
    done = []
    for p in problems:
        if p.doc.get(ACK):
            continue  # acknowledged already: stays as it was
        p.doc = {**p.doc, ACK: {"by": caller.org_id, "at": isoformat(now)}}
        service.track(session, p, caller, [], p.status, now, what="acknowledged by the responsible MNO",
                      given=body.get("trackingRecord"))
        done.append(resource.ref(p))
    return _task(body, "ProblemAcknowledgement", ackProblem=done)


def unacknowledge(session: Session, caller: Caller, body: Any) -> dict[str, Any]:
    _handler(caller, "unacknowledged")
    body = resource.check(body, schema.UNACKNOWLEDGEMENT, "ProblemUnacknowledgement")
    problems = _problems(session, caller, body["problem"], "problem")
    for i, p in enumerate(problems):
        if not p.doc.get(ACK) or p.status != service.LIFECYCLE.initial:
            why = "not acknowledged" if not p.doc.get(ACK) else f"worked already ({p.status})"
            raise InvalidInput(f"problem {p.id}: {why}", errors=[{"loc": f"problem/{i}/id", "msg": why}])
    now = utcnow()
    for p in problems:
        p.doc = {k: v for k, v in p.doc.items() if k != ACK}
        service.track(session, p, caller, [], p.status, now, what="acknowledgement taken back by the responsible MNO",
                      given=body.get("trackingRecord"))
    return _task(body, "ProblemUnacknowledgement", unackProblem=[resource.ref(p) for p in problems])


def _family(session: Session, caller: Caller, body: dict[str, Any]) -> tuple[Problem, list[Problem]]:
    parent = service.get(session, caller, body["parentProblem"]["id"], loc="parentProblem/id", lock=True)
    children = _problems(session, caller, body["childProblem"], "childProblem")
    for i, c in enumerate(children):
        if c.id == parent.id:
            raise InvalidInput("a problem cannot be its own child", errors=[{"loc": f"childProblem/{i}/id",
                                                                             "msg": "is the parent"}])
        if c.dso_id != parent.dso_id:  # ids of one DSO's problems are never shown to another
            raise InvalidInput(f"problem {c.id} was raised by another DSO than the parent",
                               errors=[{"loc": f"childProblem/{i}/id", "msg": "another originator"}])
    return parent, children


def _refs(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return list(doc.get(key) or [])


def _descendants(session: Session, caller: Caller, p: Problem, seen: set[str]) -> set[str]:
    """Ids of every problem below p (underlyingProblem, transitively); references to unknown ids end there."""
    for r in _refs(p.doc, "underlyingProblem"):
        if r["id"] in seen:
            continue
        seen.add(r["id"])
        try:
            _descendants(session, caller, service.get(session, caller, r["id"]), seen)
        except NotFound:
            continue
    return seen


def group(session: Session, caller: Caller, body: Any) -> dict[str, Any]:
    """childProblem become underlyingProblem of parentProblem, which becomes each child's parentProblem."""
    _handler(caller, "grouped")
    body = resource.check(body, schema.GROUPING, "ProblemGroup")
    parent, children = _family(session, caller, body)
    for i, c in enumerate(children):
        if parent.id in _descendants(session, caller, c, set()):
            raise InvalidInput(f"problem {c.id} is above the parent already", errors=[{
                "loc": f"childProblem/{i}/id", "msg": "grouping it would make a cycle"}])
    now = utcnow()
    below = _refs(parent.doc, "underlyingProblem")
    added = [resource.ref(c) for c in children if c.id not in {r["id"] for r in below}]
    if added:
        parent.doc = {**parent.doc, "underlyingProblem": below + added}
        service.track(session, parent, caller, ["underlyingProblem"], parent.status, now)
    for c in children:
        above = _refs(c.doc, "parentProblem")
        if parent.id not in {r["id"] for r in above}:
            c.doc = {**c.doc, "parentProblem": [*above, resource.ref(parent)]}
            service.track(session, c, caller, ["parentProblem"], c.status, now)
    return _task(body, "ProblemGroup", parentProblem=resource.ref(parent),
                 childProblem=[resource.ref(c) for c in children])


def ungroup(session: Session, caller: Caller, body: Any) -> dict[str, Any]:
    _handler(caller, "ungrouped")
    body = resource.check(body, schema.GROUPING, "ProblemUngroup")
    parent, children = _family(session, caller, body)
    below = {r["id"] for r in _refs(parent.doc, "underlyingProblem")}
    for i, c in enumerate(children):
        if c.id not in below:
            raise InvalidInput(f"problem {c.id} is not grouped under {parent.id}",
                               errors=[{"loc": f"childProblem/{i}/id", "msg": "not a child of parentProblem"}])
    now = utcnow()
    ids = {c.id for c in children}
    parent.doc = {**parent.doc, "underlyingProblem": [r for r in _refs(parent.doc, "underlyingProblem")
                                                      if r["id"] not in ids]}
    service.track(session, parent, caller, ["underlyingProblem"], parent.status, now)
    for c in children:
        c.doc = {**c.doc, "parentProblem": [r for r in _refs(c.doc, "parentProblem") if r["id"] != parent.id]}
        service.track(session, c, caller, ["parentProblem"], c.status, now)
    return _task(body, "ProblemUngroup", parentProblem=resource.ref(parent),
                 childProblem=[resource.ref(c) for c in children])


def _task(body: dict[str, Any], kind: str, **out: Any) -> dict[str, Any]:
    """The task resource answered: the input as sent, its outcome, an id; no href (tasks are not kept)."""
    return {"id": new_uuid(), **body, **out, "@type": body.get("@type") or kind}
