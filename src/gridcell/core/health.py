"""Readiness of the store: can it take a write now? A probe row per process is written and committed, which is
the whole path an acknowledgement takes (the write lock, the journal, the fsync, a page of free space): a store
that is down, full or read-only fails it, and passes again once it recovers."""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

from sqlalchemy import String, make_url
from sqlalchemy.orm import Mapped, mapped_column

from gridcell.core.clock import utcnow
from gridcell.core.db import Base, Database


class HealthProbe(Base):
    __tablename__ = "health_probes"

    node: Mapped[str] = mapped_column(String(120), primary_key=True)
    at: Mapped[datetime]


MIN_FREE_BYTES = 4 * 1024 * 1024  # an embedded store with less free space than this takes no more ingest


def _free_bytes(db: Database) -> int | None:
    """Free space beside an SQLite file (a small probe row can still fit in the journal when an ingest no longer
    does, so the space itself is checked); None for a server store."""
    if not db.is_sqlite:
        return None
    path = make_url(db.url).database
    if not path or path == ":memory:":
        return None
    st = os.statvfs(os.path.dirname(os.path.abspath(path)))
    return st.f_bavail * st.f_frsize


def check_store(db: Database, node: str) -> dict[str, Any]:
    started = time.perf_counter()
    backend = "sqlite" if db.is_sqlite else "postgresql"
    free = _free_bytes(db)
    if free is not None and free < MIN_FREE_BYTES:
        return {"ok": False, "backend": backend, "writable": False,
                "error": f"only {free} bytes free beside the store (at least {MIN_FREE_BYTES} needed)"}
    try:
        with db.write() as session:
            now = utcnow()
            row = session.get(HealthProbe, node[:120])
            if row is None:
                session.add(HealthProbe(node=node[:120], at=now))
            else:
                row.at = now
    except Exception as exc:
        return {"ok": False, "backend": backend, "writable": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "backend": backend, "writable": True,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
