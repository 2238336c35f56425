"""Subscriptions in the console, with their delivery record: a DSO's site-status subscriptions (webhook and/or
SSE, filtered by status, PLMN and site), an MNO's cell-health webhooks. Created and deleted through the same
service functions and checks as the API; the webhook secret is shown once, at creation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from gridcell.exposure import subscriptions
from gridcell.telemetry import cellhealth
from gridcell.tenancy import service as tenancy
from gridcell.web import guard
from gridcell.web.auth import WebCaller
from gridcell.web.forms import Form
from gridcell.web.guard import show

router = APIRouter(tags=["dashboard"], include_in_schema=False)
BACK = "/web/subscriptions"
RECORD = 50  # deliveries shown per subscription


def _subs(session: Session, web: WebCaller) -> list[Any]:
    if web.caller.org_kind == "dso":
        return list(subscriptions.list_for(session, web.caller.org_id))
    return subscriptions.channel_subscriptions(session, cellhealth.CHANNEL, [web.caller.org_id])


def _record(session: Session, sub: Any) -> list[dict[str, Any]]:
    rows = subscriptions.pending(session, sub.id, max(0, sub.last_seq - RECORD), RECORD)
    return [{"seq": r.seq, "kind": r.kind, "created": r.created_at, "attempts": r.attempts,
             "delivered": r.delivered_at, "error": r.last_error} for r in reversed(rows)]


@router.get("/web/subscriptions")
def subscription_page(request: Request) -> Response:
    web = guard.login_or_redirect(request)
    if isinstance(web, Response):
        return web
    with guard.db(request).read() as session:
        subs = [{"id": s.id, "callback": s.callback_uri, "minStatus": s.min_status, "plmns": s.plmns or [],
                 "sites": s.site_ids or [], "created": s.created_at, "lastSeq": s.last_seq,
                 "deliveries": _record(session, s)} for s in _subs(session, web)]
        plmns = sorted({p for a in tenancy.agreements_for(session, web.caller.org_id)
                        if a.dso_id == web.caller.org_id for p in a.plmns})
    for s in subs:
        s["undelivered"] = sum(1 for d in s["deliveries"] if d["delivered"] is None)
    return show(request, "subscriptions.html", web, subs=subs, plmns=plmns, statuses=subscriptions.STATUSES)


@router.post("/web/subscriptions")
async def create(request: Request) -> Response:
    allow_private = request.app.state.settings.allow_private_webhooks

    def run(session: Session, web: WebCaller, form: Form) -> str:
        if web.caller.org_kind == "dso":
            web.caller.require("operator", "dso")
            callback = form.text("callback", required=False, max_len=2000)
            min_status = form.choice("min_status", subscriptions.STATUSES)
            plmns = form.choices("plmns", [p for a in tenancy.agreements_for(session, web.caller.org_id)
                                           for p in a.plmns])
            sites = [s.strip() for s in (form.text("sites", required=False, max_len=20_000) or "").replace(
                "\n", ",").split(",") if s.strip()]
            form.check("subscription")
            assert min_status is not None
            sub = subscriptions.create(session, web.caller.org_id, callback_uri=callback, site_ids=sites or None,
                                       area=None, plmns=plmns or None, min_status=min_status, event_kinds=None,
                                       allow_private=allow_private)
        else:
            web.caller.require("operator", "mno")
            callback = form.text("callback", max_len=2000)
            form.check("subscription")
            assert callback is not None
            sub = subscriptions.create_channel_subscription(session, web.caller.org_id, cellhealth.CHANNEL,
                                                            callback_uri=callback, query=None,
                                                            allow_private=allow_private)
        session.flush()
        tenancy.record_action(session, web.caller, "create subscription", {"subscription": sub.id,
                                                                           "callback": sub.callback_uri})
        how = f"webhook to {sub.callback_uri}" if sub.callback_uri else "SSE only"
        secret = f" Webhook signing secret, shown this once: {sub.secret}" if sub.callback_uri else ""
        return f"Subscription {sub.id} created ({how}).{secret}"

    return await guard.post(request, run, default_back=BACK)


@router.post("/web/subscriptions/{sub_id}/delete")
async def delete(request: Request, sub_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        if web.caller.org_kind == "dso":
            web.caller.require("operator", "dso")
            subscriptions.delete(session, web.caller.org_id, sub_id)
        else:
            web.caller.require("operator", "mno")
            session.delete(subscriptions.get_channel_subscription(session, web.caller.org_id, cellhealth.CHANNEL,
                                                                  sub_id))
        tenancy.record_action(session, web.caller, "delete subscription", {"subscription": sub_id})
        return f"Subscription {sub_id} deleted."

    return await guard.post(request, run, default_back=BACK)
