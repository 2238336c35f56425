"""Who is calling, what they may see: organisations, clients, agreements, audit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from gridcell.core import events, prepared
from gridcell.core.clock import utcnow
from gridcell.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from gridcell.core.ids import new_id
from gridcell.core.security import hash_token, new_token
from gridcell.tenancy.models import Agreement, ApiClient, AuditCounterpart, AuditEntry, Organisation

ORG_KINDS = ("dso", "mno")
ROLES = ("viewer", "operator", "admin")
LEVELS = ("area", "cell")
_ROLE_RANK = {r: i for i, r in enumerate(ROLES)}


@dataclass(frozen=True)
class Caller:
    client_id: str
    org_id: str
    org_kind: str
    role: str

    def require(self, role: str, kind: str | None = None) -> None:
        if _ROLE_RANK[self.role] < _ROLE_RANK[role]:
            raise Forbidden(f"this action needs role '{role}' or higher; the client has '{self.role}'")
        if kind is not None and self.org_kind != kind:
            raise Forbidden(f"this action is for {kind.upper()} organisations")


@dataclass(frozen=True)
class AgreementView:
    id: str
    dso_id: str
    mno_id: str
    plmns: tuple[str, ...]
    site_ids: frozenset[str] | None
    level: str
    share_telemetry: bool
    sla_target: float

    def covers(self, site_id: str, plmn: str) -> bool:
        return plmn in self.plmns and (self.site_ids is None or site_id in self.site_ids)


def create_org(session: Session, name: str, kind: str) -> str:
    if kind not in ORG_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(ORG_KINDS)}")
    if not name.strip():
        raise InvalidInput("name must not be empty")
    org = Organisation(id=new_id(kind), name=name.strip(), kind=kind, created_at=utcnow())
    session.add(org)
    return org.id


def get_org(session: Session, org_id: str) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"organisation {org_id} not found")
    return org


def list_orgs(session: Session) -> Sequence[Organisation]:
    return session.scalars(select(Organisation).order_by(Organisation.created_at)).all()


def create_client(session: Session, org_id: str, role: str, name: str | None = None) -> tuple[str, str]:
    """Returns (client id, token). The token is shown once; only its hash is stored."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    get_org(session, org_id)
    token = new_token()
    client = ApiClient(id=new_id("cli"), org_id=org_id, role=role, name=name,
                       token_hash=hash_token(token), created_at=utcnow())
    session.add(client)
    return client.id, token


@dataclass(frozen=True)
class ClientView:
    id: str
    name: str | None
    role: str
    created_at: Any
    revoked: bool


def list_clients(session: Session, caller: Caller) -> list[ClientView]:
    """The API clients of the caller's own organisation (admin), newest first; tokens are never shown again."""
    caller.require("admin")
    rows = session.scalars(select(ApiClient).where(ApiClient.org_id == caller.org_id)
                           .order_by(ApiClient.created_at.desc(), ApiClient.id))
    return [ClientView(c.id, c.name, c.role, c.created_at, c.revoked) for c in rows]


def revoke_client(session: Session, caller: Caller, client_id: str) -> None:
    """Revoke an API client of the caller's own organisation (admin): its token stops working at once, in this
    process and, through the dashboard's re-check, in every browser session it opened. An admin cannot revoke
    the client it calls with (it would lock itself out mid-request)."""
    caller.require("admin")
    client = session.get(ApiClient, client_id)
    if client is None or client.org_id != caller.org_id:
        raise NotFound(f"API client {client_id} not found")
    if client.id == caller.client_id:
        raise Conflict("a client cannot revoke itself: use another administrator's client or account")
    client.revoked = True
    token_cache.clear()


