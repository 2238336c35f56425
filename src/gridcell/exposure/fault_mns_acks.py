"""A DSO's acknowledgements of, and comments on, the alarms of its Fault MnS alarm list (TS 28.532).

They are the DSO's own: stored per DSO × (MNO, alarmId) × occurrence, shown in that DSO's list and sent to that
DSO's subscribers (notifyAckStateChanged, notifyComments), never to the MNO or another DSO. Clearing is the
MNO's: a DSO's clear request (MergePatchClearAlarm) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core.clock import as_utc, in_range, isoformat, utcnow
from gridcell.core.errors import Forbidden, InvalidInput, NotFound
from gridcell.exposure import fault_mns_notify as notify
from gridcell.exposure.fault_mns import Seen, ack_of, ack_rows, dso_agreements, number_of, visible_alarms
from gridcell.exposure.models import FaultMnsAck
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import Caller

ACK_STATES = ("ACKNOWLEDGED", "UNACKNOWLEDGED")
MAX_ALARMS = 1000  # per multiple-alarm patch
MAX_TEXT = 2000
MAX_ID = 200
MAX_COMMENTS = 1000  # per alarm occurrence
_CLEAR_MEMBERS = ("perceivedSeverity", "clearUserId", "clearSystemId")


@dataclass(frozen=True)
class AckPatch:
    """A TS 28.532 MergePatchAcknowledgeAlarm, checked."""

    state: str
    user_id: str
    system_id: str | None


def _text(value: Any, loc: str, errors: list[dict[str, str]], *, limit: int, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        errors.append({"loc": loc, "msg": f"a non-empty string of at most {limit} characters"})
        return None
    return value


def parse_ack_patch(doc: Any, loc: str = "") -> tuple[AckPatch | None, list[dict[str, str]]]:
    """The patch, or the errors naming each member (prefixed with `loc`, the alarmId in a multiple-alarm patch)."""
    at = f"{loc}/" if loc else ""
    if not isinstance(doc, dict):
        return None, [{"loc": loc, "msg": "a MergePatchAcknowledgeAlarm object"}]
    clearing = [k for k in _CLEAR_MEMBERS if k in doc]
    if clearing:
        raise Forbidden("alarms are cleared by the MNO that raised them; a DSO acknowledges them",
                        errors=[{"loc": f"{at}{k}", "msg": "clearing is not offered to DSOs"} for k in clearing])
    errors = [{"loc": f"{at}{k}", "msg": "not a member of MergePatchAcknowledgeAlarm"}
              for k in sorted(set(doc) - {"ackState", "ackUserId", "ackSystemId"})]
    state = doc.get("ackState")
    if state not in ACK_STATES:
        errors.append({"loc": f"{at}ackState", "msg": f"required: one of {', '.join(ACK_STATES)}"})
    user = _text(doc.get("ackUserId"), f"{at}ackUserId", errors, limit=MAX_ID, required=True)
    system = _text(doc.get("ackSystemId"), f"{at}ackSystemId", errors, limit=MAX_ID, required=False)
    if errors or user is None:
        return None, errors
    return AckPatch(str(state), user, system), []


def parse_ack_patches(doc: Any) -> dict[str, AckPatch]:
    """The multiple-alarm patch body: a map alarmId -> MergePatchAcknowledgeAlarm."""
    if not isinstance(doc, dict) or not doc:
        raise InvalidInput("the body must map alarm ids to MergePatchAcknowledgeAlarm documents",
                           errors=[{"loc": "", "msg": "a non-empty object keyed by alarmId"}])
    if len(doc) > MAX_ALARMS:
        raise InvalidInput(f"at most {MAX_ALARMS} alarms per request",
                           errors=[{"loc": "", "msg": f"at most {MAX_ALARMS} alarms"}])
    out: dict[str, AckPatch] = {}
    errors: list[dict[str, str]] = []
    for alarm_id, item in doc.items():
        patch, errs = parse_ack_patch(item, alarm_id)
        errors += errs
        if patch is not None:
            out[alarm_id] = patch
    if errors:
        raise InvalidInput("the patch documents do not match MergePatchAcknowledgeAlarm", errors=errors)
    return out


def parse_single(doc: Any) -> AckPatch:
    patch, errors = parse_ack_patch(doc)
    if patch is None:
        raise InvalidInput("the patch document does not match MergePatchAcknowledgeAlarm", errors=errors)
    return patch


def _resolve(session: Session, caller: Caller, alarm_ids: list[str], now: datetime) -> dict[str, Seen]:
    """The alarms of the DSO's view named by these ids (open, or cleared within the listing window)."""
    alarms = {s.alarm_id: s for s in visible_alarms(session, caller.org_id, dso_agreements(session, caller),
                                                     active_only=False, now=now)}
    missing = [a for a in alarm_ids if a not in alarms]
    if missing:
        raise NotFound(f"{len(missing)} alarm(s) not in the alarm list",
                       errors=[{"loc": a, "msg": "no such alarm in this DSO's alarm list"} for a in missing])
    return {a: alarms[a] for a in alarm_ids}


