"""Probe storage: raw probes as packed per-(USIM, cell) blocks, and additive hourly rollups.

Raw probes are kept for the retention window as blocks (see `ProbeBlock`): an upload of 100,000 results
from 4,000 USIMs writes about 4,000 rows, each holding its probes as little-endian arrays. The caller
removes duplicates before writing (`stored_mask`), so every stored (USIM, timestamp) is unique and the
rollups only ever add. Readers decode only the blocks that overlap their window, and use the block's
counts where the window covers it whole.

The hot writes go through the driver's executemany (``exec_driver_sql``): SQLAlchemy's per-row parameter
processing was most of the cost of an upload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import orjson
from sqlalchemy import Connection, Table, delete, func, select, tuple_
from sqlalchemy.orm import Session

from gridcell.core.db import bind_marker
from gridcell.telemetry.models import ProbeBlock, ProbeHourly

HOUR_MS = 3_600_000
# RTT histogram bucket upper edges (ms); the last bucket is open-ended.
BUCKET_EDGES = np.array([2, 5, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000],
                        dtype=np.float64)
NB = len(BUCKET_EDGES) + 1
MAX_SPAN_MS = 2**32 - 1  # a block's offsets are uint32
CHUNK = 500  # ids per IN list

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

_BLOCKS = cast(Table, ProbeBlock.__table__)
_HOURLY = cast(Table, ProbeHourly.__table__)
_BLOCK_COLS = ("usim_pk", "t0_ms", "t1_ms", "cell_pk", "n", "failures", "ts", "ok", "rtt", "rsrp", "sinr")
_HOURLY_COLS = ("usim_pk", "hour", "probes", "failures", "rtt_count", "rtt_sum", "hist")


@dataclass
class Raw:
    """Decoded probes sorted by (USIM, time); ``cell`` is -1 where none was reported, ``rtt`` NaN."""

    usim: I64
    ts: I64
    ok: B
    rtt: F64
    cell: I64

    def __len__(self) -> int:
        return len(self.ts)


def _marks(conn: Connection, n: int) -> str:
    mark = bind_marker(conn)
    return ", ".join([mark] * n)


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    ids = sorted(set(ids))
    return [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]


# ---- raw blocks ---------------------------------------------------------------------------------------


def insert_raw(session: Session, usim: I64, ts: I64, ok: B, rtt: F64, cell: I64, rsrp: F64, sinr: F64) -> int:
    """Store probes that are not stored yet (see `stored_mask`), one block per (USIM, cell). Returns the count."""
    _insert_blocks(session.connection(), _pack(usim, ts, ok, rtt, cell, rsrp, sinr))
    return len(usim)


def _insert_blocks(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.exec_driver_sql(f"INSERT INTO probe_blocks ({', '.join(_BLOCK_COLS)}) VALUES ({_marks(conn, 11)})", rows)


def _pack(usim: I64, ts: I64, ok: B, rtt: npt.NDArray[Any], cell: I64, rsrp: npt.NDArray[Any],
          sinr: npt.NDArray[Any]) -> list[tuple[Any, ...]]:
    """probe_blocks rows (in `_BLOCK_COLS` order), one per (USIM, cell), each sorted by time."""
    n = len(usim)
    if n == 0:
        return []
    order = np.lexsort((ts, cell, usim))
    u, c, t, okb = usim[order], cell[order], ts[order], ok[order]
    starts = np.flatnonzero(np.r_[True, (u[1:] != u[:-1]) | (c[1:] != c[:-1])])
    ends = np.r_[starts[1:], n]
    t0, t1 = t[starts], t[ends - 1]
    if int((t1 - t0).max()) > MAX_SPAN_MS:
        raise ValueError("a probe block spans more than 2^32 ms")
    offsets = (t - np.repeat(t0, ends - starts)).astype("<u4").tobytes()
    fails = np.add.reduceat((~okb).astype(np.int64), starts)
    rtt_b = rtt[order].astype("<f4").tobytes()
    extra = []
    for arr in (rsrp[order], sinr[order]):
        present = np.logical_or.reduceat(~np.isnan(arr), starts)
        extra.append((arr.astype("<f4").tobytes(), present.tolist()))
    (rsrp_b, rsrp_has), (sinr_b, sinr_has) = extra
    rows = []
    for i, (a, b, uu, cc, f0, f1, nf) in enumerate(zip(starts.tolist(), ends.tolist(), u[starts].tolist(),
                                                         c[starts].tolist(), t0.tolist(), t1.tolist(), fails.tolist(),
                                                         strict=True)):
        rows.append((uu, f0, f1, None if cc < 0 else cc, b - a, nf, offsets[4 * a:4 * b],
                     np.packbits(okb[a:b]).tobytes(), rtt_b[4 * a:4 * b],
                     rsrp_b[4 * a:4 * b] if rsrp_has[i] else None, sinr_b[4 * a:4 * b] if sinr_has[i] else None))
    return rows


def _decode(t0: int, n: int, ts: bytes, ok: bytes, rtt: bytes) -> tuple[I64, B, F64]:
    times = np.frombuffer(ts, dtype="<u4").astype(np.int64) + t0
    oks: B = np.unpackbits(np.frombuffer(ok, dtype=np.uint8), count=n).astype(np.bool_)
    # float32 on disk: round to the microsecond so 30.1 reads back as 30.1
    rtts = np.asarray(np.round(np.frombuffer(rtt, dtype="<f4").astype(np.float64), 3), dtype=np.float64)
    return times, oks, rtts


def stored_mask(session: Session, usim: I64, ts: I64) -> B:
    """Which of these (USIM, timestamp) pairs are stored already."""
    out = np.zeros(len(usim), dtype=np.bool_)
    if len(usim) == 0:
        return out
    lo, hi = int(ts.min()), int(ts.max())
    stored: set[tuple[int, int]] = set()
    for chunk in _chunks(usim.tolist()):
        for u, t0, n, tb, okb, rb in session.execute(
                select(_BLOCKS.c.usim_pk, _BLOCKS.c.t0_ms, _BLOCKS.c.n, _BLOCKS.c.ts, _BLOCKS.c.ok, _BLOCKS.c.rtt)
                .where(_BLOCKS.c.usim_pk.in_(chunk), _BLOCKS.c.t0_ms <= hi, _BLOCKS.c.t1_ms >= lo)):
            times, _, _ = _decode(t0, n, tb, okb, rb)
            stored.update((u, x) for x in times.tolist())
    if stored:
        out[:] = [(a, b) in stored for a, b in zip(usim.tolist(), ts.tolist(), strict=True)]
    return out


def read(session: Session, t0_ms: int, t1_ms: int, *, usims: Sequence[int] = (),
         cells: Sequence[int] = ()) -> Raw:
    """Probes in [t0_ms, t1_ms] of these USIMs, or through these cells, sorted by (USIM, time)."""
    parts: list[tuple[I64, I64, B, F64, I64]] = []
    key, ids = (_BLOCKS.c.cell_pk, cells) if cells else (_BLOCKS.c.usim_pk, usims)
    for chunk in _chunks(ids):
        for u, t0, c, n, tb, okb, rb in session.execute(
                select(_BLOCKS.c.usim_pk, _BLOCKS.c.t0_ms, _BLOCKS.c.cell_pk, _BLOCKS.c.n, _BLOCKS.c.ts,
                       _BLOCKS.c.ok, _BLOCKS.c.rtt)
                .where(key.in_(chunk), _BLOCKS.c.t0_ms <= t1_ms, _BLOCKS.c.t1_ms >= t0_ms)):
            times, oks, rtts = _decode(t0, n, tb, okb, rb)
            keep = (times >= t0_ms) & (times <= t1_ms)
            k = int(keep.sum())
            parts.append((np.full(k, u, dtype=np.int64), times[keep], oks[keep], rtts[keep],
                          np.full(k, -1 if c is None else c, dtype=np.int64)))
    if not parts:
        e = np.zeros(0, dtype=np.int64)
        return Raw(e, e, np.zeros(0, dtype=np.bool_), np.zeros(0), e)
    u_all, t_all, ok_all, r_all, c_all = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.lexsort((t_all, u_all))
    return Raw(u_all[order], t_all[order], ok_all[order], r_all[order], c_all[order])


def counts_since(session: Session, usims: Sequence[int], since_ms: int) -> dict[int, tuple[int, int]]:
    """USIM → (probes, failures) from since_ms on: block counts where the block is inside, else decoded."""
    out: dict[int, tuple[int, int]] = {}

    def add(u: int, n: int, f: int) -> None:
        a, b = out.get(u, (0, 0))
        out[u] = (a + n, b + f)

    for chunk in _chunks(usims):
        for u, n, f in session.execute(
                select(_BLOCKS.c.usim_pk, func.sum(_BLOCKS.c.n), func.sum(_BLOCKS.c.failures))
                .where(_BLOCKS.c.usim_pk.in_(chunk), _BLOCKS.c.t0_ms >= since_ms).group_by(_BLOCKS.c.usim_pk)):
            add(u, int(n), int(f))
        for u, t0, n, tb, okb, rb in session.execute(
                select(_BLOCKS.c.usim_pk, _BLOCKS.c.t0_ms, _BLOCKS.c.n, _BLOCKS.c.ts, _BLOCKS.c.ok, _BLOCKS.c.rtt)
                .where(_BLOCKS.c.usim_pk.in_(chunk), _BLOCKS.c.t0_ms < since_ms, _BLOCKS.c.t1_ms >= since_ms)):
            times, oks, _ = _decode(t0, n, tb, okb, rb)
            inside = times >= since_ms
            add(u, int(inside.sum()), int((inside & ~oks).sum()))
    return out


def usims_on_cells(session: Session, cells: Sequence[int], t0_ms: int, t1_ms: int) -> set[tuple[int, int]]:
    """(cell, USIM) pairs with at least one probe in [t0_ms, t1_ms] naming that serving cell."""
    out: set[tuple[int, int]] = set()
    for chunk in _chunks(cells):
        for c, u, t0, t1, n, tb, okb, rb in session.execute(
                select(_BLOCKS.c.cell_pk, _BLOCKS.c.usim_pk, _BLOCKS.c.t0_ms, _BLOCKS.c.t1_ms, _BLOCKS.c.n,
                       _BLOCKS.c.ts, _BLOCKS.c.ok, _BLOCKS.c.rtt)
                .where(_BLOCKS.c.cell_pk.in_(chunk), _BLOCKS.c.t0_ms <= t1_ms, _BLOCKS.c.t1_ms >= t0_ms)):
            if (c, u) in out:
                continue
            if t0 >= t0_ms and t1 <= t1_ms:
                out.add((c, u))
                continue
            times, _, _ = _decode(t0, n, tb, okb, rb)
            if ((times >= t0_ms) & (times <= t1_ms)).any():
                out.add((c, u))
    return out


def count_raw(session: Session) -> int:
    """Raw probes held (every block's count)."""
    return int(session.scalar(select(func.coalesce(func.sum(_BLOCKS.c.n), 0))) or 0)


# ---- hourly rollups -----------------------------------------------------------------------------------


def bucket_of(rtt: F64) -> I64:
    return np.searchsorted(BUCKET_EDGES, rtt, side="left").astype(np.int64)


def _aggregate(usim: I64, ts: I64, ok: B, rtt: F64) -> dict[tuple[int, int], list[Any]]:
    """(usim, hour) → [probes, failures, rtt_count, rtt_sum, hist]."""
    if len(usim) == 0:
        return {}
    hour = ts // HOUR_MS
    key = usim * 1_000_000_000 + hour  # hours since 1970 stay far below 1e9
    uniq, inv = np.unique(key, return_inverse=True)
    g = len(uniq)
    probes = np.bincount(inv, minlength=g).tolist()
    failures = np.bincount(inv, weights=(~ok).astype(np.float64), minlength=g).astype(np.int64).tolist()
    has = ok & ~np.isnan(rtt)
    rtt_count = np.bincount(inv[has], minlength=g).tolist()
    rtt_sum = np.bincount(inv[has], weights=rtt[has], minlength=g).tolist()
    hist = np.bincount(inv[has] * NB + bucket_of(rtt[has]), minlength=g * NB).reshape(g, NB).tolist()
    return {(k // 1_000_000_000, k % 1_000_000_000): [probes[i], failures[i], rtt_count[i], rtt_sum[i], hist[i]]
            for i, k in enumerate(uniq.tolist())}


def _existing(session: Session, keys: set[tuple[int, int]]) -> dict[tuple[int, int], tuple[Any, ...]]:
    """The stored rollups among these keys: one range scan over the primary key, filtered here."""
    us = [u for u, _ in keys]
    hs = [h for _, h in keys]
    out: dict[tuple[int, int], tuple[Any, ...]] = {}
    conn = session.connection()
    mark = bind_marker(conn)
    for row in conn.exec_driver_sql(
            f"SELECT usim_pk, hour, probes, failures, rtt_count, rtt_sum, hist FROM probe_hourly "
            f"WHERE usim_pk >= {mark} AND usim_pk <= {mark} AND hour >= {mark} AND hour <= {mark}",
            (min(us), max(us), min(hs), max(hs))).fetchall():
        if (row[0], row[1]) in keys:
            out[(row[0], row[1])] = tuple(row)
    return out


def add_rollups(session: Session, usim: I64, ts: I64, ok: B, rtt: F64) -> None:
    """Add newly stored probes to the hourly rollups (read, add, write back: histograms are JSON arrays)."""
    agg = _aggregate(usim, ts, ok, rtt)
    if not agg:
        return
    existing = _existing(session, set(agg))
    new_rows: list[tuple[Any, ...]] = []
    changed: list[tuple[Any, ...]] = []
    merge: list[tuple[Any, ...]] = []  # (existing row, batch aggregate): histograms are added in one go
    for (u, h), (p, f, rc, rs, hist) in agg.items():
        row = existing.get((u, h))
        if row is None:
            new_rows.append((u, h, p, f, rc, rs, orjson.dumps(hist).decode()))
        else:
            merge.append((row, p, f, rc, rs, hist))
    if merge:
        old = np.array([r[0][6] if isinstance(r[0][6], list) else orjson.loads(r[0][6]) for r in merge],
                       dtype=np.int64)
        sums = (old + np.array([r[5] for r in merge], dtype=np.int64)).tolist()
        changed = [(row[2] + p, row[3] + f, row[4] + rc, row[5] + rs, orjson.dumps(total).decode(), row[0], row[1])
                   for (row, p, f, rc, rs, _), total in zip(merge, sums, strict=True)]
    conn = session.connection()
    if new_rows:
        conn.exec_driver_sql(f"INSERT INTO probe_hourly ({', '.join(_HOURLY_COLS)}) VALUES ({_marks(conn, 7)})",
                             new_rows)
    if changed:
        mark = bind_marker(conn)
        conn.exec_driver_sql(
            f"UPDATE probe_hourly SET probes = {mark}, failures = {mark}, rtt_count = {mark}, rtt_sum = {mark}, "
            f"hist = {mark} WHERE usim_pk = {mark} AND hour = {mark}", changed)


def percentile_from_hist(hist: npt.NDArray[np.int64], q: float) -> float | None:
    """The upper edge of the bucket holding the q-quantile (a conservative estimate)."""
    total = int(hist.sum())
    if total == 0:
        return None
    idx = int(np.searchsorted(np.cumsum(hist), q * total, side="left"))
    return float(BUCKET_EDGES[idx]) if idx < len(BUCKET_EDGES) else float(BUCKET_EDGES[-1]) * 2


# ---- compaction --------------------------------------------------------------------------------------

SMALL_BLOCK = 256  # probes: blocks smaller than this are merged with their (USIM, cell, hour) neighbours


def compact(session: Session, before_ms: int, max_blocks: int = 256,
            after: tuple[int, int] | None = None) -> tuple[int, int, tuple[int, int] | None]:
    """Merge the small blocks of one USIM through one cell that start in the same hour and whose newest probe
    is older than `before_ms` into one block. Returns (blocks merged away, blocks written, where to go on
    from: pass it back as `after`, None once the whole table has been seen).

    Why: an MQTT fleet uploads a few probes per CPE per message, one block each (1,440 a day per USIM at one
    message a minute); every read of a window then decodes that many rows. The probes themselves are
    unchanged (their float32 bytes are carried over, not re-rounded), so readers, counts and duplicate
    detection see the same results. A call looks at up to `max_blocks` candidates, walking the primary key
    from `after`: on SQLite its unit of work holds the one writer, and alarm ingest waits behind it. Pages
    end between hours of a USIM, so a group is merged whole unless one (USIM, hour) fills a page alone."""
    cols = _BLOCKS.c
    query = (select(cols.usim_pk, cols.t0_ms, cols.cell_pk, cols.n, cols.ts, cols.ok, cols.rtt, cols.rsrp, cols.sinr)
             .where(cols.t1_ms < before_ms, cols.n < SMALL_BLOCK)
             .order_by(cols.usim_pk, cols.t0_ms).limit(max_blocks))
    if after is not None:
        query = query.where(tuple_(cols.usim_pk, cols.t0_ms) > tuple_(*after))  # a primary-key range scan
    page = session.execute(query).all()
    full = len(page) == max_blocks
    if full:  # the last (USIM, hour) may go on in the next page: leave it whole to that one
        tail = (page[-1].usim_pk, page[-1].t0_ms // HOUR_MS)
        cut = len(page)
        while cut > 0 and (page[cut - 1].usim_pk, page[cut - 1].t0_ms // HOUR_MS) == tail:
            cut -= 1
        if cut:  # else one (USIM, hour) fills the page alone: merged in parts, page by page
            page = page[:cut]
    groups: dict[tuple[int, int | None, int], list[Any]] = {}
    for b in page:
        groups.setdefault((b.usim_pk, b.cell_pk, b.t0_ms // HOUR_MS), []).append(b)
    gone: list[tuple[int, int]] = []  # (usim_pk, t0_ms) of the blocks merged away
    merged: list[tuple[Any, ...]] = []
    for (u, c, _), blocks in groups.items():
        if len(blocks) < 2:
            continue
        ts = np.concatenate([np.frombuffer(b.ts, dtype="<u4").astype(np.int64) + b.t0_ms for b in blocks])
        if int(ts.max() - ts.min()) > MAX_SPAN_MS:
            continue
        ok = np.concatenate([np.unpackbits(np.frombuffer(b.ok, dtype=np.uint8), count=b.n).astype(np.bool_)
                             for b in blocks])
        rtt, rsrp, sinr = (np.concatenate([np.frombuffer(b[col], dtype="<f4") if b[col] is not None
                                           else np.full(b.n, np.nan, dtype=np.float32) for b in blocks])
                           for col in (6, 7, 8))
        rows = _pack(np.full(len(ts), u, dtype=np.int64), ts, ok, rtt,
                     np.full(len(ts), -1 if c is None else c, dtype=np.int64), rsrp, sinr)
        gone.extend((u, b.t0_ms) for b in blocks)
        merged.extend(rows)
    if gone:  # deleted first: a merged block keeps the first t0_ms of its group
        conn = session.connection()
        mark = bind_marker(conn)
        conn.exec_driver_sql(f"DELETE FROM probe_blocks WHERE usim_pk = {mark} AND t0_ms = {mark}", gone)
        _insert_blocks(conn, merged)
    return len(gone), len(merged), (page[-1].usim_pk, page[-1].t0_ms) if full else None


def prune(session: Session, raw_before_ms: int, hourly_before_hour: int) -> tuple[int, int]:
    """Drop blocks whose newest probe left the raw window, and rollups past theirs."""
    a = session.execute(delete(ProbeBlock).where(ProbeBlock.t1_ms < raw_before_ms))
    b = session.execute(delete(ProbeHourly).where(ProbeHourly.hour < hourly_before_hour))
    return int(getattr(a, "rowcount", 0) or 0), int(getattr(b, "rowcount", 0) or 0)
