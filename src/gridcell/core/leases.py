"""Leases: who in the cluster runs a singleton job or delivers a subscription, moved when the holder dies.

A lease is a row in PostgreSQL (`cluster_leases`): a name, its holder (a node id) and an expiry set from
the database's clock, so the nodes' clocks never need to agree. The holder renews every lease it holds in
one statement every `ttl / 3`; a holder that dies (SIGKILL, power loss, network partition) stops renewing
and any other node takes the lease once it has expired. Each takeover increments `epoch` (a fencing token).

A holder trusts a lease only until `renewal start + 0.8 × ttl` on its own monotonic clock, earlier than the
expiry the database recorded, so a job stops before anyone else may start it (barring clock *rate* drift
beyond that margin); jobs must still be idempotent, since a database write already in flight completes.

The embedded default (one process, SQLite) uses `LocalLeases`: every lease is granted, jobs just run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from gridcell.core.db import Base, Database
from gridcell.core.metrics import RESTARTS

log = logging.getLogger(__name__)


class Lease(Base):
    __tablename__ = "cluster_leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    epoch: Mapped[int] = mapped_column(Integer, default=1)
    acquired_at: Mapped[datetime]
    renewed_at: Mapped[datetime]
    expires_at: Mapped[datetime]


def node_id() -> str:
    """A name for this process that is unique across the cluster and readable in the lease table."""
    return f"{socket.gethostname()[:60]}-{os.getpid()}-{secrets.token_hex(3)}"


class Leases(Protocol):
    holder: str
    distributed: bool
    renew_interval: float

    def acquire(self, name: str) -> tuple[bool, float]:
        """Take or keep the lease; (held, seconds until the current holder's lease expires if not)."""

    def valid(self, name: str) -> bool: ...

    def time_left(self, name: str) -> float:
        """Seconds this process may still trust the lease (0 when not held)."""

    def release(self, names: Iterable[str]) -> None: ...

    def held(self) -> list[str]: ...

    def renew(self) -> set[str]: ...

    def snapshot(self) -> dict[str, Any]: ...


class LocalLeases:
    """One process: every lease is granted at once and never lost."""

    distributed = False
    renew_interval = 1.0

    def __init__(self, holder: str | None = None) -> None:
        self.holder = holder or node_id()
        self._held: set[str] = set()

    def acquire(self, name: str) -> tuple[bool, float]:
        self._held.add(name)
        return True, 0.0

    def valid(self, name: str) -> bool:
        return True

    def time_left(self, name: str) -> float:
        return float("inf")

    def release(self, names: Iterable[str]) -> None:
        self._held.difference_update(names)

    def held(self) -> list[str]:
        return sorted(self._held)

    def renew(self) -> set[str]:
        return set()

    def snapshot(self) -> dict[str, Any]:
        return {"ok": True, "kind": "local", "holder": self.holder, "held": self.held()}


_ACQUIRE = text("""
INSERT INTO cluster_leases (name, holder, epoch, acquired_at, renewed_at, expires_at)
VALUES (:name, :holder, 1, clock_timestamp(), clock_timestamp(), clock_timestamp() + make_interval(secs => :ttl))
ON CONFLICT (name) DO UPDATE SET
  holder = EXCLUDED.holder,
  epoch = CASE WHEN cluster_leases.holder = EXCLUDED.holder THEN cluster_leases.epoch
               ELSE cluster_leases.epoch + 1 END,
  acquired_at = CASE WHEN cluster_leases.holder = EXCLUDED.holder THEN cluster_leases.acquired_at
                     ELSE EXCLUDED.acquired_at END,
  renewed_at = EXCLUDED.renewed_at,
  expires_at = EXCLUDED.expires_at
WHERE cluster_leases.holder = EXCLUDED.holder OR cluster_leases.expires_at < clock_timestamp()
RETURNING epoch
""")
_REMAINING = text("SELECT EXTRACT(EPOCH FROM expires_at - clock_timestamp()) FROM cluster_leases WHERE name = :name")
_RENEW = text("""
UPDATE cluster_leases SET renewed_at = clock_timestamp(), expires_at = clock_timestamp() + make_interval(secs => :ttl)
WHERE holder = :holder AND name = ANY(:names) AND expires_at > clock_timestamp()
RETURNING name
""")
_RELEASE = text("DELETE FROM cluster_leases WHERE holder = :holder AND name = ANY(:names)")
_ALL = text("SELECT name, holder, epoch, expires_at > clock_timestamp() AS live FROM cluster_leases "
            "WHERE name NOT LIKE 'delivery:%' ORDER BY name")


TRUST = 0.8  # fraction of the ttl a holder trusts a lease after the start of its last (re)newal


class DbLeases:
    """Leases in PostgreSQL, renewed by `LeaseKeeper`. Methods are blocking: call them off the event loop."""

    distributed = True

    def __init__(self, db: Database, holder: str | None = None, ttl_s: float = 10.0) -> None:
        if db.is_sqlite:
            raise ValueError("cluster leases need PostgreSQL (GRIDCELL_DATABASE_URL=postgresql+psycopg://…)")
        self.db = db
        self.holder = holder or node_id()
        self.ttl = ttl_s
        self.renew_interval = ttl_s / 3
        self.trusted = ttl_s * TRUST
        self._deadline: dict[str, float] = {}  # name -> local monotonic instant the lease is trusted until
        self._lock = threading.Lock()
        self.last_renew_ok: float | None = None
        self.last_error: str | None = None

    def acquire(self, name: str) -> tuple[bool, float]:
        start = time.monotonic()
        with self.db.engine.begin() as conn:
            epoch = conn.execute(_ACQUIRE, {"name": name, "holder": self.holder, "ttl": self.ttl}).scalar()
            remaining = None if epoch is not None else conn.execute(_REMAINING, {"name": name}).scalar()
        if epoch is None:
            return False, max(0.0, float(remaining or 0.0))
        with self._lock:
            self._deadline[name] = start + self.trusted
        return True, 0.0

    def valid(self, name: str) -> bool:
        deadline = self._deadline.get(name)
        return deadline is not None and time.monotonic() < deadline

    def time_left(self, name: str) -> float:
        deadline = self._deadline.get(name)
        return 0.0 if deadline is None else max(0.0, deadline - time.monotonic())

    def held(self) -> list[str]:
        with self._lock:
            return sorted(self._deadline)

    def renew(self) -> set[str]:
        """Extend every lease held; returns the names that were lost (expired and maybe taken over)."""
        names = self.held()
        if not names:
            self.last_renew_ok = time.monotonic()
            return set()
        start = time.monotonic()
        try:
            with self.db.engine.begin() as conn:
                kept = set(conn.execute(_RENEW, {"holder": self.holder, "names": names, "ttl": self.ttl}).scalars())
        except Exception as exc:  # the database is unreachable: leases run out locally at their deadline
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            raise
        lost = set(names) - kept
        with self._lock:
            for name in kept:
                if name in self._deadline:
                    self._deadline[name] = start + self.trusted
            for name in lost:
                self._deadline.pop(name, None)
        self.last_renew_ok, self.last_error = time.monotonic(), None
        return lost

    def release(self, names: Iterable[str]) -> None:
        names = sorted(set(names))
        if not names:
            return
        with self._lock:
            for name in names:
                self._deadline.pop(name, None)
        with self.db.engine.begin() as conn:
            conn.execute(_RELEASE, {"holder": self.holder, "names": names})

    def table(self) -> list[dict[str, Any]]:
        """Every singleton lease in the cluster (delivery leases are per subscription and many)."""
        with self.db.engine.connect() as conn:
            return [{"name": r.name, "holder": r.holder, "epoch": r.epoch, "live": bool(r.live)}
                    for r in conn.execute(_ALL)]

    def snapshot(self) -> dict[str, Any]:
        age = None if self.last_renew_ok is None else time.monotonic() - self.last_renew_ok
        ok = age is not None and age < self.ttl
        return {"ok": ok, "kind": "postgresql", "holder": self.holder, "ttl_s": self.ttl,
                "last_renewal_s_ago": None if age is None else round(age, 3), "error": self.last_error,
                "held": [n for n in self.held() if self.valid(n)]}


class LeaseKeeper:
    """Renews this node's leases every `renew_interval` seconds."""

    def __init__(self, leases: Leases) -> None:
        self.leases = leases
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.leases.distributed:
            self.task = asyncio.create_task(self._run(), name="lease-keeper")

    async def _run(self) -> None:
        while True:
            try:
                lost = await asyncio.to_thread(self.leases.renew)
                for name in sorted(lost):
                    log.warning("lease %s lost by %s", name, self.leases.holder)
            except Exception:
                log.exception("lease renewal failed; held leases lapse at their deadline")
            await asyncio.sleep(self.leases.renew_interval)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        held = self.leases.held()
        if held:
            try:  # hand over at once instead of after the ttl
                await asyncio.to_thread(self.leases.release, held)
            except Exception:
                log.exception("releasing leases on shutdown failed; they expire after their ttl")


def leases_of(owner: Any) -> Leases | None:
    """The leases of an app (`app.state.leases`), or `owner` itself if it is a Leases."""
    if hasattr(owner, "acquire") and hasattr(owner, "valid"):
        return owner
    state = getattr(owner, "state", None)
    return getattr(state, "leases", None)


async def supervised(name: str, job: Callable[[], Awaitable[Any]], *, retry_s: float = 5.0) -> None:
    """Run `job()` until it returns; when it fails, log it with its name, count it and run it again after a
    pause (doubling up to 60 s): a background loop never dies silently."""
    pause = retry_s
    while True:
        try:
            await job()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background job %s failed; it runs again in %.0f s", name, pause)
            RESTARTS.labels(name).inc()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 60.0)


