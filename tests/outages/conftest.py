"""mv_oberrhein with a DSO and two MNOs (one PLMN each, different batteries), for the outage-coordination tests.

A fault on line 0 trips feeder line:62 (44 buses); isolated, it leaves a 16-bus downstream section dark (the
28 upstream buses come back with the breaker). What lives there, with MNO A's RAN sites at 2 h and MNO B's at 1 h:

| station | bus | where | USIMs → serving RAN site (bus) |
|---|---|---|---|
| S-DOWN | 111 | downstream | A → A-DOWN (136), B → B-DOWN (138) |
| S-NOP | 223 | energized, at the normally-open point 144 | B → B-DOWN (138) |
| S-UNK | 170 | downstream | A → A-UNK (149, autonomy unknown) |
| S-UP | 110 | upstream | A → A-UP (108), B → B-UP (109) |
| S-KEEP | 72 | upstream | A → A-UP (108), B → B-LIVE (54, another feeder) |
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gridcell.app import create_app
from gridcell.core.db import Database
from gridcell.outages import grid
from gridcell.outages.subscription_control import NOTIFICATION_TYPES
from tests.conftest import PLMN_A, PLMN_B, Receiver, World, build_world, fresh_database, make_settings

GRID = "mv_oberrhein"
FAULT_LINE = 0
FEEDER = "line:62"
NOP_SWITCH = 144  # at bus 223, on line 88 into the downstream section
ISOLATE_SWITCH = 0  # at bus 109, the upstream end of line 0
STATIONS = {"S-DOWN": 111, "S-NOP": 223, "S-UNK": 170, "S-UP": 110, "S-KEEP": 72}
RAN = {  # id: (PLMN, bus, autonomy h)
    "A-DOWN": (PLMN_A, 136, 2.0), "A-UNK": (PLMN_A, 149, None), "A-UP": (PLMN_A, 108, 2.0),
    "B-DOWN": (PLMN_B, 138, 1.0), "B-UP": (PLMN_B, 109, 1.0), "B-LIVE": (PLMN_B, 54, 1.0)}
USIMS = {"S-DOWN": {PLMN_A: "A-DOWN", PLMN_B: "B-DOWN"}, "S-NOP": {PLMN_B: "B-DOWN"}, "S-UNK": {PLMN_A: "A-UNK"},
         "S-UP": {PLMN_A: "A-UP", PLMN_B: "B-UP"}, "S-KEEP": {PLMN_A: "A-UP", PLMN_B: "B-LIVE"}}


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def cell_of(ran_id: str) -> str:
    return f"{RAN[ran_id][0]}-{ran_id}"


def site_id(station: str) -> str:
    return f"{GRID}-bus{STATIONS[station]}"


@dataclass
class GridEnv:
    client: TestClient
    db: Database
    world: World
    net: Any
    t0: datetime  # the outage start of the tests: ten minutes ago
    coords: dict[int, tuple[float, float]]
    customers: dict[str, int] = field(default_factory=dict)
    receivers: dict[str, Receiver] = field(default_factory=dict)

    def ori(self, moi_id: str) -> str:
        return f"/ProvMnS/v1900/SubNetwork={self.world.dso.id}/OutageAndRecoveryInfo={moi_id}"

    def org(self, who: str) -> Any:
        return getattr(self.world, who)

    def put(self, moi_id: str, body: dict[str, Any], who: str = "dso") -> Any:
        return self.client.put(self.ori(moi_id), json=body, headers=self.org(who).auth())

    def fault_body(self, **extra: Any) -> dict[str, Any]:
        body = {"outageStartTime": iso(self.t0), "expectedOutageEndTime": iso(self.t0 + timedelta(hours=5)),
                "affectedArea": {"energySupplyId": f"{GRID}/line:{FAULT_LINE}"}, "isAffectedAreaPriority": True}
        body.update(extra)
        return body

    def plan(self, moi_id: str, who: str = "dso") -> dict[str, Any]:
        r = self.client.get(f"/api/v1/outages/{moi_id}/plan", params={"dso": self.world.dso.id},
                            headers=self.org(who).auth("viewer"))
        assert r.status_code == 200, r.text
        return dict(r.json())

    def moi(self, moi_id: str, who: str = "dso") -> dict[str, Any]:
        r = self.client.get(self.ori(moi_id), headers=self.org(who).auth("viewer"))
        assert r.status_code == 200, r.text
        return dict(r.json())

    def attrs(self, moi_id: str, who: str = "dso") -> dict[str, Any]:
        """The MOI's attributes as `who` reads them."""
        return dict(self.moi(moi_id, who)["attributes"])

    def delete(self, moi_id: str) -> None:
        r = self.client.delete(self.ori(moi_id), headers=self.world.dso.auth())
        assert r.status_code in (200, 404), r.text

    def ran_doc(self, ran_id: str, **changes: Any) -> dict[str, Any]:
        plmn, bus, autonomy = RAN[ran_id]
        lon, lat = self.coords[bus]
        site: dict[str, Any] = {"id": ran_id, "lat": lat, "lon": lon, "gridSupplyPoint": f"{GRID}/{bus}",
                                "cells": [{"cellId": cell_of(ran_id), "plmn": plmn, "rangeM": 100, "tac": 0x1A2B}]}
        if autonomy is not None:
            site["autonomyH"] = autonomy
        site.update(changes)
        return {"ranSites": [site]}


