"""The agent at work: probes every PLMN's path, executes the exchange's commands (prepare, switch, switch_back,
stay) and acknowledges each with its outcome, the PLMN carrying traffic and the time from the command to the
first packet through the new path; falls back on its own probes like mwan3 (never worse than today's router):
the active path down and another up means a switch, with or without the exchange; back to the primary on its
own only while the exchange is out of reach (otherwise the exchange, which knows more, decides when)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt

from gridcell.agent.config import Config
from gridcell.agent.drivers import Driver
from gridcell.agent.probe import History, LinkState, Prober, Result

log = logging.getLogger("gridcell.agent")
ACTIONS = ("prepare", "switch", "switch_back", "stay")
FIRST_PACKET_TIMEOUT_S = 10.0
RECONNECT_MAX_S = 30.0
REMEMBERED_COMMANDS = 200


@dataclass
class Switch:
    """One move of the router's traffic, for the log and the tests."""

    at: float  # monotonic
    wall: str
    from_plmn: str
    to_plmn: str
    why: str
    first_packet_ms: float | None


class Agent:
    def __init__(self, config: Config, driver: Driver) -> None:
        self.config, self.driver = config, driver
        self.links = {u.plmn: LinkState(config.probe.down_after, config.probe.up_after) for u in config.uplinks}
        self.probers = {u.plmn: Prober(config.probe.address, driver.probe_interface(u.plmn)) for u in config.uplinks}
        self.history = History()
        self.active = config.primary
        self.online = False
        self.watching = False  # a `prepare` came: the active path is probed every watch_interval_s
        self.switches: list[Switch] = []
        self.acks: OrderedDict[str, dict[str, Any]] = OrderedDict()  # commandId -> ack, the newest last
        self.unsent: list[dict[str, Any]] = []  # acks not yet published (kept on disk)
        self.last_issued_at: str | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._load_state()

    # ---- state kept across restarts: unsent acks, the newest executed command --------------------------------

    @property
    def _state_file(self) -> Path:
        return self.config.state_dir / "agent-state.json"

    def _load_state(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            state = json.loads(self._state_file.read_text())
            self.unsent = list(state.get("unsent", []))
            self.last_issued_at = state.get("lastIssuedAt")
            for ack in state.get("acks", []):
                self.acks[ack["commandId"]] = ack

    def _save_state(self) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"unsent": self.unsent, "lastIssuedAt": self.last_issued_at,
                                   "acks": list(self.acks.values())[-REMEMBERED_COMMANDS:]}))
        tmp.replace(self._state_file)

    # ---- the loops -----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        with contextlib.suppress(OSError):
            self.active = await self.driver.active() or self.active
        tasks = [asyncio.create_task(self._probe_loop(p), name=f"probe-{p}") for p in self.links]
        tasks.append(asyncio.create_task(self._broker_loop(), name="broker"))
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            for prober in self.probers.values():
                prober.close()

    async def _probe_loop(self, plmn: str) -> None:
        probe = self.config.probe
        while True:
            started = time.monotonic()
            interval = probe.watch_interval_s if self.watching and plmn == self.active else probe.interval_s
            rtt = await self.probers[plmn].once(min(probe.timeout_s, max(interval, 0.05)), probe.count)
            self.history.add(Result(plmn, time.time(), rtt is not None, rtt))
            if self.links[plmn].record(rtt is not None):
                log.info("path %s %s", plmn, "up" if self.links[plmn].up else "down")
                await self._local_decision(plmn)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    async def _local_decision(self, plmn: str) -> None:
        """mwan3's rule on the agent's own probes."""
        if plmn == self.active and not self.links[plmn].up:
            alternate = next((p for p, link in self.links.items() if p != plmn and link.up), None)
            if alternate is not None:
                await self._switch(alternate, f"local: {plmn} down by own probes")
        elif (plmn == self.config.primary and self.links[plmn].up and self.active != plmn and not self.online):
            await self._switch(plmn, "local: primary up again while the exchange is out of reach")

    async def _switch(self, plmn: str, why: str, t0: float | None = None) -> float | None:
        async with self._lock:
            t0 = time.monotonic() if t0 is None else t0
            previous = self.active
            if plmn != previous:
                await self.driver.activate(plmn)
                self.active = plmn
            self.watching = False
            ms = await self._first_packet(t0)
            self.switches.append(Switch(t0, datetime.now(UTC).isoformat(), previous, plmn, why, ms))
            log.info("traffic on %s (was %s): %s; first packet after %s ms [t0 %.3f]", plmn, previous, why,
                     None if ms is None else round(ms), t0)
            return ms

    async def _first_packet(self, t0: float) -> float | None:
        """Time from t0 to the first echo through the router's default route (the path traffic now takes)."""
        prober = Prober(self.config.probe.address, None)
        try:
            deadline = t0 + FIRST_PACKET_TIMEOUT_S
            while time.monotonic() < deadline:
                if await prober.once(0.2) is not None:
                    return (time.monotonic() - t0) * 1000.0
            return None
        finally:
            prober.close()

    # ---- commands --------------------------------------------------------------------------------------------

    def _refuse(self, command_id: str, why: str) -> dict[str, Any]:
        return {"commandId": command_id, "status": "rejected", "detail": why, "activePlmn": self.active}

    async def handle(self, payload: bytes) -> dict[str, Any] | None:
        """One command from the exchange; its acknowledgement (None for a message that is no command at all)."""
        t0 = time.monotonic()
        try:
            cmd = json.loads(payload)
        except ValueError:
            log.warning("a command that is not JSON was dropped")
            return None
        if not isinstance(cmd, dict) or not isinstance(cmd.get("commandId"), str):
            log.warning("a command without commandId was dropped")
            return None
        command_id: str = cmd["commandId"]
        if command_id in self.acks:  # the exchange republished it (reconnect): the same answer again
            return self.acks[command_id]
        action, target = cmd.get("action"), cmd.get("toPlmn")
        issued = cmd.get("issuedAt") if isinstance(cmd.get("issuedAt"), str) else None
        if cmd.get("cpeId") != self.config.cpe:
            ack = self._refuse(command_id, f"for CPE {cmd.get('cpeId')!r}, this is {self.config.cpe}")
        elif action not in ACTIONS:
            ack = self._refuse(command_id, f"unknown action {action!r}")
        elif action != "stay" and target is not None and target not in self.links:
            ack = self._refuse(command_id, f"no uplink for PLMN {target!r}")
        elif issued is not None and self.last_issued_at is not None and issued < self.last_issued_at:
            ack = self._refuse(command_id, f"stale: issued {issued}, a command of {self.last_issued_at} ran already")
        else:
            ack = await self._execute(command_id, action, target, t0)
            if issued is not None:
                self.last_issued_at = max(issued, self.last_issued_at or issued)
        self.acks[command_id] = ack
        while len(self.acks) > REMEMBERED_COMMANDS:
            self.acks.popitem(last=False)
        return ack

    async def _execute(self, command_id: str, action: str, target: str | None, t0: float) -> dict[str, Any]:
        ack: dict[str, Any] = {"commandId": command_id, "status": "done"}
        try:
            if action == "prepare":
                ack["detail"] = await self.driver.prepare(target or self.config.primary) if target else "nothing"
                self.watching = True
            elif action == "stay":
                self.watching = False
                ack["detail"] = "staying"
            else:
                plmn = target or self.config.primary
                if not self.links[plmn].up:
                    ack.update(status="failed", detail=f"{plmn} is down by the agent's own probes; staying")
                else:
                    ms = await self._switch(plmn, f"exchange: {action} {command_id}", t0)
                    ack["switchMs"] = None if ms is None else round(ms, 1)
                    ack["detail"] = (f"traffic on {plmn}, first packet {ack['switchMs']} ms after the command"
                                     if ms is not None else f"traffic on {plmn}, no answer through it yet")
        except OSError as exc:
            ack.update(status="failed", detail=f"{action}: {exc}")
        ack["activePlmn"] = self.active
        return ack

    # ---- the broker ------------------------------------------------------------------------------------------

    @property
    def command_topic(self) -> str:
        return f"{self.config.broker.prefix}/{self.config.dso}/cpe/{self.config.cpe}/command"

    @property
    def ack_topic(self) -> str:
        return f"{self.config.broker.prefix}/{self.config.dso}/cpe/{self.config.cpe}/ack"

    @property
    def probe_topic(self) -> str:
        return f"{self.config.broker.prefix}/{self.config.dso}/probe/{self.config.cpe}"

    def _client(self) -> aiomqtt.Client:
        b = self.config.broker
        tls = None
        if b.tls:
            tls = aiomqtt.TLSParameters(ca_certs=b.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        return aiomqtt.Client(b.host, b.port, username=b.username, password=b.password, tls_params=tls,
                              keepalive=b.keepalive_s, identifier=f"gridcell-agent-{self.config.cpe}", timeout=10)

    async def _broker_loop(self) -> None:
        pause = 1.0
        while True:
            try:
                async with self._client() as client:
                    await client.subscribe(self.command_topic, qos=1)
                    self.online, pause = True, 1.0
                    log.info("connected to the exchange's broker %s", self.config.broker.host)
                    await self._flush(client)
                    await asyncio.gather(self._commands(client), self._telemetry(client))
            except aiomqtt.MqttError as exc:
                log.warning("broker: %s; retrying in %.0f s", exc, pause)
            finally:
                was_online, self.online = self.online, False
                if was_online and self.links[self.config.primary].up and self.active != self.config.primary:
                    await self._local_decision(self.config.primary)
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT_MAX_S)

    async def _commands(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            ack = await self.handle(bytes(message.payload))
            if ack is not None:
                self.unsent.append(ack)
                self._save_state()
                await self._flush(client)

    async def _flush(self, client: aiomqtt.Client) -> None:
        """Acknowledgements go out in order; one that could not be published stays for the next connection."""
        while self.unsent:
            await client.publish(self.ack_topic, json.dumps(self.unsent[0]).encode(), qos=1)
            self.unsent.pop(0)
            self._save_state()

    async def _telemetry(self, client: aiomqtt.Client) -> None:
        """Probe results to the exchange in the telemetry format it takes (NDJSON on the probe topic)."""
        while True:
            await asyncio.sleep(self.config.telemetry_every_s)
            results = self.history.drain()
            if results:
                lines = [json.dumps({"cpe": self.config.cpe, "plmn": r.plmn, "ts": round(r.at, 3), "ok": r.ok,
                                     **({"rtt_ms": round(r.rtt_ms, 2)} if r.rtt_ms is not None else {})})
                         for r in results]
                await client.publish(self.probe_topic, "\n".join(lines).encode(), qos=1)
