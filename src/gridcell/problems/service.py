"""Service problems between a DSO (originator) and an MNO (responsible party), and trend proposals.

The organisation that calls is recorded apart from the body (`dso_id`, `mno_id`) and alone decides who sees and
writes what; the parties the body names (`originatorParty`, `responsibleParty`, `relatedParty`) are the peers'
own references, kept and returned as sent. Every other TMF656 attribute a side supplies is kept the same way.

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
from gridcell.core.tmf import (
    TMF_LIFECYCLE,
    attribute_filter,
    merge_patch,
    note_author,
    paging,
    select_fields,
    stamp_notes,
)
from gridcell.problems import notify, resource, schema
from gridcell.problems.models import Problem
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import Caller

LIFECYCLE = TMF_LIFECYCLE
OPEN = tuple(s for s in LIFECYCLE.states if not LIFECYCLE.is_final(s))
DSO_STATUS = frozenset({"cancelled", "closed", "inProgress"})
MNO_STATUS = frozenset({"acknowledged", "inProgress", "pending", "held", "resolved", "rejected"})
# The server's record of the problem: set by the lifecycle, never patched.
SERVER_KEPT = frozenset({"creationDate", "lastUpdate", "statusChangeDate", "resolutionDate"})
# Who writes what: the originating DSO describes the problem; the responsible MNO gives its analysis and names who
# handles it. Either side adds notes and moves the status within its own transitions; neither rewrites what the
# other wrote (403).
MNO_FIELDS = frozenset({"rootCauseResource", "rootCauseService", "problemEscalation", "parentProblem",
                        "underlyingProblem", "responsibleParty"})
BOTH_FIELDS = frozenset({"note", "status", "statusChangeReason"})
DSO_FIELDS = frozenset(resource.ALL_KEYS - MNO_FIELDS - BOTH_FIELDS - SERVER_KEPT - schema.NOT_ON_UPDATE)


def agreement_level(session: Session, dso_id: str, mno_id: str) -> str:
    a = next((a for a in tenancy.agreements_for(session, dso_id) if a.dso_id == dso_id and a.mno_id == mno_id), None)
    return a.level if a else "area"


def view(session: Session, p: Problem, org_id: str) -> dict[str, Any]:
    doc = p.doc
    if org_id == p.dso_id and agreement_level(session, p.dso_id, p.mno_id) == "area":
        doc = resource.redact_area(doc)
    return resource.render(p, doc)


def scope(caller: Caller) -> Any:
    """The problems this organisation is a side of (an MNO never sees a DSO's unsent proposals)."""
    if caller.org_kind == "dso":
        return Problem.dso_id == caller.org_id
    return (Problem.mno_id == caller.org_id) & Problem.proposed.is_(False)


def get(session: Session, caller: Caller, problem_id: str, *, proposed: bool = False, loc: str | None = None,
        lock: bool = False) -> Problem:
    q = select(Problem).where(Problem.id == problem_id, scope(caller), Problem.proposed.is_(proposed))
    p = session.scalar(q.with_for_update() if lock else q)
    if p is None:
        what = "proposal" if proposed else "serviceProblem"
        raise NotFound(f"{what} {problem_id} not found",
                       errors=[{"loc": loc, "msg": "not found"}] if loc is not None else None)
    return p


def counterpart(p: Problem, caller: Caller) -> str:
    return p.mno_id if caller.org_kind == "dso" else p.dso_id


def get_problem(session: Session, caller: Caller, problem_id: str, fields: str | None) -> dict[str, Any]:
    caller.require("viewer")
    p = get(session, caller, problem_id)
    tenancy.audit(session, caller, "read service problem", [counterpart(p, caller)])
    return select_fields(view(session, p, caller.org_id), fields)


def list_problems(session: Session, caller: Caller, query: dict[str, list[str]], fields: str | None,
                  offset: int | None, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    caller.require("viewer")
    off, lim = paging(offset, limit)
    rows = list(session.scalars(select(Problem).where(scope(caller), Problem.proposed.is_(False))
                                .order_by(Problem.pk)))
    items = attribute_filter((view(session, p, caller.org_id) for p in rows), query, resource.ALL_KEYS)
    page = items[off:off + lim]
    shown = {i["id"] for i in page}
    tenancy.audit(session, caller, "read service problems", {counterpart(p, caller) for p in rows if p.id in shown})
    return [select_fields(i, fields) for i in page], len(items)


def label(caller: Caller) -> str:
    """How notes and tracking records name the writing organisation."""
    return f"{caller.org_kind.upper()} {caller.org_id}"


def names(session: Session, org_id: str) -> list[str]:
    """What a forged note author would name: the counterpart organisation's id and name."""
    return [org_id, tenancy.get_org(session, org_id).name]


def _responsible(session: Session, caller: Caller, body: dict[str, Any]) -> str:
    """The MNO the problem goes to: one of the DSO's agreements, recognised in the parties the body names (by
    gridcell id or organisation name), else the DSO's only agreement. Other party references are the DSO's own."""
    mnos = sorted({a.mno_id for a in tenancy.agreements_for(session, caller.org_id) if a.dso_id == caller.org_id})
    by_name = {tenancy.get_org(session, m).name.strip().lower(): m for m in mnos}
    parties = [body["responsibleParty"]] if body.get("responsibleParty") else []
    parties += body.get("relatedParty") or []
    named = {p["id"] if p["id"] in mnos else by_name.get(str(p.get("name", "")).strip().lower())
             for p in parties} - {None}
    if len(named) == 1:
        return str(named.pop())
    if not named and len(mnos) == 1:
        return mnos[0]
    why = "names several of them" if named else "names none of them"
    known = ", ".join(mnos) or "none"
    raise InvalidInput(f"the responsible MNO must be one the DSO has an agreement with; the body {why}",
                       errors=[{"loc": "responsibleParty", "msg": f"id or name of one of: {known}"}])


def new_problem(session: Session, dso_id: str, mno_id: str, body: dict[str, Any], now: datetime, *,
                proposed: bool, trend_key: str | None = None) -> Problem:
    doc = {k: body[k] for k in resource.DOC_KEYS if body.get(k) is not None}
    doc.setdefault("originatorParty", {"id": dso_id, "role": "originator", "@referredType": "Organization"})
    doc.setdefault("responsibleParty", {"id": mno_id, "role": "responsible", "@referredType": "Organization"})
    doc["note"] = stamp_notes(body.get("note") or [], [], f"DSO {dso_id}", now, counterparts=names(session, mno_id))
    what = "proposed by the trend job" if proposed else "created"
    given = list(body.get("trackingRecord") or [])
    doc["trackingRecord"] = [*given, resource.tracking(what, dso_id, now, len(given) + 1)]
    created = resource.parse_date(body.get("creationDate")) or now
    p = Problem(id=new_uuid(), dso_id=dso_id, mno_id=mno_id, name=body.get("name"), category=body["category"],
                priority=body["priority"], description=body["description"], reason=body["reason"],
                status=LIFECYCLE.initial, creation_date=created, last_update=now, status_change_date=now,
                resolution_date=None, proposed=proposed, trend_key=trend_key, doc=doc)
    session.add(p)
    session.flush()
    return p


def create_problem(session: Session, caller: Caller, body: Any) -> dict[str, Any]:
    """`status` on create is the server's: a new problem is `acknowledged`; `creationDate`, when given, is kept
    (when the problem began at the originator)."""
    caller.require("operator", "dso")
    body = resource.check(body, schema.CREATE, "ServiceProblem")
    now = utcnow()
    p = new_problem(session, caller.org_id, _responsible(session, caller, body), body, now, proposed=False)
    send(session, p, "ServiceProblemCreateEvent", now, "service problem created")
    return view(session, p, caller.org_id)


def _check_patch(caller: Caller, patch: dict[str, Any]) -> None:
    fixed = sorted(set(patch) & (SERVER_KEPT | schema.NOT_ON_UPDATE))
    if fixed:
        raise InvalidInput("members not patchable (kept by the server): " + ", ".join(fixed),
                           errors=[{"loc": k, "msg": "not patchable"} for k in fixed])
    resource.check({k: v for k, v in patch.items() if v is not None}, schema.UPDATE, "ServiceProblem")
    theirs = sorted(set(patch) - (DSO_FIELDS if caller.org_kind == "dso" else MNO_FIELDS) - BOTH_FIELDS)
    if theirs:
        owner = "the responsible MNO" if caller.org_kind == "dso" else "the originating DSO"
        raise Forbidden(f"{', '.join(theirs)}: written by {owner}",
                        errors=[{"loc": k, "msg": f"written by {owner}"} for k in theirs])


def patch_problem(session: Session, caller: Caller, problem_id: str, patch: Any, content_type: str) -> dict[str, Any]:
    caller.require("operator")
    p = get(session, caller, problem_id, lock=True)
    if not isinstance(patch, dict):
        raise InvalidInput("a merge patch must be a JSON object", errors=[{"loc": "", "msg": "must be an object"}])
    _check_patch(caller, patch)
    now = utcnow()
    updated = merge_patch(resource.render(p, p.doc), patch, content_type)
    patched = {k: updated.get(k) for k in patch}
    resource.check({k: v for k, v in patched.items() if v is not None}, schema.UPDATE, "ServiceProblem")
    missing = [k for k in schema.CREATE_REQUIRED if k in patch and patched.get(k) in (None, "")]
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
            notes = stamp_notes(value or [], list(doc.get("note") or []), label(caller), now,
                                counterparts=names(session, counterpart(p, caller)))
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
        _change_status(p, caller, new_status, now)
    p.doc = doc
    track(session, p, caller, changed, old_status, now)
    return view(session, p, caller.org_id)


def _change_status(p: Problem, caller: Caller, new_status: str, now: datetime) -> None:
    LIFECYCLE.check(p.status, new_status)
    side = DSO_STATUS if caller.org_kind == "dso" else MNO_STATUS
    if new_status not in side or (caller.org_kind == "dso" and new_status == "inProgress" and p.status != "resolved"):
        who = "the MNO" if caller.org_kind == "dso" else "the originating DSO"
        raise Forbidden(f"status '{new_status}' from '{p.status}' is set by {who}")
    p.status = new_status
    p.status_change_date = now
    p.resolution_date = now if new_status == "resolved" else (None if new_status == "inProgress"
                                                              else p.resolution_date)


def track(session: Session, p: Problem, caller: Caller, changed: list[str], old_status: str, now: datetime, *,
          what: str | None = None, given: dict[str, Any] | None = None) -> None:
    """Append the tracking record of a change and notify both sides: state change, attribute change, and
    information required when the MNO waits on the DSO (`pending`). `given`: a TrackingRecord the caller sent
    with a task; its `user` is kept in front of the writing organisation, as a note's author is."""
    moved = p.status != old_status
    if not changed and not moved and what is None:
        return
    done = what or ", ".join(changed + ([f"status {old_status} -> {p.status}"] if moved else []))
    doc = dict(p.doc)
    records = list(doc.get("trackingRecord") or [])
    given = given or {}
    extra = {k: v for k, v in given.items() if k in ("characteristic", "@type", "@baseType", "@schemaLocation")}
    user = caller.org_id
    if given.get("user"):
        user = note_author(label(caller), given["user"], names(session, counterpart(p, caller)),
                           "trackingRecord/user")
    records.append(resource.tracking(str(given.get("description") or done), user, now, len(records) + 1, **extra))
    doc["trackingRecord"] = records
    p.doc = doc
    p.last_update = now
    if moved:
        send(session, p, "ServiceProblemStateChangeEvent", now, f"status {old_status} -> {p.status}")
        if p.status == "pending":
            send(session, p, "ServiceProblemInformationRequiredEvent", now,
                 str(doc.get("statusChangeReason") or "the responsible MNO needs information from the DSO"))
    if changed or what is not None:
        send(session, p, "ServiceProblemAttributeValueChangeEvent", now,
             "changed: " + ", ".join(changed or ["trackingRecord"]))


def delete_problem(session: Session, caller: Caller, problem_id: str) -> None:
    caller.require("operator")
    p = get(session, caller, problem_id)
    if caller.org_kind != "dso":
        raise Forbidden("a service problem is deleted by the DSO that raised it")
    session.delete(p)


def send(session: Session, p: Problem, event_type: str, now: datetime, description: str) -> None:
    notify.send(session, p, event_type, lambda org: view(session, p, org), now, description)


# ---- proposals and native views -----------------------------------------------------------------------------


def send_proposal(session: Session, caller: Caller, proposal_id: str) -> dict[str, Any]:
    """The DSO sends a trend proposal to the MNO: it becomes a TMF656 ServiceProblem both sides see."""
    caller.require("operator", "dso")
    p = get(session, caller, proposal_id, proposed=True)
    now = utcnow()
    p.proposed = False
    p.creation_date = p.last_update = p.status_change_date = now
    doc = dict(p.doc)
    doc["trackingRecord"] = [*doc.get("trackingRecord", []),
                             resource.tracking("sent to the MNO", caller.org_id, now,
                                               len(doc.get("trackingRecord", [])) + 1)]
    p.doc = doc
    send(session, p, "ServiceProblemCreateEvent", now, "service problem created from a trend proposal")
    return view(session, p, caller.org_id)


def summaries(session: Session, caller: Caller, *, open_only: bool = True) -> list[dict[str, Any]]:
    caller.require("viewer")
    q = select(Problem).where(scope(caller))
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
