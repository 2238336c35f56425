"""Fault MnS subscriptions of DSOs (TS 28.532 `/subscriptions`) and the notifications they receive.

Subscriptions are channel "faultmns" of the shared subscription table, so signing, retries, ordering and the outbox
are the same as for every webhook. Notifications follow TS 28.111 (notifyNewAlarm, notifyChangedAlarmGeneral,
notifyClearedAlarm; notifyAckStateChanged and notifyComments for the DSO's own acknowledgements and comments), each
built as the DSO's agreement level allows (exposure.fault_mns) and sent when the subscription's Jex `filter`
holds on it.

Fault ingest tells which cells changed, not which alarms (`faults.cells_changed`). `fault_mns_published` holds what
subscribers were last told of each open alarm, per cell: the open alarms on the changed cells compared with it give
the raised, changed and cleared ones. With no Fault MnS subscription an ingest costs one query and nothing is kept;
the first subscription of a DSO records the alarms it sees at that moment, and the last one leaving drops the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Table, Text, bindparam, cast, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gridcell.core import identity, prepared
from gridcell.core.clock import isoformat, utcnow
from gridcell.core.errors import InvalidInput
from gridcell.core.ids import new_uuid
from gridcell.exposure import subscriptions
from gridcell.exposure.fault_mns import Facts, Seen, Visibility, dso_visibility, facts_of
from gridcell.exposure.jex import Condition, JexError, compile_condition
from gridcell.exposure.models import FaultMnsPublished, Subscription
from gridcell.faults import service as faults
from gridcell.faults.service import CellsChanged
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topology

CHANNEL = "faultmns"
BASE = "/FaultSupervisionMnS/v1"
MAX_TIME_TICK = 2**31 - 1
_SUBS: Table = Subscription.__table__  # type: ignore[assignment]
_PUB: Table = FaultMnsPublished.__table__  # type: ignore[assignment]


# ---- subscriptions -----------------------------------------------------------------------------------------------


def create_subscription(session: Session, dso_id: str, *, consumer_reference: str, time_tick: int | None,
                        flt: str | None, allow_private: bool) -> Subscription:
    """A TS 28.532 Subscription; the callback is checked as every webhook's (public, normalised), the filter
    compiled (400 naming `filter` when it cannot be evaluated). The first Fault MnS subscription of the DSO records
    the alarms it can see, so their later changes and clears are told against what it was shown."""
    if flt is not None:
        try:
            compile_condition(flt)
        except JexError as exc:
            raise InvalidInput(f"filter: {exc}", errors=[
                {"loc": "filter", "msg": f"not a Jex conditions expression (TS 32.161): {exc}"}]) from exc
    first = not subscriptions.channel_subscriptions(session, CHANNEL, [dso_id])
    sub = subscriptions.create_channel_subscription(session, dso_id, CHANNEL, callback_uri=consumer_reference,
                                                    query={"timeTick": time_tick, "filter": flt},
                                                    allow_private=allow_private, loc="consumerReference")
    session.flush()
    if first:
        _record_seen_by(session, dso_id)
    return sub


def subscription_out(sub: Subscription, *, with_secret: bool = False) -> dict[str, Any]:
    """The TS 28.532 Subscription as stored, with its id (and, once, the HMAC secret of X-Gridcell-Signature)."""
    q = sub.query or {}
    out: dict[str, Any] = {"consumerReference": sub.callback_uri}
    if q.get("timeTick") is not None:
        out["timeTick"] = q["timeTick"]
    if q.get("filter") is not None:
        out["filter"] = q["filter"]
    out["id"] = sub.id
    if with_secret:
        out["secret"] = sub.secret
    return out


def list_subscriptions(session: Session, dso_id: str) -> list[Subscription]:
    return sorted(subscriptions.channel_subscriptions(session, CHANNEL, [dso_id]), key=lambda s: s.created_at)


def get_subscription(session: Session, dso_id: str, sub_id: str) -> Subscription:
    return subscriptions.get_channel_subscription(session, dso_id, CHANNEL, sub_id)


def delete_subscription(session: Session, dso_id: str, sub_id: str) -> None:
    """Unsubscribe; when no Fault MnS subscription is left anywhere, what was published is forgotten."""
    session.delete(get_subscription(session, dso_id, sub_id))
    session.flush()
    _compiled.pop(sub_id, None)
    if session.scalar(select(_SUBS.c.id).where(_SUBS.c.channel == CHANNEL).limit(1)) is None:
        session.execute(delete(_PUB))


# ---- notifications -----------------------------------------------------------------------------------------------


def href_of(dn: str) -> str:
    """The object's DN as a ProvMnS resource path (TS 32.158), the notification header's `href`."""
    return "/ProvMnS/v1900/" + "/".join(dn.split(","))


def notification(kind: str, seen: Seen, notification_id: int, event_time: datetime,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A TS 28.111 alarm notification as this DSO may receive it (header, alarm attributes, extensions)."""
    view = seen.view()
    body: dict[str, Any] = {"href": href_of(view["objectInstance"]), "notificationId": notification_id,
                            "notificationType": kind, "eventTime": isoformat(event_time),
                            "systemDN": identity.system_dn(),
                            "alarmId": seen.alarm_id, "alarmType": view["alarmType"],
                            "probableCause": view["probableCause"], "perceivedSeverity": view["perceivedSeverity"]}
    if "specificProblem" in view:
        body["specificProblem"] = view["specificProblem"]
    if "additionalText" in view and kind in ("notifyNewAlarm", "notifyChangedAlarmGeneral"):
        body["additionalText"] = view["additionalText"]
    body.update(extra or {})
    body["objectInstance"] = view["objectInstance"]
    body.update(seen.extensions())
    return body


