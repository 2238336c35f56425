"""Trouble tickets between a DSO (reporter) and an MNO (addressee): create, read, patch, delete, attribution.

Each side sees only its own tickets: the DSO those it reported, the MNO those addressed to it. Who writes
what: the DSO describes the incident and may cancel, close (once resolved) or reopen it; the MNO service desk
works it (inProgress, pending, held, resolved, rejected), gives the expected resolution date and may confirm
or override the automatic attribution with a note. Both add notes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from gridcell.core import events, prepared
from gridcell.core.clock import isoformat, utcnow
from gridcell.core.errors import Forbidden, InvalidInput, NotFound
from gridcell.core.geo import parse_geojson_geometry
from gridcell.core.ids import new_uuid
from gridcell.core.tmf import TMF_LIFECYCLE, attribute_filter, merge_patch, paging, select_fields, stamp_notes
from gridcell.incidents import attribution as attr
from gridcell.incidents import federation, notify, resource
from gridcell.incidents.models import Ticket, TicketSite
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import AgreementView, Caller
from gridcell.topology import service as topology

LIFECYCLE = TMF_LIFECYCLE
OPEN = tuple(s for s in LIFECYCLE.states if not LIFECYCLE.is_final(s))
DSO_STATUS = frozenset({"cancelled", "closed", "inProgress"})  # inProgress only as a reopen of a resolved ticket
MNO_STATUS = frozenset({"acknowledged", "inProgress", "pending", "held", "resolved", "rejected"})
DSO_FIELDS = frozenset({"name", "description", "severity", "ticketType", "externalId", "requestedResolutionDate",
                        "attachment", "channel", "troubleTicketRelationship", "relatedEntity", "incidentStart",
                        "incidentArea", "@type", "@baseType", "@schemaLocation"})
MNO_FIELDS = frozenset({"priority", "expectedResolutionDate", "attribution"})
BOTH_FIELDS = frozenset({"note", "status", "statusChangeReason"})
MAX_AREA_SITES = 5000


# ---- who sees what ----------------------------------------------------------------------------------------


def _agreement(session: Session, dso_id: str, mno_id: str) -> AgreementView | None:
    return next((a for a in tenancy.agreements_for(session, dso_id) if a.dso_id == dso_id and a.mno_id == mno_id),
                None)


def view(session: Session, t: Ticket, org_id: str) -> dict[str, Any]:
    """The ticket as this organisation sees it (the DSO's view follows the agreement's exposure level)."""
    attribution = t.attribution
    if org_id == t.dso_id:
        agreement = _agreement(session, t.dso_id, t.mno_id)
        attribution = attr.redact(attribution, agreement.level if agreement else "area")
    return resource.render(t, attribution)


def _scope(caller: Caller) -> Any:
    return Ticket.dso_id == caller.org_id if caller.org_kind == "dso" else Ticket.mno_id == caller.org_id


def _get(session: Session, caller: Caller, ticket_id: str) -> Ticket:
    t = session.scalar(select(Ticket).where(Ticket.id == ticket_id, _scope(caller)))
    if t is None:
        raise NotFound(f"troubleTicket {ticket_id} not found")
    return t


def _counterpart(t: Ticket, caller: Caller) -> str:
    return t.mno_id if caller.org_id == t.dso_id else t.dso_id


def get_ticket(session: Session, caller: Caller, ticket_id: str, fields: str | None = None) -> dict[str, Any]:
    caller.require("viewer")
    t = _get(session, caller, ticket_id)
    tenancy.audit(session, caller, "read trouble ticket", [_counterpart(t, caller)], {"ticket": t.id})
    return select_fields(view(session, t, caller.org_id), fields)


def list_tickets(session: Session, caller: Caller, query: dict[str, list[str]], fields: str | None,
                 offset: int | None, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    """Returns (the page, the total matching)."""
    caller.require("viewer")
    off, lim = paging(offset, limit)
    rows = list(session.scalars(select(Ticket).where(_scope(caller)).order_by(Ticket.pk)))
    items = attribute_filter((view(session, t, caller.org_id) for t in rows), query, resource.ALL_KEYS)
    page = items[off:off + lim]
    tenancy.audit(session, caller, "read trouble tickets", {_counterpart(t, caller) for t in rows
                                                            if t.id in {i["id"] for i in page}})
    return [select_fields(i, fields) for i in page], len(items)


# ---- sites a ticket names -------------------------------------------------------------------------------------


def _resolve_sites(session: Session, dso_id: str, mno_id: str, body: dict[str, Any]) -> set[int]:
    refs = resource.site_refs_of(body)
    errors: list[dict[str, str]] = []
    sites = {s.site_id: s.pk for s in topology.sites_of_org(session, dso_id)} if any(refs.values()) or \
        body.get("incidentArea") else {}
    out: set[int] = set()
    for sid in refs["site"]:
        if sid not in sites:
            errors.append({"loc": "relatedEntity", "msg": f"site '{sid}' is not a site of {dso_id}"})
        else:
            out.add(sites[sid])
    if refs["cpe"]:
        by_cpe = {u.cpe_id: u.site_pk for u in topology.usim_refs(session, dso_id)}
        for cid in refs["cpe"]:
            if cid not in by_cpe:
                errors.append({"loc": "relatedEntity", "msg": f"CPE '{cid}' is not a CPE of {dso_id}"})
            else:
                out.add(by_cpe[cid])
    if refs["cell"]:
        cells = topology.cells_by_ids(session, mno_id, refs["cell"])
        missing = sorted(set(refs["cell"]) - {c.cell_id for c in cells})
        errors += [{"loc": "relatedEntity", "msg": f"cell '{c}' is not a cell of {mno_id}"} for c in missing]
        mine = set(sites.values())
        out |= {pk for pk, _ in topology.pairs_for_cells(session, [c.pk for c in cells]) if pk in mine}
    if body.get("incidentArea"):
        geom = parse_geojson_geometry(body["incidentArea"], polygonal=True)
        site_list = topology.sites_of_org(session, dso_id)
        if site_list:
            lon = np.array([s.lon for s in site_list])
            lat = np.array([s.lat for s in site_list])
            inside = shapely.contains_xy(geom, lon, lat)
            hit = [s.pk for s, ok in zip(site_list, inside.tolist(), strict=True) if ok]
            if len(hit) > MAX_AREA_SITES:
                errors.append({"loc": "incidentArea", "msg": f"covers {len(hit)} sites; at most {MAX_AREA_SITES}"})
            out |= set(hit)
    if errors:
        raise InvalidInput("the ticket names objects that are not known", errors=errors)
    return out


def _addressee(session: Session, caller: Caller, body: dict[str, Any]) -> str:
    """The MNO the ticket goes to: one of the DSO's agreements, recognised in `relatedParty` by gridcell id or
    organisation name, else the DSO's only agreement. Other parties are the DSO's own references, kept as sent."""
    mnos = sorted({a.mno_id for a in tenancy.agreements_for(session, caller.org_id) if a.dso_id == caller.org_id})
    by_name = {tenancy.get_org(session, m).name.strip().lower(): m for m in mnos}
    named = {p["id"] if p["id"] in mnos else by_name.get(str(p.get("name", "")).strip().lower())
             for p in body.get("relatedParty") or [] if p["id"] != caller.org_id} - {None}
    if len(named) == 1:
        return str(named.pop())
    if not named and len(mnos) == 1:
        return mnos[0]
    raise InvalidInput("name the addressee MNO in relatedParty (its id or name; @referredType Organization)",
                       errors=[{"loc": "relatedParty", "msg": f"one of: {', '.join(mnos) or 'no agreement'}"}])


def _label(caller: Caller) -> str:
    """How a note records its author: the writing organisation."""
    return f"{caller.org_kind.upper()} {caller.org_id}"


def _names(session: Session, org_id: str) -> list[str]:
    """What a forged author would name: the counterpart organisation's id and name."""
    return [org_id, tenancy.get_org(session, org_id).name]


