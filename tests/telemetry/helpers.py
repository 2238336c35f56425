"""A small world built through the services (no HTTP): one MNO per PLMN, one DSO, N sites on one cell."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gridcell.core.clock import ManualClock, get_clock, set_clock
from gridcell.core.db import Database
from gridcell.telemetry import parse
from gridcell.telemetry import service as telemetry
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topology
from gridcell.wiring import register_handlers

PLMN_A, PLMN_B = "26201", "26202"
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@dataclass
class Small:
    dso: str
    mno_a: str
    mno_b: str
    n_sites: int


@contextmanager
def manual_clock(start: datetime = T0) -> Iterator[ManualClock]:
    before = get_clock()
    clock = ManualClock(start)
    set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(before)


def build(db: Database, *, n_sites: int = 4, share_telemetry: bool = True) -> Small:
    register_handlers()
    with db.write() as s:
        dso = tenancy.create_org(s, "dso", "dso")
        mno_a = tenancy.create_org(s, "mno a", "mno")
        mno_b = tenancy.create_org(s, "mno b", "mno")
        s.flush()
        tenancy.create_agreement(s, dso, mno_a, [PLMN_A], "cell", share_telemetry=share_telemetry, sla_target=0.99)
        tenancy.create_agreement(s, dso, mno_b, [PLMN_B], "cell", share_telemetry=share_telemetry)
    for mno, plmn in ((mno_a, PLMN_A), (mno_b, PLMN_B)):
        with db.write() as s:
            topology.import_topology(s, mno, {"ranSites": [{
                "id": f"RAN-{plmn}", "lat": 48.0, "lon": 7.80, "dn": f"SubNetwork=1,ManagedElement=gNB-{plmn}",
                "cells": [{"cellId": f"{plmn}-C0", "plmn": plmn, "azimuth": 90.0, "rangeM": 3000,
                           "dn": f"SubNetwork=1,ManagedElement=gNB-{plmn},NRCellDU=0"}]}]})
    sites = [{"id": f"S{i}", "name": f"site {i}", "kind": "secondary_substation", "lat": 48.0,
              "lon": 7.81 + 0.001 * i, "cpes": [{"id": f"CPE{i}", "usims": [
                  {"plmn": PLMN_A, "role": "primary", "servingCellId": f"{PLMN_A}-C0"},
                  {"plmn": PLMN_B, "role": "alternate", "servingCellId": f"{PLMN_B}-C0"}]}]} for i in range(n_sites)]
    with db.write() as s:
        topology.import_topology(s, dso, {"sites": sites})
    return Small(dso, mno_a, mno_b, n_sites)


def probes(cpe: str, plmn: str, start: datetime, n: int, *, step_s: float = 10.0, ok: Any = True,
           rtt: Any = 30.0) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        okv = ok(i) if callable(ok) else ok
        r = rtt(i) if callable(rtt) else rtt
        out.append({"cpe": cpe, "plmn": plmn, "ts": (start + timedelta(seconds=step_s * i)).isoformat(),
                    "ok": okv, "rtt_ms": r if okv else None})
    return out


def ingest(db: Database, dso: str, objs: list[dict[str, Any]]) -> dict[str, Any]:
    cols = parse.from_objects(objs)
    with db.write() as s:
        return telemetry.ingest(s, dso, cols).as_dict()
