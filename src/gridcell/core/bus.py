"""The event bus: committed facts fan out to in-process listeners (delivery workers, SSE streams).

The bus carries only what is already durable in the database, so a lost message costs latency,
never data: every listener can rebuild its view from the store. The in-process implementation
is the embedded default; a networked bus (NATS JetStream) implements the same interface.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

Listener = Callable[[Any], None]
# dataclass field metadata: the field stays in this process (secrets, large bodies); a networked bus leaves it
# out and the receiving process sees None (e.g. an outbox wake-up without the payload: the outbox has it).
LOCAL_ONLY = {"bus": "local"}


@dataclass(frozen=True)
class Message:
    topic: str
    payload: Any


class Bus(Protocol):
    def publish(self, topic: str, payload: Any) -> None: ...

    def subscribe(self, topic: str, listener: Listener) -> Callable[[], None]:
        """Fan-out: every subscriber in every process sees every message published on the topic."""

    def subscribe_group(self, topic: str, group: str, listener: Listener) -> Callable[[], None]:
        """Work queue: each message is handled by one member of `group` across the cluster."""

    def health(self) -> dict[str, Any]: ...


class InProcessBus:
    """Thread-safe publish; listeners are called on the publisher's thread or on a bound asyncio loop."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._groups: dict[tuple[str, str], list[Listener]] = {}
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: Any) -> None:
        with self._lock:
            listeners = list(self._listeners.get(topic, ())) + list(self._listeners.get("*", ()))
        for listener in listeners:
            listener(Message(topic, payload) if topic != "*" else payload)

    def subscribe(self, topic: str, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners[topic].append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners.get(topic, []):
                    self._listeners[topic].remove(listener)

        return unsubscribe

    def subscribe_group(self, topic: str, group: str, listener: Listener) -> Callable[[], None]:
        """Each message goes to one member of the group (round robin among this process's members)."""
        key = (topic, group)
        with self._lock:
            members = self._groups.get(key)
            first = members is None
            if members is None:
                members = self._groups[key] = []
            members.append(listener)
        if first:
            turn = iter(range(1 << 62))

            def dispatch(message: Any) -> None:
                with self._lock:
                    current = list(self._groups.get(key, ()))
                if current:
                    current[next(turn) % len(current)](message)

            self.subscribe(topic, dispatch)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._groups.get(key, []):
                    self._groups[key].remove(listener)

        return unsubscribe

    def health(self) -> dict[str, Any]:
        return {"ok": True, "kind": "in-process"}


def on_loop(loop: asyncio.AbstractEventLoop, listener: Listener) -> Listener:
    """Wrap a listener so it runs on the given event loop, whichever thread publishes."""

    def call(message: Any) -> None:
        if loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            listener(message)
        else:
            loop.call_soon_threadsafe(listener, message)

    return call
