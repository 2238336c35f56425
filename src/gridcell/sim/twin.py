"""The gridcell policy's side of the twin: the product's services, driven in-process with virtual time.

Everything the MNOs, the DSO and the CPEs would send arrives here, is batched per simulated instant and goes
through the same service functions the API calls, in one `db.write()` unit of work with the ManualClock set
to that instant: FaultMnS notifications (`faults.service.ingest`), probe results (`telemetry.service.ingest`),
trouble tickets (`incidents.service`), OutageAndRecoveryInfo (`outages.service.put_outage`, `plan_for`), the
time-driven jobs (`exposure.status.tick`, `failover.service.tick`). Failover commands come back through the
after-commit hook exactly as the MQTT publisher receives them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from gridcell.core.clock import ManualClock, isoformat, set_clock
from gridcell.core.db import Database
from gridcell.exposure import status
from gridcell.failover import service as failover
from gridcell.faults import service as faults
from gridcell.faults.schemas import NOTIFICATION
from gridcell.incidents import service as incidents
from gridcell.outages import service as outages
from gridcell.sim.scenario import World
from gridcell.telemetry import parse
from gridcell.telemetry import service as telemetry
from gridcell.tenancy.service import Caller


@dataclass
class TicketRequest:
    incident: str
    plmn: str
    site_ids: list[str]
    start: float
    description: str


@dataclass
class FlushResult:
    commands: list[dict[str, Any]] = field(default_factory=list)
    tickets: dict[str, tuple[str, str]] = field(default_factory=dict)  # incident → (ticket id, cause)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)  # outage id → the DSO's plan view


class Twin:
    def __init__(self, world: World, db: Database) -> None:
        self.world, self.db = world, db
        self.t0 = world.cfg.start
        self.clock = ManualClock(self.t0)
        set_clock(self.clock)
        self.dso = Caller("twin-dso", world.dso_id, "dso", "operator")
        self.mno = {p: Caller(f"twin-{p}", org, "mno", "operator") for p, org in world.mno_ids.items()}
        self._commands: list[dict[str, Any]] = []
        db.on_commit(self._hook)
        self.notes: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.probes: list[dict[str, Any]] = []
        self.ticket_requests: list[TicketRequest] = []
        self.closes: list[tuple[str, str]] = []
        self.outage_puts: list[tuple[str, dict[str, Any]]] = []
        self.want_failover_tick = False
        self.last_flush = self.t0
        self._nid = 0
        self.writes = 0

    def _hook(self, messages: list[Any]) -> None:
        for m in messages:
            if isinstance(m, failover.CpeCommandMessage):
                self._commands.append(orjson.loads(m.payload))

    def when(self, t: float) -> datetime:
        return self.t0 + timedelta(seconds=t)

    def iso(self, t: float) -> str:
        return isoformat(self.when(t)) or ""

    def nid(self) -> int:
        self._nid += 1
        return self._nid

    # ---- what the MNO OSS sends ---------------------------------------------------------------------------

    def alarm(self, t: float, ran: int, alarm_id: str, cause: str, severity: str, kind: str = "notifyNewAlarm",
              alarm_type: str = "EQUIPMENT_ALARM") -> None:
        r = self.world.ran[ran]
        self.notes[r.plmn].append({
            "href": "https://oss.twin.example/ProvMnS/v1/" + r.dn.replace(",", "/"), "notificationId": self.nid(),
            "notificationType": kind, "eventTime": self.iso(t), "systemDN": f"DC=plmn{r.plmn}.twin",
            "objectInstance": r.dn, "alarmId": alarm_id, "alarmType": alarm_type, "probableCause": cause,
            "perceivedSeverity": severity})

    def threshold(self, t: float, ran: int, metric: str, value: float, direction: str, threshold: float) -> None:
        r = self.world.ran[ran]
        self.notes[r.plmn].append({
            "href": "https://oss.twin.example/ProvMnS/v1/" + r.dn.replace(",", "/"), "notificationId": self.nid(),
            "notificationType": "notifyThresholdCrossing", "eventTime": self.iso(t),
            "systemDN": f"DC=plmn{r.plmn}.twin", "objectInstance": r.dn, "observedPerfMetricName": metric,
            "observedPerfMetricValue": value, "observedPerfMetricDirection": direction, "thresholdValue": threshold})

    def maintenance(self, t: float, ran: int, mid: str, start: float, end: float) -> None:
        r = self.world.ran[ran]
        self.notes[r.plmn].append({
            "notificationType": "notifyPlannedMaintenance", "notificationId": self.nid(), "eventTime": self.iso(t),
            "maintenanceId": mid, "start": self.iso(start), "end": self.iso(end), "cells": [r.cell_id],
            "expectedImpact": "outage", "description": "planned work (twin)"})

    # ---- what the DSO side sends --------------------------------------------------------------------------

    def probe(self, t: float, station: int, plmn: str, ok: bool) -> None:
        st = self.world.stations[station]
        self.probes.append({"cpe": st.cpe_id, "plmn": plmn, "ts": self.iso(t), "ok": ok,
                            "rtt_ms": 45.0 if ok else None, "cell": self.world.ran[st.serving[plmn]].cell_id})

    def ticket(self, req: TicketRequest) -> None:
        self.ticket_requests.append(req)

    def close_ticket(self, ticket_id: str, plmn: str) -> None:
        self.closes.append((ticket_id, plmn))

    def outage(self, moi_id: str, line: int, start: float, expected_end: float, actual_end: float | None) -> None:
        body: dict[str, Any] = {"outageStartTime": self.iso(start), "expectedOutageEndTime": self.iso(expected_end),
                                "affectedArea": {"energySupplyId": f"{self.world.grid_name}/line:{line}"}}
        if actual_end is not None:
            body["actualOutageEndTime"] = self.iso(actual_end)
        self.outage_puts.append((moi_id, body))

    # ---- one simulated instant ------------------------------------------------------------------------------

    def pending(self) -> bool:
        return bool(self.notes or self.probes or self.ticket_requests or self.closes or self.outage_puts
                    or self.want_failover_tick)

    def flush(self, t: float, window_edges: bool) -> FlushResult:
        """Everything queued for this instant, in one unit of work through the services."""
        out = FlushResult()
        if not self.pending() and not window_edges:
            return out
        now = self.when(t)
        self.clock.set(now)
        with self.db.write() as s:
            for plmn in sorted(self.notes):
                notes = [NOTIFICATION.validate_python(n) for n in self.notes[plmn]]
                faults.ingest(s, self.world.mno_ids[plmn], notes)
            if self.probes:
                telemetry.ingest(s, self.world.dso_id, parse.from_objects(self.probes), now)
            if window_edges:
                status.tick(s, self.last_flush, now)
            for moi_id, body in self.outage_puts:
                outages.put_outage(s, self.dso, self.world.dso_id, moi_id, body)
                if "actualOutageEndTime" not in body:
                    out.plans[moi_id] = outages.plan_for(s, self.dso, self.world.dso_id, moi_id)
            for req in self.ticket_requests:
                body = {"name": req.incident, "description": req.description, "severity": "Major",
                        "ticketType": "incident", "incidentStart": self.iso(req.start),
                        "relatedEntity": [{"id": sid, "role": "affected", "@referredType": "DsoSite"}
                                          for sid in req.site_ids],
                        "relatedParty": [{"id": self.world.mno_ids[req.plmn], "role": "addressee",
                                          "@referredType": "Organization"}]}
                ticket = incidents.create_ticket(s, self.dso, body)
                out.tickets[req.incident] = (ticket["id"], ticket["attribution"]["cause"])
            for tid, plmn in self.closes:
                for status_ in ("inProgress", "resolved"):
                    incidents.patch_ticket(s, self.mno[plmn], tid, {"status": status_}, "application/merge-patch+json")
                incidents.patch_ticket(s, self.dso, tid, {"status": "closed"}, "application/merge-patch+json")
            if self.want_failover_tick:
                failover.tick(s, now)
        self.writes += 1
        self.last_flush = now
        self.notes.clear()
        self.probes.clear()
        self.ticket_requests.clear()
        self.closes.clear()
        self.outage_puts.clear()
        self.want_failover_tick = False
        out.commands, self._commands = self._commands, []
        return out
