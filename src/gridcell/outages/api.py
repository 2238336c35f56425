"""Routes: the TS 28.318 MOIs through ProvMnS (TS 28.532 conventions), ProvMnS subscriptions, and the native
plan API for each side."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gridcell.core.clock import isoformat, utcnow
from gridcell.core.db import Database
from gridcell.core.errors import NotFound
from gridcell.core.fields import Instant, NaturalId
from gridcell.deps import get_caller, get_db
from gridcell.exposure import subscriptions
from gridcell.http_body import in_write, read_json
from gridcell.outages import monitors, notify, service
from gridcell.tenancy.service import Caller

router = APIRouter(prefix="/outages", tags=["outages"])
provmns = APIRouter(prefix="/ProvMnS/v1900", tags=["ProvMnS (TS 28.318)"])
root_routers = [provmns]

ORI = "/SubNetwork={dso_id}/OutageAndRecoveryInfo={moi_id}"
TM = "/SubNetwork={dso_id}/DsoThresholdMonitor={moi_id}"
_OBJ = {"type": "object", "additionalProperties": True}
_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": _OBJ}}}}
_PATCH_BODY = {"requestBody": {"required": True, "content": {
    "application/merge-patch+json": {"schema": _OBJ}, "application/3gpp-merge-patch+json": {"schema": _OBJ},
    "application/json-patch+json": {"schema": {"type": "array", "items": _OBJ}},
    "application/3gpp-json-patch+json": {"schema": {"type": "array", "items": _OBJ}}}}}






# ---- OutageAndRecoveryInfo ----------------------------------------------------------------------------------


@provmns.put(ORI, summary="Create or replace an OutageAndRecoveryInfo (DSO)", openapi_extra=_BODY,
             responses={200: {"description": "Replaced"}, 201: {"description": "Created"}})
async def put_outage(dso_id: str, moi_id: str, request: Request,
                     caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_json(request)
    result, created = await in_write(request, lambda s: service.put_outage(s, caller, dso_id, moi_id, body))
    return JSONResponse(result, status_code=201 if created else 200)


@provmns.get(ORI, summary="Read an OutageAndRecoveryInfo (the DSO and the MNOs it has agreements with)")
def get_outage(dso_id: str, moi_id: str, caller: Caller = Depends(get_caller),
               db: Database = Depends(get_db)) -> JSONResponse:
    with db.write() as session:  # writes the audit entry of an MNO read
        return JSONResponse(service.get_outage(session, caller, dso_id, moi_id))


@provmns.patch(ORI, summary="Patch an OutageAndRecoveryInfo (merge patch or JSON patch; DSO)",
               openapi_extra=_PATCH_BODY)
async def patch_outage(dso_id: str, moi_id: str, request: Request,
                       caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_json(request)
    ctype = request.headers.get("content-type", "")
    result = await in_write(request, lambda s: service.patch_outage(s, caller, dso_id, moi_id, body, ctype))
    return JSONResponse(result)


@provmns.delete(ORI, summary="Delete an OutageAndRecoveryInfo (DSO)", response_class=Response)
def delete_outage(dso_id: str, moi_id: str, caller: Caller = Depends(get_caller),
                  db: Database = Depends(get_db)) -> Response:
    with db.write() as session:
        service.delete_outage(session, caller, dso_id, moi_id)
    return Response(status_code=200)


# ---- DsoThresholdMonitor ------------------------------------------------------------------------------------


@provmns.put(TM, summary="Create or replace a DsoThresholdMonitor (DSO)", openapi_extra=_BODY,
             responses={200: {"description": "Replaced"}, 201: {"description": "Created"}})
async def put_monitor(dso_id: str, moi_id: str, request: Request,
                      caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_json(request)
    result, created = await in_write(request, lambda s: monitors.put_monitor(s, caller, dso_id, moi_id, body))
    return JSONResponse(result, status_code=201 if created else 200)


@provmns.get(TM, summary="Read a DsoThresholdMonitor")
def get_monitor(dso_id: str, moi_id: str, caller: Caller = Depends(get_caller),
                db: Database = Depends(get_db)) -> JSONResponse:
    with db.read() as session:
        return JSONResponse(monitors.get_monitor(session, caller, dso_id, moi_id))


@provmns.patch(TM, summary="Patch a DsoThresholdMonitor (DSO)", openapi_extra=_PATCH_BODY)
async def patch_monitor(dso_id: str, moi_id: str, request: Request,
                        caller: Caller = Depends(get_caller)) -> JSONResponse:
    body = await read_json(request)
    ctype = request.headers.get("content-type", "")
    return JSONResponse(await in_write(request, lambda s: monitors.patch_monitor(s, caller, dso_id, moi_id, body,
                                                                                ctype)))


@provmns.delete(TM, summary="Delete a DsoThresholdMonitor (DSO)", response_class=Response)
def delete_monitor(dso_id: str, moi_id: str, caller: Caller = Depends(get_caller),
                   db: Database = Depends(get_db)) -> Response:
    with db.write() as session:
        monitors.delete_monitor(session, caller, dso_id, moi_id)
    return Response(status_code=200)


# ---- ProvMnS subscriptions ------------------------------------------------------------------------------------


@provmns.post("/subscriptions", status_code=201, openapi_extra=_BODY,
              summary="Subscribe to MOI notifications, threshold crossings and plan changes (webhook)")
async def create_subscription(request: Request, response: Response,
                              caller: Caller = Depends(get_caller)) -> dict[str, Any]:
    caller.require("operator")
    body = await read_json(request)
    allow = request.app.state.settings.allow_private_webhooks

    def make(session: Any) -> dict[str, Any]:
        sub = notify.create_subscription(session, caller.org_id, body, allow_private=allow)
        session.flush()
        return notify.subscription_out(sub, with_secret=True)

    out: dict[str, Any] = await in_write(request, make)
    response.headers["Location"] = f"/ProvMnS/v1900/subscriptions/{out['id']}"
    return out


@provmns.get("/subscriptions", summary="The caller's ProvMnS subscriptions")
def list_subscriptions(caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    caller.require("viewer")
    with db.read() as session:
        return [notify.subscription_out(s)
                for s in subscriptions.channel_subscriptions(session, notify.CHANNEL, [caller.org_id])]


@provmns.get("/subscriptions/{sub_id}", summary="One ProvMnS subscription")
def get_subscription(sub_id: str, caller: Caller = Depends(get_caller),
                     db: Database = Depends(get_db)) -> dict[str, Any]:
    caller.require("viewer")
    with db.read() as session:
        return notify.subscription_out(subscriptions.get_channel_subscription(session, caller.org_id,
                                                                              notify.CHANNEL, sub_id))


@provmns.delete("/subscriptions/{sub_id}", status_code=204, response_class=Response, summary="Unsubscribe")
def delete_subscription(sub_id: str, caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> Response:
    caller.require("operator")
    with db.write() as session:
        sub = subscriptions.get_channel_subscription(session, caller.org_id, notify.CHANNEL, sub_id)
        session.delete(sub)
    return Response(status_code=204)


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
