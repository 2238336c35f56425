"""Telemetry API: bulk probe upload (NDJSON / CSV, gzip), availability, recommendations, cell health."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from gridcell.core.db import Database
from gridcell.core.fields import NaturalId
from gridcell.deps import get_caller, get_db
from gridcell.exposure import subscriptions
from gridcell.telemetry import cellhealth, parse, service
from gridcell.telemetry import schemas as sc
from gridcell.tenancy.service import Caller

router = APIRouter(tags=["telemetry"])


@router.post("/telemetry/probes", response_model=sc.IngestOut,
             summary="Bulk probe results: NDJSON (application/x-ndjson) or CSV (text/csv), gzip allowed",
             openapi_extra={"requestBody": {"content": {"application/x-ndjson": {"schema": {"type": "string"}},
                                                        "text/csv": {"schema": {"type": "string"}}}}})
async def upload_probes(request: Request, caller: Caller = Depends(get_caller),
                        db: Database = Depends(get_db)) -> dict[str, Any]:
    service.caller_may_ingest(caller)
    body = await request.body()
    # Decompressing and parsing 100,000 lines takes a while: in a thread, so the event loop (health checks, every
    # webhook in flight) never waits for it; then the write, also off the loop.
    cols = await asyncio.to_thread(parse.parse, body, request.headers.get("content-type"),
                                   request.headers.get("content-encoding"))

    def write() -> dict[str, Any]:
        with db.write() as session:
            return service.ingest(session, caller.org_id, cols).as_dict()

    return await asyncio.to_thread(write)


@router.get("/telemetry/availability", response_model=list[sc.AvailabilityOut],
            summary="Availability, loss and latency per site × PLMN against the agreement's SLA target")
def get_availability(site: list[NaturalId] | None = Query(None, max_length=10_000),
                     caller: Caller = Depends(get_caller),
                     db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    with db.read() as session:
        return service.availability(session, caller, site_ids=site)


@router.get("/telemetry/recommendations", summary="The better primary PLMN per site, from probe history")
def get_recommendations(caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    with db.read() as session:
        return service.recommendations(session, caller)


@router.get("/cell-health", summary="Outside-in cell health events for the MNO (suspected sleeping cells)")
def get_cell_health(open: bool = False, caller: Caller = Depends(get_caller),
                    db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    caller.require("viewer", "mno")
    with db.read() as session:
        return cellhealth.list_events(session, caller, open_only=open)


@router.post("/cell-health/subscriptions", response_model=sc.ChannelSubscriptionOut, status_code=201,
             summary="Webhook for cell health events (shared outbox, channel cell_health)")
def subscribe_cell_health(body: sc.ChannelSubscriptionIn, request: Request, response: Response,
                          caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> dict[str, Any]:
    caller.require("operator", "mno")
    with db.write() as session:
        sub = subscriptions.create_channel_subscription(
            session, caller.org_id, cellhealth.CHANNEL, callback_uri=body.callbackUri, query=None,
            allow_private=request.app.state.settings.allow_private_webhooks)
        out = {"id": sub.id, "callbackUri": sub.callback_uri, "secret": sub.secret}
    response.headers["Location"] = f"/api/v1/cell-health/subscriptions/{out['id']}"
    return out
