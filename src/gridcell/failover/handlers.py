"""Failover wiring: react to status changes and probe state in the same transaction; time-driven job
(planned work ahead, switch-back timers); the MQTT command channel."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from gridcell.core import events
from gridcell.core.clock import utcnow
from gridcell.core.leases import singleton
from gridcell.exposure.status import STATUS_CHANGED
from gridcell.failover import advisor, service
from gridcell.failover.mqtt import CommandChannel
from gridcell.telemetry.mqtt import MqttSettings
from gridcell.telemetry.service import PROBES_INGESTED

log = logging.getLogger(__name__)
TICK_S = 1.0


def register() -> None:
    events.register(STATUS_CHANGED, service.on_status_changed)
    events.register(PROBES_INGESTED, service.on_probes_ingested)


async def start(app: Any) -> list[asyncio.Task[None]]:
    db, bus = app.state.db, app.state.bus
    settings_ = app.state.settings
    advisor.FLEET = advisor.FleetLimits(share=float(settings_.failover_fleet_share),
                                        interval=timedelta(seconds=float(settings_.failover_fleet_interval_s)))

    def publish(messages: list[Any]) -> None:
        for m in messages:
            if isinstance(m, service.CpeCommandMessage):
                bus.publish(service.BUS_TOPIC, m)

    db.on_commit(publish)
    tasks = [asyncio.create_task(singleton(app, "failover.tick", lambda: _ticker(app)))]
    settings = MqttSettings()
    if settings.enabled:
        channel = CommandChannel(db, bus, settings)
        app.state.failover_channel = channel
        tasks.append(asyncio.create_task(singleton(app, "failover.mqtt_commands", channel.run)))
    return tasks


async def _ticker(app: Any) -> None:
    interval = float(getattr(app.state.settings, "tick_interval_s", TICK_S) or TICK_S)
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(_tick, app.state.db)
        except Exception:
            log.exception("failover tick failed")


def _tick(db: Any) -> None:
    with db.write() as session:
        service.tick(session, utcnow())
