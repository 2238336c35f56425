"""Subscriptions: who wants which status changes, and the durable outbox that carries them."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import orjson
from shapely.geometry import Point
from shapely.prepared import PreparedGeometry, prep
from sqlalchemy import Table, Text, bindparam, cast, insert, select, update
from sqlalchemy.orm import Session

from gridcell.core import prepared
from gridcell.core.bus import LOCAL_ONLY
from gridcell.core.clock import isoformat, utcnow
from gridcell.core.db import queue_after_commit
from gridcell.core.errors import InvalidInput, NotFound
from gridcell.core.geo import parse_geojson_geometry
from gridcell.core.ids import new_id, new_uuid
from gridcell.core.security import first_non_public, new_secret
from gridcell.exposure.models import OutboxRow, Subscription
from gridcell.topology.service import SiteRef

EVENT_KINDS = ("siteStatusChanged",)
STATUSES = ("ok", "degraded", "at_risk", "maintenance", "down")
RANK = {s: i for i, s in enumerate(STATUSES)}
OUTBOX_TOPIC = "exposure.outbox"
Subscriber = Subscription  # the type other capabilities hold while enqueuing (they never import exposure.models)
OUTBOX: Table = OutboxRow.__table__  # type: ignore[assignment]  # Core inserts: no per-row ORM bookkeeping


@dataclass(frozen=True)
class StatusChange:
    site: SiteRef
    plmn: str
    mno_id: str
    level: str
    status: str
    previous: str
    since: datetime
    expected_end: datetime | None
    reasons: list[dict[str, Any]]


@dataclass(frozen=True)
class OutboxMessage:
    """Published after commit so delivery workers and SSE streams wake without polling.

    Another process (networked bus) receives only the first three fields: a wake-up, the outbox has the rest.
    """

    subscription_id: str
    seq: int
    notification_id: str
    payload: bytes | None = field(metadata=LOCAL_ONLY)
    callback_uri: str | None = field(metadata=LOCAL_ONLY)
    secret: str | None = field(metadata=LOCAL_ONLY)
    kind: str | None = field(default=None, metadata=LOCAL_ONLY)
    listener: dict[str, Any] | None = field(default=None, metadata=LOCAL_ONLY)  # see exposure.listener_target


_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def _callback_error(msg: str, loc: str) -> InvalidInput:
    return InvalidInput(f"{loc}: {msg}", errors=[{"loc": loc, "msg": msg}])


def normalise_callback(uri: str, loc: str = "callbackUri") -> str:
    """The callback as it goes on the wire: http(s) only, the host IDNA-encoded, the port within 1-65535, path
    and query percent-encoded (a space or a non-Latin-1 letter would otherwise break the request line), no
    fragment. Credentials in the URL are refused: they would be dropped silently or logged with the URL."""
    if not isinstance(uri, str) or not uri or len(uri) > 2000 or any(ord(c) < 0x20 or ord(c) == 0x7F for c in uri):
        raise _callback_error("an absolute http or https URL of at most 2000 characters, without control "
                              "characters", loc)
    try:
        parts = urlsplit(uri.strip())
        port = parts.port
        host = parts.hostname
    except ValueError as exc:  # "http://[::1/", ":99999", ":abc"
        raise _callback_error(f"not a valid URL ({exc})", loc) from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise _callback_error("an absolute http or https URL", loc)
    if parts.username is not None or parts.password is not None:
        raise _callback_error("credentials in the URL are not accepted; the receiver verifies the signature "
                              "header (X-Gridcell-Signature) instead", loc)
    if port is not None and not 1 <= port <= 65535:
        raise _callback_error("the port must be within 1-65535", loc)
    try:
        ipaddress.ip_address(host)
        shown = f"[{host}]" if ":" in host else host
    except ValueError:
        try:
            shown = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise _callback_error(f"the host name is not valid ({exc})", loc) from exc
    netloc = shown if port is None else f"{shown}:{port}"
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    query = quote(parts.query, safe=_QUERY_SAFE)
    return urlunsplit((scheme, netloc, path, query, ""))


def validate_callback(uri: str, *, allow_private: bool, loc: str = "callbackUri") -> str:
    """The normalised callback, refused when it is not public (unless private targets are allowed); errors name
    the field as the caller's standard calls it (`loc`)."""
    normalised = normalise_callback(uri, loc)
    if allow_private:
        return normalised
    parsed = urlsplit(normalised)
    host = parsed.hostname or ""
    try:
        addrs = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, parsed.port or 443, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            raise InvalidInput(f"{loc} host '{host}' does not resolve",
                               errors=[{"loc": loc, "msg": "host does not resolve"}]) from exc
        addrs = [str(info[4][0]) for info in infos]
    addr = first_non_public(addrs)
    if addr is not None:
        raise InvalidInput(
            f"{loc} resolves to a non-public address ({addr}); loopback and private targets are "
            "refused unless GRIDCELL_ALLOW_PRIVATE_WEBHOOKS=true",
            errors=[{"loc": loc, "msg": "private or loopback address"}])
    return normalised


