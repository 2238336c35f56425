"""MNO feeds: connect gridcell to an MNO's Fault MnS producer (or supervise the feed the MNO pushes), keep the
alarm list aligned with the producer's, and make silence visible.

A `faultMns` feed makes the producer's alarm list the truth for that MNO's alarms: after any gap (gridcell's
own restart, a heartbeat lost, `notifyAlarmListRebuilt`, a sequence gap) gridcell reads the producer's active
alarms and clears, raises or changes its own to match, each change a notification through the normal ingest.
A feed nothing has been heard from for 1.5 heartbeat periods is `stale`, and every DSO site × PLMN of that MNO
carries the reason `mno_information_stale` until it speaks again: not a silent "ok".
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from gridcell.core import prepared, sealed
from gridcell.core.clock import isoformat, utcnow
from gridcell.core.db import Database
from gridcell.core.errors import Conflict, InvalidInput, NotFound
from gridcell.core.ids import new_id
from gridcell.exposure import status
from gridcell.exposure.subscriptions import validate_callback
from gridcell.faults import group_commit, liveness, parse
from gridcell.faults import schemas as fs
from gridcell.faults import service as faults
from gridcell.feeds.models import MnoFeed
from gridcell.feeds.producer import Producer, ProducerError
from gridcell.tenancy import service as tenancy

log = logging.getLogger(__name__)

KINDS = ("faultMns", "push")
SILENT_PERIODS = 1.5  # heard of within 1.5 heartbeat periods, or stale: one missed heartbeat and a half
STALE_STATES = ("stale", "failed")
STALE_CATEGORY = "mno_information_stale"
MIN_PERIOD_S, MAX_PERIOD_S = 1, 86_400


@dataclass(frozen=True)
class FeedIn:
    kind: str
    base_url: str | None
    auth: dict[str, Any] | None
    filter: str | None
    heartbeat_period_s: int
    sink_base_url: str | None


def _bad(loc: str, msg: str) -> InvalidInput:
    return InvalidInput(f"{loc}: {msg}", errors=[{"loc": loc, "msg": msg}])


def parse_feed(body: Any, *, allow_private: bool) -> FeedIn:
    """A feed as the API and the CLI describe it, every field checked and named when wrong."""
    if not isinstance(body, dict):
        raise _bad("", "a JSON object")
    unknown = sorted(set(body) - {"kind", "baseUrl", "auth", "filter", "heartbeatPeriodS", "sinkBaseUrl"})
    if unknown:
        raise _bad(unknown[0], "not a feed attribute")
    kind = body.get("kind", "faultMns")
    if kind not in KINDS:
        raise _bad("kind", f"one of {', '.join(KINDS)}")
    period = body.get("heartbeatPeriodS", 60)
    if isinstance(period, bool) or not isinstance(period, int) or not MIN_PERIOD_S <= period <= MAX_PERIOD_S:
        raise _bad("heartbeatPeriodS", f"an integer number of seconds within {MIN_PERIOD_S}-{MAX_PERIOD_S}")
    filter_ = body.get("filter")
    if filter_ is not None and (not isinstance(filter_, str) or len(filter_) > 2000 or "\x00" in filter_):
        raise _bad("filter", "a TS 28.532 filter expression of at most 2000 characters")
    base_url = body.get("baseUrl")
    sink = body.get("sinkBaseUrl")
    if kind == "faultMns":
        if base_url is None:
            raise _bad("baseUrl", "required: the producer's FaultSupervisionMnS root, e.g. "
                                  "https://oss.example/FaultSupervisionMnS/v1")
        base_url = validate_callback(base_url, allow_private=allow_private, loc="baseUrl").rstrip("/")
    elif base_url is not None:
        raise _bad("baseUrl", "only for faultMns feeds")
    if sink is not None:
        sink = validate_callback(sink, allow_private=True, loc="sinkBaseUrl").rstrip("/")
    return FeedIn(kind, base_url, _auth(body.get("auth")), filter_, period, sink)


def _auth(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") not in ("basic", "bearer"):
        raise _bad("auth/type", "basic or bearer")
    fields = ("username", "password") if raw["type"] == "basic" else ("token",)
    for f in fields:
        value = raw.get(f)
        if not isinstance(value, str) or not value or len(value) > 1000 or any(ord(c) < 0x20 for c in value):
            raise _bad(f"auth/{f}", "a non-empty string of at most 1000 characters without control characters")
    extra = sorted(set(raw) - {"type", *fields})
    if extra:
        raise _bad(f"auth/{extra[0]}", f"not a {raw['type']} credential field")
    return {"type": raw["type"], **{f: raw[f] for f in fields}}


def _seal(auth: dict[str, Any] | None) -> dict[str, Any] | None:
    """Credentials toward the producer are stored encrypted (core.sealed): the exchange must present them, so
    they cannot be hashed; the user name stays readable."""
    if auth is None:
        return None
    secret = "password" if auth["type"] == "basic" else "token"
    return {**auth, secret: sealed.seal(auth[secret]), "sealed": True}


def credentials(row: MnoFeed) -> dict[str, Any] | None:
    """The feed's credentials toward its producer, opened."""
    if not row.auth:
        return None
    auth = dict(row.auth)
    if auth.pop("sealed", False):
        secret = "password" if auth["type"] == "basic" else "token"
        auth[secret] = sealed.unseal(auth[secret])
    return auth


