"""What people do in the console, each through the same capability service (and so the same authorization and
notifications) as the API, and each written to the audit log with the organisation it concerns.

MNO service desk: accept a ticket, answer "ours / not ours" with evidence and an ETR, resolve it; state its own
answer to an energy outage and confirm generator dispatch. DSO: declare an outage (grid elements or a drawn
area), move its expected end and rapid-intervention window, record switching, close it; acknowledge alerts and
failover commands; close a resolved ticket. Both: subscriptions.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core.clock import isoformat, utcnow
from gridcell.core.db import queue_after_commit
from gridcell.core.errors import InvalidInput, NotFound
from gridcell.exposure import fault_mns_acks
from gridcell.failover import service as failover
from gridcell.incidents import service as incidents
from gridcell.outages import service as outages
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import Caller
from gridcell.web import views
from gridcell.web.handlers import DashboardWake

MERGE = "application/merge-patch+json"
VERDICTS = {"ours": "mno_network", "energy": "energy_outage", "dso": "dso_equipment", "unknown": "unknown"}
MOI_ID = re.compile(r"^[A-Za-z0-9._:~-]{1,100}$")


def _wake(session: Session, *orgs: str) -> None:
    """Changes that emit no capability event still refresh the organisations' open pages."""
    queue_after_commit(session, DashboardWake(frozenset(o for o in orgs if o)))


# ---- the MNO service desk: trouble tickets --------------------------------------------------------------------


def _ticket(session: Session, caller: Caller, ticket_id: str) -> dict[str, Any]:
    return incidents.get_ticket(session, caller, ticket_id)


def _counterpart(ticket: dict[str, Any], caller: Caller) -> str:
    parties = {p.get("role"): p.get("id") for p in ticket.get("relatedParty") or []}
    return str(parties.get("reporter") if caller.org_kind == "mno" else parties.get("addressee") or "")


def _patch_ticket(session: Session, caller: Caller, ticket_id: str, patch: dict[str, Any], action: str,
                  detail: dict[str, Any]) -> dict[str, Any]:
    out = incidents.patch_ticket(session, caller, ticket_id, patch, MERGE)
    tenancy.record_action(session, caller, action, {"ticket": ticket_id, **detail}, [_counterpart(out, caller)])
    return out


def accept_ticket(session: Session, caller: Caller, ticket_id: str, note: str | None) -> dict[str, Any]:
    patch: dict[str, Any] = {"status": "inProgress", "statusChangeReason": "accepted by the service desk"}
    if note:
        patch["note"] = [{"text": note}]
    return _patch_ticket(session, caller, ticket_id, patch, "accept trouble ticket", {})


def answer_ticket(session: Session, caller: Caller, ticket_id: str, verdict: str, evidence: str,
                  etr: datetime | None) -> dict[str, Any]:
    """"Ours" (the mobile network) with an ETR, or "not ours" naming whose it is; the evidence is the note the DSO
    reads beside the attribution."""
    if verdict not in VERDICTS:
        raise InvalidInput("choose ours or not ours", errors=[{"loc": "verdict", "msg": "unknown answer"}])
    if verdict == "ours" and etr is None:
        raise InvalidInput("give the expected resolution time (ETR) of a fault that is yours",
                           errors=[{"loc": "etr", "msg": "required when the fault is the MNO's"}])
    if etr is not None and etr < utcnow():
        raise InvalidInput("the ETR is in the past", errors=[{"loc": "etr", "msg": "must be in the future"}])
    patch: dict[str, Any] = {"attribution": {"cause": VERDICTS[verdict], "note": evidence}}
    patch["expectedResolutionDate"] = isoformat(etr) if verdict == "ours" else None
    return _patch_ticket(session, caller, ticket_id, patch, "answer trouble ticket",
                         {"cause": VERDICTS[verdict], "etr": isoformat(etr) if verdict == "ours" else None})


def resolve_ticket(session: Session, caller: Caller, ticket_id: str, resolution: str) -> dict[str, Any]:
    current = _ticket(session, caller, ticket_id)
    patch: dict[str, Any] = {"status": "resolved", "statusChangeReason": resolution,
                             "note": [{"text": f"resolved: {resolution}"}]}
    if current.get("status") == "acknowledged":  # accepted and resolved in one go: the lifecycle passes inProgress
        incidents.patch_ticket(session, caller, ticket_id, {"status": "inProgress"}, MERGE)
    return _patch_ticket(session, caller, ticket_id, patch, "resolve trouble ticket", {"resolution": resolution})


def close_ticket(session: Session, caller: Caller, ticket_id: str, note: str | None) -> dict[str, Any]:
    patch: dict[str, Any] = {"status": "closed", "statusChangeReason": note or "confirmed resolved by the DSO"}
    return _patch_ticket(session, caller, ticket_id, patch, "close trouble ticket", {})


def reopen_ticket(session: Session, caller: Caller, ticket_id: str, note: str) -> dict[str, Any]:
    patch: dict[str, Any] = {"status": "inProgress", "statusChangeReason": note, "note": [{"text": note}]}
    return _patch_ticket(session, caller, ticket_id, patch, "reopen trouble ticket", {})


