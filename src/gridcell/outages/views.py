"""Each side's part of the MOI and of the plan, and the notifications that carry them.

The DSO sees its own sites (comms loss per PLMN), its rapid-intervention check, the restoration priority, every
MNO's answer and, per MNO, RAN site detail only under a `cell` agreement (an `area` agreement gives counts and
times). An MNO sees its own RAN sites, its own answer and generators, and the outage's own times: nothing derived
from another MNO's sites, and never the DSO's sites or customers. Each organisation's view carries its own
version, and a notification goes to an organisation only when its view changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core import events
from gridcell.core.clock import utcnow
from gridcell.outages import moi, notify
from gridcell.outages.models import OutageInfo
from gridcell.outages.plan import minutes, view_key
from gridcell.outages.resource import MoiRef, resource
from gridcell.tenancy import service as tenancy

_TIMES = ("outageId", "dsoId", "status", "outageStartTime", "expectedOutageEndTime", "actualOutageEndTime")
_UNSTABLE = ("version", "computedAt", "timeToDarkMin")  # not what a view is about: left out of its key
EXTENSION = "mnoAnswers"  # the DSO's copy of the MOI: every MNO's answer beside the standard attributes


# ---- the MOI -------------------------------------------------------------------------------------------------


def _answer_of(row: OutageInfo, mno_id: str) -> dict[str, Any] | None:
    answers = (row.plan or {}).get("mnoAnswers") or {}
    found = answers.get(mno_id)
    return found if isinstance(found, dict) else None


def ref(row: OutageInfo) -> MoiRef:
    return MoiRef(row.dso_id, moi.ORI_CLASS, row.moi_id)


def attributes(row: OutageInfo, org_id: str | None = None) -> dict[str, Any]:
    """The OutageAndRecoveryInfo's attributes as `org_id` reads them: an MNO gets its own answer in the mno*
    attributes; the DSO gets the earliest of the MNOs' answers there and every answer in `mnoAnswers`."""
    out = dict(row.attributes)
    if org_id is not None and org_id != row.dso_id:
        answer = _answer_of(row, org_id)
        return {**out, **(answer["effective"] if answer else {})}
    answers = (row.plan or {}).get("mnoAnswers") or {}
    out.update(row.mno_attributes)
    if answers:
        out[EXTENSION] = [{"mnoId": m, **a["effective"], "source": a["source"],
                           **({"reason": a["declared"].get("reason")} if a.get("declared") else {})}
                          for m, a in sorted(answers.items())]
    return out


def render(row: OutageInfo, org_id: str | None = None) -> dict[str, Any]:
    """The MOI as `org_id` reads it, in the ProvMnS Resource form."""
    return resource(ref(row), attributes(row, org_id))


def renders(row: OutageInfo, orgs: list[str]) -> dict[str, dict[str, Any]]:
    """Each organisation's attributes of the MOI (to tell afterwards whose view changed)."""
    return {org: attributes(row, org) for org in orgs}


def notify_moi_changes(session: Session, row: OutageInfo, before: dict[str, dict[str, Any]], now: datetime) -> None:
    """notifyMOIAttributeValueChanges to each organisation whose view of the MOI changed, with its own values."""

    def body(org: str) -> dict[str, Any] | None:
        old, new = before.get(org, {}), attributes(row, org)
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if not changed:
            return None
        return {"sourceIndicator": "RESOURCE_OPERATION",
                "attributeListValueChanges": [{k: new.get(k) for k in changed}, {k: old.get(k) for k in changed}]}

    notify.send(session, list(before), "notifyMOIAttributeValueChanges", ref(row), body, now)


# ---- the plan --------------------------------------------------------------------------------------------------


def _clean(row: dict[str, Any], *drop: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in drop}


def _with_time_to_dark(r: dict[str, Any], now: datetime) -> dict[str, Any]:
    dark = r.get("darkAt")
    ttd = None
    if r.get("state") == "battery" and dark is not None:
        ttd = minutes(datetime.fromisoformat(dark.replace("Z", "+00:00")) - now)
    return {**_clean(r, "ranSitePk"), "timeToDarkMin": ttd}


def dso_view(plan: dict[str, Any], levels: dict[str, str], now: datetime) -> dict[str, Any]:
    def cell(m: str) -> bool:
        return levels.get(m) == "cell"

    out: dict[str, Any] = {k: plan.get(k) for k in _TIMES}
    out["phases"] = [{**_clean(p, "ranSites"), "ranSites": [r for r in p["ranSites"] if cell(r["mnoId"])],
                      "ranSiteCount": len(p["ranSites"])} for p in plan.get("phases", [])]
    out["deEnergizedBuses"], out["restoredBuses"] = plan["deEnergizedBuses"], plan["restoredBuses"]
    out["ranSites"] = [_with_time_to_dark(r, now) for r in plan["ranSites"] if cell(r["mnoId"])]
    out["ranSitesByMno"] = _by_mno(plan["ranSites"])
    out["dsoSites"] = plan["dsoSites"]
    out["commsFailAt"] = plan["commsFailAt"]
    out["rapidIntervention"] = plan["rapidIntervention"]
    out["generatorsNeeded"] = [_clean(g, "ranSitePk") if cell(g["mnoId"]) else _clean(g, "ranSitePk", "ranSiteId")
                               for g in plan["generatorsNeeded"]]
    out["mnoAnswers"] = [
        {**_clean(a, "generators"), "generatorCount": len(a["generators"]),
         "generators": [_clean(g, "ranSitePk") for g in a["generators"]] if cell(m) else []}
        for m, a in sorted(plan.get("mnoAnswers", {}).items())]
    out["mnoAttributes"] = plan["mnoAttributes"]
    out["restorationPriority"] = [
        {**b, "ranSites": [r for r in b["ranSites"] if cell(r["mnoId"])], "ranSiteCount": len(b["ranSites"])}
        for b in plan["restorationPriority"]]
    out["feederPriority"] = plan["feederPriority"]
    out["summary"] = plan["summary"]
    out["side"] = "dso"
    return out