@dataclass(frozen=True)
class _Target:
    id: str
    org_id: str
    condition: Condition | None


_compiled: dict[str, tuple[str | None, Condition | None]] = {}


def _condition(sub_id: str, flt: str | None) -> Condition | None:
    cached = _compiled.get(sub_id)
    if cached is not None and cached[0] == flt:
        return cached[1]
    try:
        cond = compile_condition(flt) if flt is not None else None
    except JexError:  # checked when made; a filter this version cannot read any more lets nothing through
        cond = lambda doc: False  # noqa: E731
    _compiled[sub_id] = (flt, cond)
    return cond


def _target(sub_id: str, org_id: str, query: Any) -> _Target:
    q = orjson.loads(query) if isinstance(query, str) else (query or {})
    flt = q.get("filter") if isinstance(q, dict) else None
    return _Target(sub_id, org_id, _condition(sub_id, flt if isinstance(flt, str) else None))


_ALL_SUBS = select(_SUBS.c.id, _SUBS.c.org_id, cast(_SUBS.c.query, Text)).where(
    _SUBS.c.channel == CHANNEL).order_by(_SUBS.c.id)
_LOCK_SUBS = (select(_SUBS.c.id, _SUBS.c.callback_uri, _SUBS.c.secret, _SUBS.c.last_seq)
              .where(_SUBS.c.id.in_(bindparam("ids", expanding=True))).order_by(_SUBS.c.id).with_for_update())


def _enqueue(session: Session, messages: Sequence[tuple[_Target, str, dict[str, Any]]], now: datetime) -> int:
    """Outbox rows for (subscription, kind, body) in order, the subscriptions locked while numbering them."""
    if not messages:
        return 0
    ids = sorted({t.id for t, _, _ in messages})
    locked = {r[0]: r for r in prepared.rows(session, _LOCK_SUBS, {"ids": ids})}
    seqs = {k: int(r[3]) for k, r in locked.items()}
    queued: list[subscriptions.Queued] = []
    for target, kind, body in messages:
        row = locked.get(target.id)
        if row is None:  # deleted meanwhile
            continue
        seq = seqs[target.id] = seqs[target.id] + 1
        payload = orjson.dumps({**body, "sequenceNo": seq, "subscriptionId": target.id})
        queued.append(subscriptions.Queued(target.id, row[1], row[2], seq, new_uuid(), kind, payload))
    subscriptions.write_outbox(session, queued, {k: seqs[k] for k in {q.subscription_id for q in queued}}, now)
    return len(queued)


