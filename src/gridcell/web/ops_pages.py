"""The DSO's operational lists: alerts (its Fault MnS alarm list, acknowledged by the DSO for itself) and the
failover advisor's commands (acknowledged with what became of them), each searchable, filterable and paged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from gridcell.core.errors import DomainError
from gridcell.exposure import fault_mns
from gridcell.failover import service as failover
from gridcell.tenancy import service as tenancy
from gridcell.web import actions, guard, render
from gridcell.web.auth import WebCaller
from gridcell.web.forms import Form
from gridcell.web.guard import show
from gridcell.web.listing import listing

router = APIRouter(tags=["dashboard"], include_in_schema=False)
ACK_STATUSES = failover.ACK_STATUSES


def _dso_only(request: Request, web: WebCaller) -> Response | None:
    if web.caller.org_kind != "dso":
        return show(request, "forbidden.html", web, 403, message="This list is the DSO's.")
    return None


@router.get("/web/alerts")
def alerts(request: Request) -> Response:
    web = guard.login_or_redirect(request)
    if isinstance(web, Response):
        return web
    if (refusal := _dso_only(request, web)) is not None:
        return refusal
    try:
        with guard.db(request).write() as session:  # the read is audited
            records = fault_mns.alarm_list(session, web.caller, fault_mns.Query())
            names = {a.mno_id: tenancy.get_org(session, a.mno_id).name
                     for a in tenancy.agreements_for(session, web.caller.org_id) if a.dso_id == web.caller.org_id}
    except DomainError as exc:
        return guard.refused(request, web, exc)
    rows: list[dict[str, Any]] = []
    for alarm_id, r in records.items():
        rows.append({**r, "alarmId": alarm_id, "mno": names.get(r.get("mnoId", ""), r.get("mnoId", "")),
                     "state": "cleared" if r.get("alarmClearedTime") else "active",
                     "ack": "acknowledged" if r.get("ackState") == "ACKNOWLEDGED" else "unacknowledged",
                     "sites": ", ".join(r.get("affectedSites") or [])})
    page = listing(rows, request.query_params, "/web/alerts",
                   text=lambda r: " ".join(str(r.get(k) or "") for k in ("alarmId", "sites", "probableCause",
                                                                        "alarmType", "mno", "objectInstance")),
                   filters={"state": lambda r: r["state"], "ack": lambda r: r["ack"],
                            "severity": lambda r: r.get("perceivedSeverity") or "", "mno": lambda r: r["mno"]},
                   sorts={"raised": lambda r: r.get("alarmRaisedTime") or "",
                          "severity": lambda r: r.get("perceivedSeverity") or "", "sites": lambda r: r["sites"]},
                   default_sort="raised", default_desc=True)
    return show(request, "alerts.html", web, p=page)


@router.post("/web/alerts/ack")
async def ack_alerts(request: Request) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        ids = [a for a in (form.data.get("alarm") or "").split("\n") if a.strip()]
        acknowledged = form.choice("state", ("ack", "unack")) != "unack"
        form.check("acknowledgement")
        n = actions.acknowledge_alerts(session, web.caller, ids, acknowledged)
        return f"{n} alert(s) {'acknowledged' if acknowledged else 'set back to unacknowledged'}."

    return await guard.post(request, run, default_back="/web/alerts")


@router.get("/web/commands")
def commands(request: Request) -> Response:
    web = guard.login_or_redirect(request)
    if isinstance(web, Response):
        return web
    if (refusal := _dso_only(request, web)) is not None:
        return refusal
    with guard.db(request).read() as session:
        rows = failover.list_commands(session, web.caller, limit=20_000)
    for c in rows:
        c["acked"] = c["ackStatus"] or "awaiting"
        c["what"] = render.command_text(c)
    page = listing(rows, request.query_params, "/web/commands",
                   text=lambda c: f"{c['cpeId']} {c['commandId']} {c['fromPlmn']} {c['toPlmn']} {c['action']}",
                   filters={"action": lambda c: c["action"], "acked": lambda c: c["acked"],
                            "to": lambda c: c["toPlmn"]},
                   sorts={"issued": lambda c: c["issuedAt"] or "", "cpe": lambda c: c["cpeId"],
                          "action": lambda c: c["action"], "acked": lambda c: c["ackedAt"]},
                   default_sort="issued", default_desc=True)
    return show(request, "commands.html", web, p=page, statuses=ACK_STATUSES)


@router.post("/web/commands/{command_id}/ack")
async def ack_command(request: Request, command_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        status = form.choice("status", ACK_STATUSES)
        detail = form.text("detail", required=False, max_len=500)
        form.check("acknowledgement")
        assert status is not None
        out = actions.acknowledge_command(session, web.caller, command_id, status, detail)
        return f"Command to {out['cpeId']} acknowledged: {status}."

    return await guard.post(request, run, default_back="/web/commands")