def _parties(dso_id: str, mno_id: str, given: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [{"id": dso_id, "role": "reporter", "@referredType": "Organization"},
           {"id": mno_id, "role": "addressee", "@referredType": "Organization"}]
    return out + [p for p in given if p["id"] not in (dso_id, mno_id)]


def _store_sites(session: Session, t: Ticket, site_pks: Iterable[int]) -> None:
    session.execute(delete(TicketSite).where(TicketSite.ticket_pk == t.pk))
    for pk in sorted(set(site_pks)):
        session.add(TicketSite(ticket_pk=t.pk, site_pk=pk))


def ticket_sites(session: Session, t: Ticket) -> list[int]:
    return list(session.scalars(select(TicketSite.site_pk).where(TicketSite.ticket_pk == t.pk)))


# ---- create / patch / delete -------------------------------------------------------------------------------


def create_ticket(session: Session, caller: Caller, body: Any) -> dict[str, Any]:
    """A DSO reports an incident to an MNO (the one of its single agreement unless relatedParty names one).

    `status` on create is not the client's: a new ticket is `acknowledged` (the lifecycle's initial state)."""
    caller.require("operator", "dso")
    now = utcnow()
    body = resource.validate(body, creating=True, now=now)
    mno_id = _addressee(session, caller, body)
    site_pks = _resolve_sites(session, caller.org_id, mno_id, body)
    start = resource.parse_date(body.get("incidentStart"), "incidentStart", []) or now
    doc = {k: body[k] for k in ("requestedResolutionDate", "attachment", "channel", "troubleTicketRelationship",
                                "relatedEntity", "statusChangeReason") if body.get(k) is not None}
    doc["note"] = stamp_notes(body.get("note") or [], [], _label(caller), now,
                              counterparts=_names(session, mno_id))
    doc["relatedParty"] = _parties(caller.org_id, mno_id, body.get("relatedParty") or [])
    doc["statusChange"] = [{"status": LIFECYCLE.initial, "changeDate": isoformat(now),
                            "changeReason": "ticket created"}]
    t = Ticket(id=new_uuid(), dso_id=caller.org_id, mno_id=mno_id, name=body.get("name"),
               description=body["description"], severity=body["severity"], priority=body.get("priority"),
               ticket_type=body["ticketType"], status=LIFECYCLE.initial, external_id=body.get("externalId"),
               creation_date=now, last_update=now, status_change_date=now, incident_start=start,
               expected_resolution_date=None, etr_source=None, resolution_date=None, doc=doc, attribution={},
               area=body.get("incidentArea"))
    session.add(t)
    session.flush()
    _store_sites(session, t, site_pks)
    _apply_attribution(session, t, attr.attribute(session, t.dso_id, t.mno_id, site_pks, start, now), now)
    _send(session, t, "TroubleTicketCreateEvent", now, "trouble ticket created")
    federation.on_created(session, t, [n["text"] for n in doc["note"] if n.get("text")],
                          t.attribution.get("summary"), now)
    return view(session, t, caller.org_id)


def _check_fields(caller: Caller, keys: set[str]) -> None:
    unknown = sorted(keys - resource.ALL_KEYS)
    if unknown:
        raise InvalidInput(f"unknown member(s) of TroubleTicket: {', '.join(unknown)}",
                           errors=[{"loc": k, "msg": "unknown member"} for k in unknown])
    bad = sorted(keys & ((set(resource.SERVER_SET) | {"resolutionDate"}) - {"attribution"}))
    if bad:
        raise InvalidInput(f"not patchable (set by the server): {', '.join(bad)}",
                           errors=[{"loc": k, "msg": "not patchable"} for k in bad])
    mine = (DSO_FIELDS if caller.org_kind == "dso" else MNO_FIELDS) | BOTH_FIELDS
    other = sorted(keys - mine)
    if other:
        owner = "the MNO service desk" if caller.org_kind == "dso" else "the reporting DSO"
        raise Forbidden(f"{', '.join(other)}: written by {owner}")


def patch_ticket(session: Session, caller: Caller, ticket_id: str, patch: Any, content_type: str) -> dict[str, Any]:
    caller.require("operator")
    t = _get(session, caller, ticket_id)
    now = utcnow()
    if not isinstance(patch, dict):
        raise InvalidInput("a merge patch must be a JSON object", errors=[{"loc": "", "msg": "must be an object"}])
    _check_fields(caller, set(patch))
    decision = patch.pop("attribution", None)
    current = view(session, t, caller.org_id)
    updated = merge_patch(current, patch, content_type)
    patched = {k: updated.get(k) for k in patch}
    resource.validate({k: v for k, v in patched.items() if v is not None}, creating=False, now=now)
    for k in resource.REQUIRED:
        if k in patch and patch[k] is None:
            raise InvalidInput(f"{k} is mandatory and cannot be removed", errors=[{"loc": k, "msg": "mandatory"}])
    changed: list[str] = []
    old_status = t.status
    notes_before = len(t.doc.get("note") or [])
    _apply_fields(session, t, caller, patch, patched, now, changed)
    if decision is not None:
        _decide(t, caller, decision, now)
        changed.append("attribution")
    if "status" in patch and patched.get("status") is not None and patched["status"] != old_status:
        _change_status(t, caller, str(patched["status"]), patched.get("statusChangeReason"), now)
    elif changed:
        t.last_update = now
    if t.status != old_status:
        _send(session, t, "TroubleTicketStatusChangeEvent", now, f"status {old_status} -> {t.status}")
        if t.status == "resolved":
            _send(session, t, "TroubleTicketResolvedEvent", now, "trouble ticket resolved")
        if t.status == "pending":  # the MNO desk waits on the DSO
            _send(session, t, "TroubleTicketInformationRequiredEvent", now,
                  str(t.doc.get("statusChangeReason") or "the MNO service desk needs information from the DSO"))
    if changed:
        _send(session, t, "TroubleTicketAttributeValueChangeEvent", now, "changed: " + ", ".join(sorted(changed)))
    if caller.org_kind == "dso":  # the MNO's own changes come from its system when it federates
        added = [n["text"] for n in (t.doc.get("note") or [])[notes_before:] if n.get("text")]
        reason = patched.get("statusChangeReason")
        moved = {"status": t.status, **({"statusChangeReason": reason} if isinstance(reason, str) else {})} \
            if t.status != old_status else {}
        federation.on_dso_change(session, t, {**{k: patched.get(k) for k in changed}, **moved}, added, now)
    return view(session, t, caller.org_id)


def _apply_fields(session: Session, t: Ticket, caller: Caller, patch: dict[str, Any], patched: dict[str, Any],
                  now: datetime, changed: list[str]) -> None:
    doc = dict(t.doc)
    simple = {"name": "name", "description": "description", "severity": "severity", "priority": "priority",
              "ticketType": "ticket_type", "externalId": "external_id"}
    for key, column in simple.items():
        if key in patch and getattr(t, column) != patched.get(key):
            setattr(t, column, patched.get(key))
            changed.append(key)
    for key in ("requestedResolutionDate", "attachment", "channel", "troubleTicketRelationship"):
        if key in patch and doc.get(key) != patched.get(key):
            doc[key] = patched.get(key)
            changed.append(key)
    if "expectedResolutionDate" in patch:
        t.expected_resolution_date = resource.parse_date(patched.get("expectedResolutionDate"), "", [])
        t.etr_source = "mno" if t.expected_resolution_date is not None else None
        changed.append("expectedResolutionDate")
    if "note" in patch:
        other = t.mno_id if caller.org_kind == "dso" else t.dso_id
        notes = stamp_notes(patched.get("note") or [], doc.get("note") or [], _label(caller), now,
                            counterparts=_names(session, other))
        if notes != doc.get("note"):
            doc["note"] = notes
            changed.append("note")
    resite = False
    if "relatedEntity" in patch:
        doc["relatedEntity"] = patched.get("relatedEntity") or []
        changed.append("relatedEntity")
        resite = True
    if "incidentArea" in patch:
        t.area = patched.get("incidentArea")
        changed.append("incidentArea")
        resite = True
    if "incidentStart" in patch:
        t.incident_start = resource.parse_date(patched.get("incidentStart"), "", []) or t.creation_date
        changed.append("incidentStart")
        resite = True
    t.doc = doc
    if resite:
        sites = _resolve_sites(session, t.dso_id, t.mno_id, {"relatedEntity": doc.get("relatedEntity"),
                                                                 "incidentArea": t.area})
        _store_sites(session, t, sites)
        result = attr.attribute(session, t.dso_id, t.mno_id, sites, t.incident_start, now)
        _apply_attribution(session, t, result, now)


def _change_status(t: Ticket, caller: Caller, new: str, reason: Any, now: datetime) -> None:
    LIFECYCLE.check(t.status, new)
    allowed_side = DSO_STATUS if caller.org_kind == "dso" else MNO_STATUS
    if new not in allowed_side or (caller.org_kind == "dso" and new == "inProgress" and t.status != "resolved"):
        who = "the MNO service desk" if caller.org_kind == "dso" else "the reporting DSO"
        raise Forbidden(f"status '{new}' from '{t.status}' is set by {who}")
    t.status = new
    t.status_change_date = now
    t.last_update = now
    if new == "resolved":
        t.resolution_date = now
    elif new == "inProgress":
        t.resolution_date = None
    doc = dict(t.doc)
    change = {"status": new, "changeDate": isoformat(now)}
    if isinstance(reason, str):
        doc["statusChangeReason"] = change["changeReason"] = reason
    else:
        doc.pop("statusChangeReason", None)
    doc["statusChange"] = [*(doc.get("statusChange") or []), change]
    t.doc = doc


def _decide(t: Ticket, caller: Caller, decision: Any, now: datetime) -> None:
    """The MNO desk confirms the automatic attribution or overrides it; either way with a note."""
    if not isinstance(decision, dict) or set(decision) - {"cause", "note"}:
        raise InvalidInput("attribution takes {cause?, note}", errors=[{"loc": "attribution", "msg": "cause, note"}])
    note = decision.get("note")
    cause = decision.get("cause")
    if not isinstance(note, str) or not note.strip():
        raise InvalidInput("a note is mandatory to confirm or override the attribution",
                           errors=[{"loc": "attribution/note", "msg": "mandatory"}])
    if cause is not None and cause not in attr.CAUSES:
        raise InvalidInput(f"cause must be one of {', '.join(attr.CAUSES)}",
                           errors=[{"loc": "attribution/cause", "msg": "unknown cause"}])
    automatic = t.attribution.get("automatic", t.attribution)
    auto_cause = automatic.get("cause")
    final = cause or auto_cause
    state = "confirmed" if final == auto_cause else "overridden"
    t.attribution = {**automatic, "cause": final, "state": state, "decidedBy": caller.org_id,
                     "decidedAt": isoformat(now), "decisionNote": note, "automatic": automatic,
                     "confidence": 1.0 if state == "overridden" else automatic.get("confidence")}
    doc = dict(t.doc)
    doc["note"] = stamp_notes([{"text": f"attribution {state}: {final}. {note}"}], doc.get("note") or [],
                              _label(caller), now)
    t.doc = doc


def delete_ticket(session: Session, caller: Caller, ticket_id: str) -> None:
    caller.require("operator")
    t = _get(session, caller, ticket_id)
    if caller.org_kind != "dso":
        raise Forbidden("a trouble ticket is deleted by the DSO that reported it")
    now = utcnow()
    _send(session, t, "TroubleTicketDeleteEvent", now, "trouble ticket deleted")
    session.delete(t)


# ---- attribution --------------------------------------------------------------------------------------------


def _apply_attribution(session: Session, t: Ticket, result: dict[str, Any], now: datetime) -> bool:
    """Store a (re-)evaluation; returns whether it is news. A desk decision stays; its `automatic` moves."""
    previous = t.attribution.get("automatic", t.attribution) if t.attribution else {}
    if previous and attr.key_of(previous) == attr.key_of(result):
        return False
    if t.attribution.get("state") in ("confirmed", "overridden"):
        t.attribution = {**t.attribution, "automatic": result}
    else:
        t.attribution = {**result, "state": "auto"}
    if t.etr_source != "mno":
        etr = resource.parse_date(result.get("etr"), "", []) if result["cause"] == "mno_network" else None
        t.expected_resolution_date = etr
        t.etr_source = "attribution" if etr is not None else None
    t.last_update = now
    return True


def reattribute(session: Session, tickets: Iterable[Ticket], now: datetime | None = None) -> int:
    """Re-evaluate open tickets; notify both sides of those whose attribution changed."""
    now = now or utcnow()
    n = 0
    for t in tickets:
        if t.status not in OPEN:
            continue
        result = attr.attribute(session, t.dso_id, t.mno_id, ticket_sites(session, t), t.incident_start, now)
        if _apply_attribution(session, t, result, now):
            _send(session, t, "TroubleTicketAttributeValueChangeEvent", now, "changed: attribution")
            n += 1
    return n


def open_tickets_for_sites(session: Session, site_pks: Iterable[int], *, mno_id: str | None = None,
                           dso_id: str | None = None) -> list[Ticket]:
    pks = sorted(set(site_pks))
    out: dict[int, Ticket] = {}
    for i in range(0, len(pks), 500):
        q = (select(Ticket).join(TicketSite, TicketSite.ticket_pk == Ticket.pk)
             .where(TicketSite.site_pk.in_(pks[i:i + 500]), Ticket.status.in_(OPEN)))
        if mno_id is not None:
            q = q.where(Ticket.mno_id == mno_id)
        if dso_id is not None:
            q = q.where(Ticket.dso_id == dso_id)
        out.update((t.pk, t) for t in session.scalars(q))
    return [out[k] for k in sorted(out)]


def _open_ticket_query(by_mno: bool, by_dso: bool) -> Any:
    t = Ticket.__table__
    q = select(t.c.pk).where(t.c.status.in_(OPEN))
    if by_mno:
        q = q.where(t.c.mno_id == bindparam("mno"))
    if by_dso:
        q = q.where(t.c.dso_id == bindparam("dso"))
    return q.limit(1)


# Asked on every fault ingest and probe upload before any re-attribution: prebuilt Core statements.
_OPEN_TICKET = {(m, d): _open_ticket_query(m, d) for m in (False, True) for d in (False, True)}


def has_open_tickets(session: Session, *, mno_id: str | None = None, dso_id: str | None = None) -> bool:
    stmt = _OPEN_TICKET[(mno_id is not None, dso_id is not None)]  # tickets changed in this unit of work count
    return bool(prepared.rows(session, stmt, {"mno": mno_id, "dso": dso_id}))


def all_open_tickets(session: Session) -> list[Ticket]:
    return list(session.scalars(select(Ticket).where(Ticket.status.in_(OPEN)).order_by(Ticket.pk)))


TICKET_CHANGED = "incidents.ticket_changed"


@dataclass(frozen=True)
class TicketChanged:
    """Emitted in the transaction that created, changed or deleted a ticket (e.g. to wake dashboards)."""

    ticket_id: str
    dso_id: str
    mno_id: str
    event_type: str


def _send(session: Session, t: Ticket, event_type: str, now: datetime, description: str) -> None:
    notify.send(session, notify.CHANNEL, [t.dso_id, t.mno_id], event_type, "troubleTicket",
                lambda org: view(session, t, org), now, description)
    events.emit(session, TICKET_CHANGED, TicketChanged(t.id, t.dso_id, t.mno_id, event_type))


# ---- native views -------------------------------------------------------------------------------------------


def summaries(session: Session, caller: Caller, *, open_only: bool = True) -> list[dict[str, Any]]:
    """Open (or all) tickets of the caller's side with their attribution, newest first."""
    caller.require("viewer")
    q = select(Ticket).where(_scope(caller))
    if open_only:
        q = q.where(Ticket.status.in_(OPEN))
    rows = list(session.scalars(q.order_by(Ticket.creation_date.desc(), Ticket.pk.desc())))
    refs = topology.site_refs(session, [pk for t in rows for pk in ticket_sites(session, t)])
    out = []
    for t in rows:
        a = view(session, t, caller.org_id)["attribution"]
        out.append({"id": t.id, "name": t.name, "description": t.description, "status": t.status,
                    "severity": t.severity, "dsoId": t.dso_id, "mnoId": t.mno_id,
                    "sites": sorted(refs[pk].site_id for pk in ticket_sites(session, t) if pk in refs),
                    "incidentStart": isoformat(t.incident_start), "creationDate": isoformat(t.creation_date),
                    "expectedResolutionDate": isoformat(t.expected_resolution_date),
                    "attribution": {k: a.get(k) for k in ("cause", "confidence", "etr", "state", "summary")},
                    "evidenceCount": len(a.get("evidence", []))})
    tenancy.audit(session, caller, "read incident list", {t.mno_id if caller.org_kind == "dso" else t.dso_id
                                                          for t in rows})
    return out