def create(session: Session, org_id: str, *, callback_uri: str | None, site_ids: list[str] | None,
           area: dict[str, Any] | None, plmns: list[str] | None, min_status: str, event_kinds: list[str] | None,
           allow_private: bool) -> Subscription:
    if callback_uri is not None:
        callback_uri = validate_callback(callback_uri, allow_private=allow_private)
    if area is not None:
        parse_geojson_geometry(area, polygonal=True)
    if min_status not in STATUSES:
        raise InvalidInput(f"minStatus must be one of {', '.join(STATUSES)}")
    kinds = list(event_kinds or EVENT_KINDS)
    for k in kinds:
        if k not in EVENT_KINDS:
            raise InvalidInput(f"unknown event kind '{k}'; known: {', '.join(EVENT_KINDS)}")
    sub = Subscription(id=new_id("sub"), org_id=org_id, callback_uri=callback_uri, secret=new_secret(),
                       site_ids=sorted(set(site_ids)) if site_ids else None, area=area,
                       plmns=sorted(set(plmns)) if plmns else None, min_status=min_status, event_kinds=kinds,
                       last_seq=0, created_at=utcnow())
    session.add(sub)
    return sub


def create_channel_subscription(session: Session, org_id: str, channel: str, *, callback_uri: str,
                                query: dict[str, Any] | None, allow_private: bool,
                                loc: str = "callbackUri", listener: dict[str, Any] | None = None) -> Subscription:
    """A webhook subscription owned by another capability (TMF hub, ProvMnS subscribers, …); `loc`: the name of
    the callback field in that capability's standard, for its errors; `listener`: how each notification is
    addressed and authenticated (`exposure.listener_target`), kept with the channel's filter in `query`.

    Delivery, signing, retries, ordering and the outbox are shared with site-status subscriptions.
    """
    callback_uri = validate_callback(callback_uri, allow_private=allow_private, loc=loc)
    if listener is not None:
        query = {**(query or {}), "listener": listener}
    sub = Subscription(id=new_id("sub"), org_id=org_id, channel=channel, query=query, callback_uri=callback_uri,
                       secret=new_secret(), site_ids=None, area=None, plmns=None, min_status="ok", event_kinds=[],
                       last_seq=0, created_at=utcnow())
    session.add(sub)
    return sub


def channel_subscriptions(session: Session, channel: str, org_ids: Sequence[str]) -> list[Subscription]:
    """Subscriptions of a channel held by these organisations, locked for sequence assignment."""
    return list(session.scalars(select(Subscription).where(
        Subscription.channel == channel, Subscription.org_id.in_(sorted(set(org_ids))))
        .order_by(Subscription.id).with_for_update()))


def enqueue(session: Session, sub: Subscription, kind: str, build: Callable[[int, str], dict[str, Any]],
            now: datetime | None = None) -> str:
    """Queue one notification for a subscription in the caller's transaction; returns its notification id.

    `build(sequence_no, notification_id)` makes the body, so each channel keeps its own wire format
    (TMF event, 3GPP notification) while sharing the durable, ordered delivery.
    """
    now = now or utcnow()
    sub.last_seq += 1
    nid = new_uuid()
    body = orjson.dumps(build(sub.last_seq, nid))
    session.execute(insert(OUTBOX), [{"subscription_id": sub.id, "seq": sub.last_seq, "notification_id": nid,
                                         "kind": kind, "payload": body.decode(), "created_at": now, "attempts": 0,
                                         "next_attempt_at": now}])
    queue_after_commit(session, OutboxMessage(sub.id, sub.last_seq, nid, body, sub.callback_uri, sub.secret, kind,
                                              listener_of(sub)))
    return nid


def listener_of(sub: Subscription) -> dict[str, Any] | None:
    listener = (sub.query or {}).get("listener")
    return listener if isinstance(listener, dict) else None


def get_channel_subscription(session: Session, org_id: str, channel: str, sub_id: str) -> Subscription:
    sub = session.get(Subscription, sub_id)
    if sub is None or sub.org_id != org_id or sub.channel != channel:
        raise NotFound(f"subscription {sub_id} not found")
    return sub


