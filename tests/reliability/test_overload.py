"""Past capacity the exchange refuses at once (503 + Retry-After, nothing stored) instead of queueing without
bound; what it accepts is stored."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gridcell.app import create_app
from gridcell.core.db import Database
from gridcell.faults import group_commit, service
from tests.conftest import PLMN_A, alarm, build_world, cell_dn, make_settings


def test_requests_past_the_in_flight_limit_get_503(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    real = service.ingest_many

    def slow(*args: Any, **kwargs: Any) -> Any:
        gate.wait(30)  # the store is slow: requests pile up
        return real(*args, **kwargs)

    app = create_app(make_settings(db.url, max_in_flight_ingest=3), db=db, migrate=False)
    with TestClient(app) as client:
        world = build_world(client, db)
        monkeypatch.setattr(service, "ingest_many", slow)

        def post(i: int) -> tuple[int, str, str | None]:
            r = client.post("/api/v1/ingest/notifications", headers=world.mno.auth(),
                            json=alarm("notifyNewAlarm", f"OV-{i}", cell_dn(PLMN_A, i % 3)))
            return r.status_code, f"OV-{i}", r.headers.get("Retry-After")

        with ThreadPoolExecutor(12) as pool:
            futures = [pool.submit(post, i) for i in range(12)]
            deadline = time.monotonic() + 30
            while sum(f.done() for f in futures) < 9 and time.monotonic() < deadline:
                time.sleep(0.05)  # the nine past the limit are answered while three wait for the store
            refused = [f.result() for f in futures if f.done()]
            gate.set()
            results = [f.result() for f in futures]
        assert len(refused) >= 9 and all(code == 503 and after == "1" for code, _, after in refused), refused
        accepted = {name for code, name, _ in results if code == 200}
        assert len(accepted) == 3
        stored = {a["id"] for a in client.get("/api/v1/alarms", params={"active": "false"},
                                              headers=world.mno.auth("viewer")).json()}
        assert stored == accepted


def test_the_writer_queue_is_bounded(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    groups = group_commit.IngestGroups(db)
    monkeypatch.setattr(group_commit, "MAX_WAITING", 2)
    with groups._cv:
        groups._leading = True  # a unit of work is running
        groups._waiting = 2
    from gridcell.core.errors import Overloaded

    with pytest.raises(Overloaded) as refused:
        groups.submit("mno", [object()])
    assert refused.value.headers == {"Retry-After": "1"}