# ---- the DSO: energy outages ----------------------------------------------------------------------------------


def new_outage_id(session: Session, caller: Caller, now: datetime) -> str:
    """A readable, unused id: OUT-<date>-<n>."""
    taken = {o["id"] for o in outages.list_outages(session, caller)}
    n = 1
    while f"OUT-{now:%Y%m%d}-{n}" in taken:
        n += 1
    return f"OUT-{now:%Y%m%d}-{n}"


def polygon_area(points: list[tuple[float, float]]) -> list[dict[str, Any]]:
    """A drawn polygon (lon, lat corners) as TS 28.318's AreaOfInterest."""
    return [{"geoArea": {"geoPolygon": [{"latitude": lat, "longitude": lon} for lon, lat in points]}}]


def declare_outage(session: Session, caller: Caller, moi_id: str, *, start: datetime, expected_end: datetime | None,
                   rapid_time: datetime | None, rapid_minutes: int | None, elements: list[str],
                   area: list[tuple[float, float]] | None, priority: bool) -> dict[str, Any]:
    """The DSO's OutageAndRecoveryInfo, through ProvMnS's service: grid elements ("<grid>/line:12") and/or a drawn
    polygon; the plan follows in the same transaction and reaches the MNOs concerned."""
    if not MOI_ID.match(moi_id):
        raise InvalidInput("the outage id must be 1-100 characters of A-Z a-z 0-9 . _ : ~ -",
                           errors=[{"loc": "moi_id", "msg": "invalid id"}])
    if not elements and not area:
        raise InvalidInput("pick the de-energized feeder or line, or draw the affected area on the map",
                           errors=[{"loc": "elements", "msg": "required (or an area)"}])
    affected: dict[str, Any] = {}
    if elements:
        affected["energySupplyId"] = ",".join(elements)
    if area:
        affected["outageArea"] = polygon_area(area)
    attrs: dict[str, Any] = {"outageStartTime": isoformat(start), "affectedArea": affected,
                             "isAffectedAreaPriority": priority}
    if expected_end is not None:
        attrs["expectedOutageEndTime"] = isoformat(expected_end)
    if rapid_time is not None:
        attrs["dsoRapidInterventionTime"] = isoformat(rapid_time)
    if rapid_minutes is not None:
        attrs["dsoRapidInterventionDuration"] = rapid_minutes
    existing = {o["id"] for o in outages.list_outages(session, caller)}
    if moi_id in existing:
        raise InvalidInput(f"outage {moi_id} exists already", errors=[{"loc": "moi_id", "msg": "taken"}])
    out, _ = outages.put_outage(session, caller, caller.org_id, moi_id, {"attributes": attrs})
    tenancy.record_action(session, caller, "declare energy outage", {"outage": moi_id, "affectedArea": affected},
                          outages.agreement_mnos(session, caller.org_id))
    return out


def set_outage_times(session: Session, caller: Caller, moi_id: str, *, expected_end: datetime | None,
                     rapid_time: datetime | None, rapid_minutes: int | None) -> dict[str, Any]:
    """The expected end (ETR) and the rapid-intervention window; an empty field removes the attribute."""
    patch = {"expectedOutageEndTime": isoformat(expected_end), "dsoRapidInterventionTime": isoformat(rapid_time),
             "dsoRapidInterventionDuration": rapid_minutes}
    out = outages.patch_outage(session, caller, caller.org_id, moi_id, {"attributes": patch}, MERGE)
    tenancy.record_action(session, caller, "set outage times", {"outage": moi_id, **patch},
                          outages.agreement_mnos(session, caller.org_id))
    return out


def record_switching(session: Session, caller: Caller, moi_id: str, switch: int, closed: bool,
                     at: datetime | None) -> dict[str, Any]:
    out = outages.add_switching(session, caller, moi_id, [{"switch": switch, "closed": closed, "grid": None,
                                                           "at": at}])
    tenancy.record_action(session, caller, "record switching", {"outage": moi_id, "switch": switch,
                                                                "closed": closed, "at": isoformat(at)},
                          outages.agreement_mnos(session, caller.org_id))
    return out


def close_outage(session: Session, caller: Caller, moi_id: str, ended: datetime) -> dict[str, Any]:
    out = outages.patch_outage(session, caller, caller.org_id, moi_id,
                               {"attributes": {"actualOutageEndTime": isoformat(ended)}}, MERGE)
    tenancy.record_action(session, caller, "close energy outage", {"outage": moi_id, "at": isoformat(ended)},
                          outages.agreement_mnos(session, caller.org_id))
    return out


# ---- the MNO: its answer to an outage -------------------------------------------------------------------------


