"""Trouble tickets in the console: the list (search, filter, sort, pages) and one ticket with what each side does
to it: the MNO desk accepts it, answers "ours / not ours" with its evidence and an ETR, resolves it; the DSO
closes a resolved ticket or reopens it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from gridcell.core.errors import DomainError
from gridcell.incidents import service as incidents
from gridcell.tenancy import service as tenancy
from gridcell.web import actions, guard, views
from gridcell.web.auth import WebCaller
from gridcell.web.forms import Form
from gridcell.web.guard import show
from gridcell.web.listing import listing

router = APIRouter(tags=["dashboard"], include_in_schema=False)
OPEN = set(incidents.OPEN)


def _names(session: Session, web: WebCaller, rows: list[dict[str, Any]]) -> dict[str, str]:
    ids = {r["dsoId"] for r in rows} | {r["mnoId"] for r in rows}
    return {i: tenancy.get_org(session, i).name for i in ids}


@router.get("/web/tickets")
def ticket_list(request: Request) -> Response:
    web = guard.login_or_redirect(request)
    if isinstance(web, Response):
        return web
    with guard.db(request).write() as session:  # the read is audited
        rows = incidents.summaries(session, web.caller, open_only=False)
        names = _names(session, web, rows)
    other = "mnoId" if web.caller.org_kind == "dso" else "dsoId"
    for r in rows:
        r["counterpart"] = names.get(r[other], r[other])
        r["open"] = "open" if r["status"] in OPEN else "closed"
        r["cause"] = (r.get("attribution") or {}).get("cause") or "unknown"
    page = listing(rows, request.query_params, "/web/tickets",
                   text=lambda r: " ".join(str(x) for x in (r["id"], r["name"], r["description"], r["counterpart"],
                                                             " ".join(r["sites"]), r["status"])),
                   filters={"status": lambda r: r["status"], "state": lambda r: r["open"],
                            "cause": lambda r: r["cause"], "party": lambda r: r["counterpart"]},
                   sorts={"created": lambda r: r["creationDate"] or "", "status": lambda r: r["status"],
                          "severity": lambda r: r["severity"] or "", "etr": lambda r: r.get("expectedResolutionDate"),
                          "party": lambda r: r["counterpart"]},
                   default_sort="created", default_desc=True)
    return show(request, "tickets.html", web, p=page)


def _ticket_view(request: Request, web: WebCaller, ticket_id: str) -> dict[str, Any]:
    with guard.db(request).write() as session:
        t = incidents.get_ticket(session, web.caller, ticket_id)
        summary = next((s for s in incidents.summaries(session, web.caller, open_only=False)
                        if s["id"] == ticket_id), {})
        parties = {p.get("role"): p.get("id") for p in t.get("relatedParty") or []}
        names = {i: tenancy.get_org(session, i).name for i in parties.values() if i}
    return {"t": t, "sites": summary.get("sites", []), "reporter": names.get(parties.get("reporter"), ""),
            "addressee": names.get(parties.get("addressee"), ""), "open": t["status"] in OPEN,
            "attribution": t.get("attribution") or {}}


@router.get("/web/tickets/{ticket_id}")
def ticket_page(request: Request, ticket_id: str) -> Response:
    web = guard.login_or_redirect(request)
    if isinstance(web, Response):
        return web
    try:
        v = _ticket_view(request, web, ticket_id)
    except DomainError as exc:
        return guard.refused(request, web, exc)
    return show(request, "ticket.html", web, v=v, verdicts=actions.VERDICTS, now=views.ts(guard.clock_info()["now"]))


def _back(ticket_id: str) -> str:
    return f"/web/tickets/{ticket_id}"


@router.post("/web/tickets/{ticket_id}/accept")
async def accept(request: Request, ticket_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        note = form.text("note", required=False, max_len=2000)
        form.check("acceptance")
        actions.accept_ticket(session, web.caller, ticket_id, note)
        return "Ticket accepted: in progress."

    return await guard.post(request, run, default_back=_back(ticket_id))


@router.post("/web/tickets/{ticket_id}/answer")
async def answer(request: Request, ticket_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        verdict = form.choice("verdict", actions.VERDICTS)
        evidence = form.text("evidence", max_len=2000, min_len=3)
        etr = form.instant("etr", required=verdict == "ours")
        form.check("answer")
        assert verdict is not None and evidence is not None
        actions.answer_ticket(session, web.caller, ticket_id, verdict, evidence, etr)
        return "Answer sent to the DSO." if verdict == "ours" else "Answer sent: not the mobile network."

    return await guard.post(request, run, default_back=_back(ticket_id))


@router.post("/web/tickets/{ticket_id}/resolve")
async def resolve(request: Request, ticket_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        resolution = form.text("resolution", max_len=500, min_len=3)
        form.check("resolution")
        assert resolution is not None
        actions.resolve_ticket(session, web.caller, ticket_id, resolution)
        return "Ticket resolved."

    return await guard.post(request, run, default_back=_back(ticket_id))


@router.post("/web/tickets/{ticket_id}/close")
async def close(request: Request, ticket_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        note = form.text("note", required=False, max_len=500)
        form.check("closing")
        actions.close_ticket(session, web.caller, ticket_id, note)
        return "Ticket closed."

    return await guard.post(request, run, default_back=_back(ticket_id))


@router.post("/web/tickets/{ticket_id}/reopen")
async def reopen(request: Request, ticket_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        note = form.text("note", max_len=500, min_len=3)
        form.check("reopening")
        assert note is not None
        actions.reopen_ticket(session, web.caller, ticket_id, note)
        return "Ticket reopened: back with the MNO."

    return await guard.post(request, run, default_back=_back(ticket_id))
