"""Each side's part of a plan, and the notifications that carry it.

The DSO sees its own sites (comms loss per PLMN), its rapid-intervention check, the restoration priority and,
per MNO, RAN site detail only under a `cell` agreement (an `area` agreement gives counts and times).
An MNO sees its own RAN sites (time to dark, generators needed by when), the outage times, its
`mno*` attributes and where its sites rank in the restoration order — never the DSO's sites or customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core import events
from gridcell.outages import notify
from gridcell.outages.models import OutageInfo
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import Caller

_COMMON = ("outageId", "dsoId", "status", "version", "computedAt", "outageStartTime", "expectedOutageEndTime",
           "actualOutageEndTime", "rapidIntervention", "mnoAttributes")


def _ran_public(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k != "ranSitePk"}


def dso_view(plan: dict[str, Any], levels: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {k: plan.get(k) for k in _COMMON}
    detail = [r for r in plan["ranSites"] if levels.get(r["mnoId"]) == "cell"]
    out["ranSites"] = [_ran_public(r) for r in detail]
    out["ranSitesByMno"] = _by_mno(plan["ranSites"])
    out["dsoSites"] = [{k: v for k, v in s.items() if k != "sitePk"} for s in plan["dsoSites"]]
    out["commsFailAt"] = plan["commsFailAt"]
    out["generatorsNeeded"] = [
        {k: v for k, v in g.items() if k != "ranSitePk"} if levels.get(g["mnoId"]) == "cell"
        else {"mnoId": g["mnoId"], "by": g["by"], "until": g["until"], "forSites": g["forSites"]}
        for g in plan["generatorsNeeded"]]
    out["restorationPriority"] = [
        {**b, "ranSites": [r for r in b["ranSites"] if levels.get(r["mnoId"]) == "cell"],
         "ranSiteCount": len(b["ranSites"])} for b in plan["restorationPriority"]]
    out["feederPriority"] = plan["feederPriority"]
    out["deEnergizedBuses"], out["restoredBuses"] = plan["deEnergizedBuses"], plan["restoredBuses"]
    out["summary"] = plan["summary"]
    out["side"] = "dso"
    return out


def _by_mno(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        m = out.setdefault(r["mnoId"], {"mnoId": r["mnoId"], "ranSites": 0, "onBattery": 0, "dark": 0,
                                        "firstDarkAt": None})
        m["ranSites"] += 1
        m["onBattery"] += r["state"] == "battery"
        m["dark"] += r["state"] == "dark"
        if m["firstDarkAt"] is None or r["darkAt"] < m["firstDarkAt"]:
            m["firstDarkAt"] = r["darkAt"]
    return sorted(out.values(), key=lambda m: m["mnoId"])


def mno_view(plan: dict[str, Any], mno_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {k: plan.get(k) for k in _COMMON}
    mine = [r for r in plan["ranSites"] if r["mnoId"] == mno_id]
    out["ranSites"] = [_ran_public(r) for r in mine]
    out["generatorsNeeded"] = [{**{k: v for k, v in g.items() if k not in ("ranSitePk", "forSites")},
                                "dsoSitesServed": len(g["forSites"])}
                               for g in plan["generatorsNeeded"] if g["mnoId"] == mno_id]
    out["restorationOrder"] = [
        {"rank": b["rank"], "reEnergizeBy": b["reEnergizeBy"], "feeder": b["feeder"],
         "ranSites": [r["ranSiteId"] for r in b["ranSites"] if r["mnoId"] == mno_id]}
        for b in plan["restorationPriority"] if any(r["mnoId"] == mno_id for r in b["ranSites"])]
    out["summary"] = {"ranSitesAffected": len(mine), "ranSitesDark": sum(r["state"] == "dark" for r in mine),
                      "generatorsNeeded": len(out["generatorsNeeded"])}
    out["side"] = "mno"
    return out


def _levels(session: Session, dso_id: str) -> dict[str, str]:
    return {a.mno_id: a.level for a in tenancy.agreements_for(session, dso_id) if a.dso_id == dso_id}


def view_for(session: Session, org_id: str, org_kind: str, row: OutageInfo) -> dict[str, Any]:
    plan = row.plan or {}
    if not plan:
        return {"outageId": row.moi_id, "dsoId": row.dso_id, "status": "open", "side": org_kind}
    if org_kind == "dso":
        return dso_view(plan, _levels(session, row.dso_id))
    return mno_view(plan, org_id)


def view(session: Session, caller: Caller, row: OutageInfo) -> dict[str, Any]:
    out = view_for(session, caller.org_id, caller.org_kind, row)
    if caller.org_kind == "mno":
        tenancy.audit(session, caller, "read outage plan", [row.dso_id], {"id": row.moi_id})
    return out


PLAN_CHANGED = "outages.plan_changed"


@dataclass(frozen=True)
class OutagePlanChanged:
    """Emitted in the transaction that changed a plan (e.g. to wake dashboards)."""

    dso_id: str
    moi_id: str
    mno_ids: tuple[str, ...]


def notify_plan(session: Session, row: OutageInfo, mno_ids: list[str], now: datetime) -> int:
    """notifyOutagePlanChanged to the DSO and to the MNOs whose sites are (or were) in the plan."""
    target = notify.href(row.dso_id, "OutageAndRecoveryInfo", row.moi_id)
    cache: dict[str, dict[str, Any]] = {}

    def body(org_id: str) -> dict[str, Any]:
        if org_id not in cache:
            kind = "dso" if org_id == row.dso_id else "mno"
            cache[org_id] = {"objectInstance": notify.dn(row.dso_id, "OutageAndRecoveryInfo", row.moi_id),
                             "planVersion": row.plan_version, "plan": view_for(session, org_id, kind, row)}
        return cache[org_id]

    events.emit(session, PLAN_CHANGED, OutagePlanChanged(row.dso_id, row.moi_id, tuple(mno_ids)))
    return notify.send(session, [row.dso_id, *mno_ids], "notifyOutagePlanChanged", target, body, now)
