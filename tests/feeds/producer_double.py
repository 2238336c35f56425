"""An MNO's TS 28.532 Fault MnS producer on loopback, as a test starts one: it takes subscriptions, lists its
active alarms, pushes notifications and heartbeats to the subscriber. Every request it receives and every
answer and notification it sends is validated against TS28532_FaultMnS.yaml / TS28532_HeartbeatNtf.yaml;
a violation is recorded in `violations` (the tests assert there are none)."""

from __future__ import annotations

import base64
import itertools
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson

from tests.outages.schema3gpp import validator_for

BASE = "/FaultSupervisionMnS/v1"


class ProducerDouble:
    def __init__(self, *, user: str = "gridcell", password: str = "s3cret", heartbeat_period_s: int = 2) -> None:
        self.heartbeat_period_s = heartbeat_period_s
        self.credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.alarms: dict[str, dict[str, Any]] = {}  # alarmId -> AlarmRecord (active ones)
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.violations: list[str] = []
        self.garbage: bytes | None = None  # answer GET /alarms with this instead
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self._notification_ids = itertools.count(1000)
        self._sequence = itertools.count(1)
        self._beating = threading.Event()
        self._stop = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}{BASE}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        threading.Thread(target=self._heartbeats, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    # ---- what the MNO's network does ----------------------------------------------------------------------

    def _check(self, spec: str, schema: str, body: Any, what: str) -> None:
        errors = [e.message for e in validator_for(spec, schema).iter_errors(body)]
        if errors:
            self.violations.append(f"{what}: {errors[:3]}")

    def raise_alarm(self, alarm_id: str, dn: str, *, severity: str = "CRITICAL",
                    cause: str = "EQUIPMENT_MALFUNCTION", push: bool = True) -> None:
        now = datetime.now(UTC).isoformat()
        record = {"objectInstance": dn, "notificationId": next(self._notification_ids), "alarmRaisedTime": now,
                  "alarmType": "EQUIPMENT_ALARM", "probableCause": cause, "perceivedSeverity": severity,
                  "ackState": "UNACKNOWLEDGED"}
        with self.lock:
            self.alarms[alarm_id] = record
        if push:
            self._push({**self._header("notifyNewAlarm", now), "alarmId": alarm_id,
                        **{k: record[k] for k in ("alarmType", "probableCause", "perceivedSeverity")}},
                       "NotifyNewAlarm")

    def clear_alarm(self, alarm_id: str, *, push: bool = True) -> None:
        with self.lock:
            record = self.alarms.pop(alarm_id)
        if push:
            self._push({**self._header("notifyClearedAlarm", datetime.now(UTC).isoformat()), "alarmId": alarm_id,
                        "alarmType": record["alarmType"], "probableCause": record["probableCause"],
                        "perceivedSeverity": "CLEARED"}, "NotifyClearedAlarm")

    def start_heartbeats(self) -> None:
        self._beating.set()

    def stop_heartbeats(self) -> datetime:
        self._beating.clear()
        return datetime.now(UTC)

    def _heartbeats(self) -> None:
        while not self._stop.wait(self.heartbeat_period_s / 2):
            if self._beating.is_set():
                self._push({**self._header("notifyHeartbeat", datetime.now(UTC).isoformat()),
                            "heartbeatNtfPeriod": self.heartbeat_period_s}, "NotifyHeartbeat",
                           spec="TS28532_HeartbeatNtf.yaml")

    def _header(self, kind: str, at: str) -> dict[str, Any]:
        return {"href": f"https://oss.mno.example{BASE}", "notificationId": next(self._notification_ids),
                "notificationType": kind, "eventTime": at, "systemDN": "DC=mno.example",
                "sequenceNo": next(self._sequence)}

    def _push(self, body: dict[str, Any], schema: str, spec: str = "TS28532_FaultMnS.yaml") -> None:
        """To every subscriber; a subscriber that is down simply misses it (as with a real producer)."""
        self._check(spec, schema, body, f"sent {body['notificationType']}")
        with self.lock:
            targets = [s["consumerReference"] for s in self.subscriptions.values()]
        for url in targets:
            try:
                r = httpx.post(url, json=body, timeout=10)
                if r.status_code != 204:
                    self.violations.append(f"the consumer answered {r.status_code} to {body['notificationType']}: "
                                           f"{r.text[:200]}")
            except httpx.HTTPError:
                pass

    # ---- the HTTP side --------------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        producer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                raw = b"" if body is None else (body if isinstance(body, bytes) else orjson.dumps(body))
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if raw:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Basic {producer.credentials}":
                    self._answer(401, {"error": {"errorInfo": "unauthorised"}})
                    return False
                return True

            def do_POST(self) -> None:
                path = urlsplit(self.path).path
                producer.requests.append(("POST", path))
                body = orjson.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
                if not self._authorised():
                    return
                if path != f"{BASE}/subscriptions":
                    self._answer(404, {"error": {"errorInfo": "no such resource"}})
                    return
                producer._check("TS28532_FaultMnS.yaml", "Subscription", body, "POST subscriptions body")
                if not isinstance(body, dict) or not body.get("consumerReference"):
                    self._answer(400, {"error": {"errorInfo": "consumerReference required"}})
                    return
                sub_id = str(next(producer._ids))
                with producer.lock:
                    producer.subscriptions[sub_id] = body
                self._answer(201, body, {"Location": f"{BASE}/subscriptions/{sub_id}"})

            def do_DELETE(self) -> None:
                path = urlsplit(self.path).path
                producer.requests.append(("DELETE", path))
                if not self._authorised():
                    return
                with producer.lock:
                    found = producer.subscriptions.pop(path.rsplit("/", 1)[-1], None)
                self._answer(204 if found is not None else 404)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                producer.requests.append(("GET", parts.path))
                if not self._authorised():
                    return
                if parts.path != f"{BASE}/alarms":
                    self._answer(404, {"error": {"errorInfo": "no such resource"}})
                    return
                state = parse_qs(parts.query).get("alarmAckState", ["ALL_ALARMS"])[0]
                if state not in ("ALL_ALARMS", "ALL_ACTIVE_ALARMS"):
                    producer.violations.append(f"unexpected alarmAckState {state}")
                if producer.garbage is not None:
                    self._answer(200, producer.garbage)
                    return
                with producer.lock:
                    body = {k: dict(v) for k, v in producer.alarms.items()}
                for alarm_id, record in body.items():
                    producer._check("TS28532_FaultMnS.yaml", "AlarmRecord", record, f"GET alarms {alarm_id}")
                self._answer(200, body)

        return Handler
