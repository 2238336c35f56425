"""The audit view on both engines: it finds an organisation's entries however far back they lie among
others', pages newest first, and a store migrated from before counterpart rows keeps its history."""

from __future__ import annotations

from sqlalchemy import insert

from gridcell.core.clock import utcnow
from gridcell.migrations import upgrade
from gridcell.tenancy.models import AuditEntry
from gridcell.tenancy.service import Caller, audit, audit_entries
from tests.conftest import database_at, fresh_database, private_database


def _caller(org: str) -> Caller:
    return Caller(client_id=f"cl_{org}", org_id=org, role="viewer", org_kind="dso")


def test_an_old_entry_is_found_behind_thousands_of_other_organisations_entries(storage_url: str) -> None:
    with private_database(storage_url) as url:
        db = fresh_database(url)
        try:
            with db.write() as s:
                audit(s, _caller("dso_a"), "read site status", ["mno_x"])
                audit(s, _caller("dso_b"), "read site status", ["mno_y"])  # mno_x not involved
                for i in range(6000):  # more than the 5,000 newest entries the view used to look at
                    audit(s, _caller(f"dso_{i % 7}"), "read alarm list", ["mno_y"])
            with db.read() as s:
                mno_x = audit_entries(s, "mno_x", 100)
                dso_a = audit_entries(s, "dso_a", 100)
                assert [(e.org_id, e.counterpart_org_ids) for e in mno_x] == [("dso_a", ["mno_x"])]
                assert [e.id for e in dso_a] == [mno_x[0].id]
                assert len(audit_entries(s, "mno_y", 1000)) == 1000
        finally:
            db.dispose()


def test_pages_run_newest_first_over_own_entries_and_reads_of_own_data(storage_url: str) -> None:
    with private_database(storage_url) as url:
        db = fresh_database(url)
        try:
            with db.write() as s:
                for i in range(9):
                    who, about = [("mno_x", ["dso_a"]), ("dso_a", ["mno_x"]), ("dso_b", ["mno_z"])][i % 3]
                    audit(s, _caller(who), f"read {i}", about)
            with db.read() as s:
                pages, before = [], None
                while page := audit_entries(s, "mno_x", 2, before):
                    pages.append([e.action for e in page])
                    before = page[-1].id
            # mno_x's own reads (0, 3, 6) and dso_a's reads of mno_x data (1, 4, 7); never dso_b's.
            assert pages == [["read 7", "read 6"], ["read 4", "read 3"], ["read 1", "read 0"]]
        finally:
            db.dispose()


def test_entries_written_before_the_counterpart_rows_existed_are_found_after_the_upgrade(storage_url: str) -> None:
    with private_database(storage_url) as url:
        db = database_at(url, "0001")
        try:
            table = AuditEntry.__table__
            with db.engine.begin() as conn:
                conn.execute(insert(table), [
                    {"at": utcnow(), "client_id": "c1", "org_id": "dso_a", "action": "read site status",
                     "counterpart_org_ids": ["mno_x", "mno_y"], "detail": None},
                    {"at": utcnow(), "client_id": "c2", "org_id": "dso_b", "action": "read alarm list",
                     "counterpart_org_ids": ["mno_y"], "detail": {"n": 1}},
                ])
            upgrade(db)
            with db.read() as s:
                assert [e.action for e in audit_entries(s, "mno_x")] == ["read site status"]
                assert [e.org_id for e in audit_entries(s, "mno_y")] == ["dso_b", "dso_a"]
                assert audit_entries(s, "mno_z") == []
        finally:
            db.dispose()