def send_own(session: Session, dso_id: str, items: Iterable[tuple[str, Seen, dict[str, Any], int]],
             now: datetime) -> int:
    """The DSO's own acknowledgements and comments, to its own subscriptions only: (kind, alarm, members, id)."""
    items = list(items)
    if not items:
        return 0
    targets = [_target(r[0], r[1], r[2]) for r in prepared.rows(session, _ALL_SUBS, {}) if r[1] == dso_id]
    messages = []
    for kind, seen, extra, nid in items:
        body = notification(kind, seen, nid, now, extra)
        messages += [(t, kind, body) for t in targets if t.condition is None or t.condition(body)]
    return _enqueue(session, messages, now)


# ---- what fault ingest changed -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Change:
    kind: str  # new | changed | cleared
    facts: Facts
    cells: tuple[int, ...]
    before: Facts | None = None


_PUBLISHED_ON_CELLS = select(_PUB.c.alarm_key, _PUB.c.cell_pk, cast(_PUB.c.facts, Text)).where(
    _PUB.c.mno_id == bindparam("mno"), _PUB.c.cell_pk.in_(bindparam("pks", expanding=True)))


def _published(session: Session, mno_id: str, cells: list[int]) -> dict[str, tuple[Facts, set[int]]]:
    out: dict[str, tuple[Facts, set[int]]] = {}
    for i in range(0, len(cells), 500):
        for key, cell_pk, facts in prepared.rows(session, _PUBLISHED_ON_CELLS, {"mno": mno_id,
                                                                               "pks": cells[i:i + 500]}):
            if key not in out:
                out[key] = (Facts.from_stored(mno_id, key, orjson.loads(facts)), set())
            out[key][1].add(cell_pk)
    return out


def _open_alarms(session: Session, mno_id: str, cells: list[int]) -> dict[str, tuple[Facts, list[int]]]:
    rows = faults.list_conditions(session, mno_id, kind="alarm", active_only=True, cell_pks=cells, limit=1_000_000)
    return {cond.key: (facts_of(mno_id, cond), cells_of) for cond, cells_of in rows}


def _changes(now: datetime, open_: dict[str, tuple[Facts, list[int]]],
             published: dict[str, tuple[Facts, set[int]]]) -> list[_Change]:
    """Clears first (the order of the MNO's notifications within a unit of work is not kept), then raises and
    changes in the order the MNO's alarms were first stored; an alarm cleared and raised again is both."""
    cleared = [_Change("cleared", _cleared(facts, now), tuple(sorted(cells)))
               for key, (facts, cells) in published.items()
               if key not in open_ or open_[key][0].raised != facts.raised]
    out: list[_Change] = []
    for key, (facts, cells) in open_.items():
        old = published.get(key)
        if old is None or old[0].raised != facts.raised:
            out.append(_Change("new", facts, tuple(cells)))
        elif old[0].stored() != facts.stored():
            out.append(_Change("changed", facts, tuple(cells), old[0]))
    return cleared + out


def _cleared(facts: Facts, at: datetime) -> Facts:
    return Facts(facts.mno_id, facts.key, facts.object_instance, facts.raised, at, at, facts.impact,
                 facts.alarm_type, facts.probable_cause, facts.specific_problem, facts.severity,
                 facts.additional_text, facts.expected_end)


def _upsert(dialect: Any) -> Any:
    stmt = dialect.insert(_PUB)
    return stmt.on_conflict_do_update(index_elements=list(_PUB.primary_key.columns),
                                      set_={"facts": stmt.excluded.facts})


# An ingest and a first subscription may record the same alarm at once (PostgreSQL): the later one updates.
_UPSERT = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}


_UNPUBLISH = delete(_PUB).where(_PUB.c.mno_id == bindparam("m"), _PUB.c.alarm_key == bindparam("k"))


