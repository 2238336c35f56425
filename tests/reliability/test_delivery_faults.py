"""Faults inside delivery: the store failing while a subscriber fails, a bounded memory, marks that cannot be
written. Each run ends with every notification delivered once, in order, and nothing stuck."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from gridcell.app import create_app
from gridcell.core.db import Database
from gridcell.core.metrics import RESTARTS
from gridcell.exposure import delivery
from tests.conftest import PLMN_A, Receiver, World, alarm, build_world, cell_dn, make_settings
from tests.exposure.test_durability import assert_in_order_exactly_once, outbox
from tests.waiting import wait_until


@pytest.fixture
def served(db: Database, receiver: Receiver) -> Iterator[tuple[TestClient, World, str]]:
    app = create_app(make_settings(db.url, webhook_max_backoff_s=0.5), db=db, migrate=False)
    with TestClient(app) as client:
        world = build_world(client, db)
        r = client.post("/api/v1/subscriptions", json={"callbackUri": receiver.url, "plmns": [PLMN_A]},
                        headers=world.dso.auth())
        assert r.status_code == 201, r.text
        yield client, world, r.json()["id"]


def _flap(client: TestClient, world: World, rounds: int) -> int:
    """Raise and clear an alarm on each of the three cells `rounds` times: 6 status changes a round."""
    for rnd in range(rounds):
        for kind, sev in (("notifyNewAlarm", "CRITICAL"), ("notifyClearedAlarm", "CLEARED")):
            for i in range(3):
                r = client.post("/api/v1/ingest/notifications", headers=world.mno.auth(),
                                json=alarm(kind, f"F{rnd}-{i}", cell_dn(PLMN_A, i), severity=sev))
                assert r.status_code == 200, r.text
    return rounds * 6


def _restarts(loop: str) -> float:
    return RESTARTS.labels(loop)._value.get()


def _delivered(client: TestClient, world: World, sub_id: str, receiver: Receiver, n: int) -> None:
    got = receiver.wait_for(lambda rs: len(rs) >= n, timeout=60)
    wait_until(lambda: all(r["deliveredAt"] for r in outbox(client, sub_id, world.dso.auth("viewer"))), 30,
               "every outbox row marked delivered")
    assert_in_order_exactly_once(got, [r["notificationId"] for r in outbox(client, sub_id, world.dso.auth("viewer"))])


def test_a_store_failure_while_recording_an_attempt_restarts_the_worker(served: Any, receiver: Receiver,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    client, world, sub_id = served
    real = delivery.DeliveryService.record_failure
    failures = {"left": 3}

    async def flaky(self: Any, *args: Any, **kwargs: Any) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OperationalError("UPDATE outbox", {}, Exception("database is locked"))
        await real(self, *args, **kwargs)

    monkeypatch.setattr(delivery.DeliveryService, "record_failure", flaky)
    before = _restarts("delivery")
    receiver.fail_with = 500
    n = _flap(client, world, 2)
    wait_until(lambda: failures["left"] == 0, 30, "the store failing three times inside delivery")
    assert _restarts("delivery") >= before + 3
    receiver.fail_with = None
    _delivered(client, world, sub_id, receiver, n)


def test_a_backlog_waits_in_the_outbox_not_in_memory(served: Any, receiver: Receiver,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    client, world, sub_id = served
    monkeypatch.setattr(delivery, "MAX_QUEUED", 4)
    receiver.fail_with = 503
    n = _flap(client, world, 3)
    service = client.app.state.delivery  # type: ignore[attr-defined]
    wait_until(lambda: sub_id in service.workers, 10, "the worker")
    assert len(service.workers[sub_id].queue) <= 4
    receiver.fail_with = None
    _delivered(client, world, sub_id, receiver, n)


def test_delivery_marks_that_cannot_be_written_are_written_later(served: Any, receiver: Receiver,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    client, world, sub_id = served
    service = client.app.state.delivery  # type: ignore[attr-defined]
    real = service._write_acks
    failures = {"left": 2}
    # The marks ride along only on the delivery service's own unit of work here: on a loaded machine the
    # ingests would otherwise carry them all and the failing write would never be tried.
    own = threading.local()
    assert service._unride is not None
    service._unride()
    service._unride = service.db.ride_along(
        lambda session: service._ride_along(session) if getattr(own, "on", False) else None)

    def flaky() -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OperationalError("UPDATE outbox", {}, Exception("disk I/O error"))
        own.on = True
        try:
            real()
        finally:
            own.on = False

    monkeypatch.setattr(service, "_write_acks", flaky)
    n = _flap(client, world, 1)
    _delivered(client, world, sub_id, receiver, n)
    assert failures["left"] < 2 and not service._ack_task.done()  # it failed, and the loop lives on


def test_a_recovered_subscriber_gets_its_backlog_within_five_seconds(db: Database, receiver: Receiver) -> None:
    """With the default backoff (doubling to 4 s): down long enough for the longest pause, then up again."""
    app = create_app(make_settings(db.url), db=db, migrate=False)
    with TestClient(app) as client:
        world = build_world(client, db)
        r = client.post("/api/v1/subscriptions", json={"callbackUri": receiver.url, "plmns": [PLMN_A]},
                        headers=world.dso.auth())
        sub_id = r.json()["id"]
        receiver.fail_with = 503
        n = _flap(client, world, 1)
        wait_until(lambda: (lambda rs: rs and rs[0]["attempts"] >= 5)(
            outbox(client, sub_id, world.dso.auth("viewer"))), 60, "five failed attempts (pauses up to 4 s)")
        receiver.fail_with = None
        up = time.monotonic()
        receiver.wait_for(lambda rs: len(rs) >= n, timeout=60)
        took = time.monotonic() - up
        print(f"backlog of {n} delivered {took:.1f} s after the subscriber answered again")
        assert took <= 5.0, took