def _declared(session: Session, caller: Caller, dso_id: str, moi_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the MNO's plan view, the answer it stated so far without the server's stamps)."""
    plan = outages.plan_for(session, caller, dso_id, moi_id)
    declared = dict((plan.get("answer") or {}).get("declared") or {})
    for stamp in ("at", "by"):
        declared.pop(stamp, None)
    return plan, declared


def answer_outage(session: Session, caller: Caller, dso_id: str, moi_id: str, *, max_service_min: int | None,
                  intervention_time: datetime | None, intervention_min: int | None, reason: str) -> dict[str, Any]:
    """The MNO's own answer (overrides what gridcell computed from its battery data); generators it confirmed
    stay confirmed."""
    caller.require("operator", "mno")
    _, before = _declared(session, caller, dso_id, moi_id)
    answer: dict[str, Any] = {"reason": reason}
    if max_service_min is not None:
        answer["mnoMaxServiceDuration"] = max_service_min
    if intervention_time is not None:
        answer["mnoInterventionTime"] = isoformat(intervention_time)
    if intervention_min is not None:
        answer["mnoInterventionDuration"] = intervention_min
    if len(answer) == 1:
        raise InvalidInput("state at least one of the maximum service duration, the intervention time or its "
                           "duration", errors=[{"loc": "max_service", "msg": "give a value"}])
    if before.get("generatorsDispatched"):
        answer["generatorsDispatched"] = before["generatorsDispatched"]
    out = outages.set_mno_answer(session, caller, dso_id, moi_id, answer)
    tenancy.record_action(session, caller, "answer energy outage", {"outage": moi_id, **answer}, [dso_id])
    return out


def withdraw_outage_answer(session: Session, caller: Caller, dso_id: str, moi_id: str) -> dict[str, Any]:
    out = outages.set_mno_answer(session, caller, dso_id, moi_id, None)
    tenancy.record_action(session, caller, "withdraw outage answer", {"outage": moi_id}, [dso_id])
    return out


def confirm_generator(session: Session, caller: Caller, dso_id: str, moi_id: str, ran_site_id: str,
                      eta: datetime) -> dict[str, Any]:
    """The MNO confirms a generator is on its way to a RAN site the plan needs one at, with its arrival time; it
    travels with the MNO's answer, so the DSO sees it beside the plan."""
    caller.require("operator", "mno")
    plan, declared = _declared(session, caller, dso_id, moi_id)
    needed = {g.get("ranSiteId"): g for g in plan.get("generatorsNeeded") or []}
    if ran_site_id not in needed:
        raise InvalidInput(f"the plan needs no generator at {ran_site_id}",
                           errors=[{"loc": "ran_site", "msg": "not in the generator list"}])
    by = views.ts(needed[ran_site_id].get("by"))
    late = by is not None and eta > by
    dispatched = [d for d in declared.get("generatorsDispatched") or [] if d.get("ranSiteId") != ran_site_id]
    dispatched.append({"ranSiteId": ran_site_id, "eta": isoformat(eta), "confirmedAt": isoformat(utcnow()),
                       "late": late})
    declared["generatorsDispatched"] = sorted(dispatched, key=lambda d: str(d.get("ranSiteId")))
    declared.setdefault("reason", f"generator dispatched to {ran_site_id}")
    out = outages.set_mno_answer(session, caller, dso_id, moi_id, declared)
    tenancy.record_action(session, caller, "confirm generator dispatch",
                          {"outage": moi_id, "ranSite": ran_site_id, "eta": isoformat(eta), "late": late}, [dso_id])
    return out


# ---- the DSO: alerts and failover commands --------------------------------------------------------------------


def acknowledge_alerts(session: Session, caller: Caller, alarm_ids: list[str], acknowledged: bool) -> int:
    """Acknowledge (or take back) alarms of the DSO's own Fault MnS list: the DSO's state, never the MNO's."""
    if not alarm_ids:
        raise InvalidInput("select at least one alert", errors=[{"loc": "alarm", "msg": "none selected"}])
    caller.require("operator", "dso")
    user = caller.client_id
    patch = fault_mns_acks.AckPatch("ACKNOWLEDGED" if acknowledged else "UNACKNOWLEDGED", user, "gridcell console")
    fault_mns_acks.acknowledge(session, caller, dict.fromkeys(alarm_ids, patch))
    tenancy.record_action(session, caller, "acknowledge alerts" if acknowledged else "unacknowledge alerts",
                          {"alarms": alarm_ids[:50], "count": len(alarm_ids)})
    _wake(session, caller.org_id)
    return len(alarm_ids)


def acknowledge_command(session: Session, caller: Caller, command_id: str, status: str,
                        detail: str | None) -> dict[str, Any]:
    """Record what became of a failover command (done, failed, rejected), as a CPE manager does over the API."""
    caller.require("operator", "dso")
    cmd = failover.acknowledge(session, caller.org_id, command_id, status, detail)
    if cmd.ack_status != status:
        raise InvalidInput(f"command {command_id} was acknowledged already ({cmd.ack_status})",
                           errors=[{"loc": "status", "msg": "acknowledged already"}])
    tenancy.record_action(session, caller, "acknowledge failover command",
                          {"command": command_id, "cpe": cmd.cpe_id, "status": status, "detail": detail})
    _wake(session, caller.org_id)
    return failover.command_out(cmd)


def find_command(session: Session, caller: Caller, command_id: str) -> dict[str, Any]:
    for c in failover.list_commands(session, caller, limit=100_000):
        if c["commandId"] == command_id:
            return c
    raise NotFound(f"command {command_id} not found")
