"""Bulk upload over HTTP: NDJSON, CSV, gzip; all-or-nothing with line errors; unknown CPEs; duplicates."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import orjson
from fastapi.testclient import TestClient

from gridcell.core.db import Database
from gridcell.telemetry import store
from gridcell.telemetry.models import ProbeHourly
from gridcell.topology import service as topology
from tests.conftest import PLMN_A, PLMN_B, World

URL = "/api/v1/telemetry/probes"
BASE = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)


def _nd(rows: list[dict[str, object]]) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in rows)


def _rows(n: int, cpe: str = "D1-CPE0", plmn: str = PLMN_A, ok: bool = True) -> list[dict[str, object]]:
    t = BASE
    return [{"cpe": cpe, "plmn": plmn, "ts": (t + timedelta(seconds=10 * i)).isoformat(), "ok": ok,
             "rtt_ms": 20.0 + i % 5} for i in range(n)]


def _count(db: Database) -> int:
    with db.read() as s:
        return store.count_raw(s)


def test_ndjson_csv_gzip_and_duplicates(app_client: TestClient, world: World, db: Database) -> None:
    h = {**world.dso.auth(), "Content-Type": "application/x-ndjson"}
    r = app_client.post(URL, content=_nd(_rows(50)), headers=h)
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["duplicates"]) == (50, 0)
    again = app_client.post(URL, content=gzip.compress(_nd(_rows(60))), headers={**h, "Content-Encoding": "gzip"})
    assert (again.json()["accepted"], again.json()["duplicates"]) == (10, 50)
    t = datetime.now(UTC) - timedelta(minutes=5)
    csv = "cpe,plmn,ts,ok,rtt_ms,cell\n" + "\n".join(
        f"D1-CPE1,{PLMN_B},{(t + timedelta(seconds=i)).isoformat()},{i % 4 != 0:d},{25 + i},{PLMN_B}-C0"
        for i in range(20))
    r = app_client.post(URL, content=csv, headers={**world.dso.auth(), "Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 20
    assert _count(db) == 80
    with db.read() as s:
        hourly = s.query(ProbeHourly).all()
        assert sum(x.probes for x in hourly) == 80
        assert sum(x.failures for x in hourly) == 5
    avail = app_client.get("/api/v1/telemetry/availability", params={"site": "D1-S1"},
                           headers=world.dso.auth("viewer")).json()
    b = next(a for a in avail if a["plmn"] == PLMN_B)
    assert b["availability1h"] == 0.75 and b["probes24h"] == 20


def test_malformed_lines_store_nothing_and_name_lines(app_client: TestClient, world: World, db: Database) -> None:
    rows = _rows(5)
    body = _nd(rows[:2]) + b"\n{not json\n" + _nd([{**rows[2], "ok": "yes"}]) + b"\n\n" + _nd(rows[3:])
    r = app_client.post(URL, content=body, headers={**world.dso.auth(), "Content-Type": "application/x-ndjson"})
    assert r.status_code == 400
    errs = r.json()["errors"]
    assert [e["line"] for e in errs] == [3, 4]
    assert "JSON" in errs[0]["msg"] and "ok" in errs[1]["msg"]
    assert _count(db) == 0
    bad_csv = "cpe,plmn,ts,ok\nD1-CPE0,26201,2026-11-26T10:00:00Z,1\nD1-CPE0,2620,2026-11-26T10:00:00Z,1\n"
    r = app_client.post(URL, content=bad_csv, headers={**world.dso.auth(), "Content-Type": "text/csv"})
    assert r.status_code == 400 and [e["line"] for e in r.json()["errors"]] == [3]
    assert _count(db) == 0


def test_future_timestamps_refused_unknown_cpes_reported(app_client: TestClient, world: World, db: Database) -> None:
    h = {**world.dso.auth(), "Content-Type": "application/x-ndjson"}
    future = {**_rows(1)[0], "ts": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}
    r = app_client.post(URL, content=_nd([*_rows(2), future]), headers=h)
    assert r.status_code == 400 and r.json()["errors"][0]["line"] == 3 and "future" in r.json()["errors"][0]["msg"]
    r = app_client.post(URL, content=_nd([*_rows(2), *_rows(3, cpe="NOPE")]), headers=h)
    assert r.status_code == 200
    assert r.json()["unknownCpes"] == [{"cpeId": "NOPE", "results": 3, "firstLine": 3}]
    assert r.json()["accepted"] == 2
    # MNOs do not upload probes
    assert app_client.post(URL, content=_nd(_rows(1)), headers={**world.mno.auth(), "Content-Type":
                                                                "application/x-ndjson"}).status_code == 403


def test_reported_serving_cell_updates_topology(app_client: TestClient, world: World, db: Database) -> None:
    rows = [{**r, "cell": f"{PLMN_A}-C2"} for r in _rows(3, cpe="D1-CPE0")]
    r = app_client.post(URL, content=_nd(rows), headers={**world.dso.auth(), "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    with db.read() as s:
        usim = next(u for u in topology.usim_refs(s, world.dso.id) if u.cpe_id == "D1-CPE0" and u.plmn == PLMN_A)
        assert usim.reported_cell_id == f"{PLMN_A}-C2"
        links = topology.links_for_usims(s, [usim.pk])[usim.pk]
        assert len(links) == 1 and links[0][1] == "reported"


def test_probe_latency_change_makes_site_degraded(app_client: TestClient, world: World) -> None:
    h = {**world.dso.auth(), "Content-Type": "application/x-ndjson"}
    t = datetime.now(UTC) - timedelta(minutes=60)
    base = [{"cpe": "D1-CPE2", "plmn": PLMN_A, "ts": (t + timedelta(seconds=10 * i)).isoformat(), "ok": True,
             "rtt_ms": 30.0 + (i % 3)} for i in range(60)]
    assert app_client.post(URL, content=_nd(base), headers=h).status_code == 200
    slow = [{**b, "ts": (t + timedelta(seconds=600 + 10 * i)).isoformat(), "rtt_ms": 120.0} for i, b in
            enumerate(base[:30])]
    r = app_client.post(URL, content=_nd(slow), headers=h)
    assert r.json()["alarmsRaised"] >= 1
    st = app_client.get("/api/v1/status/sites/D1-S2", headers=world.dso.auth("viewer")).json()
    a = next(x for x in st if x["plmn"] == PLMN_A)
    assert a["status"] == "degraded"
    assert any(reason.get("source") == "dso_probes" for reason in a["reasons"])
