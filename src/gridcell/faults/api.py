"""MNO notification sink (TS 28.532 notifications, VES events), the VES 7.2 event listener and the MNO's own
alarm list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from prometheus_client import Counter
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from gridcell.core.clock import isoformat, utcnow
from gridcell.core.db import Database
from gridcell.core.errors import InvalidInput
from gridcell.deps import get_basic_or_bearer_caller, get_caller, get_db
from gridcell.faults import group_commit, liveness, mda, parse, service
from gridcell.faults import schemas as s
from gridcell.http_body import loads
from gridcell.tenancy.service import Caller
from gridcell.topology import service as topology

router = APIRouter(tags=["faults"])
ves_listener = APIRouter(prefix="/eventListener/v7", tags=["VES event listener"])
root_routers = (ves_listener,)
INGESTED = Counter("gridcell_ingest_notifications_total", "MNO notifications received", ["result"])

_REF = "#/components/schemas/{model}"


def _body(schema: Any) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


INGEST_BODY = _body(TypeAdapter(s.IngestBody).json_schema(ref_template=_REF))
_VES_EVENT = _body(s.VesEnvelope.model_json_schema(ref_template=_REF))
_VES_BATCH = _body(s.VesBatch.model_json_schema(ref_template=_REF))
# What the VES event listener specification (7.2.1) says a listener answers with.
_VES_HEADERS = {"X-MinorVersion": "2", "X-PatchVersion": "1", "X-LatestVersion": "7.2.1"}
_VES_ACCEPTED: dict[int | str, dict[str, Any]] = {202: {
    "description": "Accepted: stored (or recorded as ignored) before the answer; no content",
    "headers": {k: {"schema": {"type": "string"}} for k in _VES_HEADERS}}}


def _ingest(db: Database, caller: Caller, raw: bytes, envelope: str | None = None) -> s.IngestResult:
    """Parse, normalise, validate and store one request; off the event loop (a batch of 10,000 takes time)."""
    body = loads(raw)
    if envelope is not None and not (isinstance(body, dict) and envelope in body):
        raise InvalidInput(f"the body must be a VES object with `{envelope}`",
                           errors=[{"loc": f"/{envelope}", "msg": "required"}])
    return _store(db, caller, parse.notifications(body))


def _store(db: Database, caller: Caller, notifications: list[Any]) -> s.IngestResult:
    result = group_commit.groups_for(db).submit(caller.org_id, notifications)
    liveness.heard(caller.org_id, utcnow())
    for label, count in (("accepted", result.accepted), ("duplicate", result.duplicates),
                         ("unmapped", result.unmapped), ("ignored", result.ignored), ("stale", result.stale)):
        INGESTED.labels(label).inc(count)
    return result


@router.post("/ingest/notifications", response_model=s.IngestResult, openapi_extra=INGEST_BODY,
             summary="Receive MNO notifications (TS 28.532 Fault/Perf/Prov MnS, VES 7.2, planned work)")
async def ingest_notifications(request: Request, caller: Caller = Depends(get_caller),
                               db: Database = Depends(get_db)) -> s.IngestResult:
    """One notification, a JSON array of them, a VES `event` or a VES `eventList`, as vendors send them
    (normalised, the original kept). Answered only after the notifications, the status changes they cause and
    the notifications to subscribers are committed, with each notification's outcome. Idempotent on
    `notificationId` per sender; all-or-nothing per request: an error names the JSON Pointer of each bad field.
    """
    caller.require("operator", "mno")
    raw = await request.body()
    return await run_in_threadpool(_ingest, db, caller, raw)


_MDA_BODY = _body({"description": "a TS 28.104 MDAReport (attributes.mDAReportID, attributes.mDAOutputs[]) or an "
                                   "array of them", "oneOf": [{"type": "object"}, {"type": "array", "minItems": 1,
                                                                                   "items": {"type": "object"}}]})


def _ingest_mda(db: Database, caller: Caller, raw: bytes) -> s.IngestResult:
    return _store(db, caller, mda.reports(loads(raw)))


@router.post("/ingest/mdaReports", response_model=s.IngestResult, openapi_extra=_MDA_BODY,
             summary="Receive TS 28.104 MDA reports: failure predictions put the named objects' sites at risk")
async def ingest_mda_reports(request: Request, caller: Caller = Depends(get_caller),
                             db: Database = Depends(get_db)) -> s.IngestResult:
    """Each FailurePredictionOutput makes the cells of its failurePredictionObject `at_risk` (reason
    `failure_predicted`, with `predictedFailureAt`) until predictedFailureEndTime, or until a newer report of
    the same issueID says CLEARED; the failover advisor moves CPEs off a PLMN before the predicted failure.
    Outputs of other MDA types are recorded and counted as ignored."""
    caller.require("operator", "mno")
    return await run_in_threadpool(_ingest_mda, db, caller, await request.body())


@ves_listener.post("", status_code=202, response_class=Response, openapi_extra=_VES_EVENT, responses=_VES_ACCEPTED,
                   summary="VES 7.2 event listener: one event (stndDefined, fault, heartbeat; others ignored)")
async def ves_event(request: Request, caller: Caller = Depends(get_basic_or_bearer_caller),
                    db: Database = Depends(get_db)) -> Response:
    """Where an MNO points its VES agents unchanged (O-RAN O1, ONAP): HTTP basic (client id : token) or bearer."""
    caller.require("operator", "mno")
    await run_in_threadpool(_ingest, db, caller, await request.body(), "event")
    return Response(status_code=202, headers=_VES_HEADERS)


@ves_listener.post("/eventBatch", status_code=202, response_class=Response, openapi_extra=_VES_BATCH,
                   responses=_VES_ACCEPTED, summary="VES 7.2 event listener: a batch (`eventList`), domains may mix")
async def ves_batch(request: Request, caller: Caller = Depends(get_basic_or_bearer_caller),
                    db: Database = Depends(get_db)) -> Response:
    caller.require("operator", "mno")
    await run_in_threadpool(_ingest, db, caller, await request.body(), "eventList")
    return Response(status_code=202, headers=_VES_HEADERS)


@router.get("/alarms", response_model=list[s.ConditionOut], summary="The MNO's own conditions")
def list_own_conditions(kind: str | None = Query(None, pattern="^(alarm|maintenance|threshold|config)$"),
                        active: bool = True, unmapped: bool = False,
                        limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                        caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    """For MNO clients: everything they sent, including alarms that named no known cell (`unmapped=true`), each
    with what was received when normalising changed it (`details.received`)."""
    caller.require("viewer", "mno")
    with db.read() as session:
        rows = service.list_conditions(session, caller.org_id, kind=kind, active_only=active,
                                       unmapped_only=unmapped, limit=limit, offset=offset)
        refs = topology.cell_refs(session, sorted({pk for _, cells in rows for pk in cells}))
    return [{"id": c.key, "kind": c.kind, "impact": c.impact, "objectInstance": c.object_instance,
             "cells": sorted(refs[pk].cell_id for pk in cells if pk in refs) if c.mapped else None,
             "startsAt": c.starts_at, "endsAt": c.ends_at, "clearedAt": c.cleared_at,
             "details": {**c.details, "changedAt": isoformat(c.changed_at)}} for c, cells in rows]