def _import(client: TestClient, org: Any, doc: dict[str, Any]) -> None:
    r = client.post("/api/v1/topology/import", json=doc, headers=org.auth())
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def genv() -> Iterator[GridEnv]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, net = grid.load_network(GRID)
    tmp = tempfile.mkdtemp(prefix="gridcell-outages-")
    db = fresh_database(f"sqlite:///{tmp}/gridcell.db")
    app = create_app(make_settings(db.url), db=db, migrate=False)
    with TestClient(app) as client:
        world = build_world(client, db)
        with db.write() as s:
            grid.import_grid(s, world.dso.id, GRID)
        coords = {int(i): tuple(json.loads(g)["coordinates"]) for i, g in net.bus.geo.items()}
        env = GridEnv(client, db, world, net, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10),
                      coords)  # type: ignore[arg-type]
        for ran_id, (plmn, _, _) in RAN.items():
            _import(client, world.mno if plmn == PLMN_A else world.mno2, env.ran_doc(ran_id))
        sites = []
        for station, usims in USIMS.items():
            site = client.get(f"/api/v1/sites/{site_id(station)}", headers=world.dso.auth("viewer")).json()
            env.customers[station] = site["customers"]
            sites.append({k: site[k] for k in ("id", "name", "kind", "lat", "lon", "customers", "gridBus")}
                         | {"cpes": [{"id": f"CPE-{station}", "usims": [
                             {"plmn": plmn, "role": "primary" if i == 0 else "alternate",
                              "servingCellId": cell_of(ran)} for i, (plmn, ran) in enumerate(sorted(usims.items()))]}]})
        _import(client, world.dso, {"sites": sites})
        for who in ("dso", "mno", "mno2"):  # every notification type, the plan-change extension included
            rec = Receiver()
            r = client.put(f"/ProvMnS/v1900/SubNetwork={world.dso.id}/NtfSubscriptionControl=all",
                           json={"attributes": {"notificationRecipientAddress": rec.url,
                                                "notificationTypes": list(NOTIFICATION_TYPES)}},
                           headers=getattr(world, who).auth())
            assert r.status_code == 201, r.text
            env.receivers[who] = rec
        yield env
        for rec in env.receivers.values():
            rec.close()
    db.dispose()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def outage(genv: GridEnv) -> Iterator[str]:
    """A fresh outage id, deleted after the test so no test sees another's plan or status."""
    moi_id = f"T-{next(_ids)}"
    yield moi_id
    genv.delete(moi_id)


_ids = iter(range(1, 10**6))
