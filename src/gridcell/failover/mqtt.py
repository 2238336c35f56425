"""CPE command channel on MQTT: commands out on ``<prefix>/<dso>/cpe/<cpe>/command`` (QoS 1), acknowledgements
in on ``<prefix>/<dso>/cpe/<cpe>/ack`` (``{"commandId": …, "status": "done|failed|rejected", "detail": …}``).

Commands arrive from the after-commit bus, so a command is published only once it is durable; on
(re)connect the unacknowledged commands of the last REPLAY window are published again with their
original ids, so a CPE drops duplicates by ``commandId``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import aiomqtt
import orjson

from gridcell.core.bus import Bus, Message, on_loop
from gridcell.core.clock import utcnow
from gridcell.core.db import Database
from gridcell.core.errors import DomainError
from gridcell.failover import service
from gridcell.failover.service import BUS_TOPIC, CpeCommandMessage
from gridcell.telemetry.mqtt import MqttSettings

log = logging.getLogger(__name__)
REPLAY = timedelta(hours=1)


def command_topic(prefix: str, dso_id: str, cpe_id: str) -> str:
    return f"{prefix}/{dso_id}/cpe/{cpe_id}/command"


def ack_topic(prefix: str, dso_id: str, cpe_id: str) -> str:
    return f"{prefix}/{dso_id}/cpe/{cpe_id}/ack"


class CommandChannel:
    def __init__(self, db: Database, bus: Bus, settings: MqttSettings) -> None:
        self.db, self.bus, self.settings = db, bus, settings
        self.queue: asyncio.Queue[CpeCommandMessage] = asyncio.Queue()
        self.published = 0
        self.connected = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        unsubscribe = self.bus.subscribe(BUS_TOPIC, on_loop(loop, self._offer))
        try:
            while True:
                try:
                    async with aiomqtt.Client(self.settings.host, self.settings.port) as client:
                        await client.subscribe(f"{self.settings.prefix}/+/cpe/+/ack", qos=1)
                        for msg in await asyncio.to_thread(self._replay):
                            await self._publish(client, msg)
                        self.connected.set()
                        acks = asyncio.create_task(self._acks(client))
                        try:
                            while True:
                                await self._publish(client, await self.queue.get())
                        finally:
                            acks.cancel()
                except aiomqtt.MqttError as exc:
                    self.connected.clear()
                    log.warning("MQTT command channel: %s; reconnecting", exc)
                    await asyncio.sleep(self.settings.reconnect_s)
        finally:
            unsubscribe()

    def _offer(self, message: Message) -> None:
        if isinstance(message.payload, CpeCommandMessage):
            self.queue.put_nowait(message.payload)

    def _replay(self) -> list[CpeCommandMessage]:
        with self.db.read() as session:
            return service.unacked(session, utcnow() - REPLAY)

    async def _publish(self, client: aiomqtt.Client, msg: CpeCommandMessage) -> None:
        await client.publish(command_topic(self.settings.prefix, msg.dso_id, msg.cpe_id), msg.payload, qos=1)
        self.published += 1

    async def _acks(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            parts = str(message.topic).split("/")
            if len(parts) != 5 or parts[2] != "cpe" or parts[4] != "ack":
                continue
            try:
                body: Any = orjson.loads(bytes(message.payload))
                await asyncio.to_thread(self._ack, parts[1], parts[3], body)
            except (orjson.JSONDecodeError, DomainError, TypeError, KeyError) as exc:
                log.warning("MQTT ack on %s refused: %s", message.topic, exc)

    def _ack(self, dso_id: str, cpe_id: str, body: dict[str, Any]) -> None:
        with self.db.write() as session:
            service.acknowledge(session, dso_id, str(body["commandId"]), str(body.get("status", "done")),
                                body.get("detail"), cpe_id=cpe_id)
