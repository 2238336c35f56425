"""Exposure to DSOs: status queries and subscriptions (webhook + SSE); the TS 28.532 Fault Supervision MnS is
mounted from exposure.fault_mns_api."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from gridcell.core.bus import Bus, Message, on_loop
from gridcell.core.db import Database
from gridcell.core.fields import NaturalId, Plmn
from gridcell.deps import get_caller, get_db
from gridcell.exposure import schemas as sc
from gridcell.exposure import service, subscriptions
from gridcell.exposure.fault_mns_api import router as fault_mns
from gridcell.exposure.models import Subscription
from gridcell.exposure.subscriptions import OUTBOX_TOPIC
from gridcell.tenancy.service import Caller
from gridcell.topology import service as topology

router = APIRouter(tags=["exposure"])
root_routers = [fault_mns]  # TS 28.532 Fault Supervision MnS at /FaultSupervisionMnS/v1


def _dso(caller: Caller) -> None:
    caller.require("viewer", "dso")


@router.get("/status", response_model=sc.StatusPage, summary="Status per DSO site × PLMN")
def get_status(site: list[NaturalId] | None = Query(None, max_length=10_000),
               plmn: list[Plmn] | None = Query(None, max_length=100),
               minStatus: sc.StatusT | None = None, caller: Caller = Depends(get_caller),
               db: Database = Depends(get_db)) -> dict[str, Any]:
    _dso(caller)
    with db.write() as session:  # writes the audit entry
        items = service.site_statuses(session, caller, site_ids=site, plmns=plmn, min_status=minStatus)
    return {"items": items, "summary": service.status_summary(items)}


@router.post("/status/area", response_model=sc.StatusPage, summary="Status of the sites inside a polygon")
def post_status_area(query: sc.AreaQuery, caller: Caller = Depends(get_caller),
                     db: Database = Depends(get_db)) -> dict[str, Any]:
    _dso(caller)
    with db.write() as session:
        items = service.site_statuses(session, caller, area=query.area, plmns=query.plmn,
                                      min_status=query.minStatus)
    return {"items": items, "summary": service.status_summary(items)}


@router.get("/status/sites/{site_id}", response_model=list[sc.SiteStatusOut], summary="One site, every PLMN")
def get_site_status(site_id: str, caller: Caller = Depends(get_caller),
                    db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    _dso(caller)
    with db.write() as session:
        topology.site_by_id(session, caller.org_id, site_id)
        return service.site_statuses(session, caller, site_ids=[site_id])


def _sub_out(sub: Subscription, *, with_secret: bool = False) -> dict[str, Any]:
    return {"id": sub.id, "callbackUri": sub.callback_uri, "siteIds": sub.site_ids, "area": sub.area,
            "plmns": sub.plmns, "minStatus": sub.min_status, "eventKinds": sub.event_kinds,
            "lastSequenceNo": sub.last_seq, "createdAt": sub.created_at,
            "secret": sub.secret if with_secret else None}


@router.post("/subscriptions", response_model=sc.SubscriptionOut, status_code=201,
             summary="Subscribe to site status changes (webhook and/or SSE)")
def create_subscription(body: sc.SubscriptionIn, request: Request, response: Response,
                        caller: Caller = Depends(get_caller),
                        db: Database = Depends(get_db)) -> dict[str, Any]:
    caller.require("operator", "dso")
    with db.write() as session:
        sub = subscriptions.create(session, caller.org_id, callback_uri=body.callbackUri, site_ids=body.siteIds,
                                   area=body.area, plmns=body.plmns, min_status=body.minStatus,
                                   event_kinds=list(body.eventKinds) if body.eventKinds else None,
                                   allow_private=request.app.state.settings.allow_private_webhooks)
        out = _sub_out(sub, with_secret=True)
    response.headers["Location"] = f"/api/v1/subscriptions/{out['id']}"
    return out


@router.get("/subscriptions", response_model=list[sc.SubscriptionOut])
def list_subscriptions(caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    _dso(caller)
    with db.read() as session:
        return [_sub_out(s) for s in subscriptions.list_for(session, caller.org_id)]


@router.get("/subscriptions/{sub_id}", response_model=sc.SubscriptionOut)
def get_subscription(sub_id: str, caller: Caller = Depends(get_caller),
                     db: Database = Depends(get_db)) -> dict[str, Any]:
    _dso(caller)
    with db.read() as session:
        return _sub_out(subscriptions.get(session, caller.org_id, sub_id))


@router.delete("/subscriptions/{sub_id}", status_code=204, response_class=Response)
def delete_subscription(sub_id: str, caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> Response:
    caller.require("operator", "dso")
    with db.write() as session:
        subscriptions.delete(session, caller.org_id, sub_id)
    return Response(status_code=204)


@router.get("/subscriptions/{sub_id}/deliveries", response_model=list[sc.DeliveryOut],
            summary="Outbox of a subscription: what was sent, when, and how many attempts")
def list_deliveries(sub_id: str, after: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000),
                    caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    _dso(caller)
    with db.read() as session:
        subscriptions.get(session, caller.org_id, sub_id)
        rows = subscriptions.pending(session, sub_id, after, limit)
    return [{"sequenceNo": r.seq, "notificationId": r.notification_id, "kind": r.kind, "createdAt": r.created_at,
             "attempts": r.attempts, "deliveredAt": r.delivered_at, "lastError": r.last_error} for r in rows]


@router.get("/subscriptions/{sub_id}/events", summary="Server-Sent Events stream of a subscription",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def stream_events(sub_id: str, request: Request, last_event_id: str | None = Header(None),
                        from_seq: int | None = Query(None, alias="from", ge=0),
                        caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> StreamingResponse:
    """Replays from `Last-Event-ID` (a sequence number) or `from`, then streams live; `id:` is the sequenceNo."""
    _dso(caller)

    def check() -> int:
        with db.read() as session:
            return subscriptions.get(session, caller.org_id, sub_id).last_seq

    last_seq = await asyncio.to_thread(check)
    if last_event_id is not None and last_event_id.strip().isdigit():
        start = int(last_event_id)
    elif from_seq is not None:
        start = from_seq
    else:
        start = last_seq
    bus: Bus = request.app.state.bus
    return StreamingResponse(_sse(db, bus, request, sub_id, start), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _sse(db: Database, bus: Bus, request: Request, sub_id: str, after: int) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def on_message(message: Message) -> None:
        if getattr(message.payload, "subscription_id", None) == sub_id:
            wake.set()

    unsubscribe = bus.subscribe(OUTBOX_TOPIC, on_loop(loop, on_message))
    yield b": connected\n\n"
    try:
        while not request.app.state.stopping:
            wake.clear()

            def load(after_seq: int = after) -> list[tuple[int, str, str]]:
                with db.read() as session:
                    return [(r.seq, r.kind, r.payload) for r in subscriptions.pending(session, sub_id, after_seq)]

            rows = await asyncio.to_thread(load)
            for seq, kind, payload in rows:
                yield f"id: {seq}\nevent: {kind}\ndata: {payload}\n\n".encode()
                after = seq
            if rows:
                continue
            try:
                await asyncio.wait_for(wake.wait(), timeout=15)
            except TimeoutError:
                yield b": keep-alive\n\n"
    finally:
        unsubscribe()
