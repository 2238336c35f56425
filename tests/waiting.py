"""Waiting on a condition, the one way the tests wait: poll until it holds, with a limit generous enough for a loaded
machine (never a sleep that guesses how long something takes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "the condition",
               interval: float = 0.02) -> Any:
    """The predicate's first truthy value; AssertionError naming `what` after `timeout` seconds without one."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
