"""Probe storage: bulk insert of raw results (duplicates ignored by key) and additive hourly rollups.

Raw rows go in through the driver's bulk path inside the unit of work (SQLite: one executemany;
PostgreSQL: COPY into a session-local staging table, then one INSERT … ON CONFLICT DO NOTHING). The
number actually inserted tells whether the batch had duplicates: if not, rollups are added from the
batch in numpy; if so, the touched (USIM, hour) rollups are recomputed from the raw rows.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import Table, and_, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from gridcell.telemetry.models import ProbeHourly, ProbeResult

HOUR_MS = 3_600_000
# RTT histogram bucket upper edges (ms); the last bucket is open-ended.
BUCKET_EDGES = np.array([2, 5, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000],
                        dtype=np.float64)
NB = len(BUCKET_EDGES) + 1
_COLS = "usim_pk, ts_ms, ok, rtt_ms, cell_pk, rsrp, sinr"


def _nullable(arr: npt.NDArray[Any]) -> list[Any]:
    values = arr.tolist()
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        return [None if v != v else v for v in values]
    return list(values)


def insert_raw(session: Session, usim: npt.NDArray[np.int64], ts: npt.NDArray[np.int64], ok: npt.NDArray[np.bool_],
               rtt: npt.NDArray[np.float64], cell: npt.NDArray[np.int64], rsrp: npt.NDArray[np.float64],
               sinr: npt.NDArray[np.float64]) -> int:
    """Insert; rows whose (USIM, timestamp) exists already are skipped. Returns the number inserted."""
    if len(usim) == 0:
        return 0
    cell_list = cell.tolist()
    if (cell < 0).any():
        cell_list = [None if c < 0 else c for c in cell_list]
    rows = list(zip(usim.tolist(), ts.tolist(), ok.astype(np.int8).tolist(), _nullable(rtt), cell_list,
                    _nullable(rsrp), _nullable(sinr), strict=True))
    conn = session.connection()
    raw: Any = conn.connection.dbapi_connection
    if conn.dialect.name == "sqlite":
        cur = raw.cursor()
        try:
            cur.executemany(f"INSERT OR IGNORE INTO probe_results ({_COLS}) VALUES (?,?,?,?,?,?,?)", rows)
            return int(cur.rowcount)
        finally:
            cur.close()
    with raw.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS probe_stage (LIKE probe_results) ON COMMIT DELETE ROWS")
        with cur.copy(f"COPY probe_stage ({_COLS}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
        cur.execute(f"INSERT INTO probe_results ({_COLS}) SELECT {_COLS} FROM probe_stage ON CONFLICT DO NOTHING")
        inserted = int(cur.rowcount)
        cur.execute("DELETE FROM probe_stage")
        return inserted


def bucket_of(rtt: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    return np.searchsorted(BUCKET_EDGES, rtt, side="left").astype(np.int64)


def _aggregate(usim: npt.NDArray[np.int64], ts: npt.NDArray[np.int64], ok: npt.NDArray[np.bool_],
               rtt: npt.NDArray[np.float64]) -> dict[tuple[int, int], list[Any]]:
    """(usim, hour) → [probes, failures, rtt_count, rtt_sum, hist]."""
    if len(usim) == 0:
        return {}
    hour = ts // HOUR_MS
    key = usim * 1_000_000_000 + hour  # hours since 1970 stay far below 1e9
    uniq, inv = np.unique(key, return_inverse=True)
    g = len(uniq)
    probes = np.bincount(inv, minlength=g)
    failures = np.bincount(inv, weights=(~ok).astype(np.float64), minlength=g)
    has = ok & ~np.isnan(rtt)
    rtt_count = np.bincount(inv[has], minlength=g)
    rtt_sum = np.bincount(inv[has], weights=rtt[has], minlength=g)
    hist = np.bincount(inv[has] * NB + bucket_of(rtt[has]), minlength=g * NB).reshape(g, NB)
    out: dict[tuple[int, int], list[Any]] = {}
    for i, k in enumerate(uniq.tolist()):
        out[(k // 1_000_000_000, k % 1_000_000_000)] = [int(probes[i]), int(failures[i]), int(rtt_count[i]),
                                                       float(rtt_sum[i]), hist[i].tolist()]
    return out


def _existing(session: Session, keys: set[tuple[int, int]]) -> dict[tuple[int, int], dict[str, Any]]:
    by_usim: dict[int, list[int]] = {}
    for u, h in keys:
        by_usim.setdefault(u, []).append(h)
    out: dict[tuple[int, int], dict[str, Any]] = {}
    table = cast(Table, ProbeHourly.__table__)
    usims = sorted(by_usim)
    lo, hi = min(h for _, h in keys), max(h for _, h in keys)
    for i in range(0, len(usims), 500):
        chunk = usims[i:i + 500]
        for row in session.execute(select(table).where(table.c.usim_pk.in_(chunk), table.c.hour >= lo,
                                                       table.c.hour <= hi)).mappings():
            if (row["usim_pk"], row["hour"]) in keys:
                out[(row["usim_pk"], row["hour"])] = dict(row)
    return out


def add_rollups(session: Session, usim: npt.NDArray[np.int64], ts: npt.NDArray[np.int64],
                ok: npt.NDArray[np.bool_], rtt: npt.NDArray[np.float64]) -> None:
    """Add new (never seen before) probes to the hourly rollups."""
    agg = _aggregate(usim, ts, ok, rtt)
    if not agg:
        return
    existing = _existing(session, set(agg))
    new_rows: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for (u, h), (p, f, rc, rs, hist) in agg.items():
        row = existing.get((u, h))
        if row is None:
            new_rows.append({"usim_pk": u, "hour": h, "probes": p, "failures": f, "rtt_count": rc, "rtt_sum": rs,
                             "hist": hist})
        else:
            changed.append({"ku": u, "kh": h, "probes": row["probes"] + p, "failures": row["failures"] + f,
                            "rtt_count": row["rtt_count"] + rc, "rtt_sum": row["rtt_sum"] + rs,
                            "hist": [a + b for a, b in zip(row["hist"], hist, strict=True)]})
    table = cast(Table, ProbeHourly.__table__)
    for i in range(0, len(new_rows), 2000):
        session.execute(insert(table), new_rows[i:i + 2000])
    if changed:
        session.execute(update(table).where(table.c.usim_pk == bindparam("ku"), table.c.hour == bindparam("kh"))
                        .values({c: bindparam(c) for c in ("probes", "failures", "rtt_count", "rtt_sum", "hist")}),
                        changed)


def recompute_rollups(session: Session, keys: set[tuple[int, int]]) -> None:
    """Rebuild these (usim, hour) rollups from the raw rows (after a batch that carried duplicates)."""
    if not keys:
        return
    session.flush()
    usims = sorted({u for u, _ in keys})
    lo, hi = min(h for _, h in keys), max(h for _, h in keys)
    cols: list[list[Any]] = [[], [], [], []]
    for i in range(0, len(usims), 500):
        for r in session.execute(select(ProbeResult.usim_pk, ProbeResult.ts_ms, ProbeResult.ok, ProbeResult.rtt_ms)
                                 .where(ProbeResult.usim_pk.in_(usims[i:i + 500]),
                                        ProbeResult.ts_ms >= lo * HOUR_MS, ProbeResult.ts_ms < (hi + 1) * HOUR_MS)):
            if (r[0], r[1] // HOUR_MS) in keys:
                for c, v in zip(cols, r, strict=True):
                    c.append(v)
    for u in usims:
        hours = [h for uu, h in keys if uu == u]
        session.execute(delete(ProbeHourly).where(and_(ProbeHourly.usim_pk == u, ProbeHourly.hour.in_(hours))))
    session.flush()
    add_rollups(session, np.array(cols[0], dtype=np.int64), np.array(cols[1], dtype=np.int64),
                np.array(cols[2], dtype=np.bool_),
                np.array([np.nan if v is None else v for v in cols[3]], dtype=np.float64))


def percentile_from_hist(hist: npt.NDArray[np.int64], q: float) -> float | None:
    """The upper edge of the bucket holding the q-quantile (a conservative estimate)."""
    total = int(hist.sum())
    if total == 0:
        return None
    idx = int(np.searchsorted(np.cumsum(hist), q * total, side="left"))
    return float(BUCKET_EDGES[idx]) if idx < len(BUCKET_EDGES) else float(BUCKET_EDGES[-1]) * 2


def prune(session: Session, raw_before_ms: int, hourly_before_hour: int) -> tuple[int, int]:
    a = session.execute(delete(ProbeResult).where(ProbeResult.ts_ms < raw_before_ms))
    b = session.execute(delete(ProbeHourly).where(ProbeHourly.hour < hourly_before_hour))
    return int(getattr(a, "rowcount", 0) or 0), int(getattr(b, "rowcount", 0) or 0)
