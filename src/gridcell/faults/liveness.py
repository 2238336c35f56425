"""When each MNO was last heard from, in this process: every request an MNO's systems get answered (a
notification, a heartbeat, a VES event, a duplicate) proves its feed alive. Kept in memory on the ingest path
(no write per request); the feeds supervisor collects it every few seconds."""

from __future__ import annotations

import threading
from datetime import datetime

_heard: dict[str, datetime] = {}
_lock = threading.Lock()


def heard(org_id: str, at: datetime) -> None:
    with _lock:
        if org_id not in _heard or _heard[org_id] < at:
            _heard[org_id] = at


def take() -> dict[str, datetime]:
    """What was heard since the last call (and forget it)."""
    global _heard
    with _lock:
        out, _heard = _heard, {}
    return out
