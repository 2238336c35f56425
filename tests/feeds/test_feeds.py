"""Feeds in process: what an MNO may connect, what it is shown, the sink its producer posts to, reconciliation
against a producer that answers garbage, supervision of a pushed feed, and what asks for reconciliation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from gridcell.core.clock import utcnow
from gridcell.core.db import Database
from gridcell.feeds import service
from gridcell.feeds.models import MnoFeed
from gridcell.feeds.producer import Producer
from tests.conftest import PLMN_A, World, alarm, cell_dn, make_settings
from tests.feeds.producer_double import ProducerDouble

FEEDS = "/api/v1/feeds"


@pytest.fixture
def app_client(db: Database) -> Iterator[TestClient]:
    """No background jobs: each test drives the supervisor and reconciliation itself, so nothing races it."""
    from gridcell.app import create_app

    with TestClient(create_app(make_settings(db.url), db=db, migrate=False, run_workers=False)) as client:
        yield client


@pytest.fixture
def producer() -> Iterator[ProducerDouble]:
    p = ProducerDouble()
    yield p
    p.close()


def _connect(c: TestClient, world: World, producer: ProducerDouble, **extra: Any) -> dict[str, Any]:
    r = c.post(FEEDS, headers=world.mno.auth("admin"), json={
        "kind": "faultMns", "baseUrl": producer.base_url, "heartbeatPeriodS": 60,
        "auth": {"type": "basic", "username": "gridcell", "password": "s3cret"}, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _alarms(c: TestClient, world: World) -> dict[str, Any]:
    rows = c.get("/api/v1/alarms", params={"kind": "alarm"}, headers=world.mno.auth("viewer")).json()
    return {a["id"]: a for a in rows}


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "pull"}, "kind"),
    ({"kind": "faultMns"}, "baseUrl"),
    ({"kind": "faultMns", "baseUrl": "ftp://oss.example/fm"}, "baseUrl"),
    ({"kind": "faultMns", "baseUrl": "https://user:pw@oss.example/fm"}, "baseUrl"),
    ({"kind": "push", "baseUrl": "https://oss.example/fm"}, "baseUrl"),
    ({"kind": "push", "heartbeatPeriodS": 0}, "heartbeatPeriodS"),
    ({"kind": "push", "heartbeatPeriodS": "60"}, "heartbeatPeriodS"),
    ({"kind": "faultMns", "baseUrl": "https://oss.example/fm", "auth": {"type": "digest"}}, "auth/type"),
    ({"kind": "faultMns", "baseUrl": "https://oss.example/fm", "auth": {"type": "basic", "username": "u"}},
     "auth/password"),
    ({"kind": "push", "colour": "blue"}, "colour"),
])
def test_a_feed_that_cannot_work_is_refused_naming_the_field(app_client: TestClient, world: World,
                                                               body: dict[str, Any], field: str) -> None:
    r = app_client.post(FEEDS, headers=world.mno.auth("admin"), json=body)
    assert r.status_code == 400, r.text
    assert [e["loc"] for e in r.json()["errors"]] == [field], r.json()
    assert app_client.get(FEEDS, headers=world.mno.auth("viewer")).json() == []


def test_credentials_never_come_back_and_one_producer_per_mno(app_client: TestClient, world: World, db: Database,
                                                              producer: ProducerDouble) -> None:
    feed = _connect(app_client, world, producer)
    shown = app_client.get(FEEDS, headers=world.mno.auth("viewer")).text
    assert "s3cret" not in shown and "s3cret" not in str(feed)
    with db.read() as s:
        row = s.get(MnoFeed, feed["id"])
        assert row is not None and row.auth is not None and "s3cret" not in str(row.auth)  # sealed at rest
        assert service.credentials(row) == {"type": "basic", "username": "gridcell", "password": "s3cret"}
    assert feed["auth"] == {"type": "basic"}
    assert feed["consumerReference"].startswith("http://127.0.0.1:8000/api/v1/ingest/feeds/" + feed["id"] + "/")
    r = app_client.post(FEEDS, headers=world.mno.auth("admin"), json={"kind": "faultMns",
                                                                      "baseUrl": producer.base_url})
    assert r.status_code == 409, r.text
    assert app_client.get(f"{FEEDS}/{feed['id']}", headers=world.mno2.auth("viewer")).status_code == 404


def test_the_sink_takes_the_producers_notifications_with_the_right_key_only(app_client: TestClient, world: World,
                                                                            producer: ProducerDouble) -> None:
    feed = _connect(app_client, world, producer)
    sink = feed["consumerReference"].removeprefix("http://127.0.0.1:8000")
    raised = alarm("notifyNewAlarm", "SINK-1", cell_dn(PLMN_A, 0))
    wrong = sink.rsplit("/", 1)[0] + "/not-the-key"
    r = app_client.post(wrong, json=raised)
    assert r.status_code == 404 and r.json()["cause"] == "RESOURCE_NOT_FOUND", r.text
    assert "SINK-1" not in _alarms(app_client, world)
    r = app_client.post(sink, json=raised)
    assert r.status_code == 204, r.text
    assert "SINK-1" in _alarms(app_client, world)
    r = app_client.post(sink, json={**raised, "perceivedSeverity": "LOUD"})
    assert r.status_code == 400 and r.json()["invalidParams"][0]["param"] == "/perceivedSeverity", r.text


def test_a_producer_that_answers_garbage_fails_the_feed_and_changes_nothing(app_client: TestClient, world: World,
                                                                            db: Database,
                                                                            producer: ProducerDouble) -> None:
    feed = _connect(app_client, world, producer)
    app_client.post(feed["consumerReference"].removeprefix("http://127.0.0.1:8000"),
                    json=alarm("notifyNewAlarm", "KEEP-1", cell_dn(PLMN_A, 1)))
    before = _alarms(app_client, world)
    client = Producer(producer.base_url, {"type": "basic", "username": "gridcell", "password": "s3cret"},
                      allow_private=True)
    for garbage in (b"[1, 2]", b"{not json", b'{"A-9": "not a record"}',
                    b'{"A-9": {"objectInstance": "x", "perceivedSeverity": "SEVERE"}}'):
        producer.garbage = garbage
        result = service.reconcile(db, feed["id"], client)
        assert "error" in result, garbage
        shown = app_client.get(f"{FEEDS}/{feed['id']}", headers=world.mno.auth("viewer")).json()
        assert shown["state"] == "failed" and shown["lastError"], shown
        assert _alarms(app_client, world) == before, garbage
    producer.garbage = None  # the producer is sane again: its (empty) list is the truth
    assert service.reconcile(db, feed["id"], client)["cleared"] == 1
    assert app_client.get(f"{FEEDS}/{feed['id']}", headers=world.mno.auth("viewer")).json()["state"] == "active"
    assert "KEEP-1" not in _alarms(app_client, world)


def test_reconciliation_is_exactly_the_difference(app_client: TestClient, world: World, db: Database,
                                                  producer: ProducerDouble) -> None:
    feed = _connect(app_client, world, producer)
    sink = feed["consumerReference"].removeprefix("http://127.0.0.1:8000")
    for alarm_id, cell in (("R-1", 0), ("R-2", 1), ("R-3", 2)):
        assert app_client.post(sink, json=alarm("notifyNewAlarm", alarm_id, cell_dn(PLMN_A, cell),
                                                severity="MAJOR")).status_code == 204
    producer.raise_alarm("R-2", cell_dn(PLMN_A, 1), severity="MAJOR", push=False)  # the same: untouched
    producer.raise_alarm("R-3", cell_dn(PLMN_A, 2), severity="CRITICAL", push=False)  # severity changed
    producer.raise_alarm("R-4", cell_dn(PLMN_A, 0), push=False)  # missed here
    client = Producer(producer.base_url, {"type": "basic", "username": "gridcell", "password": "s3cret"},
                      allow_private=True)
    summary = service.reconcile(db, feed["id"], client)
    assert (summary["raised"], summary["cleared"], summary["changed"]) == (1, 1, 1), summary
    got = _alarms(app_client, world)
    assert set(got) == {"R-2", "R-3", "R-4"}
    assert got["R-3"]["details"]["perceivedSeverity"] == "CRITICAL"
    again = service.reconcile(db, feed["id"], client)
    assert (again["raised"], again["cleared"], again["changed"]) == (0, 0, 0), again
    assert not producer.violations, producer.violations


def test_a_pushed_feed_that_falls_silent_shows_on_dso_statuses(app_client: TestClient, world: World,
                                                               db: Database) -> None:
    r = app_client.post(FEEDS, headers=world.mno.auth("admin"), json={"kind": "push", "heartbeatPeriodS": 60})
    assert r.status_code == 201, r.text
    feed_id = r.json()["id"]

    def reasons() -> list[str]:
        items = app_client.get("/api/v1/status/sites/D1-S0", headers=world.dso.auth("viewer")).json()
        return [x["category"] for i in items if i["plmn"] == PLMN_A for x in i["reasons"]]

    # Heard 10 minutes ago, nothing since: one pass of the supervisor finds it silent.
    with db.write() as s:
        s.execute(update(MnoFeed).where(MnoFeed.id == feed_id).values(
            last_heard_at=utcnow() - timedelta(minutes=10), created_at=utcnow() - timedelta(minutes=11)))
    started = utcnow() - timedelta(minutes=11)
    service.supervise(db, lambda row: Producer("", None), "http://gridcell.example", started)
    assert app_client.get(f"{FEEDS}/{feed_id}", headers=world.mno.auth("viewer")).json()["state"] == "stale"
    assert "mno_information_stale" in reasons()
    # The MNO posts anything at all: alive again, the reason gone.
    assert app_client.post("/api/v1/ingest/notifications", headers=world.mno.auth(),
                           json=alarm("notifyNewAlarm", "ALIVE", cell_dn(PLMN_A, 2), severity="WARNING"),
                           ).status_code == 200
    service.supervise(db, lambda row: Producer("", None), "http://gridcell.example", started)
    assert app_client.get(f"{FEEDS}/{feed_id}", headers=world.mno.auth("viewer")).json()["state"] == "active"
    assert "mno_information_stale" not in reasons()
    # The other MNO's PLMN never carried it.
    items = app_client.get("/api/v1/status/sites/D1-S0", headers=world.dso.auth("viewer")).json()
    assert all(x["category"] != "mno_information_stale" for i in items for x in i["reasons"])


def test_a_sequence_gap_or_a_rebuilt_list_asks_for_reconciliation(app_client: TestClient, world: World,
                                                                  db: Database, producer: ProducerDouble) -> None:
    feed = _connect(app_client, world, producer)
    sink = feed["consumerReference"].removeprefix("http://127.0.0.1:8000")
    with db.write() as s:
        s.execute(update(MnoFeed).where(MnoFeed.id == feed["id"]).values(reconcile_due=False))

    def due() -> bool:
        return bool(app_client.get(f"{FEEDS}/{feed['id']}", headers=world.mno.auth("viewer")).json()["reconcileDue"])

    for seq in (1, 2, 3):
        app_client.post(sink, json=alarm("notifyNewAlarm", f"S-{seq}", cell_dn(PLMN_A, 0), sequenceNo=seq))
    assert not due()
    app_client.post(sink, json=alarm("notifyNewAlarm", "S-6", cell_dn(PLMN_A, 0), sequenceNo=6))  # 4, 5 lost
    assert due()
    with db.write() as s:
        s.execute(update(MnoFeed).where(MnoFeed.id == feed["id"]).values(reconcile_due=False))
    rebuilt = {"href": producer.base_url, "notificationId": 99, "notificationType": "notifyAlarmListRebuilt",
               "eventTime": utcnow().isoformat(), "systemDN": "DC=mno.example", "reason": "restart",
               "sequenceNo": 7}
    assert app_client.post(sink, json=rebuilt).status_code == 204
    assert due()
