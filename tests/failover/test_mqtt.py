"""MQTT round trip on a real Mosquitto: probes in, MNO alarm → CPE command out (and webhook), ack closes the loop."""

from __future__ import annotations

import queue
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from fastapi.testclient import TestClient

from gridcell.core.db import Database
from gridcell.telemetry import store
from tests.conftest import IN_CI, PLMN_A, PLMN_B, Receiver, World, alarm, build_world, cell_dn, make_settings
from tests.waiting import wait_until

HOST, PORT = "127.0.0.1", 1883


def _broker_reason() -> str | None:
    try:
        with socket.create_connection((HOST, PORT), timeout=2):
            return None
    except OSError as exc:
        if IN_CI:
            raise
        return f"Mosquitto not reachable at {HOST}:{PORT}: {type(exc).__name__}"


@pytest.fixture
def mqtt_app(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, str]]:
    reason = _broker_reason()
    if reason:
        pytest.skip(reason)
    prefix = f"gctest-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("GRIDCELL_MQTT_PREFIX", prefix)
    monkeypatch.setenv("GRIDCELL_MQTT_HOST", HOST)
    from gridcell.app import create_app

    app = create_app(make_settings(db.url), db=db, migrate=False)
    with TestClient(app) as client:
        wait_until(lambda: app.state.failover_channel.connected.is_set(), what="MQTT command channel")
        yield client, prefix


def test_probes_commands_and_acks_over_mqtt(mqtt_app: tuple[TestClient, str], db: Database,
                                            receiver: Receiver) -> None:
    client, prefix = mqtt_app
    world: World = build_world(client, db)
    dso = world.dso.id
    r = client.post("/api/v1/failover/subscriptions", json={"callbackUri": receiver.url}, headers=world.dso.auth())
    assert r.status_code == 201, r.text

    commands: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    cpe_side = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"cpe-{uuid.uuid4().hex[:6]}")
    subscribed = queue.Queue[int]()
    cpe_side.on_message = lambda c, u, m: commands.put((m.topic, orjson.loads(m.payload)))
    cpe_side.on_subscribe = lambda c, u, mid, rc, p: subscribed.put(mid)
    cpe_side.connect(HOST, PORT)
    cpe_side.loop_start()
    try:
        cpe_side.subscribe(f"{prefix}/{dso}/cpe/+/command", qos=1)
        subscribed.get(timeout=5)

        # probes in over MQTT, into the same service as the bulk upload
        now = time.time()
        results = [{"plmn": PLMN_A, "ts": now - 30 + i, "ok": True, "rtt_ms": 25.0 + i} for i in range(3)]
        cpe_side.publish(f"{prefix}/{dso}/probe/D1-CPE0", orjson.dumps(results), qos=1).wait_for_publish(5)

        def stored() -> int:
            with db.read() as s:
                return store.count_raw(s)

        assert wait_until(lambda: stored() == 3, what="MQTT probes stored")

        # MNO alarm → status down for D1-S0 on PLMN A → switch command on the CPE's topic
        r = client.post("/api/v1/ingest/notifications", headers=world.mno.auth(),
                        json=alarm("notifyNewAlarm", "M-1", cell_dn(PLMN_A, 0)))
        assert r.status_code == 200, r.text
        topic, cmd = commands.get(timeout=10)
        assert topic == f"{prefix}/{dso}/cpe/D1-CPE0/command"
        assert (cmd["cpeId"], cmd["action"], cmd["fromPlmn"], cmd["toPlmn"]) == ("D1-CPE0", "switch", PLMN_A, PLMN_B)
        assert "status_down" in cmd["reason"]["why"]

        hooks = receiver.wait_for(lambda rs: any(x["body"].get("command", {}).get("commandId") == cmd["commandId"]
                                                 for x in rs))
        assert hooks[0]["body"]["notificationType"] == "cpeCommand"

        # the CPE acknowledges on its ack topic
        cpe_side.publish(f"{prefix}/{dso}/cpe/D1-CPE0/ack",
                         orjson.dumps({"commandId": cmd["commandId"], "status": "done"}), qos=1).wait_for_publish(5)

        def acked() -> bool:
            rows = client.get("/api/v1/failover/commands", params={"cpe": "D1-CPE0"},
                              headers=world.dso.auth("viewer")).json()
            return any(c["commandId"] == cmd["commandId"] and c["ackStatus"] == "done" for c in rows)

        assert wait_until(acked, what="acknowledgement")
        state = client.get("/api/v1/failover/state", headers=world.dso.auth("viewer")).json()
        d1 = next(s for s in state if s["cpeId"] == "D1-CPE0")
        assert (d1["activePlmn"], d1["confirmedPlmn"], d1["mode"]) == (PLMN_B, PLMN_B, "switched")
    finally:
        cpe_side.loop_stop()
        cpe_side.disconnect()
