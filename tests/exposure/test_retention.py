"""Retention prunes what was delivered long ago, and the old record of received ids; never anything undelivered."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from gridcell.core.clock import utcnow
from gridcell.core.db import Database
from gridcell.exposure import handlers, retention
from gridcell.exposure.models import OutboxRow
from gridcell.faults.models import ReceivedNotification
from tests.conftest import PLMN_A, World, alarm, cell_dn


def test_old_delivered_rows_and_received_ids_go_undelivered_stay(app_client: TestClient, db: Database,
                                                                 world: World) -> None:
    r = app_client.post("/api/v1/subscriptions", json={"plmns": [PLMN_A]}, headers=world.dso.auth())  # SSE only
    assert r.status_code == 201, r.text
    for i in range(3):
        body = alarm("notifyNewAlarm", f"RET-{i}", cell_dn(PLMN_A, i))
        assert app_client.post("/api/v1/ingest/notifications", json=body, headers=world.mno.auth()).status_code == 200
    old = utcnow() - timedelta(days=20)
    with db.write() as s:
        rows = list(s.scalars(select(OutboxRow).order_by(OutboxRow.seq)))
        assert len(rows) == 3
        s.execute(update(OutboxRow).where(OutboxRow.pk.in_([rows[0].pk, rows[1].pk])).values(delivered_at=old))
        s.execute(update(OutboxRow).where(OutboxRow.pk == rows[2].pk).values(created_at=old))  # old, undelivered
        s.execute(update(ReceivedNotification).values(received_at=old))
    assert app_client.post("/api/v1/ingest/notifications", json=alarm("notifyNewAlarm", "RET-NEW", cell_dn(PLMN_A, 0)),
                           headers=world.mno.auth()).status_code == 200
    assert handlers.prune(db, 14) == 2 + 3
    with db.read() as s:
        left = list(s.scalars(select(OutboxRow.seq).order_by(OutboxRow.seq)))
        assert left[0] == 3  # the undelivered one stays, however old
        assert s.scalar(select(func.count()).select_from(ReceivedNotification)) == 1
    with db.write() as s:
        assert retention.prune_page(s, utcnow(), 14) == 0