def _publish(session: Session, mno_id: str, changes: list[_Change]) -> None:
    """Keep `fault_mns_published` equal to the open alarms just compared (two driver executemanys)."""
    prepared.execute_many(session, _UNPUBLISH, [{"m": mno_id, "k": k} for k in sorted({c.facts.key for c in changes})])
    rows = {(pk, c.facts.key): c.facts.stored() for c in changes if c.kind != "cleared" for pk in c.cells}
    prepared.execute_many(session, _UPSERT[session.get_bind().dialect.name],
                          [{"cell_pk": pk, "mno_id": mno_id, "alarm_key": key, "facts": facts}
                           for (pk, key), facts in sorted(rows.items())])


def _record_seen_by(session: Session, dso_id: str) -> None:
    """Make what is recorded for the DSO's cells the alarms open on them now, without notifying: its first
    subscription is told changes against what it can read at that moment."""
    vis = dso_visibility(session, dso_id, [a for a in tenancy.agreements_for(session, dso_id) if a.dso_id == dso_id])
    now = utcnow()
    for mno in vis.mnos():
        cells = vis.cells_of(mno)
        _publish(session, mno, _changes(now, _open_alarms(session, mno, cells), _published(session, mno, cells)))


def _visibilities(session: Session, cells: set[int], dso_ids: set[str]) -> dict[str, Visibility]:
    """How each subscribed DSO sees these cells (only the pairs they serve are read)."""
    sites, serving = topology.sites_with_serving_cells(session, topology.pairs_for_cells(session, cells))
    wanted = {s.org_id for s in sites.values()} & dso_ids
    if not wanted:
        return {}
    agreements = tenancy.agreements_of_dsos(session, wanted)
    out = {d: Visibility(d) for d in wanted}
    for (site_pk, plmn), serving_cells in sorted(serving.items()):
        site = sites.get(site_pk)
        if site is not None and site.org_id in out:
            out[site.org_id].add(site, plmn, serving_cells, agreements[site.org_id])
    return out


def _messages(change: _Change, seen: Seen, before: Seen | None) -> tuple[str, dict[str, Any]] | None:
    f = seen.facts
    nid = seen.notification_id()
    if change.kind == "new":
        return "notifyNewAlarm", notification("notifyNewAlarm", seen, nid, f.raised)
    if change.kind == "cleared":
        return "notifyClearedAlarm", notification("notifyClearedAlarm", seen, nid, f.changed)
    new_view, old_view = seen.view(), before.view() if before is not None else {}
    diff = {k: new_view.get(k) for k in sorted(set(new_view) | set(old_view)) if new_view.get(k) != old_view.get(k)}
    if not diff:
        return None  # nothing this DSO can see changed
    return "notifyChangedAlarmGeneral", notification("notifyChangedAlarmGeneral", seen, nid, f.changed,
                                                     {"changedAlarmAttributes": diff})


def on_cells_changed(session: Session, event: CellsChanged) -> None:
    """In the ingest's transaction: Fault MnS notifications for the alarms on the changed cells, to each
    subscribed DSO that sees them, as its agreement level allows and its filter selects. Cells no subscribed DSO
    sees are left alone (a DSO's first subscription records its cells afresh)."""
    subs = prepared.rows(session, _ALL_SUBS, {})
    if not subs:
        return
    targets: dict[str, list[_Target]] = {}
    for r in subs:
        targets.setdefault(r[1], []).append(_target(r[0], r[1], r[2]))
    views = _visibilities(session, set(event.cell_pks), set(targets))
    cells = sorted({pk for vis in views.values() for pk in vis.cells_of(event.org_id)} & event.cell_pks)
    if not cells:
        return
    changes = _changes(event.at, _open_alarms(session, event.org_id, cells), _published(session, event.org_id, cells))
    if not changes:
        return
    _publish(session, event.org_id, changes)
    messages: list[tuple[_Target, str, dict[str, Any]]] = []
    for change in changes:
        for dso_id, vis in views.items():
            seen = vis.seen(change.facts, change.cells)
            if seen is None:
                continue
            before = vis.seen(change.before, change.cells) if change.before is not None else None
            message = _messages(change, seen, before)
            if message is None:
                continue
            kind, body = message
            messages += [(t, kind, body) for t in targets[dso_id] if t.condition is None or t.condition(body)]
    _enqueue(session, messages, event.at)
