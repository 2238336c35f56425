"""TS 28.532 Fault Supervision MnS toward DSOs at /FaultSupervisionMnS/v1: alarm list and counts, the DSO's own
acknowledgements and comments, subscriptions. Errors are 3GPP ProblemDetails (gridcell.errors_http), but a
multiple-alarm patch's failures of named alarms: TS 28.532's list of FailedAlarm."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.convertors import Convertor, register_url_convertor

from gridcell.core.db import Database
from gridcell.core.errors import DomainError
from gridcell.deps import get_caller, get_db
from gridcell.exposure import fault_mns, fault_mns_acks
from gridcell.exposure import fault_mns_notify as notify
from gridcell.exposure import schemas as sc
from gridcell.http_body import in_write, loads, read_json
from gridcell.tenancy.service import Caller

router = APIRouter(prefix=notify.BASE, tags=["FaultSupervisionMnS"])


class _AlarmIdConvertor(Convertor[str]):
    """An alarmId path segment: anything but `alarmCount`, the count resource, so /alarms/alarmCount is GET only
    (405 with `Allow: GET`) rather than an alarm to patch."""

    regex = "(?!alarmCount$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("alarm_id", _AlarmIdConvertor())

AlarmAckState = Literal["ALL_ALARMS", "ALL_ACTIVE_ALARMS", "ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS",
                        "ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS", "ALL_CLEARED_AND_UNACKNOWLEDGED_ALARMS",
                        "ALL_UNACKNOWLEDGED_ALARMS"]
_ACK_STATE = Query(None, description="TS 28.532 AlarmAckState; absent: every alarm of the list (open ones, and "
                                     "cleared ones the DSO has not acknowledged, for up to 7 days)")
_BASE = Query(None, max_length=fault_mns.MAX_DN, description="DN: alarms whose object (or one of the DSO's affected "
                                                             "sites, SubNetwork=<dso id>,DsoSite=<site id>) is at "
                                                             "or below it")
_FILTER = Query(None, max_length=2000, description='Jex conditions (TS 32.161) on each record, e.g. '
                                                   'perceivedSeverity="CRITICAL" or category="power_supply"')
_ALARM_ID = Path(max_length=500, description="the key of the alarm in this DSO's alarm list")
_SUB_ID = Path(max_length=100)


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}, **extra}


def _body(schema: dict[str, Any], *media: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {m: {"schema": schema} for m in media}}}


_NO_CONTENT: dict[int | str, dict[str, Any]] = {204: {"description": "Done; no body"}}
_LOCATION = {"Location": {"description": "URI of the new resource", "schema": {"type": "string"}}}
_MERGE = ("application/merge-patch+json", "application/json")


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"


def _json_body(request: Request) -> None:
    """Patch and comment bodies are JSON (merge-patch+json or json); anything else is 415, naming the header."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype and ctype != "application/json" and not ctype.endswith("+json"):
        raise UnsupportedMediaType(f"Content-Type {ctype} is not JSON",
                                   errors=[{"loc": "Content-Type", "msg": "application/merge-patch+json or "
                                                                          "application/json"}])


_415: dict[int | str, dict[str, Any]] = {415: {"description": "The body is not JSON", "content": {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}}}


@router.get("/alarms", summary="Alarm list (TS 28.532): the MNO alarms on the DSO's sites, per agreement",
            response_model=None, responses={200: _json(sc.ALARM_MAP, "alarmId -> AlarmRecord")})
