"""Service problems between a DSO (originator) and an MNO (responsible party), and trend proposals.

A proposal (from the trend job) is visible to its DSO only, in the native API; sending it makes it a TMF656
ServiceProblem the MNO sees. Status rules as for trouble tickets: the DSO may cancel, close a resolved problem
or reopen it; the MNO works it (inProgress, pending, held, resolved, rejected).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridcell.core.clock import isoformat, utcnow
from gridcell.core.errors import Forbidden, InvalidInput, NotFound
from gridcell.core.ids import new_uuid
from gridcell.core.tmf import TMF_LIFECYCLE, attribute_filter, merge_patch, paging, select_fields, stamp_notes
from gridcell.problems import notify, resource
from gridcell.problems.models import Problem
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import Caller

LIFECYCLE = TMF_LIFECYCLE
OPEN = tuple(s for s in LIFECYCLE.states if not LIFECYCLE.is_final(s))
DSO_STATUS = frozenset({"cancelled", "closed", "inProgress"})
MNO_STATUS = frozenset({"acknowledged", "inProgress", "pending", "held", "resolved", "rejected"})
FIXED = frozenset({"originatorParty", "responsibleParty"})
# Who writes what: the originating DSO describes the problem; the responsible MNO gives its analysis. Either side
# adds notes and moves the status within its own transitions; neither rewrites what the other wrote (403).
MNO_FIELDS = frozenset({"rootCauseResource", "rootCauseService", "problemEscalation", "parentProblem",
                        "underlyingProblem"})
BOTH_FIELDS = frozenset({"note", "status", "statusChangeReason"})
DSO_FIELDS = frozenset(resource.ALL_KEYS - MNO_FIELDS - BOTH_FIELDS - FIXED - set(resource.SERVER_SET))


def _level(session: Session, dso_id: str, mno_id: str) -> str:
    a = next((a for a in tenancy.agreements_for(session, dso_id) if a.dso_id == dso_id and a.mno_id == mno_id), None)
    return a.level if a else "area"


def view(session: Session, p: Problem, org_id: str) -> dict[str, Any]:
    doc = p.doc
    if org_id == p.dso_id and _level(session, p.dso_id, p.mno_id) == "area":
        doc = resource.redact_area(doc)
    return resource.render(p, doc)


def _scope(caller: Caller) -> Any:
    if caller.org_kind == "dso":
        return Problem.dso_id == caller.org_id
    return (Problem.mno_id == caller.org_id) & Problem.proposed.is_(False)


def _get(session: Session, caller: Caller, problem_id: str, *, proposed: bool = False) -> Problem:
    p = session.scalar(select(Problem).where(Problem.id == problem_id, _scope(caller),
                                             Problem.proposed.is_(proposed)))
    if p is None:
        raise NotFound(f"{'proposal' if proposed else 'serviceProblem'} {problem_id} not found")
    return p


def get_problem(session: Session, caller: Caller, problem_id: str, fields: str | None) -> dict[str, Any]:
    caller.require("viewer")
    p = _get(session, caller, problem_id)
    tenancy.audit(session, caller, "read service problem", [p.mno_id if caller.org_kind == "dso" else p.dso_id])
    return select_fields(view(session, p, caller.org_id), fields)


def list_problems(session: Session, caller: Caller, query: dict[str, list[str]], fields: str | None,
                  offset: int | None, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    caller.require("viewer")
    off, lim = paging(offset, limit)
    rows = list(session.scalars(select(Problem).where(_scope(caller), Problem.proposed.is_(False))
                                .order_by(Problem.pk)))
    items = attribute_filter((view(session, p, caller.org_id) for p in rows), query, resource.ALL_KEYS)
    page = items[off:off + lim]
    shown = {i["id"] for i in page}
    tenancy.audit(session, caller, "read service problems",
                  {(p.mno_id if caller.org_kind == "dso" else p.dso_id) for p in rows if p.id in shown})
    return [select_fields(i, fields) for i in page], len(items)


def _names(session: Session, org_id: str) -> list[str]:
    """What a forged note author would name: the counterpart organisation's id and name."""
    return [org_id, tenancy.get_org(session, org_id).name]


def _responsible(session: Session, caller: Caller, body: dict[str, Any]) -> str:
    mnos = sorted({a.mno_id for a in tenancy.agreements_for(session, caller.org_id) if a.dso_id == caller.org_id})
    party = body.get("responsibleParty")
    if party is not None:
        if party["id"] not in mnos:
            raise InvalidInput("responsibleParty must be an MNO the DSO has an agreement with",
                               errors=[{"loc": "responsibleParty", "msg": f"one of: {', '.join(mnos) or 'none'}"}])
        return str(party["id"])
    if len(mnos) == 1:
        return mnos[0]
    raise InvalidInput("name the MNO in responsibleParty", errors=[{"loc": "responsibleParty",
                                                                    "msg": f"one of: {', '.join(mnos) or 'none'}"}])