def connect(session: Session, org_id: str, feed: FeedIn) -> MnoFeed:
    """One feed of each kind per MNO: two producers' alarm lists cannot both be the truth."""
    existing = session.scalars(select(MnoFeed).where(MnoFeed.org_id == org_id, MnoFeed.kind == feed.kind,
                                                     MnoFeed.state != "disconnected")).first()
    if existing is not None:
        raise Conflict(f"the organisation already has a {feed.kind} feed ({existing.id}); disconnect it first",
                       errors=[{"loc": "kind", "msg": "one feed of each kind per MNO"}])
    now = utcnow()
    row = MnoFeed(id=new_id("feed"), org_id=org_id, kind=feed.kind, base_url=feed.base_url, auth=_seal(feed.auth),
                  filter=feed.filter, heartbeat_period_s=feed.heartbeat_period_s,
                  sink_key=secrets.token_urlsafe(24), sink_base_url=feed.sink_base_url,
                  state="connecting" if feed.kind == "faultMns" else "active", producer_subscription=None,
                  last_heard_at=None, last_reconciled_at=None, last_reconcile=None,
                  reconcile_due=feed.kind == "faultMns", last_sequence_no=None, last_error=None,
                  created_at=now, changed_at=now)
    session.add(row)
    session.flush()
    return row


def get(session: Session, org_id: str, feed_id: str) -> MnoFeed:
    row = session.get(MnoFeed, feed_id)
    if row is None or row.org_id != org_id:
        raise NotFound(f"feed {feed_id} not found")
    return row


def list_for(session: Session, org_id: str) -> list[MnoFeed]:
    return list(session.scalars(select(MnoFeed).where(MnoFeed.org_id == org_id).order_by(MnoFeed.created_at)))


def disconnect(session: Session, org_id: str, feed_id: str) -> None:
    """Stops supervising at once; the supervisor removes gridcell's subscription at the producer."""
    row = get(session, org_id, feed_id)
    was_stale = row.state in STALE_STATES
    row.state, row.changed_at, row.reconcile_due = "disconnected", utcnow(), False
    if was_stale:
        _restatus(session, row.org_id)


def request_reconcile(session: Session, org_id: str, feed_id: str) -> MnoFeed:
    row = get(session, org_id, feed_id)
    if row.kind != "faultMns" or row.state == "disconnected":
        raise Conflict(f"feed {feed_id} has no producer to reconcile with",
                       errors=[{"loc": "kind", "msg": "faultMns feeds that are connected"}])
    row.reconcile_due = True
    return row


def sink_url(row: MnoFeed, public_url: str) -> str:
    base = row.sink_base_url or public_url.rstrip("/")
    return f"{base}/api/v1/ingest/feeds/{row.id}/{row.sink_key}"


