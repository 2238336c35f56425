"""MNO feeds: connect, show, disconnect and reconcile (the MNO's own); the sink the MNO's producer posts to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from gridcell.core.clock import utcnow
from gridcell.core.db import Database
from gridcell.deps import get_caller, get_db
from gridcell.faults import group_commit, liveness, parse
from gridcell.faults.api import INGEST_BODY
from gridcell.feeds import service
from gridcell.http_body import in_write, loads, read_json
from gridcell.tenancy.service import Caller

router = APIRouter(tags=["feeds"])

_FEED_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": False, "properties": {
        "kind": {"type": "string", "enum": list(service.KINDS), "default": "faultMns",
                 "description": "faultMns: gridcell subscribes to the MNO's Fault MnS producer and reconciles with "
                                "its alarm list; push: the MNO posts to gridcell, which only supervises it"},
        "baseUrl": {"type": "string", "format": "uri",
                    "description": "the producer's FaultSupervisionMnS root (faultMns feeds only)"},
        "auth": {"type": "object", "required": ["type"], "properties": {
            "type": {"type": "string", "enum": ["basic", "bearer"]}, "username": {"type": "string"},
            "password": {"type": "string"}, "token": {"type": "string"}}},
        "filter": {"type": "string", "maxLength": 2000},
        "heartbeatPeriodS": {"type": "integer", "minimum": service.MIN_PERIOD_S, "maximum": service.MAX_PERIOD_S,
                             "default": 60},
        "sinkBaseUrl": {"type": "string", "format": "uri",
                        "description": "this exchange as the producer reaches it, if not GRIDCELL_PUBLIC_URL"}}}}}}}


def _public_url(request: Request) -> str:
    return str(request.app.state.settings.public_url)


@router.post("/feeds", status_code=201, openapi_extra=_FEED_BODY,
             summary="Connect an MNO feed: subscribe to its Fault MnS producer, or supervise what it pushes (MNO)")
async def connect_feed(request: Request, caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    caller.require("admin", "mno")
    settings = request.app.state.settings
    body = await read_json(request)

    def run(session: Any) -> dict[str, Any]:
        feed = service.parse_feed(body, allow_private=settings.allow_private_webhooks)
        row = service.connect(session, caller.org_id, feed)
        return service.view(row, settings.public_url)

    return dict(await in_write(request, run))


@router.get("/feeds", summary="The MNO's feeds and their health")
def list_feeds(request: Request, caller: Caller = Depends(get_caller),
               db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    caller.require("viewer", "mno")
    with db.read() as session:
        return [service.view(r, _public_url(request)) for r in service.list_for(session, caller.org_id)]


@router.get("/feeds/{feed_id}", summary="One feed: state, last heard, last reconciliation")
def get_feed(feed_id: str, request: Request, caller: Caller = Depends(get_caller),
             db: Database = Depends(get_db)) -> dict[str, Any]:
    caller.require("viewer", "mno")
    with db.read() as session:
        return service.view(service.get(session, caller.org_id, feed_id), _public_url(request))


@router.delete("/feeds/{feed_id}", status_code=204, response_class=Response,
               summary="Disconnect a feed (gridcell's subscription at the producer is removed)")
def disconnect_feed(feed_id: str, caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> Response:
    caller.require("admin", "mno")
    with db.write() as session:
        service.disconnect(session, caller.org_id, feed_id)
    return Response(status_code=204)


@router.post("/feeds/{feed_id}/reconcile", status_code=202, summary="Reconcile with the producer's alarm list now")
def reconcile_feed(feed_id: str, request: Request, caller: Caller = Depends(get_caller),
                   db: Database = Depends(get_db)) -> dict[str, Any]:
    caller.require("operator", "mno")
    with db.write() as session:
        return service.view(service.request_reconcile(session, caller.org_id, feed_id), _public_url(request))


@router.post("/ingest/feeds/{feed_id}/{key}", status_code=204, response_class=Response,
             openapi_extra=INGEST_BODY,
             summary="Where the MNO's Fault MnS producer posts its notifications (the feed's consumerReference)")
async def feed_sink(feed_id: str, key: str, request: Request, db: Database = Depends(get_db)) -> Response:
    """No token: the URL's key is the credential, given to the producer in gridcell's subscription. Stored like
    any MNO notification (idempotent, all or nothing), then answered 204 as TS 28.532 asks of a consumer."""
    raw = await request.body()

    def run() -> None:
        body = loads(raw)
        with db.read() as session:
            org_id = service.sink_feed(session, feed_id, key).org_id
        notifications = parse.notifications(body)
        group_commit.groups_for(db).submit(org_id, notifications)
        liveness.heard(org_id, utcnow())
        with db.write() as session:
            service.note_sink(session, feed_id, notifications)

    await run_in_threadpool(run)
    return Response(status_code=204)