def new_problem(session: Session, dso_id: str, mno_id: str, body: dict[str, Any], now: datetime, *,
                proposed: bool, trend_key: str | None = None) -> Problem:
    doc = {k: body[k] for k in resource.DOC_KEYS if body.get(k) is not None}
    doc["originatorParty"] = {"id": dso_id, "role": "originator", "@referredType": "Organization"}
    doc["responsibleParty"] = {"id": mno_id, "role": "responsible", "@referredType": "Organization"}
    doc["note"] = stamp_notes(body.get("note") or [], [], f"DSO {dso_id}", now, counterparts=_names(session, mno_id))
    what = "proposed by the trend job" if proposed else "created"
    doc["trackingRecord"] = [resource.tracking(what, dso_id, now, 1)]
    p = Problem(id=new_uuid(), dso_id=dso_id, mno_id=mno_id, name=body.get("name"), category=body["category"],
                priority=body["priority"], description=body["description"], reason=body["reason"],
                status=LIFECYCLE.initial, creation_date=now, last_update=now, status_change_date=now,
                resolution_date=None, proposed=proposed, trend_key=trend_key, doc=doc)
    session.add(p)
    session.flush()
    return p


def create_problem(session: Session, caller: Caller, body: Any) -> dict[str, Any]:
    """`status` on create is the server's: a new problem is `acknowledged`."""
    caller.require("operator", "dso")
    body = resource.validate(body, creating=True)
    origin = body["originatorParty"]
    if origin.get("id") != caller.org_id:
        raise InvalidInput("originatorParty must be the calling DSO",
                           errors=[{"loc": "originatorParty/id", "msg": f"must be {caller.org_id}"}])
    now = utcnow()
    p = new_problem(session, caller.org_id, _responsible(session, caller, body), body, now, proposed=False)
    _send(session, p, "ServiceProblemCreateEvent", now, "service problem created")
    return view(session, p, caller.org_id)


def patch_problem(session: Session, caller: Caller, problem_id: str, patch: Any, content_type: str) -> dict[str, Any]:
    caller.require("operator")
    p = _get(session, caller, problem_id)
    if not isinstance(patch, dict):
        raise InvalidInput("a merge patch must be a JSON object", errors=[{"loc": "", "msg": "must be an object"}])
    unknown = sorted(set(patch) - resource.ALL_KEYS)
    fixed = sorted(set(patch) & (set(resource.SERVER_SET) | FIXED))
    if unknown or fixed:
        raise InvalidInput("members not patchable: " + ", ".join(unknown + fixed),
                           errors=[{"loc": k, "msg": "unknown or not patchable"} for k in unknown + fixed])
    theirs = sorted(set(patch) - (DSO_FIELDS if caller.org_kind == "dso" else MNO_FIELDS) - BOTH_FIELDS)
    if theirs:
        owner = "the responsible MNO" if caller.org_kind == "dso" else "the originating DSO"
        raise Forbidden(f"{', '.join(theirs)}: written by {owner}",
                        errors=[{"loc": k, "msg": f"written by {owner}"} for k in theirs])
    now = utcnow()
    current = resource.render(p, p.doc)
    updated = merge_patch(current, patch, content_type)
    patched = {k: updated.get(k) for k in patch}
    resource.validate({k: v for k, v in patched.items() if v is not None}, creating=False)
    missing = [k for k in resource.REQUIRED if k in patch and patched.get(k) in (None, "")]
    if missing:
        raise InvalidInput(f"mandatory: {', '.join(missing)}", errors=[{"loc": k, "msg": "mandatory"} for k in missing])
    old_status = p.status
    doc = dict(p.doc)
    changed = []
    for key, value in patched.items():
        if key == "status":
            continue
        if key in ("category", "priority", "description", "reason", "name"):
            if getattr(p, key) != value:
                setattr(p, key, value)
                changed.append(key)
        elif key == "note":
            other = p.mno_id if caller.org_kind == "dso" else p.dso_id
            notes = stamp_notes(value or [], list(doc.get("note") or []), f"{caller.org_kind.upper()} {caller.org_id}",
                                now, counterparts=_names(session, other))
            if notes != doc.get("note"):
                doc["note"] = notes
                changed.append(key)
        elif doc.get(key) != value:
            if value is None:
                doc.pop(key, None)
            else:
                doc[key] = value
            changed.append(key)
    new_status = patched.get("status")
    if isinstance(new_status, str) and new_status != old_status:
        LIFECYCLE.check(old_status, new_status)
        side = DSO_STATUS if caller.org_kind == "dso" else MNO_STATUS
        if new_status not in side or (caller.org_kind == "dso" and new_status == "inProgress"
                                      and old_status != "resolved"):
            who = "the MNO" if caller.org_kind == "dso" else "the originating DSO"
            raise Forbidden(f"status '{new_status}' from '{old_status}' is set by {who}")
        p.status = new_status
        p.status_change_date = now
        p.resolution_date = now if new_status == "resolved" else (None if new_status == "inProgress"
                                                                  else p.resolution_date)
        if isinstance(patched.get("statusChangeReason"), str):
            doc["statusChangeReason"] = patched["statusChangeReason"]
    if changed or p.status != old_status:
        what = ", ".join(changed + ([f"status {old_status} -> {p.status}"] if p.status != old_status else []))
        doc["trackingRecord"] = [*doc.get("trackingRecord", []),
                                 resource.tracking(what, caller.org_id, now, len(doc.get("trackingRecord", [])) + 1)]
        p.doc = doc
        p.last_update = now
    if p.status != old_status:
        _send(session, p, "ServiceProblemStateChangeEvent", now, f"status {old_status} -> {p.status}")
    if changed:
        _send(session, p, "ServiceProblemAttributeValueChangeEvent", now, "changed: " + ", ".join(changed))
    return view(session, p, caller.org_id)


