"""TMF621 Trouble Ticket v4 at /tmf-api/troubleTicket/v4/: tickets, hub, and the listener a federated MNO's
system sends its events to. Errors are TMF `Error` bodies."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from gridcell.core.db import Database
from gridcell.deps import get_basic_or_bearer_caller, get_caller, get_db
from gridcell.http_body import in_write, read_json
from gridcell.incidents import federation_sync, notify, service
from gridcell.tenancy.service import Caller

BASE = "/tmf-api/troubleTicket/v4"
router = APIRouter(prefix=BASE, tags=["TMF621 Trouble Ticket v4"])
_OBJ = {"type": "object", "additionalProperties": True}
_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": _OBJ}}}}
_PATCH = {"requestBody": {"required": True, "content": {"application/merge-patch+json": {"schema": _OBJ},
                                                          "application/json": {"schema": _OBJ}}}}
_FIELDS = Query(None, description="comma-separated first-level attributes to return")






def filters_of(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        out.setdefault(k, []).append(v)
    return out


@router.get("/troubleTicket", summary="List trouble tickets (fields, attribute filters, offset/limit)")
def list_tickets(request: Request, fields: str | None = _FIELDS, offset: int | None = Query(None, ge=0),
                 limit: int | None = Query(None, ge=0), caller: Caller = Depends(get_caller),
                 db: Database = Depends(get_db)) -> JSONResponse:
    with db.write() as session:  # cross-organisation reads are audited
        items, total = service.list_tickets(session, caller, filters_of(request), fields, offset, limit)
    return JSONResponse(items, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(items))})


@router.post("/troubleTicket", status_code=201, openapi_extra=_BODY,
             summary="Create a trouble ticket (DSO; addressed to an MNO), attributed automatically")
async def create_ticket(request: Request, caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_json(request)
    out = await in_write(request, lambda s: service.create_ticket(s, caller, body))
    return JSONResponse(out, status_code=201, headers={"Location": out["href"]})


@router.get("/troubleTicket/{ticket_id}", summary="Retrieve a trouble ticket")
def get_ticket(ticket_id: str, fields: str | None = _FIELDS, caller: Caller = Depends(get_caller),
               db: Database = Depends(get_db)) -> JSONResponse:
    with db.write() as session:
        return JSONResponse(service.get_ticket(session, caller, ticket_id, fields))


@router.patch("/troubleTicket/{ticket_id}", openapi_extra=_PATCH,
              summary="Update a trouble ticket (JSON merge patch; status follows the lifecycle)")
async def patch_ticket(ticket_id: str, request: Request, caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_json(request)
    ctype = request.headers.get("content-type", "")
    return JSONResponse(await in_write(request, lambda s: service.patch_ticket(s, caller, ticket_id, body, ctype)))


@router.delete("/troubleTicket/{ticket_id}", status_code=204, response_class=Response,
               summary="Delete a trouble ticket (the reporting DSO)")
def delete_ticket(ticket_id: str, caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> Response:
    with db.write() as session:
        service.delete_ticket(session, caller, ticket_id)
    return Response(status_code=204)


@router.post("/hub", status_code=201, openapi_extra=_BODY,
             summary="Register a listener for trouble ticket events (query: eventType=A,B)")
async def register_listener(request: Request, caller: Caller = Depends(get_caller)) -> JSONResponse:
    caller.require("operator")
    body = await read_json(request)
    allow = request.app.state.settings.allow_private_webhooks
    out = await in_write(request, lambda s: notify.register(s, caller.org_id, notify.CHANNEL, body,
                                                            notify.EVENT_TYPES, allow_private=allow))
    return JSONResponse(out, status_code=201, headers={"Location": f"{BASE}/hub/{out['id']}"})


@router.delete("/hub/{hub_id}", status_code=204, response_class=Response, summary="Unregister a listener")
def unregister_listener(hub_id: str, caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> Response:
    caller.require("operator")
    with db.write() as session:
        notify.unregister(session, caller.org_id, notify.CHANNEL, hub_id)
    return Response(status_code=204)


_LISTENED = {"description": "Taken", "content": {"application/json": {"schema": {
    "type": "object", "required": ["id", "callback"], "properties": {"id": {"type": "string"},
                                                                     "callback": {"type": "string"}}}}}}


def _listener_route(event_type: str) -> None:
    name = event_type[:1].lower() + event_type[1:]

    async def listen(request: Request, caller: Caller = Depends(get_basic_or_bearer_caller)) -> JSONResponse:
        body = await read_json(request)
        out = await in_write(request, lambda s: federation_sync.listen(s, caller, event_type, body))
        return JSONResponse(out, status_code=201)

    listen.__name__ = f"listen_to_{name}"
    router.post(f"/listener/{name}", status_code=201, openapi_extra=_BODY, responses={201: _LISTENED},
                summary=f"{event_type} from a federated MNO system (its listener client: basic or bearer)")(listen)


for _event_type in federation_sync.EVENT_TYPES:
    _listener_route(_event_type)
