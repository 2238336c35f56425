"""TS 28.104 MDA reports as gridcell reads them: each FailurePredictionOutput becomes a failure prediction on the
objects it names (validated like any notification, errors naming the JSON Pointer); MDA outputs of other kinds
(coverage, mobility, congestion analyses...) are recorded and counted as ignored.

TS 28.104 defines the report (MDAReport: attributes.mDAReportID, attributes.mDAOutputs[]) but no notification
carrying it; an MNO posts reports, one or an array, to /api/v1/ingest/mdaReports.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import ValidationError

from gridcell.core.clock import utcnow
from gridcell.core.errors import InvalidInput
from gridcell.faults import lenient
from gridcell.faults import schemas as s
from gridcell.faults.parse import errors_of

MAX_OUTPUTS = 10_000


def _id(*parts: Any) -> str:
    """A notification id stable for a resent report (so a resend is a duplicate), within 80 characters."""
    return "mda:" + hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:40]


def _bad(loc: str, msg: str) -> InvalidInput:
    return InvalidInput(f"{loc or 'the body'}: {msg}", errors=[{"loc": loc, "msg": msg}])


def reports(body: Any) -> list[Any]:
    """Every output of one report or an array of them, as predictions or ignored records."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise _bad("", "an MDAReport or a non-empty array of them")
    out: list[Any] = []
    errors: list[dict[str, str]] = []
    now = utcnow()
    for r, report in enumerate(items):
        where = f"/{r}" if isinstance(body, list) else ""
        if not isinstance(report, dict) or not isinstance(report.get("attributes"), dict):
            raise _bad(f"{where}/attributes", "required: an object with mDAOutputs")
        attributes = report["attributes"]
        report_id = attributes.get("mDAReportID") or report.get("id")
        if not isinstance(report_id, str) or not report_id:
            raise _bad(f"{where}/attributes/mDAReportID", "required: the report's id (or `id`)")
        outputs = attributes.get("mDAOutputs")
        if not isinstance(outputs, list) or not outputs or len(outputs) > MAX_OUTPUTS:
            raise _bad(f"{where}/attributes/mDAOutputs", f"an array of 1-{MAX_OUTPUTS} MDAOutputs")
        for i, output in enumerate(outputs):
            loc = f"{where}/attributes/mDAOutputs/{i}"
            listed = output.get("mDAOutputList") if isinstance(output, dict) else None
            if not isinstance(listed, dict) or "failurePredictionObject" not in listed:
                kind = output.get("mDAType") if isinstance(output, dict) else None
                out.append(s.VesIgnored(notificationId=_id(report_id, i), domain=f"mda/{kind or 'other'}"))
                continue
            raw = {"notificationId": _id(report_id, i, listed.get("issueID")),
                   "predictionId": listed.get("issueID") or f"{report_id}/{i}", "eventTime": now,
                   "failurePredictionObject": listed.get("failurePredictionObject"),
                   "predictedFailureTime": listed.get("eventTime"),
                   "predictedFailureEndTime": listed.get("predictedFailureEndTime"),
                   "perceivedSeverity": lenient.squash(str(listed.get("perceivedSeverity") or "MAJOR")).upper(),
                   "potentialFailureType": listed.get("potentialFailureType"),
                   "potentialFailureCause": listed.get("potentialFailureCause"),
                   "confidenceDegree": output.get("confidenceDegree"), "reportId": report_id}
            try:
                n = s.FailurePrediction.model_validate({k: v for k, v in raw.items() if v is not None})
            except ValidationError as exc:
                errors.extend({"loc": _where(loc, e["loc"]), "msg": e["msg"]} for e in errors_of("", raw, exc))
                continue
            n.keep_received(report)
            out.append(n)
    if errors:
        raise InvalidInput(f"{errors[0]['loc']}: {errors[0]['msg']}", errors=errors[:50])
    return out


def _where(output: str, pointer: str) -> str:
    """An error on a prediction's field, as a JSON Pointer into the report as sent."""
    field, _, rest = pointer.lstrip("/").partition("/")
    if field == "confidenceDegree":
        return f"{output}/confidenceDegree"
    name = {"predictedFailureTime": "eventTime", "predictionId": "issueID"}.get(field, field)
    return "/".join(p for p in (f"{output}/mDAOutputList", name, rest) if p)