def view(row: MnoFeed, public_url: str) -> dict[str, Any]:
    """What the MNO sees of its feed (never the credentials toward its producer)."""
    out: dict[str, Any] = {
        "id": row.id, "kind": row.kind, "state": row.state, "baseUrl": row.base_url, "filter": row.filter,
        "auth": {"type": row.auth["type"]} if row.auth else None, "heartbeatPeriodS": row.heartbeat_period_s,
        "consumerReference": sink_url(row, public_url), "producerSubscription": row.producer_subscription,
        "lastHeardAt": isoformat(row.last_heard_at), "lastReconciledAt": isoformat(row.last_reconciled_at),
        "lastReconcile": row.last_reconcile, "reconcileDue": row.reconcile_due, "lastError": row.last_error,
        "createdAt": isoformat(row.created_at), "changedAt": isoformat(row.changed_at)}
    return {k: v for k, v in out.items() if v is not None}


# ---- the sink: what the producer posts to consumerReference ---------------------------------------------------

def sink_feed(session: Session, feed_id: str, key: str) -> MnoFeed:
    """The feed a sink URL belongs to; a wrong key is the same 404 as a wrong id (nothing to probe)."""
    row = session.get(MnoFeed, feed_id)
    if row is None or row.state == "disconnected" or not hmac.compare_digest(row.sink_key.encode(), key.encode()):
        raise NotFound("no such feed sink")
    return row


def note_sink(session: Session, feed_id: str, notifications: Sequence[Any]) -> None:
    """What a push tells about the feed itself: a sequence gap or a rebuilt alarm list asks for reconciliation,
    a heartbeat states its period."""
    row = session.get(MnoFeed, feed_id)
    if row is None:
        return
    for n in notifications:
        seq = getattr(n, "sequenceNo", None)
        if seq is not None:
            if row.last_sequence_no is not None and seq > row.last_sequence_no + 1:
                row.reconcile_due = True
                log.warning("feed %s: sequence jumped from %s to %s", row.id, row.last_sequence_no, seq)
            row.last_sequence_no = max(seq, row.last_sequence_no or seq)
        if isinstance(n, fs.NotifyAlarmListRebuilt):
            row.reconcile_due = True
        if isinstance(n, fs.NotifyHeartbeat) and n.heartbeatNtfPeriod:
            row.heartbeat_period_s = min(max(n.heartbeatNtfPeriod, MIN_PERIOD_S), MAX_PERIOD_S)


# ---- reconciliation ---------------------------------------------------------------------------------------------

@dataclass
class Differences:
    notifications: list[dict[str, Any]]
    raised: int = 0
    cleared: int = 0
    changed: int = 0


def differences(ours: dict[str, Any], theirs: dict[str, dict[str, Any]], at: datetime,
                base_url: str) -> Differences:
    """The notifications that make our alarms of one MNO the producer's: ours not listed are cleared, theirs not
    active here are raised, a different severity is changed. Each is stamped `at` (just before the producer was
    asked), so a notification the producer sent after that still wins."""
    out = Differences([])
    stamp = at.isoformat()
    for alarm_id, cond in ours.items():
        if alarm_id not in theirs:
            d = cond.details
            out.notifications.append(_notification("notifyClearedAlarm", alarm_id, stamp, base_url, {
                "objectInstance": cond.object_instance, "alarmType": d.get("alarmType", "EQUIPMENT_ALARM"),
                "probableCause": d.get("probableCause", "INDETERMINATE"), "perceivedSeverity": "CLEARED"}))
            out.cleared += 1
    for alarm_id, record in theirs.items():
        fields = {k: record[k] for k in ("objectInstance", "alarmType", "probableCause", "perceivedSeverity",
                                         "specificProblem", "additionalText", "additionalInformation")
                  if record.get(k) is not None}
        if alarm_id not in ours:
            # Never seen active here: it starts when the producer says it was raised.
            when = record.get("alarmRaisedTime") or stamp
            out.notifications.append(_notification("notifyNewAlarm", alarm_id, when, base_url, fields))
            out.raised += 1
        elif str(record.get("perceivedSeverity", "")).upper() != ours[alarm_id].details.get("perceivedSeverity"):
            out.notifications.append(_notification("notifyChangedAlarm", alarm_id, stamp, base_url, fields))
            out.changed += 1
    return out


