"""Telemetry wiring: evidence for the status engine; MQTT probe listener and retention job."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from gridcell.core.leases import singleton
from gridcell.exposure import status
from gridcell.telemetry import service
from gridcell.telemetry.mqtt import MqttSettings, ProbeListener

log = logging.getLogger(__name__)
PRUNE_INTERVAL_S = 3600.0
COMPACT_BLOCKS = 256  # small probe blocks looked at per unit of work: ~10 ms holding SQLite's one writer
COMPACT_PAUSE_S = 0.02


def register() -> None:
    status.register_evidence_provider(service.degradation_evidence)


async def start(app: Any) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(singleton(app, "telemetry.retention", lambda: _prune_loop(app)))]
    settings = MqttSettings()
    if settings.enabled:
        listener = ProbeListener(app.state.db, settings)
        app.state.probe_listener = listener
        tasks.append(asyncio.create_task(singleton(app, "telemetry.mqtt_probes", listener.run)))
    return tasks


async def _prune_loop(app: Any) -> None:
    while True:
        try:
            await asyncio.to_thread(_prune, app.state.db)
        except Exception:
            log.exception("telemetry retention job failed")
        await asyncio.sleep(PRUNE_INTERVAL_S)


def _prune(db: Any) -> None:
    with db.write() as session:
        service.prune(session)
    # One pass over the blocks in short units of work, each letting waiting writers (ingest) go first.
    after: tuple[int, int] | None = None
    while True:
        with db.write() as session:
            _, _, after = service.compact(session, max_blocks=COMPACT_BLOCKS, after=after)
        if after is None:
            return
        time.sleep(COMPACT_PAUSE_S)