def delete_problem(session: Session, caller: Caller, problem_id: str) -> None:
    caller.require("operator")
    p = _get(session, caller, problem_id)
    if caller.org_kind != "dso":
        raise Forbidden("a service problem is deleted by the DSO that raised it")
    session.delete(p)


def _send(session: Session, p: Problem, event_type: str, now: datetime, description: str) -> None:
    notify.send(session, [p.dso_id, p.mno_id], event_type, lambda org: view(session, p, org), now, description)


# ---- proposals and native views -----------------------------------------------------------------------------


def send_proposal(session: Session, caller: Caller, proposal_id: str) -> dict[str, Any]:
    """The DSO sends a trend proposal to the MNO: it becomes a TMF656 ServiceProblem both sides see."""
    caller.require("operator", "dso")
    p = _get(session, caller, proposal_id, proposed=True)
    now = utcnow()
    p.proposed = False
    p.creation_date = p.last_update = p.status_change_date = now
    doc = dict(p.doc)
    doc["trackingRecord"] = [*doc.get("trackingRecord", []),
                             resource.tracking("sent to the MNO", caller.org_id, now,
                                               len(doc.get("trackingRecord", [])) + 1)]
    p.doc = doc
    _send(session, p, "ServiceProblemCreateEvent", now, "service problem created from a trend proposal")
    return view(session, p, caller.org_id)


def summaries(session: Session, caller: Caller, *, open_only: bool = True) -> list[dict[str, Any]]:
    caller.require("viewer")
    q = select(Problem).where(_scope(caller))
    if open_only:
        q = q.where(Problem.status.in_(OPEN))
    rows = list(session.scalars(q.order_by(Problem.last_update.desc(), Problem.pk.desc())))
    out = []
    for p in rows:
        v = view(session, p, caller.org_id)
        out.append({"id": p.id, "state": "proposed" if p.proposed else p.status, "category": p.category,
                    "priority": p.priority, "name": p.name, "description": p.description, "reason": p.reason,
                    "dsoId": p.dso_id, "mnoId": p.mno_id, "trendKey": p.trend_key,
                    "creationDate": isoformat(p.creation_date), "lastUpdate": isoformat(p.last_update),
                    "relatedEvents": len(v.get("relatedEvent", [])),
                    "underlyingAlarms": len(v.get("underlyingAlarm", [])),
                    "characteristic": v.get("characteristic", [])})
    tenancy.audit(session, caller, "read problem list",
                  {p.mno_id if caller.org_kind == "dso" else p.dso_id for p in rows if not p.proposed})
    return out


def open_by_trend_key(session: Session, dso_id: str, key: str) -> Problem | None:
    return session.scalar(select(Problem).where(Problem.dso_id == dso_id, Problem.trend_key == key,
                                                Problem.status.in_(OPEN)).order_by(Problem.pk.desc()).limit(1))
