"""MQTT: probe results in, shared connection settings for the failover command channel.

Topic scheme (prefix default ``gridcell``, GRIDCELL_MQTT_PREFIX):

* ``<prefix>/<dso id>/probe/<cpe id>``: probe results of one CPE; payload a JSON object, a JSON array of
  objects or NDJSON, fields as in the bulk upload (``cpe`` may be omitted: the topic names it).
* ``<prefix>/<dso id>/cpe/<cpe id>/command``: failover commands to the CPE (QoS 1), see gridcell.failover.
* ``<prefix>/<dso id>/cpe/<cpe id>/ack``: the CPE's acknowledgement ``{"commandId", "status"}``.

Results are buffered for up to FLUSH_S (or FLUSH_MAX results) and written per DSO in one unit of work:
the same service as the HTTP upload, so the same validation, dedupe, rollups and detection.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiomqtt
import orjson
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridcell.core.db import Database
from gridcell.core.errors import DomainError
from gridcell.telemetry import parse
from gridcell.telemetry import service as tsvc

log = logging.getLogger(__name__)
FLUSH_S = 0.2
FLUSH_MAX = 20_000


class MqttSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDCELL_MQTT_", extra="ignore")

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 1883
    prefix: str = "gridcell"
    reconnect_s: float = 2.0


def probe_topic(prefix: str, dso_id: str, cpe_id: str) -> str:
    return f"{prefix}/{dso_id}/probe/{cpe_id}"


def decode_results(payload: bytes, cpe_id: str) -> list[Any]:
    text = payload.strip()
    if text.startswith(b"["):
        items = orjson.loads(text)
    elif b"\n" in text:
        items = [orjson.loads(ln) for ln in text.split(b"\n") if ln.strip()]
    else:
        items = [orjson.loads(text)]
    out = []
    for item in items:
        if isinstance(item, dict):
            item.setdefault("cpe", cpe_id)
        out.append(item)
    return out


def ingest_objects(db: Database, dso_id: str, objs: list[Any]) -> dict[str, Any]:
    cols = parse.from_objects(objs)
    with db.write() as session:
        return tsvc.ingest(session, dso_id, cols).as_dict()


class ProbeListener:
    """Subscribes to probe topics and writes buffered results through the telemetry service."""

    def __init__(self, db: Database, settings: MqttSettings) -> None:
        self.db, self.settings = db, settings
        self.buffer: dict[str, list[Any]] = {}
        self.count = 0
        self.flushed = asyncio.Event()

    async def run(self) -> None:
        topic = f"{self.settings.prefix}/+/probe/+"
        flusher = asyncio.create_task(self._flush_loop())
        try:
            while True:
                try:
                    async with aiomqtt.Client(self.settings.host, self.settings.port) as client:
                        await client.subscribe(topic, qos=1)
                        async for message in client.messages:
                            self._offer(str(message.topic), bytes(message.payload))
                except aiomqtt.MqttError as exc:
                    log.warning("MQTT probe listener: %s; reconnecting", exc)
                    await asyncio.sleep(self.settings.reconnect_s)
        finally:
            flusher.cancel()

    def _offer(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        if len(parts) != 4 or parts[2] != "probe":
            return
        dso_id, cpe_id = parts[1], parts[3]
        try:
            items = decode_results(payload, cpe_id)
        except orjson.JSONDecodeError:
            log.warning("MQTT probe message on %s is not JSON; dropped", topic)
            return
        self.buffer.setdefault(dso_id, []).extend(items)
        self.count += len(items)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            if not self.buffer:
                continue
            batches, self.buffer, self.count = self.buffer, {}, 0
            for dso_id, objs in batches.items():
                try:
                    await asyncio.to_thread(ingest_objects, self.db, dso_id, objs)
                except DomainError as exc:
                    log.warning("MQTT probes for %s refused: %s %s", dso_id, exc.detail, exc.errors[:5])
                except Exception:
                    log.exception("MQTT probes for %s failed", dso_id)
            self.flushed.set()
