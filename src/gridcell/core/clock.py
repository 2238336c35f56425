"""One clock for every time-dependent decision, so the simulator can run a year through the same code."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """Virtual time, moved explicitly by tests and the simulator."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


_clock: Clock = SystemClock()


def get_clock() -> Clock:
    return _clock


def set_clock(clock: Clock) -> None:
    global _clock
    _clock = clock


def utcnow() -> datetime:
    return _clock.now()


def wallnow() -> datetime:
    """The wall clock, whatever clock the exchange runs on: what people live through (login sessions, idle
    timeouts, login rate limits) must not run 600 times faster when the demo accelerates the exchange's time."""
    return datetime.now(UTC)


def speed() -> float:
    """Exchange seconds per wall second: 1 in production, the demo's acceleration (e.g. 600) under the demo."""
    value = getattr(_clock, "speed", 1.0)
    return float(value) if isinstance(value, int | float) and value > 0 else 1.0


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything here is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def in_range(value: datetime) -> datetime:
    """An instant the exchange can reason about (1970-2199, UTC); ValueError otherwise. Times far outside it are
    typing errors, and arithmetic on them (a battery's dark time, a window's end) would overflow."""
    try:
        utc = as_utc(value)
    except OverflowError as exc:  # 0001-01-01T00:00:00+14:00 has no UTC form
        raise ValueError("the time is out of range (1970-2199)") from exc
    if not EARLIEST <= utc < LATEST:
        raise ValueError("the time is out of range (1970-2199)")
    return utc


def isoformat(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat().replace("+00:00", "Z")
