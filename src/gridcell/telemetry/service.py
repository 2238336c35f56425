"""Probe telemetry: ingest (HTTP bulk and MQTT share it), change detection, evidence, availability.

Bulk upload semantics: all or nothing. Every malformed line (syntax, types, unknown PLMN of a known CPE,
timestamp more than FUTURE_TOLERANCE ahead) is reported with its line number and nothing is stored.
Well-formed lines about CPEs this DSO does not have are skipped and reported (`unknownCpes`); results
older than the raw retention window are skipped and counted (`expired`); results already stored
(same USIM, same timestamp) are duplicates and skipped (`duplicates`). Late results inside the window
are stored and merged into the rollups; they do not feed change detection (it runs in time order).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast

import numpy as np
from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from gridcell.core import events, prepared
from gridcell.core.clock import isoformat, utcnow
from gridcell.core.db import bind_marker
from gridcell.core.errors import Forbidden, InvalidInput
from gridcell.exposure import status
from gridcell.telemetry import detect, store
from gridcell.telemetry.models import ProbeDetector, ProbeHourly
from gridcell.telemetry.parse import Columns
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import Caller
from gridcell.topology import service as topology

RAW_RETENTION = timedelta(days=7)
COMPACT_AFTER = timedelta(hours=1)  # small probe blocks are merged once their hour is this far behind
HOURLY_RETENTION = timedelta(days=400)
FUTURE_TOLERANCE = timedelta(minutes=5)
SMALL_UPLOAD_CPES = 200
FAILING_TAIL = 3  # consecutive failed probes that mean "unreachable" (mwan3's default)
PROBES_INGESTED = "telemetry.probes_ingested"


@dataclass(frozen=True)
class ProbesIngested:
    """Emitted in the ingest transaction: CPEs whose own-probe state (alarms, reachability) changed."""

    dso_id: str
    cpe_pks: frozenset[int]
    at: datetime


@dataclass
class IngestResult:
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    expired: int = 0
    late: int = 0
    unknown_cpes: dict[str, dict[str, int]] = field(default_factory=dict)
    unknown_cells: int = 0
    alarms_raised: int = 0
    alarms_cleared: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"received": self.received, "accepted": self.accepted, "duplicates": self.duplicates,
                "expired": self.expired, "late": self.late,
                "unknownCpes": [{"cpeId": k, **v} for k, v in sorted(self.unknown_cpes.items())],
                "unknownCells": self.unknown_cells, "alarmsRaised": self.alarms_raised,
                "alarmsCleared": self.alarms_cleared}


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def require_dso(caller: Caller, role: str = "viewer") -> None:
    caller.require(role, "dso")


# ---- ingest --------------------------------------------------------------------------------------------


def ingest(session: Session, dso_id: str, cols: Columns, now: datetime | None = None) -> IngestResult:
    now = now or utcnow()
    result = IngestResult(received=len(cols))
    if len(cols) == 0:
        return result
    # A fleet-wide upload reads every USIM of the DSO at once; a few CPEs (MQTT) only theirs.
    usims = (topology.usims_of_cpe_ids(session, dso_id, cols.cpe_values) if len(cols.cpe_values) <= SMALL_UPLOAD_CPES
             else topology.usims_of_org(session, dso_id))
    by_cpe: dict[str, dict[str, topology.UsimRef]] = defaultdict(dict)
    for u in usims:
        by_cpe[u.cpe_id][u.plmn] = u
    n_cpe, n_plmn = len(cols.cpe_values), len(cols.plmn_values)
    table = np.full((max(n_cpe, 1), max(n_plmn, 1)), -1, dtype=np.int64)
    known_cpe = np.zeros(max(n_cpe, 1), dtype=np.bool_)
    for ci, cpe_id in enumerate(cols.cpe_values):
        plmns = by_cpe.get(cpe_id)
        if plmns is None:
            continue
        known_cpe[ci] = True
        for pi, plmn in enumerate(cols.plmn_values):
            if plmn in plmns:
                table[ci, pi] = plmns[plmn].pk
    usim = table[cols.cpe_codes, cols.plmn_codes]
    known = known_cpe[cols.cpe_codes]
    errors: list[dict[str, Any]] = []
    no_usim = known & (usim < 0)
    for i in np.flatnonzero(no_usim)[:1000].tolist():
        errors.append({"line": int(cols.line[i]), "msg": f"CPE {cols.cpe_values[cols.cpe_codes[i]]} has no USIM for "
                                                          f"PLMN {cols.plmn_values[cols.plmn_codes[i]]}"})
    limit_ms = _ms(now + FUTURE_TOLERANCE)
    for i in np.flatnonzero(cols.ts_ms > limit_ms)[:1000].tolist():
        errors.append({"line": int(cols.line[i]), "msg": f"timestamp {isoformat(_dt(int(cols.ts_ms[i])))} is in the "
                                                          f"future (more than {FUTURE_TOLERANCE} ahead)"})
    if errors:
        errors.sort(key=lambda e: e["line"])
        raise InvalidInput(f"{len(errors)} line(s) are invalid; nothing was stored",
                           errors=[{"loc": f"line {e['line']}", **e} for e in errors])
    if not known.all():
        unknown_idx = np.flatnonzero(~known)
        codes, first, counts = np.unique(cols.cpe_codes[unknown_idx], return_index=True, return_counts=True)
        for c, f, n in zip(codes.tolist(), first.tolist(), counts.tolist(), strict=True):
            result.unknown_cpes[cols.cpe_values[c]] = {"results": n, "firstLine": int(cols.line[unknown_idx[f]])}
    expired = cols.ts_ms < _ms(now - RAW_RETENTION)
    result.expired = int((known & expired).sum())
    keep = np.flatnonzero(known & ~expired)
    if len(keep) == 0:
        return result

    _serialise_per_dso(session, dso_id)
    uk, ts = usim[keep], cols.ts_ms[keep]
    order = np.lexsort((ts, uk))
    keep, uk, ts = keep[order], uk[order], ts[order]
    dup = np.r_[False, (uk[1:] == uk[:-1]) & (ts[1:] == ts[:-1])]
    result.duplicates += int(dup.sum())
    keep, uk, ts = keep[~dup], uk[~dup], ts[~dup]
    # Only results at or before a USIM's newest stored probe can repeat one: look those up in the store.
    dets = _detector_state(session, np.unique(uk))
    newest = np.where(dets.exists, dets.last_ts_ms, -1)[np.searchsorted(dets.usim, uk)]
    maybe = np.flatnonzero(ts <= newest)
    if len(maybe):
        stored = np.zeros(len(uk), dtype=np.bool_)
        stored[maybe] = store.stored_mask(session, uk[maybe], ts[maybe])
        result.duplicates += int(stored.sum())
        keep, uk, ts = keep[~stored], uk[~stored], ts[~stored]
    ok, rtt = cols.ok[keep], cols.rtt_ms[keep]
    cell = _cell_pks(session, cols, keep, result)
    result.accepted = store.insert_raw(session, uk, ts, ok, rtt, cell, cols.rsrp[keep], cols.sinr[keep])
    store.add_rollups(session, uk, ts, ok, rtt)
    refs = {x.pk: x for x in usims}
    changed_pairs, changed_cpes, hot = _detect(session, uk, ts, ok, rtt, refs, dets, result)
    changed_pairs |= _report_cells(session, uk, ts, cell, cols, keep, refs)
    if changed_pairs:
        status.recompute(session, changed_pairs, now)
    if hot:  # cell health: only cells where some USIM is failing or degraded, or just recovered
        hot_rows = np.isin(uk, np.array(sorted(hot), dtype=np.int64)) & (cell >= 0)
        touched_cells = {int(c) for c in np.unique(cell[hot_rows]).tolist()}
        links = topology.links_for_usims(session, sorted(hot))
        touched_cells.update(c for ls in links.values() for c, _ in ls)
        from gridcell.telemetry import cellhealth

        cellhealth.check(session, sorted(touched_cells), now)
    if changed_cpes:
        events.emit(session, PROBES_INGESTED, ProbesIngested(dso_id, frozenset(changed_cpes), now))
    return result


def _serialise_per_dso(session: Session, dso_id: str) -> None:
    """One upload per DSO at a time on PostgreSQL, so two concurrent uploads of the same results cannot both
    find them new (the duplicate check reads the detectors' newest timestamps). SQLite has one writer."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(f"telemetry:{dso_id}".encode()).digest()[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _cell_pks(session: Session, cols: Columns, keep: np.ndarray[Any, Any], result: IngestResult) -> Any:
    cc = cols.cell_codes[keep]
    out = np.full(len(keep), -1, dtype=np.int64)
    has = cc >= 0
    if not has.any():
        return out
    pc = cols.plmn_codes[keep]
    combo = pc * (len(cols.cell_values) + 1) + cc
    uniq, inv = np.unique(combo[has], return_inverse=True)
    keys = {(cols.plmn_values[k // (len(cols.cell_values) + 1)], cols.cell_values[k % (len(cols.cell_values) + 1)])
            for k in uniq.tolist()}
    found = topology.cell_pks_by_id(session, keys)
    mapped = np.array([found.get((cols.plmn_values[k // (len(cols.cell_values) + 1)],
                                  cols.cell_values[k % (len(cols.cell_values) + 1)]), -1) for k in uniq.tolist()],
                      dtype=np.int64)
    out[has] = mapped[inv]
    result.unknown_cells = int(((out < 0) & has).sum())
    return out


@dataclass
class _Detectors:
    """Detector state of a batch's USIMs as arrays aligned with the sorted ``usim`` keys; ``exists`` is
    False for USIMs never seen before (their state is the fresh one)."""

    usim: Any
    exists: Any
    n_rtt: Any
    mean_rtt: Any
    var_rtt: Any
    s_rtt: Any
    n_loss: Any
    p_loss: Any
    s_loss: Any
    last_ts_ms: Any
    tail_failures: Any
    lat_alarm: Any
    loss_alarm: Any


_NUMERIC = ("n_rtt", "mean_rtt", "var_rtt", "s_rtt", "n_loss", "p_loss", "s_loss", "last_ts_ms", "tail_failures")
_INTS = {"n_rtt", "n_loss", "last_ts_ms", "tail_failures"}


def _detector_state(session: Session, usim: Any) -> _Detectors:
    """One key-range scan through the driver (an upload usually covers most of a DSO's USIMs, whose keys are
    contiguous), filtered to the batch. Only whether an alarm is on is read, not since when: the batch
    writes a since only where an alarm starts or ends."""
    g = len(usim)
    cols: dict[str, Any] = {c: np.zeros(g, dtype=np.int64 if c in _INTS else np.float64) for c in _NUMERIC}
    exists = np.zeros(g, dtype=np.bool_)
    lat = np.zeros(g, dtype=np.bool_)
    loss = np.zeros(g, dtype=np.bool_)
    if g:
        conn = session.connection()
        mark = bind_marker(conn)
        rows = conn.exec_driver_sql(
            f"SELECT usim_pk, {', '.join(_NUMERIC)}, latency_alarm_since IS NOT NULL, loss_alarm_since IS NOT NULL "
            f"FROM probe_detectors WHERE usim_pk >= {mark} AND usim_pk <= {mark}",
            (int(usim[0]), int(usim[-1]))).fetchall()
        if rows:
            arr = list(zip(*rows, strict=True))
            keys = np.array(arr[0], dtype=np.int64)
            pos = np.searchsorted(usim, keys)
            found = (pos < g) & (usim[np.minimum(pos, g - 1)] == keys)
            pos = pos[found]
            exists[pos] = True
            for j, c in enumerate(_NUMERIC, start=1):
                cols[c][pos] = np.array(arr[j], dtype=cols[c].dtype)[found]
            lat[pos] = np.array(arr[-2], dtype=np.bool_)[found]
            loss[pos] = np.array(arr[-1], dtype=np.bool_)[found]
    return _Detectors(usim, exists, lat_alarm=lat, loss_alarm=loss, **cols)


def _detect(session: Session, u: Any, ts: Any, ok: Any, rtt: Any, refs: dict[int, topology.UsimRef],
            dets: _Detectors, result: IngestResult) -> tuple[set[tuple[int, str]], set[int], set[int]]:
    """Run change detection on the in-order part of the batch (rows sorted by USIM, time; the batch's USIMs
    are ``dets.usim``); returns changed pairs and CPEs, and the USIMs worth a cell-health look (failing or
    degraded now, or just changed)."""
    seg = np.searchsorted(dets.usim, u)
    in_order = ts > np.where(dets.exists, dets.last_ts_ms, 0)[seg]
    result.late = int((~in_order).sum())
    seg, ts_o, ok_o, rtt_o = seg[in_order], ts[in_order], ok[in_order], rtt[in_order]
    st = detect.State(dets.n_rtt, dets.mean_rtt, dets.var_rtt, dets.s_rtt, dets.n_loss, dets.p_loss, dets.s_loss,
                      dets.lat_alarm.copy(), dets.loss_alarm.copy())
    out = detect.run(st, seg, ok_o, rtt_o)
    tails = detect.tail_failures(seg, ok_o, dets.tail_failures)
    newest = dets.last_ts_ms.copy()
    if len(seg):
        np.maximum.at(newest, seg, ts_o)
    s = out.state
    was = np.stack([dets.lat_alarm, dets.loss_alarm, dets.tail_failures >= FAILING_TAIL])
    now = np.stack([s.lat_alarm, s.loss_alarm, tails >= FAILING_TAIL])
    hot = set(dets.usim[was.any(axis=0) | now.any(axis=0)].tolist())
    result.alarms_raised += int((now & ~was).sum())
    result.alarms_cleared += int((was & ~now).sum())
    usims = dets.usim.tolist()
    since: dict[int, dict[str, datetime | None]] = {}  # USIM → the alarm timestamps that change
    pairs: set[tuple[int, str]] = set()
    cpes: set[int] = set()
    for i in np.flatnonzero((now != was).any(axis=0)).tolist():
        change: dict[str, datetime | None] = {}
        for flag, before, first, key in ((s.lat_alarm[i], dets.lat_alarm[i], out.lat_alarm_first[i], "lat"),
                                         (s.loss_alarm[i], dets.loss_alarm[i], out.loss_alarm_first[i], "loss")):
            if flag and not before:
                change[key] = _dt(int(ts_o[first])) if first >= 0 else _dt(int(newest[i]))
            elif before and not flag:
                change[key] = None
        since[usims[i]] = change
        ref = refs[usims[i]]
        pairs.add((ref.site_pk, ref.plmn))
        cpes.add(ref.cpe_pk)
    numeric = [s.n_rtt.tolist(), s.mean_rtt.tolist(), s.var_rtt.tolist(), s.s_rtt.tolist(), s.n_loss.tolist(),
               s.p_loss.tolist(), s.s_loss.tolist(), newest.tolist(), tails.tolist()]
    table = cast(Table, ProbeDetector.__table__)
    fresh = np.flatnonzero(~dets.exists).tolist()
    if fresh:
        session.execute(insert(table), [
            {"usim_pk": usims[i], "site_pk": refs[usims[i]].site_pk, "plmn": refs[usims[i]].plmn,
             **{c: v[i] for c, v in zip(_NUMERIC, numeric, strict=True)},
             "latency_alarm_since": since.get(usims[i], {}).get("lat"),
             "loss_alarm_since": since.get(usims[i], {}).get("loss")} for i in fresh])
    if len(fresh) < len(usims):
        rows = list(zip(*numeric, usims, strict=True))
        if fresh:
            rows = [rows[i] for i in np.flatnonzero(dets.exists).tolist()]
        conn = session.connection()
        mark = bind_marker(conn)
        conn.exec_driver_sql(f"UPDATE probe_detectors SET {', '.join(f'{c} = {mark}' for c in _NUMERIC)} "
                             f"WHERE usim_pk = {mark}", rows)
    exists = dict(zip(usims, dets.exists.tolist(), strict=True))
    for key, column in (("lat", "latency_alarm_since"), ("loss", "loss_alarm_since")):
        changes = [{"k": u, "v": c[key]} for u, c in since.items() if key in c and exists[u]]
        if changes:
            session.execute(update(table).where(table.c.usim_pk == bindparam("k"))
                            .values({column: bindparam("v")}), changes)
    return pairs, cpes, hot


def _report_cells(session: Session, u: Any, ts: Any, cell: Any, cols: Columns, keep: Any,
                  refs: dict[int, topology.UsimRef]) -> set[tuple[int, str]]:
    """The newest reported serving cell per USIM in the batch updates topology when it differs."""
    has = cols.cell_codes[keep] >= 0
    if not has.any():
        return set()
    idx = np.flatnonzero(has)
    latest: dict[int, str] = {}
    for i in idx.tolist():  # rows are sorted by (usim, ts): the last one per USIM wins
        latest[int(u[i])] = cols.cell_values[int(cols.cell_codes[keep[i]])]
    changed = {pk: c for pk, c in latest.items() if refs[pk].reported_cell_id != c}
    return topology.set_reported_cells(session, changed) if changed else set()


# ---- evidence for the status engine --------------------------------------------------------------------


_D = cast(Table, ProbeDetector.__table__).c
# Asked by every status recompute (so on every MNO fault ingest): built once, read as plain rows.
_ALARMED_AT_SITES = select(_D.site_pk, _D.plmn, _D.latency_alarm_since, _D.loss_alarm_since, _D.mean_rtt,
                           _D.p_loss, _D.tail_failures, _D.last_ts_ms).where(
    _D.site_pk.in_(bindparam("sites", expanding=True)),
    _D.latency_alarm_since.is_not(None) | _D.loss_alarm_since.is_not(None) | (_D.tail_failures >= FAILING_TAIL))


class _Alarmed(NamedTuple):
    site_pk: int
    plmn: str
    latency_alarm_since: datetime | None
    loss_alarm_since: datetime | None
    mean_rtt: float
    p_loss: float
    tail_failures: int
    last_ts_ms: int


def degradation_evidence(session: Session, pairs: set[tuple[int, str]],
                         now: datetime) -> dict[tuple[int, str], list[dict[str, Any]]]:
    """Registered with gridcell.exposure.status: DSO-probe change detection as `degraded` evidence."""
    site_pks = sorted({p[0] for p in pairs})
    out: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for i in range(0, len(site_pks), 500):
        for row in prepared.rows(session, _ALARMED_AT_SITES, {"sites": site_pks[i:i + 500]}):
            d = _Alarmed._make(row)
            pair = (d.site_pk, d.plmn)
            if pair not in pairs:
                continue
            evs = []
            if d.latency_alarm_since is not None:
                evs.append({"kind": "probe", "metric": "latency", "since": isoformat(d.latency_alarm_since),
                            "baselineMs": round(d.mean_rtt, 1)})
            if d.loss_alarm_since is not None:
                evs.append({"kind": "probe", "metric": "loss", "since": isoformat(d.loss_alarm_since),
                            "baselineLoss": round(d.p_loss, 4)})
            if d.tail_failures >= FAILING_TAIL:
                evs.append({"kind": "probe", "metric": "reachability", "consecutiveFailures": d.tail_failures,
                            "since": isoformat(_dt(d.last_ts_ms))})
            since = min(str(e["since"]) for e in evs)
            reasons = out.setdefault(pair, [])
            if reasons:
                reasons[0]["events"].extend(evs)
                reasons[0]["since"] = min(reasons[0]["since"], since)
            else:
                reasons.append({"category": "degradation", "source": "dso_probes", "since": since, "events": evs})
    return out


_OWN_STATE = select(_D.usim_pk, _D.latency_alarm_since.is_not(None), _D.loss_alarm_since.is_not(None),
                    _D.tail_failures, _D.last_ts_ms).where(_D.usim_pk.in_(bindparam("usims", expanding=True)))


def own_probe_state(session: Session, usim_pks: list[int]) -> dict[int, dict[str, Any]]:
    """For the failover advisor: per USIM, alarms and consecutive failures from its own probes (plain rows:
    the advisor asks on every evaluation)."""
    pks = sorted(set(usim_pks))
    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(pks), 500):
        for pk, lat, loss, tail, last in session.execute(_OWN_STATE, {"usims": pks[i:i + 500]}):
            out[pk] = {"latencyAlarm": bool(lat), "lossAlarm": bool(loss), "tailFailures": tail,
                       "lastTs": _dt(last) if last else None}
    return out


# ---- the interface for incident attribution ---------------------------------------------------------------


@dataclass(frozen=True)
class ProbeEvidence:
    cpe_pk: int
    site_pk: int
    plmn: str
    probes: int
    failures: int
    first_failure: datetime | None
    last_success: datetime | None
    p50_rtt_ms: float | None
    serving_cell_pk: int | None


def _window_rows(session: Session, usim_pks: list[int], t0: datetime, t1: datetime) -> list[Any]:
    """(usim, ts_ms, ok, rtt or None, cell or None) in [t0, t1], ordered by USIM and time."""
    raw = store.read(session, _ms(t0), _ms(t1), usims=usim_pks)
    rtt = [None if v != v else v for v in raw.rtt.tolist()]
    cell = [None if c < 0 else c for c in raw.cell.tolist()]
    return list(zip(raw.usim.tolist(), raw.ts.tolist(), raw.ok.tolist(), rtt, cell, strict=True))


def _stats(rows: list[Any]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for usim_pk, ts, ok, rtt, cell in rows:
        s = out.setdefault(usim_pk, {"probes": 0, "failures": 0, "first_failure": None, "last_success": None,
                                     "rtts": [], "cell": None, "last_ok": None, "tail": 0})
        s["probes"] += 1
        s["tail"] = 0 if ok else s["tail"] + 1
        if ok:
            s["last_success"] = ts
            if rtt is not None:
                s["rtts"].append(rtt)
        else:
            s["failures"] += 1
            if s["first_failure"] is None:
                s["first_failure"] = ts
        if cell is not None:
            s["cell"] = cell
        s["last_ok"] = bool(ok)
    return out


def probe_evidence(session: Session, dso_id: str, site_pks: list[int], t0: datetime,
                   t1: datetime) -> list[ProbeEvidence]:
    """Per USIM of the DSO's CPEs at these sites: what its probes saw in [t0, t1]."""
    wanted = set(site_pks)
    usims = [u for u in topology.usim_refs(session, dso_id, site_pks=sorted(wanted)) if u.site_pk in wanted]
    stats = _stats(_window_rows(session, [u.pk for u in usims], t0, t1))
    links = topology.links_for_usims(session, [u.pk for u in usims])
    out = []
    for u in usims:
        s = stats.get(u.pk)
        cell = s["cell"] if s and s["cell"] is not None else (links[u.pk][0][0] if len(links[u.pk]) == 1 else None)
        out.append(ProbeEvidence(
            cpe_pk=u.cpe_pk, site_pk=u.site_pk, plmn=u.plmn, probes=s["probes"] if s else 0,
            failures=s["failures"] if s else 0,
            first_failure=_dt(s["first_failure"]) if s and s["first_failure"] is not None else None,
            last_success=_dt(s["last_success"]) if s and s["last_success"] is not None else None,
            p50_rtt_ms=float(np.median(s["rtts"])) if s and s["rtts"] else None, serving_cell_pk=cell))
    return out


def usims_through_cells(session: Session, cell_pks: list[int], t0: datetime,
                        t1: datetime) -> dict[int, set[int]]:
    """Cell → USIMs attributed to it: a reported link (or the USIM's only link), or probes naming the cell."""
    on_cells = topology.usims_on_cells(session, cell_pks)
    all_usims = sorted({u for links in on_cells.values() for u, _ in links})
    links = topology.links_for_usims(session, all_usims)
    out: dict[int, set[int]] = {c: set() for c in cell_pks}
    for cell, ls in on_cells.items():
        for usim_pk, source in ls:
            if source == "reported" or len(links[usim_pk]) == 1:
                out[cell].add(usim_pk)
    for cell_pk, usim_pk in store.usims_on_cells(session, cell_pks, _ms(t0), _ms(t1)):
        out[cell_pk].add(usim_pk)
    return out


def failing(s: dict[str, Any] | None) -> bool:
    """A USIM fails in a window when its newest FAILING_TAIL probes (or more) all failed."""
    return bool(s and s["tail"] >= FAILING_TAIL)


def cell_peer_evidence(session: Session, cell_pks: list[int], t0: datetime,
                       t1: datetime) -> dict[int, tuple[int, int]]:
    """Cell → (CPEs probing through it, CPEs failing) in [t0, t1] (see `failing`)."""
    through = usims_through_cells(session, cell_pks, t0, t1)
    all_usims = sorted({u for us in through.values() for u in us})
    stats = _stats(_window_rows(session, all_usims, t0, t1))
    refs = topology.usim_refs_by_pk(session, all_usims)
    out: dict[int, tuple[int, int]] = {}
    for cell, usims in through.items():
        probing = {refs[u].cpe_pk for u in usims if u in stats and u in refs}
        fail = {refs[u].cpe_pk for u in usims if failing(stats.get(u)) and u in refs}
        out[cell] = (len(probing), len(fail))
    return out


# ---- availability, SLA and the better primary ------------------------------------------------------------


def _raw_window(session: Session, usim_pks: list[int], t0: datetime) -> dict[int, tuple[int, int]]:
    return store.counts_since(session, usim_pks, _ms(t0))


def _hourly(session: Session, usim_pks: list[int], from_hour: int) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(usim_pks), 500):
        for r in session.scalars(select(ProbeHourly).where(ProbeHourly.usim_pk.in_(usim_pks[i:i + 500]),
                                                           ProbeHourly.hour >= from_hour)):
            a = out.setdefault(r.usim_pk, {"probes": 0, "failures": 0, "hist": np.zeros(store.NB, dtype=np.int64),
                                           "rtt_sum": 0.0, "rtt_count": 0})
            a["probes"] += r.probes
            a["failures"] += r.failures
            a["hist"] += np.array(r.hist, dtype=np.int64)
            a["rtt_sum"] += r.rtt_sum
            a["rtt_count"] += r.rtt_count
    return out


def availability(session: Session, caller: Caller, *, site_ids: list[str] | None = None,
                 now: datetime | None = None) -> list[dict[str, Any]]:
    """Per site × PLMN: availability (share of successful probes) over 1 h, 24 h (raw) and 30 d (rollups),
    loss, latency percentiles (24 h, from the rollup histograms), the agreement's SLA target."""
    require_dso(caller)
    return availability_for(session, caller.org_id, site_ids=site_ids, now=now)


def area_availability(session: Session, site_pks: list[int], now: datetime | None = None) -> float | None:
    """Share of successful probes over the last hour across every USIM at these sites (None: no probes)."""
    now = now or utcnow()
    usims = topology.usims_at_sites(session, site_pks)
    window = _raw_window(session, [u.pk for u in usims], now - timedelta(hours=1))
    n = sum(v[0] for v in window.values())
    f = sum(v[1] for v in window.values())
    return None if n == 0 else (n - f) / n


def availability_for(session: Session, dso_id: str, *, site_ids: list[str] | None = None,
                     now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or utcnow()
    sites = {s.pk: s for s in topology.sites_of_org(session, dso_id)}
    if site_ids is not None:
        wanted = set(site_ids)
        sites = {pk: s for pk, s in sites.items() if s.site_id in wanted}
    usims = [u for u in topology.usim_refs(session, dso_id) if u.site_pk in sites]
    pks = [u.pk for u in usims]
    h1, h24 = _raw_window(session, pks, now - timedelta(hours=1)), _raw_window(session, pks, now - timedelta(hours=24))
    now_hour = _ms(now) // store.HOUR_MS
    d30 = _hourly(session, pks, now_hour - 24 * 30 + 1)
    d1 = _hourly(session, pks, now_hour - 23)
    agreements = [a for a in tenancy.agreements_for(session, dso_id) if a.dso_id == dso_id]
    by_pair: dict[tuple[int, str], list[topology.UsimRef]] = defaultdict(list)
    for u in usims:
        by_pair[(u.site_pk, u.plmn)].append(u)
    out = []
    for (site_pk, plmn), us in sorted(by_pair.items(), key=lambda kv: (sites[kv[0][0]].site_id, kv[0][1])):
        site = sites[site_pk]
        agreement = next((a for a in agreements if a.covers(site.site_id, plmn)), None)

        def ratio(d: dict[int, tuple[int, int]], us: list[topology.UsimRef] = us) -> tuple[float | None, int]:
            n = sum(d.get(u.pk, (0, 0))[0] for u in us)
            f = sum(d.get(u.pk, (0, 0))[1] for u in us)
            return (None if n == 0 else (n - f) / n), n

        a1, _ = ratio(h1)
        a24, n24 = ratio(h24)
        p30 = sum(d30.get(u.pk, {}).get("probes", 0) for u in us)
        f30 = sum(d30.get(u.pk, {}).get("failures", 0) for u in us)
        a30 = None if p30 == 0 else (p30 - f30) / p30
        hist = sum((d1[u.pk]["hist"] for u in us if u.pk in d1), np.zeros(store.NB, dtype=np.int64))
        sla = agreement.sla_target if agreement else None
        out.append({
            "siteId": site.site_id, "plmn": plmn, "mnoId": agreement.mno_id if agreement else None,
            "role": "primary" if any(u.role == "primary" for u in us) else "alternate",
            "availability1h": a1, "availability24h": a24, "availability30d": a30,
            "loss24h": None if a24 is None else 1 - a24, "probes24h": n24, "probes30d": p30,
            "p50RttMs24h": store.percentile_from_hist(hist, 0.5), "p95RttMs24h": store.percentile_from_hist(hist, 0.95),
            "p99RttMs24h": store.percentile_from_hist(hist, 0.99),
            "slaTarget": sla, "meetsSla": None if sla is None or a30 is None else a30 >= sla,
        })
    return out


MIN_PROBES_FOR_ADVICE = 100
MARGIN = 0.0005  # availability difference worth a change of primary


def recommendations(session: Session, caller: Caller, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per site with two PLMNs or more: the PLMN with the better 30-day record (availability, then p95 latency)."""
    require_dso(caller)
    rows = availability_for(session, caller.org_id, now=now)
    by_site: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_site[r["siteId"]].append(r)
    out = []
    for site_id, items in sorted(by_site.items()):
        if len(items) < 2:
            continue
        scored = [r for r in items if r["probes30d"] >= MIN_PROBES_FOR_ADVICE and r["availability30d"] is not None]
        current = next((r["plmn"] for r in items if r["role"] == "primary"), None)
        if len(scored) < 2:
            out.append({"siteId": site_id, "currentPrimary": current, "recommendedPrimary": current,
                        "change": False, "reason": "not enough probe history (30 d) on every PLMN"})
            continue
        best = sorted(scored, key=lambda r: (-r["availability30d"], r["p95RttMs24h"] or float("inf")))[0]
        cur = next((r for r in scored if r["plmn"] == current), None)
        change = cur is not None and best["plmn"] != current and \
            best["availability30d"] - cur["availability30d"] >= MARGIN
        rec = best["plmn"] if change or cur is None else current
        out.append({"siteId": site_id, "currentPrimary": current, "recommendedPrimary": rec, "change": change,
                    "reason": "30-day availability " + ", ".join(
                        f"{r['plmn']}: {r['availability30d']:.5f}" for r in scored),
                    "evidence": [{k: r[k] for k in ("plmn", "availability30d", "probes30d", "p95RttMs24h")}
                                 for r in scored]})
    return out


def caller_may_ingest(caller: Caller) -> None:
    if caller.org_kind != "dso":
        raise Forbidden("probe telemetry is uploaded by DSO organisations")
    caller.require("operator")


def prune(session: Session, now: datetime | None = None) -> tuple[int, int]:
    now = now or utcnow()
    return store.prune(session, _ms(now - RAW_RETENTION), (_ms(now - HOURLY_RETENTION)) // store.HOUR_MS)


def compact(session: Session, now: datetime | None = None, max_blocks: int = 256,
            after: tuple[int, int] | None = None) -> tuple[int, int, tuple[int, int] | None]:
    """Merge small probe blocks that ended more than COMPACT_AFTER ago (see `store.compact`)."""
    now = now or utcnow()
    return store.compact(session, _ms(now - COMPACT_AFTER), max_blocks, after)
