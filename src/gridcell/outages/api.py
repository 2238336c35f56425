"""Routes: the TS 28.318 MOIs and NtfSubscriptionControl through ProvMnS (TS 28.532, TS 32.158), the deprecated
ProvMnS `/subscriptions`, and the native plan API for each side."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gridcell.core.clock import isoformat, utcnow
from gridcell.core.db import Database
from gridcell.core.errors import NotFound
from gridcell.core.fields import Instant, NaturalId
from gridcell.deps import get_caller, get_db
from gridcell.http_body import in_write, read_json
from gridcell.outages import moi, monitors, provmns, service, subscription_control
from gridcell.outages.read_query import ATTRIBUTES
from gridcell.tenancy.service import Caller

router = APIRouter(prefix="/outages", tags=["outages"])
provmns_router = APIRouter(prefix="/ProvMnS/v1900", tags=["ProvMnS (TS 28.532, TS 28.318)"])
root_routers = [provmns_router]

SUBNETWORK = "/SubNetwork={dso_id}"
ORI = f"{SUBNETWORK}/{moi.ORI_CLASS}={{moi_id}}"
TM = f"{SUBNETWORK}/{moi.TM_CLASS}={{moi_id}}"
NSC = f"{SUBNETWORK}/{provmns.NSC_CLASS}={{moi_id}}"
_OBJ = {"type": "object", "additionalProperties": True}
_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": _OBJ}}}}
_PATCH_BODY = {"requestBody": {"required": True, "content": {
    "application/merge-patch+json": {"schema": _OBJ}, "application/3gpp-merge-patch+json": {"schema": _OBJ},
    "application/json-patch+json": {"schema": {"type": "array", "items": _OBJ}},
    "application/3gpp-json-patch+json": {"schema": {"type": "array", "items": _OBJ}}}}}
_NAMES = {"type": "array", "items": {"type": "string", "enum": sorted(ATTRIBUTES)}, "maxItems": 100}
_READ = {"parameters": [
    {"name": "scope", "in": "query", "required": False, "style": "form", "explode": True,
     "description": "TS 32.158 scope below the base resource (default BASE_ONLY); not on a collection",
     "schema": {"type": "object", "additionalProperties": False, "properties": {
         "scopeType": {"type": "string", "enum": list(subscription_control.SCOPE_TYPES)},
         "scopeLevel": {"type": "integer", "minimum": 0, "maximum": 1000}}}},
    {"name": "filter", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 2000},
     "description": 'Jex conditions (TS 32.161) on each resource, e.g. attributes/isAffectedAreaPriority=true'},
    {"name": "attributes", "in": "query", "required": False, "style": "form", "explode": False, "schema": _NAMES,
     "description": "the attributes returned"},
    {"name": "fields", "in": "query", "required": False, "style": "form", "explode": False,
     "schema": {"type": "array", "items": {"type": "string", "maxLength": 200}, "maxItems": 100},
     "description": "attribute fields returned, e.g. attributes/affectedArea/energySupplyId"}]}
_READ_ANSWER: dict[int | str, dict[str, Any]] = {200: {
    "description": "The base resource and what the scope and filter select (hierarchical), or the selected "
                   "resources (flat, when asked for in Accept)",
    "content": {"application/json": {"schema": _OBJ},
                provmns.FLAT_MEDIA_TYPE: {"schema": {"type": "array", "items": _OBJ}}}}}
_WRITE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Replaced", "content": {"application/json": {"schema": _OBJ}}},
    201: {"description": "Created", "content": {"application/json": {"schema": _OBJ}}}}
_DEPRECATED_SINCE = "@1796342400"  # RFC 9745 `Deprecation`: 2026-12-04, when NtfSubscriptionControl replaced it


def _settings(request: Request) -> Any:
    return request.app.state.settings


async def _read(request: Request, caller: Caller, dso_id: str, target: provmns.Target) -> JSONResponse:
    flat = provmns.FLAT_MEDIA_TYPE in request.headers.get("accept", "")
    params = request.query_params.multi_items()
    db: Database = request.app.state.db

    def run() -> Any:
        with (db.write() if caller.org_kind == "mno" else db.read()) as session:  # an MNO's read is audited
            return provmns.read(session, caller, dso_id, target, params, flat=flat)

    out = await run_in_threadpool(run)
    return JSONResponse(out, media_type=provmns.FLAT_MEDIA_TYPE if flat else "application/json")


# ---- reads: the SubNetwork, its collections, each MOI ----------------------------------------------------------


@provmns_router.get(SUBNETWORK, summary="Read the DSO's SubNetwork and, with a scope, what it contains",
                    openapi_extra=_READ, responses=_READ_ANSWER)
async def get_subnetwork(dso_id: str, request: Request, caller: Caller = Depends(get_caller)) -> JSONResponse:
    return await _read(request, caller, dso_id, provmns.Target())


def _collection(object_class: str) -> None:
    async def get_collection(dso_id: str, request: Request, caller: Caller = Depends(get_caller)) -> JSONResponse:
        return await _read(request, caller, dso_id, provmns.Target(object_class))

    provmns_router.get(f"{SUBNETWORK}/{object_class}", summary=f"Read every {object_class} of the SubNetwork",
                       openapi_extra=_READ, responses=_READ_ANSWER,
                       operation_id=f"get_{object_class}_collection")(get_collection)


for _cls in provmns.CLASSES:
    _collection(_cls)


def _read_moi(object_class: str, path: str) -> None:
    async def get_moi(dso_id: str, moi_id: str, request: Request,
                      caller: Caller = Depends(get_caller)) -> JSONResponse:
        return await _read(request, caller, dso_id, provmns.Target(object_class, moi_id))

    provmns_router.get(path, summary=f"Read a {object_class}", openapi_extra=_READ, responses=_READ_ANSWER,
                       operation_id=f"get_{object_class}")(get_moi)


# ---- OutageAndRecoveryInfo ----------------------------------------------------------------------------------


@provmns_router.put(ORI, summary="Create or replace an OutageAndRecoveryInfo (DSO)", openapi_extra=_BODY,
                    responses=_WRITE_ANSWERS)
async def put_outage(dso_id: str, moi_id: str, request: Request,
                     caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_json(request)
    result, created = await in_write(request, lambda s: service.put_outage(s, caller, dso_id, moi_id, body))
    return JSONResponse(result, status_code=201 if created else 200)


_read_moi(moi.ORI_CLASS, ORI)


@provmns_router.patch(ORI, summary="Patch an OutageAndRecoveryInfo (merge patch or JSON patch; DSO)",
                      openapi_extra=_PATCH_BODY)
async def patch_outage(dso_id: str, moi_id: str, request: Request,
                       caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_json(request)
    ctype = request.headers.get("content-type", "")
    result = await in_write(request, lambda s: service.patch_outage(s, caller, dso_id, moi_id, body, ctype))
    return JSONResponse(result)


@provmns_router.delete(ORI, summary="Delete an OutageAndRecoveryInfo (DSO)", response_class=Response)
def delete_outage(dso_id: str, moi_id: str, caller: Caller = Depends(get_caller),
                  db: Database = Depends(get_db)) -> Response:
    with db.write() as session:
        service.delete_outage(session, caller, dso_id, moi_id)
    return Response(status_code=200)


# ---- DsoThresholdMonitor ------------------------------------------------------------------------------------


@provmns_router.put(TM, summary="Create or replace a DsoThresholdMonitor (DSO)", openapi_extra=_BODY,
                    responses=_WRITE_ANSWERS)
async def put_monitor(dso_id: str, moi_id: str, request: Request,
                      caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_json(request)
    result, created = await in_write(request, lambda s: monitors.put_monitor(s, caller, dso_id, moi_id, body))
    return JSONResponse(result, status_code=201 if created else 200)


_read_moi(moi.TM_CLASS, TM)


@provmns_router.patch(TM, summary="Patch a DsoThresholdMonitor (DSO)", openapi_extra=_PATCH_BODY)
async def patch_monitor(dso_id: str, moi_id: str, request: Request,
                        caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_json(request)
    ctype = request.headers.get("content-type", "")
    return JSONResponse(await in_write(request, lambda s: monitors.patch_monitor(s, caller, dso_id, moi_id, body,
                                                                                ctype)))


@provmns_router.delete(TM, summary="Delete a DsoThresholdMonitor (DSO)", response_class=Response)
def delete_monitor(dso_id: str, moi_id: str, caller: Caller = Depends(get_caller),
                   db: Database = Depends(get_db)) -> Response:
    with db.write() as session:
        monitors.delete_monitor(session, caller, dso_id, moi_id)
    return Response(status_code=200)


# ---- NtfSubscriptionControl (TS 28.623): each organisation's own ------------------------------------------------


@provmns_router.put(NSC, summary="Subscribe: create or replace the caller's NtfSubscriptionControl (the 201 answer "
                                 "carries the webhook's HMAC secret once, as `secret`)",
                    openapi_extra=_BODY, responses=_WRITE_ANSWERS)
async def put_subscription_control(dso_id: str, moi_id: str, request: Request,
                                   caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_json(request)
    allow = _settings(request).allow_private_webhooks
    result, created = await in_write(request, lambda s: provmns.put_subscription_control(
        s, caller, dso_id, moi_id, body, allow_private=allow))
    return JSONResponse(result, status_code=201 if created else 200)


_read_moi(provmns.NSC_CLASS, NSC)


@provmns_router.patch(NSC, summary="Patch the caller's NtfSubscriptionControl", openapi_extra=_PATCH_BODY)
async def patch_subscription_control(dso_id: str, moi_id: str, request: Request,
                                     caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_json(request)
    ctype = request.headers.get("content-type", "")
    allow = _settings(request).allow_private_webhooks
    return JSONResponse(await in_write(request, lambda s: provmns.patch_subscription_control(
        s, caller, dso_id, moi_id, body, ctype, allow_private=allow)))


@provmns_router.delete(NSC, summary="Unsubscribe: delete the caller's NtfSubscriptionControl",
                       response_class=Response)
def delete_subscription_control(dso_id: str, moi_id: str, caller: Caller = Depends(get_caller),
                                db: Database = Depends(get_db)) -> Response:
    with db.write() as session:
        provmns.delete_subscription_control(session, caller, dso_id, moi_id)
    return Response(status_code=200)


# ---- deprecated: POST/GET/DELETE /ProvMnS/v1900/subscriptions -----------------------------------------------------


def _deprecated(response: Response) -> None:
    response.headers["Deprecation"] = _DEPRECATED_SINCE


@provmns_router.post("/subscriptions", status_code=201, openapi_extra=_BODY, deprecated=True,
                     summary="Deprecated: subscribe in every SubNetwork the caller takes part in (use "
                             "NtfSubscriptionControl); `filter` is Jex conditions on each notification")
async def create_subscription(request: Request, response: Response,
                              caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    caller.require("operator")
    body = await read_json(request)
    allow = _settings(request).allow_private_webhooks

    def make(session: Any) -> dict[str, Any]:
        sub = subscription_control.create_legacy(session, caller.org_id, body, allow_private=allow)
        session.flush()
        return subscription_control.legacy_out(sub, with_secret=True)

    out: dict[str, Any] = await in_write(request, make)
    response.headers["Location"] = f"/ProvMnS/v1900/subscriptions/{out['id']}"
    _deprecated(response)
    return out


@provmns_router.get("/subscriptions", summary="Deprecated: the caller's /subscriptions", deprecated=True)
def list_subscriptions(response: Response, caller: Caller = Depends(get_caller),
                       db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    caller.require("viewer")
    _deprecated(response)
    with db.read() as session:
        return [subscription_control.legacy_out(s) for s in subscription_control.legacy(session, caller.org_id)]


@provmns_router.get("/subscriptions/{sub_id}", summary="Deprecated: one of the caller's /subscriptions",
                    deprecated=True)
def get_subscription(sub_id: str, response: Response, caller: Caller = Depends(get_caller),
                     db: Database = Depends(get_db)) -> dict[str, Any]:
    caller.require("viewer")
    _deprecated(response)
    with db.read() as session:
        return subscription_control.legacy_out(subscription_control.get_legacy(session, caller.org_id, sub_id))


@provmns_router.delete("/subscriptions/{sub_id}", status_code=204, response_class=Response, deprecated=True,
                       summary="Deprecated: unsubscribe")
def delete_subscription(sub_id: str, caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> Response:
    caller.require("operator")
    with db.write() as session:
        session.delete(subscription_control.get_legacy(session, caller.org_id, sub_id))
    return Response(status_code=204, headers={"Deprecation": _DEPRECATED_SINCE})


# ---- native: outages and plans ----------------------------------------------------------------------------------


@router.get("", summary="Outages the caller takes part in (the DSO's own; an MNO's agreement DSOs)")
def list_outages(open_only: bool = Query(False, alias="open"), caller: Caller = Depends(get_caller),
                 db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    caller.require("viewer")
    with db.read() as session:
        return service.list_outages(session, caller, open_only=open_only)


@router.get("/{moi_id}/plan", summary="The caller's part of the coordination plan of an outage")
def get_plan(moi_id: str, dso: str | None = Query(None, description="The DSO (needed by an MNO with several)"),
             caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> dict[str, Any]:
    caller.require("viewer")
    with db.write() as session:  # an MNO read is audited
        return service.plan_for(session, caller, dso, moi_id)


class SwitchAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    switch: int = Field(ge=0, le=2**31 - 1, description="pandapower switch index")
    closed: bool
    grid: str | None = Field(None, max_length=100, description="grid name; optional when the DSO has one grid")
    at: Instant | None = Field(None, description="when it was (or will be) operated; default now. The first "
                                                       "switching ends the tripped phase: the fault is isolated "
                                                       "and the feeder breaker reclosed")


class MnoAnswerIn(BaseModel):
    """An MNO's own answer to an outage; each attribute given overrides the computed one (null: none)."""

    model_config = ConfigDict(extra="forbid")

    mnoMaxServiceDuration: int | None = Field(None, ge=0, le=10_000_000, description="minutes from the outage "
                                                                                      "start until comms fail")
    mnoInterventionTime: Instant | None = Field(None, description="when a generator is needed")
    mnoInterventionDuration: int | None = Field(None, ge=0, le=10_000_000, description="minutes")
    reason: str = Field(min_length=1, max_length=500, pattern=r"^[^\x00]+$",
                        description="why (a generator en route, a site on a fuel cell, ...)")


class SwitchingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actions: list[SwitchAction] = Field(min_length=1, max_length=1000)


@router.post("/{moi_id}/switching", summary="Record switching actions (DSO); the restored area follows")
def post_switching(moi_id: str, body: SwitchingIn, caller: Caller = Depends(get_caller),
                   db: Database = Depends(get_db)) -> dict[str, Any]:
    if caller.org_kind != "dso":
        caller.require("operator", "dso")
    with db.write() as session:
        return service.add_switching(session, caller, moi_id, [a.model_dump() for a in body.actions])


@router.put("/{moi_id}/mno-answer", summary="The calling MNO's own answer to an outage (overrides the computed one)")
def put_mno_answer(moi_id: str, body: MnoAnswerIn,
                   dso: str | None = Query(None, description="The DSO (needed by an MNO with several)"),
                   caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> dict[str, Any]:
    answer = body.model_dump(exclude_unset=True)
    if isinstance(answer.get("mnoInterventionTime"), datetime):
        answer["mnoInterventionTime"] = isoformat(answer["mnoInterventionTime"])
    with db.write() as session:
        return service.set_mno_answer(session, caller, dso, moi_id, answer)


@router.delete("/{moi_id}/mno-answer", summary="Withdraw the calling MNO's own answer (the computed one applies)")
def delete_mno_answer(moi_id: str, dso: str | None = Query(None), caller: Caller = Depends(get_caller),
                      db: Database = Depends(get_db)) -> dict[str, Any]:
    with db.write() as session:
        return service.set_mno_answer(session, caller, dso, moi_id, None)


@router.get("/ran-site-power", summary="Power state of the MNO's RAN sites (mains | battery | dark)")
def get_ran_site_power(site: list[NaturalId] | None = Query(None, max_length=10_000),
                       caller: Caller = Depends(get_caller),
                       db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    caller.require("viewer", "mno")
    with db.read() as session:
        from gridcell.topology import service as topology

        refs = topology.ran_sites_of_orgs(session, [caller.org_id])
        if site is not None:
            wanted = set(site)
            refs = [r for r in refs if r.site_id in wanted]
            if not refs:
                raise NotFound("no such RAN site")
        power = service.ran_site_power(session, [r.pk for r in refs], utcnow())
    return [{"ranSiteId": r.site_id, "state": power[r.pk].state, "since": isoformat(power[r.pk].since),
             "darkAt": isoformat(power[r.pk].dark_at), "autonomyH": power[r.pk].autonomy_h,
             "timeToDarkMin": None if power[r.pk].time_to_dark is None
             else int(power[r.pk].time_to_dark.total_seconds() // 60),  # type: ignore[union-attr]
             "sources": list(power[r.pk].sources)} for r in refs if r.pk in power]
