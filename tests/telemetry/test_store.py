"""Raw probe blocks and rollups, on SQLite and PostgreSQL: every result is stored exactly once however the
uploads overlap, windows read back exactly what was stored, and the rollups add up to the stored probes."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from gridcell.core.db import Database
from gridcell.migrations import upgrade
from gridcell.telemetry import store
from gridcell.telemetry.models import ProbeHourly
from gridcell.topology import service as topology
from tests.conftest import database_at, fresh_database, private_database
from tests.telemetry.helpers import PLMN_A, PLMN_B, T0, build, ingest, manual_clock

T0_MS = int(T0.timestamp() * 1000)
Key = tuple[str, str, int]  # (cpe, plmn, ts_ms)


@pytest.fixture
def tdb(storage_url: str) -> Iterator[Database]:
    with private_database(storage_url) as url:
        db = fresh_database(url)
        yield db
        db.dispose()


def _row(cpe: int, plmn: str, back_s: int, ok: bool, rtt_tenths: int, with_cell: bool) -> dict[str, Any]:
    ts = T0 - timedelta(seconds=back_s)
    row: dict[str, Any] = {"cpe": f"CPE{cpe}", "plmn": plmn, "ts": ts.isoformat(), "ok": ok,
                           "rtt_ms": rtt_tenths / 10 if ok else None}
    if with_cell:
        row["cell"] = f"{plmn}-C0"
    return row


def _truth(uploads: list[list[dict[str, Any]]]) -> dict[Key, tuple[bool, float | None, bool]]:
    """What must be stored: the first result seen for each (CPE, PLMN, timestamp)."""
    out: dict[Key, tuple[bool, float | None, bool]] = {}
    for batch in uploads:
        for r in batch:
            key = (r["cpe"], r["plmn"], T0_MS - round((T0 - _parse(r["ts"])).total_seconds() * 1000))
            out.setdefault(key, (r["ok"], r["rtt_ms"], "cell" in r))
    return out


def _parse(ts: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(ts)


def _blocks(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(text("SELECT count(*) FROM probe_blocks")) or 0)


def _check(db: Database, dso: str, uploads: list[list[dict[str, Any]]], compact: bool = False) -> None:
    """Ingest the uploads, optionally compact every block, then compare every reader with the truth."""
    truth = _truth(uploads)
    with manual_clock():
        answers = [ingest(db, dso, batch) for batch in uploads if batch]
    assert sum(a["accepted"] for a in answers) == len(truth)
    assert sum(a["accepted"] + a["duplicates"] for a in answers) == sum(len(b) for b in uploads)
    if compact:
        before = _blocks(db)
        while True:  # passes in small pages, as the retention job runs them hourly, until one merges nothing
            after, merged = None, 0
            while True:
                with db.write() as s:
                    removed, written, after = store.compact(s, T0_MS + 1, max_blocks=64, after=after)
                assert written <= removed // 2
                merged += removed
                if after is None:
                    break
            if not merged:
                break
        after = _blocks(db)
        with db.read() as s:  # what is left: at most one small block per (USIM, cell, hour)
            left = s.execute(text("SELECT usim_pk, cell_pk, t0_ms / 3600000, count(*) FROM probe_blocks "
                                  f"WHERE n < {store.SMALL_BLOCK} GROUP BY 1, 2, 3 HAVING count(*) > 1")).all()
        assert left == [] and after <= before
        with manual_clock():  # everything sent again is recognised in the merged blocks
            again = [ingest(db, dso, batch) for batch in uploads if batch]
        assert sum(a["accepted"] for a in again) == 0
    with db.read() as s:
        refs = {u.pk: (u.cpe_id, u.plmn) for u in topology.usim_refs(s, dso)}
        cells = {c: pk for (_, c), pk in topology.cell_pks_by_id(s, {(PLMN_A, f"{PLMN_A}-C0"),
                                                                      (PLMN_B, f"{PLMN_B}-C0")}).items()}
        assert store.count_raw(s) == len(truth)
        lo, hi = T0_MS - 4 * 3_600_000, T0_MS
        raw = store.read(s, lo, hi, usims=list(refs))
        got = {(*refs[u], t): (ok, None if r != r else r, c >= 0) for u, t, ok, r, c in
               zip(raw.usim.tolist(), raw.ts.tolist(), raw.ok.tolist(), raw.rtt.tolist(), raw.cell.tolist(),
                   strict=True)}
        assert got == truth
        assert list(zip(raw.usim.tolist(), raw.ts.tolist(), strict=True)) == sorted(
            zip(raw.usim.tolist(), raw.ts.tolist(), strict=True))
        # a window cutting through blocks
        a, b = T0_MS - 5_400_000, T0_MS - 1_800_000
        part = store.read(s, a, b, usims=list(refs))
        assert {(*refs[u], t) for u, t in zip(part.usim.tolist(), part.ts.tolist(), strict=True)} == \
            {k for k in truth if a <= k[2] <= b}
        counts = store.counts_since(s, list(refs), a)
        for pk, (cpe, plmn) in refs.items():
            mine = [v for k, v in truth.items() if k[:2] == (cpe, plmn) and k[2] >= a]
            assert counts.get(pk, (0, 0)) == ((len(mine), sum(1 for v in mine if not v[0])) if mine else (0, 0))
        on_cells = store.usims_on_cells(s, list(cells.values()), a, b)
        by_usim = {v: k for k, v in refs.items()}
        assert on_cells == {(cells[f"{k[1]}-C0"], by_usim[(k[0], k[1])]) for k, v in truth.items()
                            if v[2] and a <= k[2] <= b}
        hourly = s.scalars(select(ProbeHourly)).all()
        for h in hourly:
            cpe, plmn = refs[h.usim_pk]
            mine = [v for k, v in truth.items() if k[:2] == (cpe, plmn) and k[2] // store.HOUR_MS == h.hour]
            assert (h.probes, h.failures) == (len(mine), sum(1 for v in mine if not v[0]))
            rtts = [v[1] for v in mine if v[0] and v[1] is not None]
            assert h.rtt_count == len(rtts) and h.rtt_sum == pytest.approx(sum(rtts))
            assert sum(h.hist) == len(rtts)
        assert sum(h.probes for h in hourly) == len(truth)


def _uploads(rnd: random.Random, batches: int, rows: int) -> list[list[dict[str, Any]]]:
    out = []
    for _ in range(batches):
        out.append([_row(rnd.randrange(2), rnd.choice((PLMN_A, PLMN_B)), rnd.randrange(0, 3 * 3600, 10),
                         rnd.random() > 0.2, rnd.randrange(10, 2000), rnd.random() > 0.5) for _ in range(rows)])
    return out


def test_overlapping_late_and_repeated_uploads_store_each_result_once(tdb: Database) -> None:
    w = build(tdb, n_sites=2)
    rnd = random.Random(7)
    uploads = _uploads(rnd, 6, 300)
    uploads.append(uploads[2][:100])  # a plain resend
    _check(tdb, w.dso, uploads)


def test_compaction_merges_small_blocks_and_every_reader_sees_the_same_probes(tdb: Database) -> None:
    """Many small uploads (an MQTT fleet), then compaction: fewer rows, identical probes, rollups untouched."""
    w = build(tdb, n_sites=2)
    uploads = _uploads(random.Random(11), 40, 12)  # ~8 blocks an upload before compaction
    _check(tdb, w.dso, uploads, compact=True)
    assert _blocks(tdb) < sum(len(b) for b in uploads) // 4


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), batches=st.integers(1, 5), rows=st.integers(1, 80), compact=st.booleans())
def test_any_upload_sequence_keeps_store_and_rollups_consistent(tmp_path: Any, seed: int, batches: int,
                                                                 rows: int, compact: bool) -> None:
    db = fresh_database(f"sqlite:///{tmp_path / f'p{seed}-{batches}-{rows}-{compact}.db'}")
    try:
        w = build(db, n_sites=2)
        _check(db, w.dso, _uploads(random.Random(seed), batches, rows), compact)
    finally:
        db.dispose()


def test_migration_converts_raw_rows_to_blocks(storage_url: str) -> None:
    """A store holding one row per probe (before 0008) keeps every probe after the upgrade."""
    with private_database(storage_url) as url:
        db = database_at(url, "0003")
        try:
            rnd = np.random.default_rng(3)
            rows = [(u, T0_MS - 10_000 * i, int(rnd.random() > 0.3), None if i % 7 == 0 else float(i % 50) + 0.5,
                     None if i % 3 else 40 + u, -90.25 if i % 2 else None, None)
                    for u in (1, 2, 3) for i in range(200)]
            with db.engine.begin() as conn:
                conn.execute(text("INSERT INTO probe_results (usim_pk, ts_ms, ok, rtt_ms, cell_pk, rsrp, sinr) "
                                  "VALUES (:u, :t, :o, :r, :c, :p, :q)"),
                             [dict(zip("utorcpq", r, strict=True)) for r in rows])
            upgrade(db)
            with db.read() as s:
                raw = store.read(s, T0_MS - 10_000_000, T0_MS, usims=[1, 2, 3])
                assert store.count_raw(s) == len(rows)
            got = sorted(zip(raw.usim.tolist(), raw.ts.tolist(), raw.ok.astype(int).tolist(),
                             [None if r != r else r for r in raw.rtt.tolist()],
                             [None if c < 0 else c for c in raw.cell.tolist()], strict=True))
            assert got == sorted(r[:5] for r in rows)
        finally:
            db.dispose()
