"""NtfSubscriptionControl MOIs (TS 28.623, contained in SubNetwork=<dso>): who gets which ProvMnS notification.

Each one is a row of the shared outbox's subscriptions (channel `provmns`), so delivery, signing, retries and
ordering are the exposure capability's. Its attributes decide what is queued for it:

- `notificationRecipientAddress`: the webhook (checked as every webhook's: public unless allowed, normalised);
- `notificationTypes`: the types forwarded. Absent: every standard type this producer emits; the gridcell
  extension `notifyOutagePlanChanged` goes only to a subscription that names it;
- `scope` (`scopeType`, `scopeLevel`) relative to the containing SubNetwork (level 0); the MOIs it contains are at
  level 1. Absent: BASE_ALL;
- `notificationFilter`: Jex conditions (TS 32.161) evaluated on each notification as the recipient would get it;
  a name no ProvMnS notification carries is refused when the MOI is written.

Ids are the owner's own: an MNO and the DSO may both have NtfSubscriptionControl=1 under the same SubNetwork, and
each reads, changes and deletes only its own (another organisation's id is simply not found).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core.clock import isoformat
from gridcell.core.errors import InvalidInput, NotFound
from gridcell.exposure import subscriptions
from gridcell.exposure.jex import Condition, JexError, compile_with_paths
from gridcell.outages.resource import MoiRef, resource

CLASS = "NtfSubscriptionControl"
CHANNEL = "provmns"
STANDARD_TYPES = ("notifyMOICreation", "notifyMOIAttributeValueChanges", "notifyMOIDeletion",
                  "notifyThresholdCrossing")
PLAN_CHANGED = "notifyOutagePlanChanged"  # gridcell's: each side's part of the coordination plan
NOTIFICATION_TYPES = (*STANDARD_TYPES, PLAN_CHANGED)
SCOPE_TYPES = ("BASE_ONLY", "BASE_NTH_LEVEL", "BASE_SUBTREE", "BASE_ALL")
ATTRIBUTES = ("notificationRecipientAddress", "notificationTypes", "scope", "notificationFilter")
# What a ProvMnS notification of this producer can carry (TS 28.532 header and bodies, gridcell's members).
NOTIFICATION_MEMBERS = frozenset({
    "href", "notificationId", "notificationType", "eventTime", "systemDN", "sequenceNo", "subscriptionId",
    "sourceIndicator", "attributeList", "attributeListValueChanges", "correlatedNotifications", "additionalText",
    "observedPerfMetricName", "observedPerfMetricValue", "observedPerfMetricDirection", "thresholdValue",
    "hysteresis", "monitorGranularityPeriod", "objectInstance", "planVersion", "plan", "gridcellNotificationId"})
MOI_LEVEL = 1  # OutageAndRecoveryInfo and DsoThresholdMonitor sit right below the SubNetwork


@dataclass(frozen=True)
class Scope:
    """TS 32.158 scope: which levels below a base object it selects (the base is level 0)."""

    scope_type: str = "BASE_ALL"
    level: int | None = None

    def selects(self, depth: int) -> bool:
        if self.scope_type == "BASE_ONLY":
            return depth == 0
        if self.scope_type == "BASE_NTH_LEVEL":
            return depth == (self.level or 0)
        if self.scope_type == "BASE_SUBTREE":
            return depth <= (self.level or 0)
        return True


def parse_scope(value: Any, loc: str, errors: list[dict[str, Any]]) -> Scope | None:
    """A Scope object ({scopeType, scopeLevel}); errors are added under `loc`."""
    if not isinstance(value, dict):
        errors.append({"loc": loc, "msg": "must be a Scope object {scopeType, scopeLevel}"})
        return None
    for k in sorted(set(value) - {"scopeType", "scopeLevel"}):
        errors.append({"loc": f"{loc}/{k}", "msg": "unknown member of Scope"})
    kind = value.get("scopeType", "BASE_ONLY")
    level = value.get("scopeLevel")
    ok = True
    if kind not in SCOPE_TYPES:
        errors.append({"loc": f"{loc}/scopeType", "msg": f"must be one of {', '.join(SCOPE_TYPES)}"})
        ok = False
    if level is not None and (not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 1000):
        errors.append({"loc": f"{loc}/scopeLevel", "msg": "must be an integer in [0, 1000]"})
        ok = False
    elif level is None and kind in ("BASE_NTH_LEVEL", "BASE_SUBTREE"):
        errors.append({"loc": f"{loc}/scopeLevel", "msg": f"is required with {kind}"})
        ok = False
    return Scope(kind, level) if ok else None


@functools.lru_cache(maxsize=256)
def _condition(text: str) -> Condition:
    try:
        return compile_with_paths(text)[0]
    except JexError:  # a filter stored before filters were checked (and applied): it never filtered anything
        return lambda _notification: True


def _check_filter(text: Any, loc: str, known: frozenset[str], errors: list[dict[str, Any]]) -> None:
    if not isinstance(text, str):
        errors.append({"loc": loc, "msg": "must be a Jex conditions string (TS 32.161)"})
        return
    try:
        _, paths = compile_with_paths(text)
    except JexError as exc:
        errors.append({"loc": loc, "msg": f"not a Jex conditions expression (TS 32.161): {exc}"})
        return
    for path in paths:
        if path and path[0] not in known:
            errors.append({"loc": loc, "msg": f"{'/'.join(path)}: no ProvMnS notification carries {path[0]}"})


# ---- the MOI ------------------------------------------------------------------------------------------------------


def _validated(attrs: dict[str, Any], *, allow_private: bool) -> tuple[str, dict[str, Any]]:
    """(the normalised recipient address, the query kept on the subscription row)."""
    errors: list[dict[str, Any]] = []
    for k in sorted(set(attrs) - set(ATTRIBUTES)):
        errors.append({"loc": k, "msg": f"unknown attribute of {CLASS}"})
    address = attrs.get("notificationRecipientAddress")
    if not isinstance(address, str) or not address:
        errors.append({"loc": "notificationRecipientAddress", "msg": "the recipient's URI is required"})
    types = attrs.get("notificationTypes")
    if types is not None and (not isinstance(types, list) or not types
                              or not all(isinstance(t, str) and t in NOTIFICATION_TYPES for t in types)):
        errors.append({"loc": "notificationTypes",
                       "msg": f"a non-empty array of {', '.join(NOTIFICATION_TYPES)}"})
    if "scope" in attrs:
        parse_scope(attrs["scope"], "scope", errors)
    if attrs.get("notificationFilter") is not None:
        _check_filter(attrs["notificationFilter"], "notificationFilter", NOTIFICATION_MEMBERS, errors)
    if errors:
        raise InvalidInput(f"the {CLASS} does not match TS 28.623", errors=errors)
    uri = subscriptions.validate_callback(str(address), allow_private=allow_private,
                                          loc="notificationRecipientAddress")
    query = {"subNetwork": None, "moiId": None, "notificationTypes": sorted(set(types)) if types else None,
             "scope": attrs.get("scope"), "notificationFilter": attrs.get("notificationFilter")}
    return uri, query


def _mine(session: Session, org_id: str, dso_id: str) -> list[Any]:
    return [s for s in subscriptions.channel_subscriptions(session, CHANNEL, [org_id])
            if (s.query or {}).get("subNetwork") == dso_id]


def _find(session: Session, org_id: str, dso_id: str, moi_id: str) -> Any | None:
    return next((s for s in _mine(session, org_id, dso_id) if s.query.get("moiId") == moi_id), None)


def render(sub: Any, *, with_secret: bool = False) -> dict[str, Any]:
    q = sub.query or {}
    attrs: dict[str, Any] = {"notificationRecipientAddress": sub.callback_uri}
    for key in ("notificationTypes", "scope", "notificationFilter"):
        if q.get(key) is not None:
            attrs[key] = q[key]
    if with_secret:
        attrs["secret"] = sub.secret  # once, at creation: the HMAC key of X-Gridcell-Signature
    return resource(MoiRef(q["subNetwork"], CLASS, q["moiId"]), attrs)


def owned(session: Session, org_id: str, dso_id: str) -> list[dict[str, Any]]:
    """The caller's own NtfSubscriptionControl MOIs under this SubNetwork (never another organisation's)."""
    return [render(s) for s in sorted(_mine(session, org_id, dso_id), key=lambda s: s.query["moiId"])]


def get(session: Session, org_id: str, dso_id: str, moi_id: str) -> dict[str, Any]:
    sub = _find(session, org_id, dso_id, moi_id)
    if sub is None:
        raise NotFound(f"{CLASS}={moi_id} not found")
    return render(sub)


def put(session: Session, org_id: str, dso_id: str, moi_id: str, attrs: dict[str, Any], *,
        allow_private: bool) -> tuple[dict[str, Any], bool]:
    """Create or replace; returns (the MOI, created). A replaced one keeps its secret and its sequence."""
    uri, query = _validated(attrs, allow_private=allow_private)
    query.update(subNetwork=dso_id, moiId=moi_id)
    sub = _find(session, org_id, dso_id, moi_id)
    if sub is None:
        sub = subscriptions.create_channel_subscription(session, org_id, CHANNEL, callback_uri=uri, query=query,
                                                        allow_private=allow_private,
                                                        loc="notificationRecipientAddress")
        session.flush()
        return render(sub, with_secret=True), True
    sub.callback_uri, sub.query = uri, query
    session.flush()
    return render(sub), False


def delete(session: Session, org_id: str, dso_id: str, moi_id: str) -> None:
    sub = _find(session, org_id, dso_id, moi_id)
    if sub is None:
        raise NotFound(f"{CLASS}={moi_id} not found")
    session.delete(sub)
    session.flush()


# ---- the deprecated POST /ProvMnS/v1900/subscriptions ------------------------------------------------------------


def create_legacy(session: Session, org_id: str, body: Any, *, allow_private: bool) -> Any:
    """{consumerReference, notificationTypes?, filter?}: every SubNetwork the organisation takes part in. `filter` is
    applied like notificationFilter; `timeTick` is refused (subscriptions here never expire)."""
    if not isinstance(body, dict):
        raise InvalidInput("the subscription must be a JSON object", errors=[{"loc": "", "msg": "must be an object"}])
    errors: list[dict[str, Any]] = []
    for k in sorted(set(body) - {"consumerReference", "filter", "notificationTypes"}):
        msg = ("not supported: subscriptions do not expire; use NtfSubscriptionControl" if k == "timeTick"
               else "unknown member of Subscription")
        errors.append({"loc": k, "msg": msg})
    ref = body.get("consumerReference")
    if not isinstance(ref, str) or not ref:
        errors.append({"loc": "consumerReference", "msg": "the callback URI is required"})
    types = body.get("notificationTypes")
    if types is not None and (not isinstance(types, list) or not types
                              or not all(isinstance(t, str) and t in NOTIFICATION_TYPES for t in types)):
        errors.append({"loc": "notificationTypes", "msg": f"a non-empty array of {', '.join(NOTIFICATION_TYPES)}"})
    if body.get("filter") is not None:
        _check_filter(body["filter"], "filter", NOTIFICATION_MEMBERS, errors)
    if errors:
        raise InvalidInput("the subscription does not match the schema", errors=errors)
    query = {"notificationTypes": sorted(set(types)) if types else None, "filter": body.get("filter")}
    return subscriptions.create_channel_subscription(session, org_id, CHANNEL, callback_uri=str(ref), query=query,
                                                     loc="consumerReference", allow_private=allow_private)


def legacy_out(sub: Any, *, with_secret: bool = False) -> dict[str, Any]:
    q = sub.query or {}
    out: dict[str, Any] = {"id": sub.id, "consumerReference": sub.callback_uri,
                           "notificationTypes": q.get("notificationTypes") or list(STANDARD_TYPES),
                           "lastSequenceNo": sub.last_seq, "createdAt": isoformat(sub.created_at)}
    if q.get("filter") is not None:
        out["filter"] = q["filter"]
    if with_secret:
        out["secret"] = sub.secret
    return out


def legacy(session: Session, org_id: str) -> list[Any]:
    return [s for s in subscriptions.channel_subscriptions(session, CHANNEL, [org_id]) if is_legacy(s)]


def get_legacy(session: Session, org_id: str, sub_id: str) -> Any:
    sub = subscriptions.get_channel_subscription(session, org_id, CHANNEL, sub_id)
    if not is_legacy(sub):  # an NtfSubscriptionControl: read and deleted as the MOI it is
        raise NotFound(f"subscription {sub_id} not found")
    return sub


def is_legacy(sub: Any) -> bool:
    return "moiId" not in (sub.query or {})


# ---- delivery -----------------------------------------------------------------------------------------------------


def accepts(sub: Any, dso_id: str, kind: str, notification: dict[str, Any]) -> bool:
    """Whether this subscription forwards a notification about an MOI of SubNetwork=<dso_id>."""
    q = sub.query or {}
    types = q.get("notificationTypes")
    if kind not in (types or STANDARD_TYPES):
        return False
    if not is_legacy(sub):
        if q.get("subNetwork") != dso_id:
            return False
        scope = q.get("scope")
        if scope is not None and not Scope(scope.get("scopeType", "BASE_ONLY"), scope.get("scopeLevel")).selects(
                MOI_LEVEL):
            return False
    text = q.get("notificationFilter") if not is_legacy(sub) else q.get("filter")
    return text is None or _condition(text)(notification)
