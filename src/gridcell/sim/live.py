"""The twin streaming into a running exchange: the same engine, its messages sent through the public HTTP API
(FaultMnS ingest, telemetry, ProvMnS, TMF621) in accelerated real time.

The server runs in this process with an accelerated clock (`AcceleratedClock`), so its own timers (status
ticks, failover hold-down, attribution sweeps) see the same virtual time the twin paces itself by.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson

from gridcell.core.clock import set_clock
from gridcell.core.db import Database
from gridcell.failover import service as failover
from gridcell.sim.scenario import World
from gridcell.sim.twin import FlushResult, Twin

log = logging.getLogger(__name__)


class AcceleratedClock:
    """Virtual time running `speed` times faster than the wall clock from `start`."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start, self.speed, self.wall0 = start, speed, time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self.wall0) * self.speed)

    def advance(self, delta: timedelta) -> datetime:
        """Jump ahead (keeps running at the same speed from there)."""
        self.start += delta
        return self.now()


class HttpTwin(Twin):
    """Same buffers as the in-process twin; `flush` waits for the virtual instant and posts over HTTP."""

    def __init__(self, world: World, db: Database, base_url: str, clock: AcceleratedClock,
                 stop: threading.Event) -> None:
        super().__init__(world, db)
        set_clock(clock)  # Twin installed a ManualClock; the live server runs on the accelerated one
        self.aclock = clock
        self.stop = stop
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.auth = {p: {"Authorization": f"Bearer {world.tokens[f'mno_{p}']}"} for p in world.mno_ids}
        self.dso_auth = {"Authorization": f"Bearer {world.tokens['dso_operator']}"}
        self.sent = 0

    def _wait(self, t: float) -> bool:
        target = self.when(t)
        while not self.stop.is_set():
            ahead = (target - self.aclock.now()).total_seconds() / self.aclock.speed
            if ahead <= 0:
                return True
            self.stop.wait(min(ahead, 0.5))
        return False

    def _post(self, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        try:
            r = self.http.request(method, path, headers=headers, **kw)
            self.sent += 1
            if r.status_code >= 400:
                log.warning("%s %s -> %s %s", method, path, r.status_code, r.text[:300])
                return None
            return r.json() if r.content else None
        except httpx.HTTPError as exc:
            log.warning("%s %s failed: %s", method, path, exc)
            return None

    def flush(self, t: float, window_edges: bool) -> FlushResult:
        out = FlushResult()
        if not self.pending():
            return out
        if not self._wait(t):
            raise KeyboardInterrupt
        for plmn in sorted(self.notes):
            self._post("POST", "/api/v1/ingest/notifications", self.auth[plmn], json=self.notes[plmn])
        if self.probes:
            ndjson = b"\n".join(orjson.dumps(p) for p in self.probes)
            self._post("POST", "/api/v1/telemetry/probes",
                       {**self.dso_auth, "Content-Type": "application/x-ndjson"}, content=ndjson)
        dso = self.world.dso_id
        for moi_id, body_ in self.outage_puts:
            self._post("PUT", f"/ProvMnS/v1900/SubNetwork={dso}/OutageAndRecoveryInfo={moi_id}", self.dso_auth,
                       json={"id": moi_id, "attributes": body_})
            if "actualOutageEndTime" not in body_:
                plan = self._post("GET", f"/api/v1/outages/{moi_id}/plan", self.dso_auth)
                if plan is not None:
                    out.plans[moi_id] = plan
        for req in self.ticket_requests:
            body = {"name": req.incident, "description": req.description, "severity": "Major",
                    "ticketType": "incident", "incidentStart": self.iso(req.start),
                    "relatedEntity": [{"id": sid, "role": "affected", "@referredType": "DsoSite"}
                                      for sid in req.site_ids],
                    "relatedParty": [{"id": self.world.mno_ids[req.plmn], "role": "addressee",
                                      "@referredType": "Organization"}]}
            ticket = self._post("POST", "/tmf-api/troubleTicket/v4/troubleTicket", self.dso_auth, json=body)
            if ticket is not None:
                out.tickets[req.incident] = (ticket["id"], (ticket.get("attribution") or {}).get("cause", "unknown"))
        for tid, plmn in self.closes:
            for status_ in ("inProgress", "resolved"):
                self._post("PATCH", f"/tmf-api/troubleTicket/v4/troubleTicket/{tid}", self.auth[plmn],
                           json={"status": status_})
            self._post("PATCH", f"/tmf-api/troubleTicket/v4/troubleTicket/{tid}", self.dso_auth,
                       json={"status": "closed"})
        self.writes += 1
        self.notes.clear()
        self.probes.clear()
        self.ticket_requests.clear()
        self.closes.clear()
        self.outage_puts.clear()
        self.want_failover_tick = False  # the server's own failover ticker runs on the accelerated clock
        time.sleep(0.05)  # let the commands of this instant's transactions arrive through the hook
        out.commands, self._commands = self._commands, []
        self.acknowledge(out.commands)
        return out

    def acknowledge(self, commands: list[dict[str, Any]]) -> None:
        """The CPEs carry out what they are told and say so, as a real CPE manager does over the API: the
        dashboard shows each command acknowledged (a prepare or a stay is done at once; a switch once made)."""
        for cmd in commands:
            if cmd.get("commandId") and not cmd.get("ackedAt"):
                self._post("POST", f"/api/v1/failover/commands/{cmd['commandId']}/ack", self.dso_auth,
                           json={"status": "done", "detail": "carried out by the twin's CPE"})

    def _hook(self, messages: list[Any]) -> None:
        for m in messages:
            if isinstance(m, failover.CpeCommandMessage):
                self._commands.append(orjson.loads(m.payload))
