"""attribution_p99_ms: automatic attribution of one incident with 1,000,000 stored events and 100,000 DSO sites.

The store is SQLite (the embedded default), bulk-loaded with executemany (no API): one DSO with `n_sites` sites,
one CPE and one USIM each, served by `n_sites / 10` cells of one MNO; `n_events` MNO conditions (alarms, 5 %
maintenance windows) over 30 days spread over the cells, most of them cleared; 200 energy outages covering 500
sites each; probes for the measured sites. Each run attributes an incident at a random site at a random time
through `gridcell.incidents.attribution.attribute` (the function ticket creation and re-attribution call).

Side by side, the same attribution with the MNO's conditions found by a scan of the window (what a store
without the per-cell index would do) instead of the per-cell index.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from gridcell.core.db import Database
from gridcell.faults import service as faults
from gridcell.faults.models import Condition, ConditionCell
from gridcell.incidents import attribution
from gridcell.migrations import upgrade
from gridcell.outages.models import OutageInfo
from gridcell.telemetry import store
from gridcell.tenancy import service as tenancy
from gridcell.topology.models import Cell, Cpe, DsoSite, RanSite, ServingLink, Usim

PLMN = "26201"
T_END = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 30
CHUNK = 20_000


def _bulk(session: Session, table: Any, rows: Iterable[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    for r in rows:
        batch.append(r)
        if len(batch) >= CHUNK:
            session.execute(insert(table), batch)
            batch = []
    if batch:
        session.execute(insert(table), batch)


def build(db: Database, n_events: int, n_sites: int, seed: int = 11) -> tuple[str, str, int, int]:
    """Returns (dso id, mno id, number of cells, first condition pk)."""
    rnd = random.Random(seed)
    n_cells = max(n_sites // 10, 1)
    t0 = T_END - timedelta(days=DAYS)
    with db.write() as s:
        dso = tenancy.create_org(s, "bench dso", "dso")
        mno = tenancy.create_org(s, "bench mno", "mno")
        s.flush()
        tenancy.create_agreement(s, dso, mno, [PLMN], "cell")
        _bulk(s, RanSite.__table__, ({"pk": i + 1, "org_id": mno, "site_id": f"R{i}", "lat": 48 + rnd.random(),
                                      "lon": 7 + rnd.random(), "autonomy_h": 2.0} for i in range(n_cells)))
        _bulk(s, Cell.__table__, ({"pk": i + 1, "org_id": mno, "cell_id": f"C{i}", "ran_site_pk": i + 1,
                                   "plmn": PLMN, "rat": "NR"} for i in range(n_cells)))
        _bulk(s, DsoSite.__table__, ({"pk": i + 1, "org_id": dso, "site_id": f"S{i}", "name": f"site {i}",
                                      "kind": "secondary_substation", "lat": 48 + rnd.random(),
                                      "lon": 7 + rnd.random(), "customers": 100, "criticality": "normal",
                                      "updated_at": t0} for i in range(n_sites)))
        _bulk(s, Cpe.__table__, ({"pk": i + 1, "org_id": dso, "cpe_id": f"CPE{i}", "site_pk": i + 1}
                                 for i in range(n_sites)))
        _bulk(s, Usim.__table__, ({"pk": i + 1, "cpe_pk": i + 1, "plmn": PLMN, "role": "primary"}
                                  for i in range(n_sites)))
        _bulk(s, ServingLink.__table__, ({"usim_pk": i + 1, "cell_pk": i // 10 % n_cells + 1, "source": "reported"}
                                         for i in range(n_sites)))
    span = DAYS * 86400
    with db.write() as s:
        first_pk = 1

        def conditions() -> Iterator[dict[str, Any]]:
            for i in range(n_events):
                start = t0 + timedelta(seconds=rnd.random() * span)
                maint = rnd.random() < 0.05
                dur = timedelta(minutes=rnd.choice((5, 15, 30, 60, 120, 240)))
                open_ = rnd.random() < 0.002
                yield {"pk": first_pk + i, "org_id": mno, "kind": "maintenance" if maint else "alarm",
                       "key": f"E{i}", "impact": "outage" if maint or rnd.random() < 0.6 else "degradation",
                       "object_instance": None, "starts_at": start, "ends_at": start + dur + timedelta(minutes=30),
                       "changed_at": start, "cleared_at": None if open_ or maint else start + dur, "mapped": True,
                       "details": {"probableCause": "EQUIPMENT_MALFUNCTION", "perceivedSeverity": "MAJOR"}}

        _bulk(s, Condition.__table__, conditions())
        _bulk(s, ConditionCell.__table__, ({"condition_pk": first_pk + i, "cell_pk": rnd.randrange(n_cells) + 1}
                                           for i in range(n_events)))
        _bulk(s, OutageInfo.__table__, ({
            "dso_id": dso, "moi_id": f"O{i}", "attributes": {}, "start": (st := t0 + timedelta(
                seconds=rnd.random() * span)), "expected_end": st + timedelta(hours=3),
            "actual_end": st + timedelta(hours=2), "switching": [], "mno_attributes": {},
            "affected_ran_site_pks": [],
            "covered_site_pks": sorted(rnd.sample(range(1, n_sites + 1), min(500, n_sites))),
            "plan": None, "plan_key": None, "plan_version": 0, "created_at": st, "updated_at": st} for i in range(200)))
    return dso, mno, n_cells, first_pk


def _probes(db: Database, site_pks: list[int], at: list[datetime]) -> None:
    """One probe a minute over the 40 minutes before each measured incident, from the site and its cell peers."""
    rows: dict[tuple[int, int], int] = {}  # (usim, ts) → ok; the first probe of a (usim, ts) wins
    for pk, when in zip(site_pks, at, strict=True):
        peers = range((pk - 1) // 10 * 10 + 1, (pk - 1) // 10 * 10 + 11)
        for u in peers:
            for m in range(40):
                rows.setdefault((u, int((when - timedelta(minutes=m)).timestamp() * 1000)),
                                0 if (u == pk and m < 20) else 1)
    usim = np.array([k[0] for k in rows], dtype=np.int64)
    ts = np.array([k[1] for k in rows], dtype=np.int64)
    ok = np.array(list(rows.values()), dtype=np.bool_)
    nan = np.full(len(ok), np.nan)
    with db.write() as s:
        store.insert_raw(s, usim, ts, ok, np.where(ok, 30.0, np.nan), np.full(len(ok), -1, dtype=np.int64), nan, nan)


def _naive_conditions(session: Session, cell_pks: Iterable[int], t0: datetime,
                      t1: datetime) -> dict[int, list[tuple[faults.ActiveCondition, datetime | None]]]:
    """The same answer from a scan of every condition row whose time overlaps the window (no per-cell index)."""
    wanted = set(cell_pks)
    out: dict[int, list[tuple[faults.ActiveCondition, datetime | None]]] = {}
    rows = session.execute(select(ConditionCell.cell_pk, Condition).join(
        Condition, Condition.pk == ConditionCell.condition_pk).where(
        Condition.impact != "none", Condition.starts_at <= t1,
        or_(Condition.cleared_at.is_(None), Condition.cleared_at >= t0)))
    for cell_pk, c in rows:
        if cell_pk not in wanted or (c.kind == "maintenance" and c.ends_at is not None and c.ends_at < t0):
            continue
        out.setdefault(cell_pk, []).append((faults.ActiveCondition(
            c.pk, c.org_id, c.kind, c.key, c.impact, c.object_instance, c.starts_at, c.ends_at, c.details),
            c.cleared_at))
    return out


@contextmanager
def _swapped(fn: Callable[..., Any]) -> Iterator[None]:
    before = faults.conditions_in_window
    faults.conditions_in_window = fn
    try:
        yield
    finally:
        faults.conditions_in_window = before


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(n_events: int = 1_000_000, n_sites: int = 100_000, runs: int = 300, naive_runs: int = 5,
        seed: int = 5) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="gridcell-bench-incidents-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}", sqlite_synchronous="OFF")
        upgrade(db)
        t = time.perf_counter()
        dso, mno, n_cells, _ = build(db, n_events, n_sites)
        sites = [rnd.randrange(n_sites) + 1 for _ in range(runs)]
        when = [T_END - timedelta(seconds=rnd.random() * (DAYS - 1) * 86400) for _ in range(runs)]
        _probes(db, sites, when)
        build_s = time.perf_counter() - t
        timings: list[float] = []
        causes: dict[str, int] = {}
        with db.read() as s:
            for site, now in zip(sites, when, strict=True):
                t = time.perf_counter()
                result = attribution.attribute(s, dso, mno, [site], now - timedelta(minutes=20), now)
                timings.append((time.perf_counter() - t) * 1000)
                causes[result["cause"]] = causes.get(result["cause"], 0) + 1
            naive: list[float] = []
            with _swapped(_naive_conditions):
                for site, now in list(zip(sites, when, strict=True))[:naive_runs]:
                    t = time.perf_counter()
                    check = attribution.attribute(s, dso, mno, [site], now - timedelta(minutes=20), now)
                    naive.append((time.perf_counter() - t) * 1000)
                    indexed = attribution.attribute(s, dso, mno, [site], now - timedelta(minutes=20), now)
                    assert attribution.key_of(check) == attribution.key_of(indexed), "naive and indexed disagree"
        db.dispose()
    p50, p99, naive_p50 = statistics.median(timings), _p(timings, 0.99), statistics.median(naive)
    common = {"events": n_events, "sites": n_sites, "cells": n_cells, "runs": runs, "store": "sqlite",
              "build_s": round(build_s, 1)}
    return [
        {"figure": "attribution_p99_ms", "value": round(p99, 2), "unit": "ms", "goal": "<= 100",
         "compare": {"naive_window_scan_p50_ms": round(naive_p50, 1), "speedup_p50": round(naive_p50 / p50, 1),
                     "naive_runs": len(naive)}, **common, "causes": causes},
        {"figure": "attribution_p50_ms", "value": round(p50, 2), "unit": "ms",
         "compare": {"naive_window_scan_p50_ms": round(naive_p50, 1)}, **common},
    ]
