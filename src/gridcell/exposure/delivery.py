"""Webhook delivery: at-least-once, in order per subscription, retried with exponential backoff.

Each subscription has one worker task. The happy path needs no database read: the after-commit
message carries the payload. The outbox stays the source of truth: a worker that sees a gap in
sequence numbers, restarts, or retries reads from it.

In a cluster (distributed `leases`), one process at a time delivers a given subscription: its worker
holds the lease `delivery:<subscription id>` and checks it before every POST. A worker that cannot get
the lease stands by until the holder's lease would expire; when the holder dies, the lease expires,
a standby takes it and resumes from the first undelivered outbox row. Wake-ups from other processes
carry no payload (the bus message is only a hint). A row delivered by a process that died before it
recorded the delivery is delivered again, with the same notificationId and sequence number.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from gridcell.core import prepared
from gridcell.core.bus import Bus, Message, on_loop
from gridcell.core.clock import as_utc, utcnow
from gridcell.core.db import Database
from gridcell.core.leases import Leases
from gridcell.core.metrics import RESTARTS
from gridcell.core.security import sign
from gridcell.core.webhook_http import WebhookClient, WebhookHTTPError
from gridcell.exposure import listener_target, subscriptions
from gridcell.exposure.models import OutboxRow, Subscription
from gridcell.exposure.subscriptions import OUTBOX_TOPIC, OutboxMessage

log = logging.getLogger(__name__)

DELIVERED = Counter("gridcell_webhook_deliveries_total", "Webhook delivery attempts", ["result"])
LATENCY = Histogram("gridcell_delivery_latency_seconds", "Commit of a status change to webhook 2xx",
                    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
_OK, _ERROR, _REJECTED = DELIVERED.labels("ok"), DELIVERED.labels("error"), DELIVERED.labels("rejected")
OUTBOX_PAGE = 200  # undelivered rows read at a time (start, restart, gap, retry)
MAX_QUEUED = 1000  # offered notifications a worker holds in memory; beyond, the outbox holds them (read later)
RESTART_BACKOFF_S = (0.5, 30.0)  # first and longest wait before a failed worker or loop runs again
ACK_LINGER_S = 0.05  # how long delivery marks wait for another unit of work to carry them
# Rides along every ingest unit of work: one driver executemany, not an ORM bulk update (~0.8 ms each).
_MARK_DELIVERED = (update(OutboxRow).where(OutboxRow.notification_id == bindparam("nid"))
                   .values(delivered_at=bindparam("at")))


@dataclass
class _Item:
    seq: int
    notification_id: str
    payload: bytes
    attempts: int
    created: float
    kind: str | None = None  # addresses the listener path of a TMF hub registration


class _Worker:
    def __init__(self, service: DeliveryService, sub_id: str) -> None:
        self.service = service
        self.sub_id = sub_id
        self.queue: deque[_Item] = deque()
        self.wake = asyncio.Event()
        self.next_seq: int | None = None  # the next sequence number to deliver; None = ask the outbox
        self.more = False  # the last outbox read filled a page: more undelivered rows may follow it
        self.callback: str | None = None
        self.secret = ""
        self.listener: dict[str, Any] | None = None
        self._auth: tuple[dict[str, Any] | None, listener_target.Headers] = (None, ())
        self.task: asyncio.Task[None] | None = None
        self.lease = f"delivery:{sub_id}"
        self.owned = False

    def offer(self, msg: OutboxMessage) -> None:
        assert msg.payload is not None
        if self.service.leases is not None and not self.owned:
            self.wake.set()  # another process delivers, or this one will claim it and read the outbox
            return
        self.callback, self.secret, self.listener = msg.callback_uri, msg.secret or "", msg.listener
        if len(self.queue) >= MAX_QUEUED:  # a subscriber that is down: its backlog waits in the outbox, not here
            self.more = True
        else:
            self.queue.append(_Item(msg.seq, msg.notification_id, msg.payload, 0, time.monotonic(), msg.kind))
        self.wake.set()

    def hint(self) -> None:
        """Rows were committed elsewhere: read the outbox after the current position."""
        self.more = True
        self.wake.set()

    def auth_headers(self) -> listener_target.Headers:
        """The listener's credential headers, opened once per change of the subscription's settings."""
        if self._auth[0] is not self.listener:
            self._auth = (self.listener, listener_target.auth_headers(self.listener))
        return self._auth[1]

    def _own(self) -> bool:
        leases = self.service.leases
        return leases is None or leases.valid(self.lease)

    async def run(self) -> None:
        """Supervised: a failure (the store down while recording an attempt, reading the outbox, ...) is logged
        and counted, and the worker starts again after a growing pause, re-reading its backlog from the outbox."""
        pause = RESTART_BACKOFF_S[0]
        try:
            while not self.service.stopping:
                try:
                    await self._run()
                    return
                except Exception:
                    RESTARTS.labels("delivery").inc()
                    log.exception("delivery worker of %s failed; it restarts in %.1f s from the outbox",
                                  self.sub_id, pause)
                    self.queue.clear()
                    self.next_seq, self.more = None, False
                    try:
                        await asyncio.wait_for(self.service.stop_event.wait(), timeout=pause)
                    except TimeoutError:
                        pass
                    pause = min(pause * 2, RESTART_BACKOFF_S[1])
        finally:
            if self.owned and self.service.leases is not None and not self.service.stopping:
                await self.service.release(self)

    async def _run(self) -> None:
        svc = self.service
        while not svc.stopping:
            if not self._own():
                self.queue.clear()
                self.next_seq, self.more, self.owned = None, False, False
                claimed = await svc.claim(self)
                if claimed is None:  # deleted, or no webhook
                    return
                if claimed > 0:  # another process delivers: stand by until its lease would expire
                    try:
                        await asyncio.wait_for(svc.stop_event.wait(), timeout=claimed)
                    except TimeoutError:
                        pass
                    continue
                self.owned = True
            while self.queue and self.next_seq is not None and self.queue[0].seq < self.next_seq:
                self.queue.popleft()  # delivered already (read from the outbox, then offered again)
            if self.queue and self.queue[0].seq == self.next_seq:
                await self._deliver(self.queue[0])
                continue
            if self.next_seq is not None and not self.queue and not self.more:
                self.wake.clear()
                if svc.leases is None:  # caught up: sleep until the next commit for this subscription
                    await self.wake.wait()
                    continue
                try:
                    async with asyncio.timeout(svc.idle_s):  # no extra task per wait, unlike wait_for
                        await self.wake.wait()
                except TimeoutError:  # idle in a cluster: let any process take it next time
                    return
                continue
            # Position unknown (start, restart) or a gap in sequence numbers: the outbox decides.
            items = await svc.load_undelivered(self, self.next_seq or 0)
            if items is None:  # subscription deleted
                return
            self.more = len(items) >= OUTBOX_PAGE
            if not items:
                self.queue.clear()
                self.next_seq = None
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=svc.idle_s)
                except TimeoutError:
                    if svc.leases is not None:
                        return
                continue
            self.queue.extendleft(reversed(items))
            self.next_seq = items[0].seq

    async def _deliver(self, item: _Item) -> None:
        while not self.service.stopping:
            if not self._own():  # the lease ran out (e.g. the database was unreachable): stop here
                return
            error = await self.service.post(self, item)
            if error is None:
                self.queue.popleft()
                self.next_seq = item.seq + 1
                self.service.mark_delivered(item.notification_id)
                LATENCY.observe(time.monotonic() - item.created)
                return
            item.attempts += 1
            delay = min(self.service.base_backoff * (2 ** (item.attempts - 1)), self.service.max_backoff)
            await self.service.record_failure(item.notification_id, item.attempts, error, delay)
            try:
                await asyncio.wait_for(self.service.stop_event.wait(), timeout=delay)
            except TimeoutError:
                pass


class DeliveryService:
    def __init__(self, db: Database, bus: Bus, *, timeout_s: float = 5.0, base_backoff_s: float = 0.5,
                 max_backoff_s: float = 4.0, concurrency: int = 64, leases: Leases | None = None,
                 idle_s: float = 30.0, allow_private: bool = False, tls: ssl.SSLContext | None = None) -> None:
        self.db, self.bus = db, bus
        # Distributed leases: one process per subscription at a time (None: this process delivers everything).
        self.leases = leases if leases is not None and leases.distributed else None
        self.idle_s = idle_s
        self.allow_private = allow_private
        self.tls = tls  # for https targets; None: the system's CAs
        self._no_webhook: set[str] = set()
        self._scan_task: asyncio.Task[None] | None = None
        self.timeout_s = timeout_s
        self.base_backoff, self.max_backoff = base_backoff_s, max_backoff_s
        self.workers: dict[str, _Worker] = {}
        self.stopping = False
        self.stop_event = asyncio.Event()
        self._limit = asyncio.Semaphore(concurrency)
        self._client: WebhookClient | None = None
        self._unsubscribe: Any = None
        self._acks: list[str] = []
        self._ack_lock = threading.Lock()  # marks are added on the loop, written from worker threads
        self._ack_task: asyncio.Task[None] | None = None
        self._ack_wake = asyncio.Event()
        self._unride: Callable[[], None] | None = None
        # Where each webhook subscription with nothing undelivered stands at start: its first worker
        # delivers the next offered message directly instead of asking the outbox (one process only).
        self._start_positions: dict[str, int] = {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._client = WebhookClient(self.timeout_s, self.tls, allow_private=self.allow_private)
        self._unsubscribe = self.bus.subscribe(OUTBOX_TOPIC, on_loop(loop, self._on_message))
        self._unride = self.db.ride_along(self._ride_along)
        self._ack_task = asyncio.create_task(self._ack_loop())
        if self.leases is None:
            self._start_positions = await asyncio.to_thread(self._positions)
        await self._scan_backlog()
        if self.leases is not None:  # subscriptions whose delivering process died get a new one
            self._scan_task = asyncio.create_task(self._scan_loop(), name="delivery-backlog-scan")

    def _positions(self) -> dict[str, int]:
        with self.db.read() as session:
            return subscriptions.delivery_positions(session)

    async def _scan_backlog(self) -> None:
        def backlog() -> list[str]:
            with self.db.read() as session:
                return [s.id for s in subscriptions.subscriptions_with_backlog(session)]

        for sub_id in await asyncio.to_thread(backlog):
            self._worker(sub_id)

    async def _scan_loop(self) -> None:
        assert self.leases is not None
        while not self.stopping:
            await asyncio.sleep(self.leases.renew_interval * 2)
            try:
                await self._scan_backlog()
            except Exception:
                log.exception("outbox backlog scan failed")

    async def stop(self, grace_s: float = 5.0) -> None:
        """Finish the POSTs in flight, record them, then hand the subscriptions over (release the leases)."""
        self.stopping = True
        self.stop_event.set()
        if self._scan_task is not None:
            self._scan_task.cancel()
        for w in self.workers.values():
            w.wake.set()
        tasks = [w.task for w in self.workers.values() if w.task]
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        if self._unsubscribe:
            self._unsubscribe()
        self._ack_wake.set()
        if self._ack_task:
            await self._ack_task
        if self._unride:
            self._unride()
        if self.leases is not None:
            owned = [w.lease for w in self.workers.values() if w.owned]
            try:
                await asyncio.to_thread(self.leases.release, owned)
            except Exception:
                log.exception("releasing delivery leases failed; they expire after their ttl")
        if self._client:
            await self._client.close()

    def _on_message(self, message: Message) -> None:
        msg = message.payload
        if not isinstance(msg, OutboxMessage) or self.stopping:
            return
        if msg.payload is None:  # committed by another process: a wake-up, the outbox has the row
            if msg.subscription_id not in self._no_webhook:
                self._worker(msg.subscription_id).hint()
        elif msg.callback_uri:
            self._worker(msg.subscription_id).offer(msg)

    def owned(self) -> list[str]:
        return sorted(w.sub_id for w in self.workers.values() if w.owned and w.task and not w.task.done())

    async def claim(self, worker: _Worker) -> float | None:
        """Take the subscription's lease: 0 = ours, > 0 = seconds to stand by, None = nothing to deliver."""
        assert self.leases is not None
        leases = self.leases

        def take() -> float | None:
            with self.db.read() as session:
                sub = session.get(Subscription, worker.sub_id)
                if sub is None or sub.callback_uri is None:
                    return None
            held, remaining = leases.acquire(worker.lease)
            return 0.0 if held else min(max(remaining, 0.0) + 0.05, leases.renew_interval * 3)

        try:
            result = await asyncio.to_thread(take)
        except Exception:
            log.exception("claiming subscription %s failed", worker.sub_id)
            return leases.renew_interval
        if result is None:
            self._no_webhook.add(worker.sub_id)
        return result

    async def release(self, worker: _Worker) -> None:
        assert self.leases is not None
        worker.owned = False
        try:
            await asyncio.to_thread(self.leases.release, [worker.lease])
        except Exception:
            log.exception("releasing %s failed; it expires after its ttl", worker.lease)

    def _worker(self, sub_id: str) -> _Worker:
        w = self.workers.get(sub_id)
        if w is None or (w.task is not None and w.task.done()):
            w = _Worker(self, sub_id)
            w.next_seq = self._start_positions.pop(sub_id, None)
            self.workers[sub_id] = w
            w.task = asyncio.create_task(w.run(), name=f"deliver-{sub_id}")
        return w

    async def load_undelivered(self, worker: _Worker, min_seq: int) -> list[_Item] | None:
        def load() -> tuple[Subscription | None, list[OutboxRow]]:
            with self.db.read() as session:
                sub = session.get(Subscription, worker.sub_id)
                return sub, (subscriptions.undelivered(session, worker.sub_id, min_seq, limit=OUTBOX_PAGE)
                             if sub else [])

        sub, rows = await asyncio.to_thread(load)
        if sub is None or sub.callback_uri is None:
            return None
        worker.callback, worker.secret, worker.listener = sub.callback_uri, sub.secret, subscriptions.listener_of(sub)
        now = time.monotonic()
        return [_Item(r.seq, r.notification_id, r.payload.encode(), r.attempts,
                      now - max(0.0, (utcnow() - as_utc(r.created_at)).total_seconds()), r.kind) for r in rows]

    async def post(self, worker: _Worker, item: _Item) -> str | None:
        assert self._client is not None and worker.callback is not None
        headers: listener_target.Headers = (
            ("Content-Type", "application/json"), ("X-Gridcell-Signature", sign(worker.secret, item.payload)),
            ("X-Gridcell-Notification-Id", item.notification_id), ("X-Gridcell-Sequence", str(item.seq)))
        target = worker.callback
        if worker.listener is not None:
            try:
                headers += worker.auth_headers()
            except (ValueError, KeyError) as exc:  # a key removed from GRIDCELL_SECRET_KEYS: retried, recorded
                _ERROR.inc()
                return f"listener credentials: {exc}"[:500]
            target = listener_target.url(target, worker.listener, item.kind)
        async with self._limit:
            try:
                status = await self._client.post(target, item.payload, headers)
            except (OSError, WebhookHTTPError, TimeoutError, ValueError) as exc:
                _ERROR.inc()
                return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= status < 300:
            _OK.inc()
            return None
        _REJECTED.inc()
        return f"HTTP {status}"

    def mark_delivered(self, notification_id: str) -> None:
        with self._ack_lock:
            self._acks.append(notification_id)
        self._ack_wake.set()

    async def _ack_loop(self) -> None:
        """Delivery marks ride along the next unit of work anyone commits (`Database.ride_along`); only when
        nobody writes within ACK_LINGER_S does a short unit of work of their own carry them. A failed write
        keeps the marks (the unit of work's undo puts them back) and tries again after a pause."""
        pause = RESTART_BACKOFF_S[0]
        while True:
            await self._ack_wake.wait()
            self._ack_wake.clear()
            await asyncio.sleep(ACK_LINGER_S)
            if self._acks:
                try:
                    await asyncio.to_thread(self._write_acks)
                    pause = RESTART_BACKOFF_S[0]
                except Exception:
                    RESTARTS.labels("delivery_marks").inc()
                    log.exception("writing %d delivery marks failed; retrying in %.1f s", len(self._acks), pause)
                    if self.stopping:
                        return  # unmarked rows are delivered again after a restart (at-least-once)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, RESTART_BACKOFF_S[1])
                    self._ack_wake.set()
                    continue
            if self.stopping and not self._acks:
                return

    def _write_acks(self) -> None:
        with self.db.write():
            pass  # _ride_along writes the marks

    def _ride_along(self, session: Session) -> Callable[[], None] | None:
        with self._ack_lock:
            batch, self._acks = self._acks, []
        if not batch:
            return None
        now = utcnow()
        prepared.execute_many(session, _MARK_DELIVERED, [{"nid": nid, "at": now} for nid in batch])

        def undo() -> None:  # the unit of work rolled back: the marks wait for the next one
            with self._ack_lock:
                self._acks[:0] = batch

        return undo

    async def record_failure(self, notification_id: str, attempts: int, error: str, delay_s: float) -> None:
        def write() -> None:
            with self.db.write() as session:
                session.execute(update(OutboxRow).where(OutboxRow.notification_id == notification_id).values(
                    attempts=attempts, last_error=error, next_attempt_at=utcnow() + timedelta(seconds=delay_s)))

        await asyncio.to_thread(write)
