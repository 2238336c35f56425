"""TMF656 ServiceProblemEventRecord: the events each side's problems went through, listed and read like any
TMF resource (fields, first-level filters such as `eventType=…`, offset/limit). The DSO reads them as it reads
the problem: redacted under an area-level agreement."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridcell.core import links
from gridcell.core.clock import isoformat
from gridcell.core.errors import NotFound
from gridcell.core.tmf import attribute_filter, paging, select_fields
from gridcell.problems import resource, service
from gridcell.problems.models import ProblemEventRecord
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import Caller

KEYS = ("id", "href", "eventTime", "eventType", "recordTime", "notification", "serviceProblem")


def _scope(caller: Caller) -> Any:
    if caller.org_kind == "dso":
        return ProblemEventRecord.dso_id == caller.org_id
    return ProblemEventRecord.mno_id == caller.org_id


def _render(session: Session, r: ProblemEventRecord, caller: Caller, levels: dict[str, str]) -> dict[str, Any]:
    notification = r.notification
    if caller.org_kind == "dso":
        level = levels.setdefault(r.mno_id, service.agreement_level(session, r.dso_id, r.mno_id))
        if level == "area":
            problem = resource.redact_area(notification["event"]["serviceProblem"])
            notification = {**notification, "event": {"serviceProblem": problem}}
    return {"id": r.id, "href": links.absolute(f"{resource.BASE}/serviceProblemEventRecord/{r.id}"),
            "eventTime": isoformat(r.event_time), "eventType": r.event_type, "recordTime": isoformat(r.record_time),
            "notification": notification,
            "serviceProblem": {"id": r.problem_id, "href": resource.href(r.problem_id),
                               "@referredType": "ServiceProblem"}}


def list_records(session: Session, caller: Caller, query: dict[str, list[str]], fields: str | None,
                 offset: int | None, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    caller.require("viewer")
    off, lim = paging(offset, limit)
    rows = list(session.scalars(select(ProblemEventRecord).where(_scope(caller)).order_by(ProblemEventRecord.pk)))
    levels: dict[str, str] = {}
    items = attribute_filter((_render(session, r, caller, levels) for r in rows), query, KEYS)
    page = items[off:off + lim]
    shown = {i["id"] for i in page}
    tenancy.audit(session, caller, "read service problem events",
                  {(r.mno_id if caller.org_kind == "dso" else r.dso_id) for r in rows if r.id in shown})
    return [select_fields(i, fields) for i in page], len(items)


def get_record(session: Session, caller: Caller, record_id: str, fields: str | None) -> dict[str, Any]:
    caller.require("viewer")
    r = session.scalar(select(ProblemEventRecord).where(ProblemEventRecord.id == record_id, _scope(caller)))
    if r is None:
        raise NotFound(f"serviceProblemEventRecord {record_id} not found")
    tenancy.audit(session, caller, "read service problem event", [r.mno_id if caller.org_kind == "dso" else r.dso_id])
    return select_fields(_render(session, r, caller, {}), fields)