async def singleton(owner: Any, name: str, job: Callable[[], Awaitable[Any]], *, retry_s: float = 5.0) -> None:
    """Run `job()` on exactly one node of the cluster at a time; move it when its holder dies.

    `owner` is the FastAPI app (its `state.leases`) or a Leases. Without distributed leases (the embedded
    default) the job simply runs here. Otherwise this node waits for the lease named `name`, runs the job
    while it holds the lease, cancels the job the moment the lease can no longer be trusted, and competes
    for it again. Jobs are loops that must tolerate being cancelled and restarted elsewhere.
    """
    leases = leases_of(owner)
    if leases is None or not leases.distributed:
        await supervised(name, job, retry_s=retry_s)
        return
    lease = f"job:{name}"
    while True:
        try:
            held, remaining = await asyncio.to_thread(leases.acquire, lease)
        except Exception:
            log.exception("singleton %s: lease acquisition failed", name)
            held, remaining = False, leases.renew_interval
        if not held:
            await asyncio.sleep(min(max(remaining, 0.05), leases.renew_interval))
            continue
        log.info("singleton %s: running on %s", name, leases.holder)
        task = asyncio.ensure_future(job())
        try:
            while not task.done() and leases.valid(lease):  # stop at the deadline, before anyone may take over
                await asyncio.wait({task}, timeout=min(leases.time_left(lease) + 0.001, leases.renew_interval))
        finally:
            if not task.done():
                task.cancel()
                try:
                    await task
                except BaseException:
                    pass
        if task.cancelled():
            log.warning("singleton %s: lease lost by %s; stopped here", name, leases.holder)
            continue
        exc = task.exception()
        if exc is not None:
            log.error("singleton %s failed on %s: %r; retrying", name, leases.holder, exc)
        await asyncio.to_thread(leases.release, [lease])
        await asyncio.sleep(retry_s)
