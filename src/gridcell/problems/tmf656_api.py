"""TMF656 Service Problem Management v4 at /tmf-api/serviceProblemManagement/v4/: problems, the task resources
(problemAcknowledgement, problemUnacknowledgement, problemGroup, problemUngroup), event records and hub."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from gridcell.core.db import Database
from gridcell.deps import get_caller, get_db
from gridcell.http_body import in_write, read_json
from gridcell.problems import notify, records, service, tasks
from gridcell.problems import tmf656_docs as docs
from gridcell.tenancy.service import Caller

BASE = "/tmf-api/serviceProblemManagement/v4"
router = APIRouter(prefix=BASE, tags=["TMF656 Service Problem v4"])
_FIELDS = Query(None, description="comma-separated first-level attributes to return")
_LIST = {"description": "The page", "headers": {
    "X-Total-Count": {"schema": {"type": "integer"}, "description": "how many match"},
    "X-Result-Count": {"schema": {"type": "integer"}, "description": "how many are in this page"}}}


def _filters(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        out.setdefault(k, []).append(v)
    return out


def _page(items: list[dict[str, Any]], total: int) -> JSONResponse:
    return JSONResponse(items, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(items))})


@router.get("/serviceProblem", summary="List service problems (fields, attribute filters, offset/limit)",
            responses={200: {**_LIST, "content": {"application/json": {"schema": {"type": "array",
                                                                                    "items": docs.PROBLEM}}}}})
def list_problems(request: Request, fields: str | None = _FIELDS, offset: int | None = Query(None, ge=0),
                  limit: int | None = Query(None, ge=0), caller: Caller = Depends(get_caller),
                  db: Database = Depends(get_db)) -> JSONResponse:
    with db.write() as session:
        return _page(*service.list_problems(session, caller, _filters(request), fields, offset, limit))


@router.post("/serviceProblem", status_code=201, openapi_extra=docs.CREATE,
             responses=docs.answer(201, docs.PROBLEM, "Created"),
             summary="Raise a service problem (DSO; the parties named are the DSO's own references)")
async def create_problem(request: Request, caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_json(request)
    out = await in_write(request, lambda s: service.create_problem(s, caller, body))
    return JSONResponse(out, status_code=201, headers={"Location": out["href"]})


@router.get("/serviceProblem/{problem_id}", summary="Retrieve a service problem",
            responses=docs.answer(200, docs.PROBLEM, "The problem"))
def get_problem(problem_id: str, fields: str | None = _FIELDS, caller: Caller = Depends(get_caller),
                db: Database = Depends(get_db)) -> JSONResponse:
    with db.write() as session:
        return JSONResponse(service.get_problem(session, caller, problem_id, fields))


@router.patch("/serviceProblem/{problem_id}", openapi_extra=docs.PATCH,
              responses=docs.answer(200, docs.PROBLEM, "Updated"),
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


def _task_route(path: str, fn: Any, extra: dict[str, Any], summary: str) -> None:
    async def run(request: Request, caller: Caller = Depends(get_caller)) -> JSONResponse:
        body = await read_json(request)
        return JSONResponse(await in_write(request, lambda s: fn(s, caller, body)), status_code=201)

    run.__name__ = f"create_{path.strip('/')}"
    router.post(path, status_code=201, openapi_extra=extra, summary=summary,
                responses=docs.answer(201, docs.TASK_ANSWER, "Done"))(run)


_task_route("/problemAcknowledgement", tasks.acknowledge, docs.ACK,
            "Acknowledge problems (the responsible MNO): recorded on each, all or none")
_task_route("/problemUnacknowledgement", tasks.unacknowledge, docs.UNACK,
            "Take acknowledgements back (the responsible MNO) while the problems are not yet worked")
_task_route("/problemGroup", tasks.group, docs.GROUP,
            "Group problems under a parent (the responsible MNO; one DSO's problems)")
_task_route("/problemUngroup", tasks.ungroup, docs.GROUP, "Ungroup problems from a parent (the responsible MNO)")


@router.get("/serviceProblemEventRecord", summary="List the events of the caller's problems (fields, filters, "
                                                  "offset/limit)",
            responses={200: {**_LIST, "content": {"application/json": {"schema": {"type": "array",
                                                                                    "items": docs.EVENT_RECORD}}}}})
def list_event_records(request: Request, fields: str | None = _FIELDS, offset: int | None = Query(None, ge=0),
                       limit: int | None = Query(None, ge=0), caller: Caller = Depends(get_caller),
                       db: Database = Depends(get_db)) -> JSONResponse:
    with db.write() as session:
        return _page(*records.list_records(session, caller, _filters(request), fields, offset, limit))


@router.get("/serviceProblemEventRecord/{record_id}", summary="Retrieve an event record",
            responses=docs.answer(200, docs.EVENT_RECORD, "The event record"))
def get_event_record(record_id: str, fields: str | None = _FIELDS, caller: Caller = Depends(get_caller),
                     db: Database = Depends(get_db)) -> JSONResponse:
    with db.write() as session:
        return JSONResponse(records.get_record(session, caller, record_id, fields))


@router.post("/hub", status_code=201, openapi_extra=docs.body(docs.HUB_INPUT),
             responses=docs.answer(201, docs.HUB, "Registered"),
             summary="Register a listener for service problem events ({callback}/listener/{eventName})")
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
