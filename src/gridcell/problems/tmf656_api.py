"""TMF656 Service Problem Management v4 at /tmf-api/serviceProblemManagement/v4/: problems and hub."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from gridcell.core.db import Database
from gridcell.deps import get_caller, get_db
from gridcell.http_body import in_write, read_json
from gridcell.problems import notify, service
from gridcell.tenancy.service import Caller

BASE = "/tmf-api/serviceProblemManagement/v4"
router = APIRouter(prefix=BASE, tags=["TMF656 Service Problem v4"])
_OBJ = {"type": "object", "additionalProperties": True}
_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": _OBJ}}}}
_PATCH = {"requestBody": {"required": True, "content": {"application/merge-patch+json": {"schema": _OBJ},
                                                          "application/json": {"schema": _OBJ}}}}
_FIELDS = Query(None, description="comma-separated first-level attributes to return")






@router.get("/serviceProblem", summary="List service problems (fields, attribute filters, offset/limit)")
def list_problems(request: Request, fields: str | None = _FIELDS, offset: int | None = Query(None, ge=0),
                  limit: int | None = Query(None, ge=0), caller: Caller = Depends(get_caller),
                  db: Database = Depends(get_db)) -> JSONResponse:
    query: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        query.setdefault(k, []).append(v)
    with db.write() as session:
        items, total = service.list_problems(session, caller, query, fields, offset, limit)
    return JSONResponse(items, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(items))})


@router.post("/serviceProblem", status_code=201, openapi_extra=_BODY, summary="Raise a service problem (DSO)")
async def create_problem(request: Request, caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_json(request)
    out = await in_write(request, lambda s: service.create_problem(s, caller, body))
    return JSONResponse(out, status_code=201, headers={"Location": out["href"]})


@router.get("/serviceProblem/{problem_id}", summary="Retrieve a service problem")
def get_problem(problem_id: str, fields: str | None = _FIELDS, caller: Caller = Depends(get_caller),
                db: Database = Depends(get_db)) -> JSONResponse:
    with db.write() as session:
        return JSONResponse(service.get_problem(session, caller, problem_id, fields))


@router.patch("/serviceProblem/{problem_id}", openapi_extra=_PATCH,
              summary="Update a service problem (JSON merge patch; status follows the lifecycle)")
async def patch_problem(problem_id: str, request: Request, caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_json(request)
    ctype = request.headers.get("content-type", "")
    return JSONResponse(await in_write(request, lambda s: service.patch_problem(s, caller, problem_id, body, ctype)))


@router.delete("/serviceProblem/{problem_id}", status_code=204, response_class=Response,
               summary="Delete a service problem (the originating DSO)")
def delete_problem(problem_id: str, caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> Response:
    with db.write() as session:
        service.delete_problem(session, caller, problem_id)
    return Response(status_code=204)


@router.post("/hub", status_code=201, openapi_extra=_BODY, summary="Register a listener for service problem events")
async def register_listener(request: Request, caller: Caller = Depends(get_caller)) -> JSONResponse:
    caller.require("operator")
    body = await read_json(request)
    allow = request.app.state.settings.allow_private_webhooks
    out = await in_write(request, lambda s: notify.register(s, caller.org_id, body, allow_private=allow))
    return JSONResponse(out, status_code=201, headers={"Location": f"{BASE}/hub/{out['id']}"})


@router.delete("/hub/{hub_id}", status_code=204, response_class=Response, summary="Unregister a listener")
def unregister_listener(hub_id: str, caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> Response:
    caller.require("operator")
    with db.write() as session:
        notify.unregister(session, caller.org_id, hub_id)
    return Response(status_code=204)
