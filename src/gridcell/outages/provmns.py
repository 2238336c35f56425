"""ProvMnS reads of a DSO's SubNetwork and the caller's NtfSubscriptionControl MOIs (TS 28.532, TS 32.158).

SubNetwork=<dso id> contains the DSO's OutageAndRecoveryInfo and DsoThresholdMonitor MOIs and, as each caller
sees it, that caller's own NtfSubscriptionControl MOIs (never another organisation's: they hold its webhook). A GET
reads the SubNetwork, a class collection (`SubNetwork=<id>/OutageAndRecoveryInfo`: the SubNetwork's MOIs of that
class) or one MOI, with `scope`, `filter`, `attributes` and `fields` (`read_query`). The answer is the hierarchical
`Resource` tree rooted at the base, each contained class an array; a resource only on the way to a selected one
keeps its name and none of its attributes. Asked with `application/vnd.3gpp.object-tree-flat+json`, the selected
resources as a flat array.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridcell.core.errors import InvalidInput, NotFound
from gridcell.outages import moi, monitors, subscription_control, views
from gridcell.outages.models import OutageInfo, ThresholdMonitor
from gridcell.outages.patching import apply_patch
from gridcell.outages.read_query import ReadQuery, parse, skeleton
from gridcell.outages.resource import SUBNETWORK, MoiRef, attributes_of, subnetwork_dn
from gridcell.outages.service import access
from gridcell.outages.subscription_control import Scope
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import Caller

NSC_CLASS = subscription_control.CLASS
CLASSES = (moi.ORI_CLASS, moi.TM_CLASS, NSC_CLASS)
FLAT_MEDIA_TYPE = "application/vnd.3gpp.object-tree-flat+json"


@dataclass(frozen=True)
class Target:
    """What the URI names under SubNetwork=<dso id>: the SubNetwork itself, a class collection, or one MOI."""

    object_class: str | None = None
    moi_id: str | None = None


def read(session: Session, caller: Caller, dso_id: str, target: Target, params: Iterable[tuple[str, str]], *,
         flat: bool = False) -> dict[str, Any] | list[dict[str, Any]]:
    access(session, caller, dso_id, write=False)
    query = parse(params)
    base = _subnetwork(session, dso_id)
    members = _members(session, caller, dso_id, target.object_class)
    if target.moi_id is not None:
        found = next((m for m in members if m["id"] == target.moi_id), None)
        if found is None:
            raise NotFound(f"{target.object_class}={target.moi_id} not found")
        base, nodes = found, [(0, found)]
    elif target.object_class is not None:
        if query.scope_given:
            raise InvalidInput("a collection is read as it is; scope the SubNetwork instead",
                               errors=[{"loc": "scope", "msg": f"not applicable to {target.object_class} (a "
                                                               "collection): GET SubNetwork=<id> with a scope"}])
        query = replace(query, scope=Scope("BASE_NTH_LEVEL", 1))
        nodes = [(1, m) for m in members]
    else:
        nodes = [(0, base), *((1, m) for m in members)]
    selected = [r for depth, r in nodes if query.selects(depth, r)]
    _audit(session, caller, dso_id, selected)
    if flat:
        return [query.project(r) for r in selected]
    return _tree(base, selected, query)


def _tree(base: dict[str, Any], selected: list[dict[str, Any]], query: ReadQuery) -> dict[str, Any]:
    root = query.project(base) if any(r is base for r in selected) else skeleton(base)
    for r in selected:
        if r is not base:
            root.setdefault(r["objectClass"], []).append(query.project(r))
    return root


def _subnetwork(session: Session, dso_id: str) -> dict[str, Any]:
    return {"id": dso_id, "objectClass": SUBNETWORK, "objectInstance": subnetwork_dn(dso_id),
            "attributes": {"userLabel": tenancy.get_org(session, dso_id).name}}


def _members(session: Session, caller: Caller, dso_id: str, object_class: str | None) -> list[dict[str, Any]]:
    """The SubNetwork's MOIs (of one class) as the caller reads them, ordered by class and id."""
    out: list[dict[str, Any]] = []
    if object_class in (None, moi.ORI_CLASS):
        out += [views.render(r, caller.org_id) for r in session.scalars(
            select(OutageInfo).where(OutageInfo.dso_id == dso_id).order_by(OutageInfo.moi_id))]
    if object_class in (None, moi.TM_CLASS):
        out += [monitors.render(r) for r in session.scalars(
            select(ThresholdMonitor).where(ThresholdMonitor.dso_id == dso_id).order_by(ThresholdMonitor.moi_id))]
    if object_class in (None, NSC_CLASS):
        out += subscription_control.owned(session, caller.org_id, dso_id)
    return out


def _audit(session: Session, caller: Caller, dso_id: str, selected: list[dict[str, Any]]) -> None:
    """An MNO's read of the DSO's outages is recorded (the DSO sees who read what)."""
    ids = [r["id"] for r in selected if r["objectClass"] == moi.ORI_CLASS]
    if caller.org_kind == "mno" and ids:
        tenancy.audit(session, caller, "read OutageAndRecoveryInfo", [dso_id],
                      {"id": ids[0]} if len(ids) == 1 else {"ids": ids})


# ---- NtfSubscriptionControl: each organisation's own, under a SubNetwork it takes part in ---------------------------


def _writable(session: Session, caller: Caller, dso_id: str, moi_id: str) -> MoiRef:
    """The DSO and the MNOs it has agreements with subscribe (operators); everyone else sees no SubNetwork."""
    access(session, caller, dso_id, write=False)
    caller.require("operator")
    moi.check_moi_id(moi_id)
    return MoiRef(dso_id, NSC_CLASS, moi_id)


def put_subscription_control(session: Session, caller: Caller, dso_id: str, moi_id: str, body: Any, *,
                             allow_private: bool) -> tuple[dict[str, Any], bool]:
    ref = _writable(session, caller, dso_id, moi_id)
    return subscription_control.put(session, caller.org_id, dso_id, moi_id, attributes_of(body, ref),
                                    allow_private=allow_private)


def patch_subscription_control(session: Session, caller: Caller, dso_id: str, moi_id: str, patch: Any,
                               content_type: str, *, allow_private: bool) -> dict[str, Any]:
    ref = _writable(session, caller, dso_id, moi_id)
    current = subscription_control.get(session, caller.org_id, dso_id, moi_id)
    attrs = attributes_of(apply_patch(current, patch, content_type), ref)
    return subscription_control.put(session, caller.org_id, dso_id, moi_id, attrs, allow_private=allow_private)[0]


def delete_subscription_control(session: Session, caller: Caller, dso_id: str, moi_id: str) -> None:
    _writable(session, caller, dso_id, moi_id)
    subscription_control.delete(session, caller.org_id, dso_id, moi_id)