def get(session: Session, org_id: str, sub_id: str) -> Subscription:
    sub = session.get(Subscription, sub_id)
    if sub is None or sub.org_id != org_id or sub.channel != "exposure":
        raise NotFound(f"subscription {sub_id} not found")
    return sub


def list_for(session: Session, org_id: str) -> Sequence[Subscription]:
    return session.scalars(select(Subscription).where(Subscription.org_id == org_id,
                                                      Subscription.channel == "exposure")
                           .order_by(Subscription.created_at)).all()


def delete(session: Session, org_id: str, sub_id: str) -> None:
    session.delete(get(session, org_id, sub_id))


@dataclass(frozen=True)
class _Target:
    """An exposure subscription as the enqueue hot path needs it: filters compiled (site ids as a set),
    no ORM state. Compiled filters are cached per subscription and rebuilt when its lists change."""

    id: str
    org_id: str
    callback_uri: str | None
    secret: str
    wants_status: bool
    sites: frozenset[str] | None
    plmns: frozenset[str] | None
    floor: int
    area: PreparedGeometry | None

    def matches(self, change: StatusChange) -> bool:
        if not self.wants_status:
            return False
        if self.sites is not None and change.site.site_id not in self.sites:
            return False
        if self.plmns is not None and change.plmn not in self.plmns:
            return False
        # A return below the floor is delivered too: the subscriber saw the site go bad and must see it recover.
        if RANK[change.status] < self.floor and RANK[change.previous] < self.floor:
            return False
        return self.area is None or self.area.intersects(Point(change.site.lon, change.site.lat))


_targets: dict[str, tuple[tuple[Any, ...], _Target]] = {}


def _target(row: tuple[Any, ...]) -> _Target:
    """A subscription row (its JSON filters as stored text) as a compiled _Target, rebuilt only when the row
    differs from the one the cached target was built from."""
    cached = _targets.get(row[0])
    if cached is not None and cached[0] == row:
        return cached[1]
    sub_id, org_id, callback_uri, secret, site_ids, area, plmns, min_status, event_kinds = row
    sites, geo, plmn_list, kinds = (None if v is None else orjson.loads(v)
                                    for v in (site_ids, area, plmns, event_kinds))
    target = _Target(sub_id, org_id, callback_uri, secret, "siteStatusChanged" in (kinds or ()),
                     None if sites is None else frozenset(sites), None if plmn_list is None else frozenset(plmn_list),
                     RANK[min_status], None if geo is None else prep(parse_geojson_geometry(geo, polygonal=True)))
    _targets[sub_id] = (row, target)
    return target


def _change_fields(change: StatusChange) -> dict[str, Any]:
    """The part of a siteStatusChanged notification that is the same for every subscription it goes to."""
    return {
        "site": {"id": change.site.site_id, "name": change.site.name, "kind": change.site.kind,
                 "lat": change.site.lat, "lon": change.site.lon},
        "plmn": change.plmn,
        "mnoId": change.mno_id,
        "status": change.status,
        "previousStatus": change.previous,
        "since": isoformat(change.since),
        "expectedEnd": isoformat(change.expected_end),
        "reasons": change.reasons,
    }


_SUBS: Table = Subscription.__table__  # type: ignore[assignment]
# Built once: asked by every status change (so on most MNO fault ingests).
# JSON filters as their stored text: unchanged subscriptions reuse their compiled target without decoding.
_EXPOSURE_SUBS_OF_ORGS = (select(_SUBS.c.id, _SUBS.c.org_id, _SUBS.c.callback_uri, _SUBS.c.secret,
                                 cast(_SUBS.c.site_ids, Text), cast(_SUBS.c.area, Text), cast(_SUBS.c.plmns, Text),
                                 _SUBS.c.min_status, cast(_SUBS.c.event_kinds, Text), _SUBS.c.last_seq)
                          .where(_SUBS.c.org_id.in_(bindparam("orgs", expanding=True)), _SUBS.c.channel == "exposure")
                          .order_by(_SUBS.c.id).with_for_update())
_INSERT_OUTBOX = insert(OUTBOX)
_SET_LAST_SEQ = update(_SUBS).where(_SUBS.c.id == bindparam("k")).values(last_seq=bindparam("v"))