def get_alarms(alarmAckState: AlarmAckState | None = _ACK_STATE,
               baseObjectInstance: str | None = _BASE, filter: str | None = _FILTER,
               caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> JSONResponse:
    caller.require("viewer", "dso")
    query = fault_mns.parse_query(alarmAckState, baseObjectInstance, filter)
    with db.write() as session:  # writes the audit entry
        return JSONResponse(fault_mns.alarm_list(session, caller, query))


@router.get("/alarms/alarmCount", summary="Alarm count per perceived severity (cleared ones in clearedCount)",
            response_model=None, responses={200: _json(sc.ALARM_COUNT, "AlarmCount")})
def get_alarm_count(alarmAckState: AlarmAckState | None = _ACK_STATE,
                    baseObjectInstance: str | None = _BASE, filter: str | None = _FILTER,
                    caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> JSONResponse:
    caller.require("viewer", "dso")
    query = fault_mns.parse_query(alarmAckState, baseObjectInstance, filter)
    with db.write() as session:
        return JSONResponse(fault_mns.alarm_count(session, caller, query))


def _failed(description: str) -> dict[str, Any]:
    return {"description": description, "content": {
        "application/json": {"schema": sc.FAILED_ALARMS},
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}}


_FAILED: dict[int | str, dict[str, Any]] = {
    400: _failed("A patch document that does not match: FailedAlarm per alarm (a body that is no map of alarm ids: "
                 "ProblemDetails)"),
    403: _failed("Clearing (FailedAlarm per alarm), or a caller that may not acknowledge (ProblemDetails)"),
    404: _failed("Alarms not in the DSO's alarm list: FailedAlarm per alarm")}


def _alarm_ids(raw: bytes) -> list[str]:
    """The keys of a multiple-alarm patch body, if it is a JSON object (even one refused for a NUL character)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    return [k for k in doc if isinstance(k, str)] if isinstance(doc, dict) else []


def failed_alarms(alarm_ids: list[str], exc: DomainError) -> list[dict[str, str]] | None:
    """TS 28.532's answer to a multiple-alarm patch that fails: a FailedAlarm (alarmId, failureReason) per alarm of
    the body that failed, each error's `loc` being the alarmId or alarmId/member (an empty alarmId's members are named
    bare). None when the failure names no alarm of the body (its shape, its size)."""
    if not alarm_ids or not exc.errors:
        return None
    reasons: dict[str, list[str]] = {}
    for error in exc.errors:
        loc = str(error.get("loc", ""))
        alarm_id = max((k for k in alarm_ids if k and (loc == k or loc.startswith(f"{k}/"))), key=len,
                       default="" if "" in alarm_ids else None)
        if alarm_id is None:
            return None
        member = loc[len(alarm_id) + 1:] if alarm_id else loc
        reasons.setdefault(alarm_id, []).append(f"{member}: {error.get('msg')}" if member else str(error.get("msg")))
    return [{"alarmId": alarm_id, "failureReason": "; ".join(why)} for alarm_id, why in reasons.items()]


@router.patch("/alarms", status_code=204, response_class=Response, responses={**_NO_CONTENT, **_415, **_FAILED},
              openapi_extra=_body(sc.ACK_PATCHES, *_MERGE),
              summary="Acknowledge or unacknowledge several alarms of the DSO's list (its own state)")
async def patch_alarms(request: Request, caller: Caller = Depends(get_caller)) -> Response:
    caller.require("operator", "dso")
    _json_body(request)
    raw = await request.body()
    try:
        patches = fault_mns_acks.parse_ack_patches(loads(raw))
        await in_write(request, lambda s: fault_mns_acks.acknowledge(s, caller, patches))
    except DomainError as exc:
        failed = failed_alarms(_alarm_ids(raw), exc)
        if failed is None:
            raise
        return JSONResponse(failed, status_code=exc.status, headers=exc.headers)
    return Response(status_code=204)


@router.patch("/alarms/{alarmId:alarm_id}", status_code=204, response_class=Response, responses={**_NO_CONTENT, **_415},
              openapi_extra=_body(sc.ACK_PATCH, *_MERGE),
              summary="Acknowledge or unacknowledge one alarm of the DSO's list (its own state)")
async def patch_alarm(request: Request, alarmId: str = _ALARM_ID,
                      caller: Caller = Depends(get_caller)) -> Response:
    caller.require("operator", "dso")
    _json_body(request)
    patch = fault_mns_acks.parse_single(await read_json(request))
    await in_write(request, lambda s: fault_mns_acks.acknowledge(s, caller, {alarmId: patch}))
    return Response(status_code=204)


@router.post("/alarms/{alarmId:alarm_id}/comments", status_code=201, response_model=None,
             responses={201: _json(sc.COMMENT_OUT, "The comment as stored", headers=_LOCATION), **_415},
             openapi_extra=_body(sc.COMMENT_IN, "application/json"),
             summary="Add the DSO's comment to an alarm of its list")
async def post_comment(request: Request, alarmId: str = _ALARM_ID,
                       caller: Caller = Depends(get_caller)) -> JSONResponse:
    caller.require("operator", "dso")
    _json_body(request)
    comment = fault_mns_acks.parse_comment(await read_json(request))
    comment_id, stored = await in_write(request, lambda s: fault_mns_acks.add_comment(s, caller, alarmId, comment))
    return JSONResponse(stored, status_code=201,
                        headers={"Location": f"{notify.BASE}/alarms/{alarmId}/comments/{comment_id}"})


@router.post("/subscriptions", status_code=201, response_model=None,
             responses={201: _json(sc.FAULT_SUBSCRIPTION_OUT, "The subscription", headers=_LOCATION)},
             summary="Subscribe to the DSO's Fault MnS notifications (webhook)")
def create_subscription(body: sc.FaultSubscriptionIn, request: Request, caller: Caller = Depends(get_caller),
                        db: Database = Depends(get_db)) -> JSONResponse:
    caller.require("operator", "dso")
    with db.write() as session:
        sub = notify.create_subscription(session, caller.org_id, consumer_reference=body.consumerReference,
                                         time_tick=body.timeTick, flt=body.filter,
                                         allow_private=request.app.state.settings.allow_private_webhooks)
        out = notify.subscription_out(sub, with_secret=True)
    return JSONResponse(out, status_code=201, headers={"Location": f"{notify.BASE}/subscriptions/{out['id']}"})


@router.get("/subscriptions", response_model=None, summary="The DSO's Fault MnS subscriptions",
            responses={200: _json({"type": "array", "items": sc.FAULT_SUBSCRIPTION_OUT}, "Subscriptions")})
def list_subscriptions(caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> JSONResponse:
    caller.require("viewer", "dso")
    with db.read() as session:
        return JSONResponse([notify.subscription_out(s) for s in notify.list_subscriptions(session, caller.org_id)])


@router.get("/subscriptions/{subscriptionId}", response_model=None, summary="One Fault MnS subscription",
            responses={200: _json(sc.FAULT_SUBSCRIPTION_OUT, "The subscription")})
def get_subscription(subscriptionId: str = _SUB_ID, caller: Caller = Depends(get_caller),
                     db: Database = Depends(get_db)) -> JSONResponse:
    caller.require("viewer", "dso")
    with db.read() as session:
        return JSONResponse(notify.subscription_out(notify.get_subscription(session, caller.org_id,
                                                                            subscriptionId)))


@router.delete("/subscriptions/{subscriptionId}", status_code=204, response_class=Response, responses=_NO_CONTENT,
               summary="Unsubscribe")
def delete_subscription(subscriptionId: str = _SUB_ID, caller: Caller = Depends(get_caller),
                        db: Database = Depends(get_db)) -> Response:
    caller.require("operator", "dso")
    with db.write() as session:
        notify.delete_subscription(session, caller.org_id, subscriptionId)
    return Response(status_code=204)