def _notification(kind: str, alarm_id: str, when: str, base_url: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"notificationType": kind, "notificationId": f"reconcile:{secrets.token_hex(16)}", "eventTime": when,
            "href": base_url, "systemDN": "reconciliation", "alarmId": alarm_id,
            **{k: v for k, v in fields.items() if v is not None}}


def _active_alarms(session: Session, org_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    offset = 0
    while True:
        page = faults.list_conditions(session, org_id, kind="alarm", active_only=True, limit=5000, offset=offset)
        out.update({cond.key: cond for cond, _ in page})
        if len(page) < 5000:
            return out
        offset += len(page)


def reconcile(db: Database, feed_id: str, producer: Producer) -> dict[str, Any]:
    """Align gridcell's alarms of the feed's MNO with the producer's list. A producer that cannot be reached or
    answers garbage marks the feed failed with the reason; nothing stored is changed then."""
    with db.read() as session:
        row = session.get(MnoFeed, feed_id)
        if row is None:
            raise NotFound(f"feed {feed_id} not found")
        org_id, base_url = row.org_id, row.base_url or ""
        ours = _active_alarms(session, org_id)
    asked_at = utcnow()
    try:
        theirs = producer.active_alarms()
        diff = differences(ours, theirs, asked_at, base_url)
        notifications = parse.notifications(diff.notifications) if diff.notifications else []
    except (ProducerError, InvalidInput) as exc:
        reason = str(exc) if isinstance(exc, ProducerError) else f"the producer's alarm list: {exc.detail}"
        _fail(db, feed_id, reason)
        return {"error": reason}
    if notifications:
        group_commit.groups_for(db).submit(org_id, notifications)
    summary = {"raised": diff.raised, "cleared": diff.cleared, "changed": diff.changed, "producerAlarms": len(theirs),
               "at": isoformat(asked_at)}
    _retry_at.pop(feed_id, None)
    with db.write() as session:
        row = session.get(MnoFeed, feed_id)
        if row is not None:
            row.last_reconciled_at, row.last_reconcile, row.reconcile_due = asked_at, summary, False
            row.last_error = None
            if row.state in ("failed", "connecting"):
                _set_state(session, row, "active")
    log.info("feed %s reconciled: %s", feed_id, summary)
    return summary


# After a failure, a feed's producer is asked again only after this long (one request a period at most).
RETRY_S = 30.0
_retry_at: dict[str, datetime] = {}


def _fail(db: Database, feed_id: str, reason: str) -> None:
    log.warning("feed %s failed: %s", feed_id, reason)
    _retry_at[feed_id] = utcnow() + timedelta(seconds=RETRY_S)
    with db.write() as session:
        row = session.get(MnoFeed, feed_id)
        if row is not None and row.state != "disconnected":
            row.last_error = reason[:2000]
            _set_state(session, row, "failed")


def _set_state(session: Session, row: MnoFeed, state: str) -> None:
    if row.state == state:
        return
    was_stale = row.state in STALE_STATES
    row.state, row.changed_at = state, utcnow()
    if was_stale != (state in STALE_STATES):
        _restatus(session, row.org_id)


def _restatus(session: Session, mno_id: str) -> None:
    """The MNO's information turned stale or fresh: every DSO it serves sees it in its statuses now."""
    session.flush()
    for dso_id in tenancy.dsos_of_mno(session, mno_id):
        status.rebuild_org(session, dso_id)


# ---- supervision ------------------------------------------------------------------------------------------------

def record_heard(db: Database) -> None:
    """This process's notes of MNOs heard from, written to their feeds (one statement per MNO heard)."""
    heard = liveness.take()
    if not heard:
        return
    with db.write() as session:
        for org_id, at in heard.items():
            session.execute(update(MnoFeed).where(
                MnoFeed.org_id == org_id, MnoFeed.state != "disconnected",
                (MnoFeed.last_heard_at.is_(None)) | (MnoFeed.last_heard_at < at)).values(last_heard_at=at))


ProducerOf = Callable[[MnoFeed], Producer]


def supervise(db: Database, producer_of: ProducerOf, public_url: str, started_at: datetime) -> None:
    """One pass over every feed: subscribe where gridcell has no subscription, remove those of disconnected
    feeds, mark silent feeds stale (and resubscribe), fresh ones active, reconcile where due."""
    record_heard(db)
    now = utcnow()
    with db.read() as session:
        feeds = [(r.id, r.state) for r in session.scalars(select(MnoFeed))]
    for feed_id, state in feeds:
        if state == "disconnected":
            _drop_subscription(db, feed_id, producer_of)
            continue
        try:
            _supervise_one(db, feed_id, producer_of, public_url, started_at, now)
        except ProducerError as exc:
            _fail(db, feed_id, str(exc))


def _supervise_one(db: Database, feed_id: str, producer_of: ProducerOf, public_url: str, started_at: datetime,
                   now: datetime) -> None:
    with db.write() as session:
        row = session.get(MnoFeed, feed_id)
        if row is None or row.state == "disconnected":
            return
        since = max(row.last_heard_at or row.created_at, started_at)
        silent = now - since > timedelta(seconds=SILENT_PERIODS * row.heartbeat_period_s)
        went_stale = silent and row.state in ("active", "connecting")
        if went_stale:
            log.warning("feed %s: nothing heard since %s", row.id, isoformat(since))
            _set_state(session, row, "stale")
            row.reconcile_due = row.kind == "faultMns"
        elif not silent and row.state == "stale":
            _set_state(session, row, "active")
        if row.kind != "faultMns" or _retry_at.get(row.id, now) > now:
            return
        # The producer may have lost gridcell's subscription when it fell silent: a fresh one then.
        old_subscription = row.producer_subscription
        needs_subscription = old_subscription is None or went_stale
        reconcile_due = row.reconcile_due or needs_subscription
        producer, reference, filter_ = producer_of(row), sink_url(row, public_url), row.filter
    if needs_subscription:
        if old_subscription:
            try:
                producer.unsubscribe(old_subscription)
            except ProducerError as exc:
                log.info("feed %s: old subscription not removed: %s", feed_id, exc)
        location = producer.subscribe(reference, filter_)
        with db.write() as session:
            row = session.get(MnoFeed, feed_id)
            if row is not None:
                row.producer_subscription, row.last_error, row.reconcile_due = location, None, True
    if reconcile_due:
        reconcile(db, feed_id, producer)


def _drop_subscription(db: Database, feed_id: str, producer_of: ProducerOf) -> None:
    with db.read() as session:
        row = session.get(MnoFeed, feed_id)
        if row is None or not row.producer_subscription:
            return
        producer, location = producer_of(row), row.producer_subscription
    try:
        producer.unsubscribe(location)
    except ProducerError as exc:
        log.info("feed %s: subscription %s not removed yet: %s", feed_id, location, exc)
        return
    with db.write() as session:
        row = session.get(MnoFeed, feed_id)
        if row is not None:
            row.producer_subscription = None


def mark_restarted(db: Database) -> None:
    """gridcell was down: whatever the producers sent meanwhile may be lost, so every producer feed is
    reconciled once."""
    with db.write() as session:
        session.execute(update(MnoFeed).where(MnoFeed.kind == "faultMns", MnoFeed.state != "disconnected")
                        .values(reconcile_due=True))


# ---- status evidence: a stale feed shows on every pair of its MNO ---------------------------------------------

_STALE_FEEDS = select(MnoFeed.org_id, MnoFeed.last_heard_at, MnoFeed.changed_at, MnoFeed.state).where(
    MnoFeed.state.in_(bindparam("states", expanding=True)))


def stale_evidence(session: Session, pairs: set[tuple[int, str]], now: datetime) -> dict[tuple[int, str],
                                                                                        list[dict[str, Any]]]:
    stale = {org: (heard, changed, state) for org, heard, changed, state in
             prepared.rows(session, _STALE_FEEDS, {"states": list(STALE_STATES)})}
    if not stale:
        return {}
    out: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for pair, current in status.current(session, pairs).items():
        mno = current.get("mnoId")
        if mno not in stale:
            continue
        heard, changed, state = stale[mno]
        out[pair] = [{"category": STALE_CATEGORY, "source": "mno_feed", "effect": "ok", "since": changed,
                      "lastHeardAt": isoformat(heard), "feedState": state}]
    return out