def _row(session: Session, rows: dict[tuple[str, str], FaultMnsAck], seen: Seen, now: datetime) -> FaultMnsAck:
    """The DSO's row for this occurrence of the alarm, created or reset when the alarm was raised again."""
    f = seen.facts
    row = rows.get((f.mno_id, f.key))
    if row is None:
        row = FaultMnsAck(dso_id=seen.dso_id, mno_id=f.mno_id, alarm_key=f.key, raised_at=f.raised,
                          comments={}, updated_at=now)
        session.add(row)
        rows[(f.mno_id, f.key)] = row
    elif as_utc(row.raised_at) != f.raised:
        row.raised_at, row.comments = f.raised, {}
        row.ack_state = row.ack_user_id = row.ack_system_id = None
        row.ack_time = None
    return row


def acknowledge(session: Session, caller: Caller, patches: dict[str, AckPatch]) -> None:
    """Acknowledge or unacknowledge alarms of the DSO's list, all or nothing; notifyAckStateChanged goes to the
    DSO's own subscribers for each alarm whose state changed (acknowledging twice changes nothing)."""
    now = utcnow()
    alarms = _resolve(session, caller, list(patches), now)
    rows = ack_rows(session, caller.org_id, alarms.values())
    changed: list[tuple[Seen, FaultMnsAck]] = []
    for alarm_id, patch in patches.items():
        seen = alarms[alarm_id]
        if ack_of(rows.get((seen.facts.mno_id, seen.facts.key)), seen).state == patch.state:
            continue
        row = _row(session, rows, seen, now)
        row.ack_state, row.ack_user_id, row.ack_system_id = patch.state, patch.user_id, patch.system_id
        row.ack_time = row.updated_at = now
        changed.append((seen, row))
    session.flush()
    notify.send_own(session, caller.org_id, [
        ("notifyAckStateChanged", seen, {"ackState": row.ack_state, "ackUserId": row.ack_user_id,
                                         **({"ackSystemId": row.ack_system_id} if row.ack_system_id else {})},
         number_of(caller.org_id, seen.alarm_id, "ack", isoformat(now) or "", row.ack_state or ""))
        for seen, row in changed], now)
    tenancy.audit(session, caller, "acknowledge alarms", {s.facts.mno_id for s in alarms.values()},
                  {"count": len(patches)})


def _instant(value: Any, loc: str, errors: list[dict[str, str]]) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
        if parsed is None or parsed.tzinfo is None:
            raise ValueError("no offset")
        return in_range(parsed)
    except ValueError:
        errors.append({"loc": loc, "msg": "an RFC 3339 date-time with an offset, years 1970-2199"})
        return None


def parse_comment(doc: Any) -> dict[str, Any]:
    """A TS 28.532 Comment from the DSO: commentText required; commentTime defaults to now."""
    if not isinstance(doc, dict):
        raise InvalidInput("the body must be a Comment object", errors=[{"loc": "", "msg": "a Comment object"}])
    errors = [{"loc": k, "msg": "not a member of Comment"}
              for k in sorted(set(doc) - {"commentTime", "commentUserId", "commentSystemId", "commentText"})]
    text = _text(doc.get("commentText"), "commentText", errors, limit=MAX_TEXT, required=True)
    user = _text(doc.get("commentUserId"), "commentUserId", errors, limit=MAX_ID, required=False)
    system = _text(doc.get("commentSystemId"), "commentSystemId", errors, limit=MAX_ID, required=False)
    at = _instant(doc.get("commentTime"), "commentTime", errors)
    if errors:
        raise InvalidInput("the comment does not match the Comment schema", errors=errors)
    out: dict[str, Any] = {"commentText": text}
    if user is not None:
        out["commentUserId"] = user
    if system is not None:
        out["commentSystemId"] = system
    if at is not None:
        out["commentTime"] = isoformat(at)
    return out


def add_comment(session: Session, caller: Caller, alarm_id: str, comment: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Add the DSO's comment to an alarm of its list; returns the comment id the producer allocated and the
    Comment. notifyComments goes to the DSO's own subscribers."""
    now = utcnow()
    seen = _resolve(session, caller, [alarm_id], now)[alarm_id]
    rows = ack_rows(session, caller.org_id, [seen])
    row = _row(session, rows, seen, now)
    comments = dict(row.comments or {})
    if len(comments) >= MAX_COMMENTS:
        raise InvalidInput(f"an alarm takes at most {MAX_COMMENTS} comments",
                           errors=[{"loc": "commentText", "msg": f"at most {MAX_COMMENTS} comments per alarm"}])
    comment_id = str(max((int(k) for k in comments if k.isdigit()), default=0) + 1)
    full = {"commentTime": isoformat(now), **comment}
    comments[comment_id] = full
    row.comments, row.updated_at = comments, now
    session.flush()
    notify.send_own(session, caller.org_id, [
        ("notifyComments", seen, {"comments": {comment_id: full}},
         number_of(caller.org_id, seen.alarm_id, "comment", comment_id, isoformat(row.raised_at) or ""))], now)
    tenancy.audit(session, caller, "comment on alarm", {seen.facts.mno_id}, {"count": 1})
    return comment_id, full
