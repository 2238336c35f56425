"""Cluster test helpers: the NATS server on 127.0.0.1 (required when CI=true) and unique bus prefixes."""

from __future__ import annotations

import asyncio
import os
import uuid

from tests.conftest import IN_CI

NATS_URL = os.environ.get("GRIDCELL_TEST_NATS_URL", "nats://127.0.0.1:4222")


def nats_available() -> str | None:
    """None when NATS with JetStream answers, else the one-line reason to skip (never skips in CI)."""
    import nats

    async def probe() -> None:
        nc = await nats.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
        try:
            await nc.jetstream().account_info()
        finally:
            await nc.close()

    try:
        asyncio.run(asyncio.wait_for(probe(), 5))
        return None
    except Exception as exc:
        if IN_CI:
            raise
        return f"NATS JetStream not reachable at {NATS_URL}: {type(exc).__name__}"


def unique_prefix() -> str:
    """A bus prefix of this test's own: its streams and subjects collide with no other run."""
    return f"gctest{os.getpid()}x{uuid.uuid4().hex[:8]}"
