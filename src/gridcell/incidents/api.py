"""Routes: the native view of tickets per side (`/api/v1/incidents`), an MNO's federation with its own TMF621
system (`/api/v1/incidents/federation`), and the TMF621 facade."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from gridcell.core.db import Database
from gridcell.deps import get_caller, get_db
from gridcell.http_body import in_write, read_json
from gridcell.incidents import federation, service
from gridcell.incidents.tmf621_api import router as tmf621
from gridcell.tenancy.service import Caller

router = APIRouter(prefix="/incidents", tags=["incidents"])
root_routers = [tmf621]


@router.get("", summary="The caller's trouble tickets (a DSO's reported, an MNO's addressed) with attribution")
def list_incidents(all_states: bool = Query(False, alias="all", description="include closed, cancelled, rejected"),
                   caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    with db.write() as session:  # audited
        return service.summaries(session, caller, open_only=not all_states)


_FEDERATION = {"type": "object", "properties": {
    "baseUrl": {"type": "string"}, "state": {"type": "string", "enum": ["registering", "active"]},
    "hubId": {"type": "string"}, "lastError": {"type": "string"}, "updatedAt": {"type": "string"},
    "auth": {"type": "object", "properties": {"type": {"type": "string"}}}}}
_FEDERATION_IN = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["baseUrl"], "additionalProperties": False, "properties": {
        "baseUrl": {"type": "string", "description": "the MNO system's TMF621 base, e.g. https://sd.mno.example"
                                                     "/tmf-api/troubleTicket/v4"},
        "auth": {"type": "object", "description": "what gridcell presents there, kept encrypted: "
                                                  "{type: bearer, token} | {type: basic, username, password} | "
                                                  "{type: apiKey, header, value}"}}}}}}}


@router.put("/federation", openapi_extra=_FEDERATION_IN, response_model=dict[str, Any],
            responses={200: {"content": {"application/json": {"schema": _FEDERATION}}}},
            summary="Federate with the MNO's own TMF621 system (MNO admin): tickets addressed to it are raised there")
async def put_federation(request: Request, caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    body = await read_json(request)
    allow = request.app.state.settings.allow_private_webhooks
    out: dict[str, Any] = await in_write(request, lambda s: federation.configure(s, caller, body,
                                                                                 allow_private=allow))
    return out


@router.get("/federation", response_model=dict[str, Any],
            responses={200: {"content": {"application/json": {"schema": _FEDERATION}}}},
            summary="The MNO's federation: where, its hub registration, the last error")
def get_federation(caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> dict[str, Any]:
    with db.read() as session:
        return federation.get(session, caller)


@router.delete("/federation", status_code=204, response_class=Response,
               summary="End the federation (MNO admin): new tickets stay in gridcell; its listener client is revoked")
def delete_federation(caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> Response:
    with db.write() as session:
        federation.remove(session, caller)
    return Response(status_code=204)
