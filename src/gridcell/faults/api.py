"""MNO notification sink and the MNO's own alarm list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from prometheus_client import Counter

from gridcell.core.clock import isoformat
from gridcell.core.db import Database
from gridcell.deps import get_caller, get_db
from gridcell.faults import group_commit, service
from gridcell.faults import schemas as s
from gridcell.tenancy.service import Caller
from gridcell.topology import service as topology

router = APIRouter(tags=["faults"])
INGESTED = Counter("gridcell_ingest_notifications_total", "MNO notifications received", ["result"])


@router.post("/ingest/notifications", response_model=s.IngestResult,
             summary="Receive MNO notifications (TS 28.532 Fault/Perf/Prov MnS, VES 7.2 stndDefined, planned work)")
def ingest_notifications(body: s.IngestBody, caller: Caller = Depends(get_caller),
                         db: Database = Depends(get_db)) -> s.IngestResult:
    """One notification, a JSON array of them, a VES `event` or a VES `eventList`.

    Answered only after the notifications, the status changes they cause and the notifications to
    subscribers are committed. Idempotent on `notificationId` per sender; all-or-nothing per request.
    """
    caller.require("operator", "mno")
    notifications = service.unwrap(body)
    result = group_commit.groups_for(db).submit(caller.org_id, notifications)
    INGESTED.labels("accepted").inc(result.accepted)
    INGESTED.labels("duplicate").inc(result.duplicates)
    INGESTED.labels("unmapped").inc(result.unmapped)
    return result


@router.get("/alarms", response_model=list[s.ConditionOut], summary="The MNO's own conditions")
def list_own_conditions(kind: str | None = Query(None, pattern="^(alarm|maintenance|threshold|config)$"),
                        active: bool = True, unmapped: bool = False,
                        limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                        caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[dict[str, Any]]:
    """For MNO clients: everything they sent, including alarms that named no known cell (`unmapped=true`)."""
    caller.require("viewer", "mno")
    with db.read() as session:
        rows = service.list_conditions(session, caller.org_id, kind=kind, active_only=active,
                                       unmapped_only=unmapped, limit=limit, offset=offset)
        refs = topology.cell_refs(session, sorted({pk for _, cells in rows for pk in cells}))
    return [{"id": c.key, "kind": c.kind, "impact": c.impact, "objectInstance": c.object_instance,
             "cells": sorted(refs[pk].cell_id for pk in cells if pk in refs) if c.mapped else None,
             "startsAt": c.starts_at, "endsAt": c.ends_at, "clearedAt": c.cleared_at,
             "details": {**c.details, "changedAt": isoformat(c.changed_at)}} for c, cells in rows]