class _TokenCache:
    """Short-lived cache of token → caller so authentication costs no query on the hot path."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._items: dict[str, tuple[float, Caller]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Caller | None:
        with self._lock:
            hit = self._items.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        return None

    def put(self, key: str, caller: Caller) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[key] = (time.monotonic() + self.ttl_s, caller)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


token_cache = _TokenCache()


def cached_caller(token: str) -> Caller | None:
    """The caller of a token seen recently (no database read), else None."""
    return token_cache.get(hash_token(token))


def authenticate(session: Session, token: str) -> Caller | None:
    key = hash_token(token)
    cached = token_cache.get(key)
    if cached is not None:
        return cached
    row = session.execute(
        select(ApiClient.id, ApiClient.org_id, ApiClient.role, Organisation.kind)
        .join(Organisation, Organisation.id == ApiClient.org_id)
        .where(ApiClient.token_hash == key, ApiClient.revoked.is_(False))
    ).first()
    if row is None:
        return None
    caller = Caller(client_id=row[0], org_id=row[1], role=row[2], org_kind=row[3])
    token_cache.put(key, caller)
    return caller


def caller_for_client(session: Session, client_id: str) -> Caller | None:
    """The caller an API client acts as, or None when it is unknown or revoked (re-checks a login session)."""
    row = session.execute(
        select(ApiClient.id, ApiClient.org_id, ApiClient.role, Organisation.kind)
        .join(Organisation, Organisation.id == ApiClient.org_id)
        .where(ApiClient.id == client_id, ApiClient.revoked.is_(False))
    ).first()
    return None if row is None else Caller(client_id=row[0], org_id=row[1], role=row[2], org_kind=row[3])


def create_agreement(session: Session, dso_id: str, mno_id: str, plmns: Iterable[str], level: str, *,
                     share_telemetry: bool = False, site_ids: Iterable[str] | None = None,
                     sla_target: float = 0.999) -> str:
    plmn_list = sorted(set(plmns))
    if not plmn_list:
        raise InvalidInput("at least one PLMN is required")
    for p in plmn_list:
        if not (p.isdigit() and len(p) in (5, 6)):
            raise InvalidInput(f"PLMN '{p}' is not MCC+MNC (5 or 6 digits)")
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}")
    if not 0.0 < sla_target <= 1.0:
        raise InvalidInput("sla_target must be in (0, 1]")
    if get_org(session, dso_id).kind != "dso":
        raise InvalidInput(f"{dso_id} is not a DSO")
    if get_org(session, mno_id).kind != "mno":
        raise InvalidInput(f"{mno_id} is not an MNO")
    for other in agreements_for(session, dso_id):
        if other.mno_id == mno_id:
            raise Conflict(f"an agreement between {dso_id} and {mno_id} exists already ({other.id})")
    agreement = Agreement(id=new_id("agr"), dso_id=dso_id, mno_id=mno_id, plmns=plmn_list,
                          site_ids=None if site_ids is None else sorted(set(site_ids)), level=level,
                          share_telemetry=share_telemetry, sla_target=sla_target, created_at=utcnow())
    session.add(agreement)
    session.flush()
    events.emit(session, AGREEMENT_CREATED, AgreementCreated(dso_id, mno_id))
    return agreement.id


AGREEMENT_CREATED = "tenancy.agreement_created"


@dataclass(frozen=True)
class AgreementCreated:
    """Emitted in the transaction that created an agreement: which cells may serve the DSO's USIMs changed."""

    dso_id: str
    mno_id: str


_AGREEMENT_COLS = (Agreement.id, Agreement.dso_id, Agreement.mno_id, Agreement.plmns, Agreement.site_ids,
                   Agreement.level, Agreement.share_telemetry, Agreement.sla_target)
# Asked on every MNO fault ingest: built once, read as columns (no ORM objects).
_AGREEMENTS_OF_ORG = (select(*_AGREEMENT_COLS).where(or_(Agreement.dso_id == bindparam("org"),
                                                         Agreement.mno_id == bindparam("org")))
                      .order_by(Agreement.created_at))


