"""Failover API: commands, per-CPE state, acknowledgement over HTTP, webhook subscription."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from gridcell.core.db import Database
from gridcell.deps import get_caller, get_db
from gridcell.exposure import subscriptions
from gridcell.failover import service
from gridcell.tenancy.service import Caller

router = APIRouter(tags=["failover"])


class AckIn(BaseModel):
    status: Literal["done", "failed", "rejected"] = "done"
    detail: str | None = None


class SubscriptionIn(BaseModel):
    callbackUri: str


@router.get("/failover/commands", summary="Commands sent to this DSO's CPEs, newest first")
def get_commands(cpe: str | None = None, caller: Caller = Depends(get_caller),
                 db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    with db.read() as session:
        return service.list_commands(session, caller, cpe_id=cpe)


@router.get("/failover/state", summary="The advisor's state per multi-USIM CPE")
def get_state(caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    with db.read() as session:
        return service.list_states(session, caller)


@router.post("/failover/commands/{command_id}/ack", summary="Acknowledge a command (for webhook-driven CPE managers)")
def ack(command_id: str, body: AckIn, caller: Caller = Depends(get_caller),
        db: Database = Depends(get_db)) -> dict[str, Any]:
    caller.require("operator", "dso")
    with db.write() as session:
        return service.command_out(service.acknowledge(session, caller.org_id, command_id, body.status, body.detail))


@router.post("/failover/subscriptions", status_code=201, summary="Webhook for CPE commands (channel failover)")
def subscribe(body: SubscriptionIn, request: Request, response: Response, caller: Caller = Depends(get_caller),
              db: Database = Depends(get_db)) -> dict[str, Any]:
    caller.require("operator", "dso")
    with db.write() as session:
        sub = subscriptions.create_channel_subscription(
            session, caller.org_id, service.CHANNEL, callback_uri=body.callbackUri, query=None,
            allow_private=request.app.state.settings.allow_private_webhooks)
        out = {"id": sub.id, "callbackUri": sub.callback_uri, "secret": sub.secret}
    response.headers["Location"] = f"/api/v1/failover/subscriptions/{out['id']}"
    return out