def enqueue_status_changes(session: Session, changes: list[StatusChange], now: datetime) -> int:
    """Write one outbox row per matching subscription, in the caller's transaction.

    Core throughout (subscriptions read and their sequence numbers written without ORM objects): this
    runs in every ingest that changes a status."""
    if not changes:
        return 0
    orgs = sorted({c.site.org_id for c in changes})
    subs_by_org: dict[str, list[_Target]] = {}
    seqs: dict[str, int] = {}
    for row in prepared.rows(session, _EXPOSURE_SUBS_OF_ORGS, {"orgs": orgs}):
        subs_by_org.setdefault(row[1], []).append(_target(row[:9]))
        seqs[row[0]] = row[9]
    pending: list[tuple[_Target, int, str, bytes]] = []
    event_time = isoformat(now)
    for change in changes:
        fields: dict[str, Any] | None = None
        for sub in subs_by_org.get(change.site.org_id, ()):
            if not sub.matches(change):
                continue
            seq = seqs[sub.id] = seqs[sub.id] + 1
            nid = new_uuid()
            fields = fields or _change_fields(change)
            payload = {"notificationId": nid, "notificationType": "siteStatusChanged", "eventTime": event_time,
                       "subscriptionId": sub.id, "sequenceNo": seq, **fields}
            pending.append((sub, seq, nid, orjson.dumps(payload)))
    if not pending:
        return 0
    # One executemany for the batch (ORM objects per row cost more than the SQL). Rows are addressed by
    # their notification id from here on, so no RETURNING is needed.
    prepared.execute_many(session, _INSERT_OUTBOX, [
        {"subscription_id": sub.id, "seq": seq, "notification_id": nid, "kind": "siteStatusChanged",
         "payload": body.decode(), "created_at": now, "attempts": 0, "next_attempt_at": now}
        for sub, seq, nid, body in pending])
    touched = {sub.id for sub, _, _, _ in pending}
    prepared.execute_many(session, _SET_LAST_SEQ, [{"k": k, "v": seqs[k]} for k in sorted(touched)])
    for sub, seq, nid, body in pending:
        queue_after_commit(session, OutboxMessage(sub.id, seq, nid, body, sub.callback_uri, sub.secret))
    return len(pending)


@dataclass(frozen=True)
class Queued:
    """One notification for the outbox; its sequence number was assigned from a locked read of its subscription."""

    subscription_id: str
    callback_uri: str | None
    secret: str
    seq: int
    notification_id: str
    kind: str
    body: bytes


def write_outbox(session: Session, queued: Sequence[Queued], last_seqs: dict[str, int], now: datetime) -> None:
    """The bulk form of `enqueue` for callers that assign sequence numbers themselves (several notifications per
    subscription in one unit of work): one executemany for the rows, one for the subscriptions' last_seq."""
    if not queued:
        return
    prepared.execute_many(session, _INSERT_OUTBOX, [
        {"subscription_id": q.subscription_id, "seq": q.seq, "notification_id": q.notification_id, "kind": q.kind,
         "payload": q.body.decode(), "created_at": now, "attempts": 0, "next_attempt_at": now} for q in queued])
    prepared.execute_many(session, _SET_LAST_SEQ, [{"k": k, "v": v} for k, v in sorted(last_seqs.items())])
    for q in queued:
        queue_after_commit(session, OutboxMessage(q.subscription_id, q.seq, q.notification_id, q.body,
                                                  q.callback_uri, q.secret))


def pending(session: Session, sub_id: str, after_seq: int, limit: int = 200) -> list[OutboxRow]:
    return list(session.scalars(select(OutboxRow).where(
        OutboxRow.subscription_id == sub_id, OutboxRow.seq > after_seq).order_by(OutboxRow.seq).limit(limit)))


def undelivered(session: Session, sub_id: str, min_seq: int = 0, limit: int = 200) -> list[OutboxRow]:
    return list(session.scalars(select(OutboxRow).where(
        OutboxRow.subscription_id == sub_id, OutboxRow.delivered_at.is_(None), OutboxRow.seq >= min_seq)
        .order_by(OutboxRow.seq).limit(limit)))


def delivery_positions(session: Session) -> dict[str, int]:
    """Webhook subscriptions with nothing undelivered → the sequence number they will deliver next."""
    backlog = select(OutboxRow.subscription_id).where(OutboxRow.delivered_at.is_(None)).distinct()
    return {sub_id: last + 1 for sub_id, last in session.execute(
        select(Subscription.id, Subscription.last_seq).where(Subscription.callback_uri.is_not(None),
                                                             Subscription.id.not_in(backlog)))}


def subscriptions_with_backlog(session: Session) -> list[Subscription]:
    ids = select(OutboxRow.subscription_id).where(OutboxRow.delivered_at.is_(None)).distinct()
    return list(session.scalars(select(Subscription).where(Subscription.id.in_(ids),
                                                           Subscription.callback_uri.is_not(None))))