_AGREEMENTS_OF_DSOS = (select(*_AGREEMENT_COLS).where(Agreement.dso_id.in_(bindparam("dsos", expanding=True)))
                       .order_by(Agreement.created_at))


def _view_of_row(r: Any) -> AgreementView:
    return AgreementView(r[0], r[1], r[2], tuple(r[3]), None if r[4] is None else frozenset(r[4]), r[5], r[6], r[7])


_DSOS_OF_MNO = select(Agreement.dso_id).distinct().where(Agreement.mno_id == bindparam("mno"))


def dsos_of_mno(session: Session, mno_id: str) -> list[str]:
    """The DSOs this MNO has agreements with (asked on every MNO fault ingest; plain ids)."""
    return sorted(r[0] for r in prepared.rows(session, _DSOS_OF_MNO, {"mno": mno_id}))


def agreements_for(session: Session, org_id: str) -> list[AgreementView]:
    return [_view_of_row(r) for r in session.execute(_AGREEMENTS_OF_ORG, {"org": org_id})]


def agreements_of_dsos(session: Session, dso_ids: Iterable[str]) -> dict[str, list[AgreementView]]:
    """Agreements per DSO for many DSOs in one query (status recompute touches many at once)."""
    ids = sorted(set(dso_ids))
    out: dict[str, list[AgreementView]] = {d: [] for d in ids}
    for i in range(0, len(ids), 500):
        for r in prepared.rows(session, _AGREEMENTS_OF_DSOS, {"dsos": ids[i:i + 500]}):
            out[r[1]].append(_view_of_row(r))
    return out


def all_agreements(session: Session) -> list[AgreementView]:
    return [_view_of_row(r) for r in session.execute(select(*_AGREEMENT_COLS))]


def audit(session: Session, caller: Caller, action: str, counterparts: Iterable[str],
          detail: dict[str, Any] | None = None) -> None:
    """Record a read of data that crosses organisations. No counterpart, no entry."""
    others = sorted({c for c in counterparts if c != caller.org_id})
    if not others:
        return
    session.add(AuditEntry(at=utcnow(), client_id=caller.client_id, org_id=caller.org_id, action=action,
                           counterpart_org_ids=others, detail=detail,
                           counterparts=[AuditCounterpart(org_id=o) for o in others]))


def record_action(session: Session, caller: Caller, action: str, detail: dict[str, Any] | None = None,
                  counterparts: Iterable[str] = ()) -> None:
    """Record a change made by the caller (the dashboard's actions): always an entry, with any organisation the
    change concerns as counterpart, so both sides find it in their audit log."""
    others = sorted({c for c in counterparts if c and c != caller.org_id})
    session.add(AuditEntry(at=utcnow(), client_id=caller.client_id[:40], org_id=caller.org_id, action=action[:200],
                           counterpart_org_ids=others, detail=detail,
                           counterparts=[AuditCounterpart(org_id=o) for o in others]))


def audit_entries(session: Session, org_id: str, limit: int = 100,
                  before: int | None = None) -> Sequence[AuditEntry]:
    """Entries by this organisation's clients, or reading this organisation's data, newest first; `before`
    (an entry id) pages back. Two index range scans of at most `limit` ids each, however long the log."""
    own = select(AuditEntry.id).where(AuditEntry.org_id == org_id)
    read = select(AuditCounterpart.entry_id).where(AuditCounterpart.org_id == org_id)
    if before is not None:
        own = own.where(AuditEntry.id < before)
        read = read.where(AuditCounterpart.entry_id < before)
    ids = set(session.scalars(own.order_by(AuditEntry.id.desc()).limit(limit)))
    ids.update(session.scalars(read.order_by(AuditCounterpart.entry_id.desc()).limit(limit)))
    newest = sorted(ids, reverse=True)[:limit]
    if not newest:
        return []
    return session.scalars(select(AuditEntry).where(AuditEntry.id.in_(newest)).order_by(AuditEntry.id.desc())).all()