def _by_mno(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        m = out.setdefault(r["mnoId"], {"mnoId": r["mnoId"], "ranSites": 0, "onBattery": 0, "dark": 0,
                                        "firstDarkAt": None, "unknownAutonomy": 0})
        m["ranSites"] += 1
        m["onBattery"] += r["state"] == "battery"
        m["dark"] += r["state"] == "dark"
        m["unknownAutonomy"] += r["darkAt"] is None
        if r["darkAt"] is not None and (m["firstDarkAt"] is None or r["darkAt"] < m["firstDarkAt"]):
            m["firstDarkAt"] = r["darkAt"]
    return sorted(out.values(), key=lambda m: m["mnoId"])


def mno_view(plan: dict[str, Any], mno_id: str, now: datetime) -> dict[str, Any]:
    """Only what rests on this MNO's own sites and the DSO's own statements."""
    out: dict[str, Any] = {k: plan.get(k) for k in _TIMES}
    rapid = plan.get("rapidIntervention")
    out["rapidIntervention"] = {"start": rapid["start"], "end": rapid["end"]} if rapid else None
    mine = [r for r in plan["ranSites"] if r["mnoId"] == mno_id]
    out["ranSites"] = [_with_time_to_dark(r, now) for r in mine]
    answer = plan.get("mnoAnswers", {}).get(mno_id)
    out["answer"] = _clean(answer, "generators", "mnoId") if answer else None
    out["mnoAttributes"] = answer["effective"] if answer else {}
    out["generatorsNeeded"] = [_clean(g, "ranSitePk", "forSites") for g in (answer or {}).get("generators", [])]
    out["summary"] = {"ranSitesAffected": len(mine), "ranSitesDark": sum(r["state"] == "dark" for r in mine),
                      "ranSitesUnknownAutonomy": sum(r["darkAt"] is None for r in mine),
                      "generatorsNeeded": len(out["generatorsNeeded"])}
    out["side"] = "mno"
    return out


def levels_of(session: Session, dso_id: str) -> dict[str, str]:
    return {a.mno_id: a.level for a in tenancy.agreements_for(session, dso_id) if a.dso_id == dso_id}


def view_for(session: Session, org_id: str, org_kind: str, row: OutageInfo,
             now: datetime | None = None) -> dict[str, Any]:
    plan = row.plan or {}
    if not plan:
        return {"outageId": row.moi_id, "dsoId": row.dso_id, "status": "open", "side": org_kind}
    now = now or utcnow()
    out = dso_view(plan, levels_of(session, row.dso_id), now) if org_kind == "dso" else mno_view(plan, org_id, now)
    out["version"] = (plan.get("viewVersions") or {}).get(org_id, 0)
    out["computedAt"] = plan.get("computedAt")
    return out


def view(session: Session, caller: Any, row: OutageInfo) -> dict[str, Any]:
    out = view_for(session, caller.org_id, caller.org_kind, row)
    if caller.org_kind == "mno":
        tenancy.audit(session, caller, "read outage plan", [row.dso_id], {"id": row.moi_id})
    return out


def _stable(view: dict[str, Any]) -> dict[str, Any]:
    out = _clean(view, *_UNSTABLE)
    if "ranSites" in out:
        out["ranSites"] = [_clean(r, "timeToDarkMin") for r in out["ranSites"]]
    return out


PLAN_CHANGED = "outages.plan_changed"


@dataclass(frozen=True)
class OutagePlanChanged:
    """Emitted in the transaction that changed a plan (e.g. to wake dashboards)."""

    dso_id: str
    moi_id: str
    mno_ids: tuple[str, ...]


def refresh_views(session: Session, row: OutageInfo, mno_ids: list[str], now: datetime) -> int:
    """Give each organisation's view a new version when it changed, and send it notifyOutagePlanChanged."""
    plan = dict(row.plan or {})
    keys, versions = dict(plan.get("viewKeys") or {}), dict(plan.get("viewVersions") or {})
    changed: dict[str, dict[str, Any]] = {}
    for org in [row.dso_id, *mno_ids]:
        kind = "dso" if org == row.dso_id else "mno"
        v = view_for(session, org, kind, row, now)
        key = view_key(_stable(v))
        if keys.get(org) == key:
            continue
        keys[org], versions[org] = key, versions.get(org, 0) + 1
        changed[org] = {**v, "version": versions[org]}
    if not changed:
        return 0
    row.plan = {**plan, "viewKeys": keys, "viewVersions": versions}
    events.emit(session, PLAN_CHANGED, OutagePlanChanged(row.dso_id, row.moi_id, tuple(sorted(set(mno_ids)))))

    def body(org: str) -> dict[str, Any] | None:
        v = changed.get(org)
        if v is None:
            return None
        return {"objectInstance": ref(row).dn, "planVersion": v["version"], "plan": v}

    return notify.send(session, sorted(changed), "notifyOutagePlanChanged", ref(row), body, now)
