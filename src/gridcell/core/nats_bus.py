"""The bus on NATS JetStream, for several gridcell processes sharing one PostgreSQL.

Same interface as `InProcessBus`:

* `publish(topic, payload)` hands the payload to this process's subscribers at once (no network hop for
  the process that committed) and appends it to a JetStream stream: `<P>_DELIVERIES` for delivery
  wake-ups (outbox rows), `<P>_EVENTS` for everything else (subjects `<p>.deliveries.<topic>` and
  `<p>.events.<topic>`; P/p is the `GRIDCELL_BUS_PREFIX`). Messages queued together are sent as one
  batch message per subject, so a commit of 150 outbox rows costs one JetStream publish, not 150.
* `subscribe(topic, listener)` is fan-out: every process sees every message (SSE streams, delivery
  wake-ups). Other processes' messages arrive on a subscription to the stream subjects.
* `subscribe_group(topic, group, listener)` is a work queue: a durable JetStream pull consumer named
  after the group, shared by every process, so each message is handled by one process per group and
  redelivered (to any member) if that process dies before acknowledging it.

Payloads are dataclasses from `gridcell.*`, encoded as JSON; fields marked `LOCAL_ONLY` are not sent.
Everything on the bus is already committed to the database; a message lost with the bus costs latency,
never data (subscribers re-read the store on a timer).

The client runs its own event loop on a daemon thread: `publish` is called from request threads and
worker threads, and listeners are called there (wrap them with `on_loop`, as for the in-process bus).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import importlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

import nats
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from gridcell.core.bus import Listener, Message

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_C = TypeVar("_C")
ORIGIN = "Gridcell-Origin"
PUBLISH_BATCH = 1000  # payloads per JetStream message at most
DELIVERY_MAX_AGE_S = 600.0
STREAM_MAX_BYTES = 1 << 30


# ---- codec ------------------------------------------------------------------------------------------


def _enc(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        sent = [f for f in dataclasses.fields(value) if f.metadata.get("bus") != "local"]
        return {"$dc": encode_type(type(value)), "f": {f.name: _enc(getattr(value, f.name)) for f in sent}}
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode()}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_enc(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _enc(v) for k, v in value.items()}
    return value


def encode_type(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


_types: dict[str, type] = {}


def register_type(cls: type[_C]) -> type[_C]:
    """Allow a dataclass from outside `gridcell.*` on the bus (decoding imports only gridcell's by name)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    _types[encode_type(cls)] = cls
    return cls


def _resolve(name: str) -> type:
    cls = _types.get(name)
    if cls is None:
        module, _, qualname = name.partition(":")
        if not module.startswith("gridcell.") or "." in qualname:
            raise ValueError(f"refusing to decode bus type {name!r}")
        found = getattr(importlib.import_module(module), qualname)
        if not (isinstance(found, type) and dataclasses.is_dataclass(found)):
            raise ValueError(f"bus type {name!r} is not a dataclass")
        cls = _types[name] = found
    return cls


def _dec(value: Any) -> Any:
    if isinstance(value, dict):
        if "$dc" in value:
            cls = _resolve(value["$dc"])
            given = value["f"]
            kwargs = {f.name: _dec(given[f.name]) if f.name in given else None
                      for f in dataclasses.fields(cls) if f.init}
            return cls(**kwargs)
        if "$b" in value and len(value) == 1:
            return base64.b64decode(value["$b"])
        if "$dt" in value and len(value) == 1:
            return datetime.fromisoformat(value["$dt"])
        return {k: _dec(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dec(v) for v in value]
    return value


def encode(payloads: list[Any]) -> bytes:
    return orjson.dumps([_enc(p) for p in payloads])


def decode(data: bytes) -> list[Any]:
    return [_dec(p) for p in orjson.loads(data)]


# ---- the bus ----------------------------------------------------------------------------------------


class NatsBus:
    def __init__(self, url: str, *, prefix: str = "gridcell", node: str = "node",
                 delivery_topics: set[str] | None = None, replicas: int = 1, max_age_s: float = 24 * 3600.0,
                 connect_timeout_s: float = 5.0) -> None:
        self.url, self.node, self.replicas, self.max_age_s = url, node, replicas, max_age_s
        self.connect_timeout_s = connect_timeout_s
        self.subject_prefix = prefix.lower()
        self.stream_prefix = prefix.upper().replace(".", "_").replace("-", "_")
        self.delivery_topics = set(delivery_topics or ())
        self.streams = {"events": f"{self.stream_prefix}_EVENTS", "deliveries": f"{self.stream_prefix}_DELIVERIES"}
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._queue: asyncio.Queue[tuple[str, Any]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._group_tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._groups: dict[tuple[str, str], list[Listener]] = defaultdict(list)
        self.published = 0
        self.received = 0
        self.publish_errors = 0
        self.last_error: str | None = None
        self.closed = False

    # -- naming

    def kind_of(self, topic: str) -> str:
        return "deliveries" if topic in self.delivery_topics else "events"

    def subject(self, topic: str) -> str:
        return f"{self.subject_prefix}.{self.kind_of(topic)}.{topic}"

    def _topic_of(self, subject: str) -> str:
        return subject.split(".", 2)[2]

    # -- lifecycle (blocking; call from a thread or before the app's loop runs)

    def start(self) -> None:
        if self._thread is not None:
            return
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="nats-bus", daemon=True)
        self._thread.start()
        ready.wait()
        try:
            self._call(self._connect(), timeout=self.connect_timeout_s + 10)
        except BaseException:
            self.close()
            raise

    def _call(self, coro: Coroutine[Any, Any, _T], timeout: float = 10.0) -> _T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _connect(self) -> None:
        async def error_cb(exc: Exception) -> None:
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("NATS: %s", self.last_error)

        async def disconnected_cb() -> None:
            if not self.closed:
                log.warning("NATS disconnected from %s", self.url)

        async def reconnected_cb() -> None:
            log.warning("NATS reconnected to %s", self.url)

        self._nc = await nats.connect(servers=self.url.split(","), name=f"gridcell {self.node}",
                                      connect_timeout=self.connect_timeout_s, max_reconnect_attempts=-1,
                                      reconnect_time_wait=0.5, error_cb=error_cb,
                                      disconnected_cb=disconnected_cb, reconnected_cb=reconnected_cb)
        self._js = self._nc.jetstream()
        for kind, name in self.streams.items():
            # Delivery wake-ups matter for seconds (the outbox is the truth): keep them briefly. Events keep
            # for `max_age_s` so a group consumer that was down catches up. Both bounded in size.
            max_age = min(self.max_age_s, DELIVERY_MAX_AGE_S) if kind == "deliveries" else self.max_age_s
            config = StreamConfig(name=name, subjects=[f"{self.subject_prefix}.{kind}.>"],
                                  retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
                                  num_replicas=self.replicas, max_age=max_age, max_bytes=STREAM_MAX_BYTES,
                                  duplicate_window=120.0)
            try:
                await self._js.add_stream(config)
            except Exception:  # exists with another configuration (e.g. max_age changed): converge
                await self._js.update_stream(config)
        self._queue = asyncio.Queue()
        await self._nc.subscribe(f"{self.subject_prefix}.*.>", cb=self._on_fanout)
        self._tasks.append(asyncio.create_task(self._publisher(), name="nats-publisher"))
        with self._lock:
            pending = list(self._groups)
        for key in pending:
            self._ensure_group(*key)

    def close(self) -> None:
        """Flush what is queued, stop the consumers, close the connection and the loop thread."""
        if self.closed:
            return
        self.closed = True
        if self._loop is not None and self._loop.is_running():
            try:
                self._call(self._close(), timeout=10)
            except Exception:
                log.exception("closing the NATS connection failed")
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    async def _close(self) -> None:
        if self._queue is not None:
            deadline = time.monotonic() + 3
            while not self._queue.empty() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        for task in [*self._tasks, *self._group_tasks.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._group_tasks.values(), return_exceptions=True)
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()

    def delete_streams(self) -> None:
        """Remove this prefix's streams (tests, benchmarks)."""
        async def delete() -> None:
            assert self._js is not None
            for name in self.streams.values():
                try:
                    await self._js.delete_stream(name)
                except NotFoundError:
                    pass

        self._call(delete())

    # -- publish

    def publish(self, topic: str, payload: Any) -> None:
        with self._lock:
            listeners = list(self._listeners.get(topic, ())) + list(self._listeners.get("*", ()))
        for listener in listeners:
            listener(Message(topic, payload))
        loop, queue = self._loop, self._queue
        if loop is None or queue is None or self.closed or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (topic, payload))
        except RuntimeError:  # the loop closed under us (shutdown)
            pass

    async def _publisher(self) -> None:
        assert self._queue is not None and self._js is not None
        js, queue = self._js, self._queue
        while True:
            first = await queue.get()
            by_topic: dict[str, list[Any]] = defaultdict(list)
            by_topic[first[0]].append(first[1])
            while not queue.empty():
                topic, payload = queue.get_nowait()
                by_topic[topic].append(payload)
            sends = []
            for topic, payloads in by_topic.items():
                for i in range(0, len(payloads), PUBLISH_BATCH):
                    chunk = payloads[i:i + PUBLISH_BATCH]
                    try:
                        data = encode(chunk)
                    except (TypeError, ValueError) as exc:
                        log.error("bus payload on %s not encodable: %s", topic, exc)
                        continue
                    sends.append((len(chunk), js.publish(self.subject(topic), data, timeout=5,
                                                         headers={ORIGIN: self.node})))
            results = await asyncio.gather(*(s for _, s in sends), return_exceptions=True)
            for (n, _), result in zip(sends, results, strict=True):
                if isinstance(result, BaseException):
                    self.publish_errors += n
                    self.last_error = f"publish: {type(result).__name__}: {result}"[:300]
                    log.warning("NATS publish failed (%d message(s); the outbox still has them): %s", n, result)
                else:
                    self.published += n

    # -- fan-out

    def subscribe(self, topic: str, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners[topic].append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners.get(topic, []):
                    self._listeners[topic].remove(listener)

        return unsubscribe

    async def _on_fanout(self, msg: Msg) -> None:
        if (msg.headers or {}).get(ORIGIN) == self.node:
            return  # our own: delivered to local listeners when published
        topic = self._topic_of(msg.subject)
        with self._lock:
            listeners = list(self._listeners.get(topic, ())) + list(self._listeners.get("*", ()))
        if not listeners:
            return
        try:
            payloads = decode(msg.data)
        except Exception as exc:
            log.warning("undecodable bus message on %s: %s", msg.subject, exc)
            return
        self.received += len(payloads)
        for payload in payloads:
            for listener in listeners:
                try:
                    listener(Message(topic, payload))
                except Exception:
                    log.exception("bus listener failed on %s", topic)

    # -- work queues

    def subscribe_group(self, topic: str, group: str, listener: Listener) -> Callable[[], None]:
        key = (topic, group)
        with self._lock:
            self._groups[key].append(listener)
        if self._loop is not None and self._js is not None:
            self._loop.call_soon_threadsafe(self._ensure_group, topic, group)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._groups.get(key, []):
                    self._groups[key].remove(listener)

        return unsubscribe

    def _ensure_group(self, topic: str, group: str) -> None:
        key = (topic, group)
        if key not in self._group_tasks:
            self._group_tasks[key] = asyncio.create_task(self._consume(topic, group), name=f"nats-group-{group}")

    def consumer_name(self, topic: str, group: str) -> str:
        safe = "".join(c if c.isalnum() else "_" for c in f"{group}_{topic}")
        return f"{self.stream_prefix}_{safe}"

    async def _consume(self, topic: str, group: str) -> None:
        assert self._js is not None
        key = (topic, group)
        durable = self.consumer_name(topic, group)
        stream = self.streams[self.kind_of(topic)]
        config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=30.0,
                                max_deliver=20, deliver_policy=DeliverPolicy.ALL, filter_subject=self.subject(topic))
        turn = 0
        while True:
            try:
                sub = await self._js.pull_subscribe(self.subject(topic), durable=durable, stream=stream, config=config)
                while True:
                    try:
                        msgs = await sub.fetch(batch=64, timeout=1.0)
                    except (TimeoutError, NatsTimeoutError):
                        continue
                    for msg in msgs:
                        with self._lock:
                            members = list(self._groups.get(key, ()))
                        if not members:
                            await msg.nak(delay=1.0)
                            continue
                        try:
                            for payload in decode(msg.data):
                                turn += 1
                                members[turn % len(members)](Message(topic, payload))
                        except Exception:
                            log.exception("group %s failed on a message of %s; redelivering", group, topic)
                            await msg.nak(delay=1.0)
                            continue
                        await msg.ack()
                        self.received += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection trouble: the durable consumer keeps our place
                self.last_error = f"group {group}: {type(exc).__name__}: {exc}"[:300]
                log.warning("NATS group consumer %s: %s; retrying", durable, exc)
                await asyncio.sleep(1.0)

    # -- health

    def health(self) -> dict[str, Any]:
        nc = self._nc
        connected = bool(nc is not None and nc.is_connected)
        return {"ok": connected and not self.closed, "kind": "nats-jetstream", "url": self.url,
                "connected": connected, "streams": list(self.streams.values()),
                "published": self.published, "received": self.received, "publish_errors": self.publish_errors,
                "error": self.last_error}

    async def check(self, timeout_s: float = 2.0) -> dict[str, Any]:
        """`health()` plus a round trip to JetStream (stream info of both streams)."""
        detail = self.health()
        if not detail["ok"] or self._loop is None:
            return detail

        async def probe() -> dict[str, int]:
            assert self._js is not None
            out = {}
            for name in self.streams.values():
                info = await self._js.stream_info(name)
                out[name] = info.state.messages
            return out

        started = time.perf_counter()
        try:
            fut = asyncio.run_coroutine_threadsafe(asyncio.wait_for(probe(), timeout_s), self._loop)
            detail["stream_messages"] = await asyncio.wait_for(asyncio.wrap_future(fut), timeout_s + 0.5)
            detail["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        except Exception as exc:
            detail.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:300])
        return detail
