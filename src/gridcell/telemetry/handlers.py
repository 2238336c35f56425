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
COMPACT_GROUPS = 100  # (USIM, cell, hour) groups merged per unit of work
COMPACT_PAUSE_S = 0.05


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
    # Compaction in short units of work, each letting waiting writers (ingest) go first.
    while True:
        with db.write() as session:
            removed, _ = service.compact(session, max_groups=COMPACT_GROUPS)
        if not removed:
            return
        time.sleep(COMPACT_PAUSE_S)
