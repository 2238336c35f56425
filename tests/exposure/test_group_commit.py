"""Group commit of MNO ingest: requests that queue while a unit of work runs share the next one, yet each
keeps its own answer and its own all-or-nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gridcell.core.db import Database
from gridcell.core.errors import InvalidInput
from gridcell.faults import group_commit, parse
from gridcell.faults import service as faults
from tests.conftest import PLMN_A, World, alarm, cell_dn
from tests.waiting import wait_until


def _parsed(items: list[dict[str, Any]]) -> list[Any]:
    return parse.notifications(items)


def _maintenance(mid: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {"notificationType": "notifyPlannedMaintenance", "notificationId": f"mw-{mid}",
            "eventTime": datetime.now(UTC).isoformat(), "maintenanceId": mid, "start": start.isoformat(),
            "end": end.isoformat(), "cells": [f"{PLMN_A}-C2"], "expectedImpact": "outage"}


def _run_grouped(db: Database, org_id: str, requests: list[list[dict[str, Any]]]) -> list[Any]:
    """Submit every request from its own thread while the writer is held, so that all but the first queue
    behind one unit of work and go together in the next. Returns each request's result or exception."""
    groups = group_commit.groups_for(db)
    outcomes: list[Any] = [None] * len(requests)

    def submit(i: int) -> None:
        try:
            outcomes[i] = groups.submit(org_id, _parsed(requests[i]))
        except Exception as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(requests))]
    with db.write():  # the writer is busy: the first submitter leads and waits here, the rest queue
        threads[0].start()
        wait_until(lambda: groups._leading, what="the first request to lead", interval=0.005)
        for t in threads[1:]:
            t.start()
        # requests failing validation never queue: wait for the others
        valid = sum(1 for r in requests[1:] if not _invalid(r))
        wait_until(lambda: len(groups._queue) == valid, what="the other requests to queue", interval=0.005)
    for t in threads:
        t.join(timeout=30)
    return outcomes


def _invalid(items: list[dict[str, Any]]) -> bool:
    return any(i.get("notificationType") == "notifyPlannedMaintenance" and i["end"] <= i["start"] for i in items)


def _statuses(client: TestClient, world: World) -> dict[str, str]:
    r = client.get("/api/v1/status", params={"plmn": PLMN_A}, headers=world.dso.auth("viewer"))
    assert r.status_code == 200, r.text
    return {s["siteId"]: s["status"] for s in r.json()["items"]}


def test_grouped_requests_keep_their_own_answers(app_client: TestClient, world: World, db: Database) -> None:
    now = datetime.now(UTC)
    first = [alarm("notifyNewAlarm", "G-0", cell_dn(PLMN_A, 0))]
    second = [alarm("notifyNewAlarm", "G-1", cell_dn(PLMN_A, 1)), alarm("notifyNewAlarm", "G-U", "SubNetwork=9,X=1")]
    repeat = [second[0], alarm("notifyNewAlarm", "G-1b", cell_dn(PLMN_A, 1))]  # in the same group as second
    bad = [alarm("notifyNewAlarm", "G-2", cell_dn(PLMN_A, 2)), _maintenance("M-bad", now, now - timedelta(hours=1))]
    out = _run_grouped(db, world.mno.id, [first, second, repeat, bad])

    assert (out[0].accepted, out[0].duplicates, out[0].unmapped) == (1, 0, 0)
    assert (out[1].accepted, out[1].duplicates, out[1].unmapped) == (2, 0, 1)
    assert (out[2].accepted, out[2].duplicates) == (1, 1)
    assert isinstance(out[3], InvalidInput)
    with db.read() as s:
        keys = {c.key for c, _ in faults.list_conditions(s, world.mno.id, kind="alarm")}
    assert keys == {"G-0", "G-1", "G-U", "G-1b"}  # nothing of the refused request
    assert _statuses(app_client, world) == {"D1-S0": "down", "D1-S1": "down", "D1-S2": "ok"}


def test_a_request_failing_inside_the_unit_of_work_fails_alone(app_client: TestClient, world: World, db: Database,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real = faults.ingest_many

    def failing_on_poison(session: Any, org_id: str, requests: Any) -> Any:
        if any(getattr(n, "alarmId", None) == "POISON" for r in requests for n in r):
            raise RuntimeError("a fault injected by the test")
        return real(session, org_id, requests)

    monkeypatch.setattr(faults, "ingest_many", failing_on_poison)
    out = _run_grouped(db, world.mno.id, [[alarm("notifyNewAlarm", "P-0", cell_dn(PLMN_A, 0))],
                                          [alarm("notifyNewAlarm", "P-1", cell_dn(PLMN_A, 1))],
                                          [alarm("notifyNewAlarm", "POISON", cell_dn(PLMN_A, 2))]])
    assert out[0].accepted == 1 and out[1].accepted == 1
    assert isinstance(out[2], RuntimeError)
    with db.read() as s:
        keys = {c.key for c, _ in faults.list_conditions(s, world.mno.id, kind="alarm")}
    assert keys == {"P-0", "P-1"}
    assert _statuses(app_client, world)["D1-S2"] == "ok"
