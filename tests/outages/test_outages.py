"""Energy outage coordination on mv_oberrhein: grid faults, battery time-to-dark, the rapid-intervention check,
closing, ProvMnS rules and notifications, threshold monitors, imports. The grid is loaded once per module."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gridcell.app import create_app
from gridcell.core.db import Database
from gridcell.outages import grid, importers
from gridcell.outages import service as outages
from tests.conftest import PLMN_A, PLMN_B, Receiver, World, alarm, build_world, fresh_database, make_settings
from tests.outages.schema3gpp import validator_for

GRID = "mv_oberrhein"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@dataclass
class Env:
    client: TestClient
    db: Database
    world: World
    line: int  # the faulted line
    switch: int  # an open switch that restores the area
    dead: set[int]  # buses pandapower says are unsupplied after the line fault
    stations: set[int]  # buses with a station (DSO site)
    cpe_bus: int  # de-energized station with the dual-USIM CPE
    ran1_bus: int
    ran2_bus: int

    def ori(self, moi_id: str) -> str:
        return f"/ProvMnS/v1900/SubNetwork={self.world.dso.id}/OutageAndRecoveryInfo={moi_id}"


def _pick_fault() -> tuple[Any, int, int, set[int]]:
    import pandapower.topology as top

    _, net = grid.load_network(GRID)
    for line in net.line.index:
        n = copy.deepcopy(net)
        n.line.loc[line, "in_service"] = False
        dead = {int(b) for b in top.unsupplied_buses(n)}
        if len(dead & set(net.load.bus)) < 3:
            continue
        for sw in net.switch.index[~net.switch.closed]:
            m = copy.deepcopy(n)
            m.switch.loc[sw, "closed"] = True
            if len(top.unsupplied_buses(m)) < len(dead):
                return net, int(line), int(sw), dead
    raise AssertionError("no suitable line fault in mv_oberrhein")


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net, line, switch, dead = _pick_fault()
    tmp = tempfile.mkdtemp(prefix="gridcell-outages-")
    db = fresh_database(f"sqlite:///{tmp}/gridcell.db")
    app = create_app(make_settings(db.url), db=db, migrate=False)
    with TestClient(app) as client:
        world = build_world(client, db)
        with db.write() as s:
            grid.import_grid(s, world.dso.id, GRID)
        stations = {int(b) for b in net.load.bus} | {int(b) for b in net.trafo.lv_bus}
        dead_stations = sorted(dead & stations)
        cpe_bus, ran1_bus, ran2_bus = dead_stations[0], dead_stations[1], dead_stations[2]
        coords = {int(i): json.loads(g)["coordinates"] for i, g in net.bus.geo.items()}

        def ran(site_id: str, plmn: str, bus: int, autonomy: float) -> dict[str, Any]:
            lon, lat = coords[bus]
            return {"ranSites": [{"id": site_id, "lat": lat, "lon": lon, "autonomyH": autonomy,
                                  "gridSupplyPoint": f"{GRID}/{bus}",
                                  "cells": [{"cellId": f"{plmn}-T", "plmn": plmn, "rangeM": 300, "tac": 0x1A2B}]}]}

        for org, doc in ((world.mno, ran("RAN-T1", PLMN_A, ran1_bus, 2.0)),
                         (world.mno2, ran("RAN-T2", PLMN_B, ran2_bus, 1.0))):
            r = client.post("/api/v1/topology/import", json=doc, headers=org.auth())
            assert r.status_code == 200, r.text
        site = client.get(f"/api/v1/sites/{GRID}-bus{cpe_bus}", headers=world.dso.auth()).json()
        doc = {"sites": [{"id": site["id"], "name": site["name"], "kind": site["kind"], "lat": site["lat"],
                          "lon": site["lon"], "customers": site["customers"], "gridBus": site["gridBus"],
                          "cpes": [{"id": "CPE-T", "usims": [
                              {"plmn": PLMN_A, "role": "primary", "servingCellId": f"{PLMN_A}-T"},
                              {"plmn": PLMN_B, "role": "alternate", "servingCellId": f"{PLMN_B}-T"}]}]}]}
        r = client.post("/api/v1/topology/import", json=doc, headers=world.dso.auth())
        assert r.status_code == 200, r.text
        yield Env(client, db, world, line, switch, dead, stations, cpe_bus, ran1_bus, ran2_bus)
    db.dispose()
    shutil.rmtree(tmp, ignore_errors=True)


def _put(env: Env, moi_id: str, body: dict[str, Any], who: str = "dso") -> Any:
    org = getattr(env.world, who)
    return env.client.put(env.ori(moi_id), json=body, headers=org.auth())


def _fault_body(env: Env, **extra: Any) -> dict[str, Any]:
    body = {"outageStartTime": iso(T0), "expectedOutageEndTime": iso(T0 + timedelta(hours=5)),
            "affectedArea": {"energySupplyId": f"{GRID}/line:{env.line}"}, "isAffectedAreaPriority": True}
    body.update(extra)
    return body


def _plan(env: Env, moi_id: str, who: str = "dso") -> dict[str, Any]:
    r = env.client.get(f"/api/v1/outages/{moi_id}/plan", params={"dso": env.world.dso.id},
                       headers=getattr(env.world, who).auth("viewer"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_line_fault_deenergizes_exactly_the_stations_pandapower_finds(env: Env) -> None:
    r = _put(env, "LF-1", _fault_body(env))
    assert r.status_code == 201, r.text
    plan = _plan(env, "LF-1")
    assert set(plan["deEnergizedBuses"]) == {f"{GRID}/{b}" for b in env.dead}
    deenergized = {s["siteId"] for s in plan["dsoSites"] if s["deEnergized"]}
    assert deenergized == {f"{GRID}-bus{b}" for b in env.dead & env.stations}
    # Restoration priority: the bus powering the comms of the CPE site's primary PLMN comes first.
    assert plan["restorationPriority"][0]["dependentSites"] == [f"{GRID}-bus{env.cpe_bus}"]


def test_ran_site_on_deenergized_bus_goes_dark_after_its_autonomy(env: Env) -> None:
    _put(env, "LF-2", _fault_body(env))
    dso_plan, mno_plan = _plan(env, "LF-2"), _plan(env, "LF-2", "mno")
    t1 = next(r for r in mno_plan["ranSites"] if r["ranSiteId"] == "RAN-T1")
    assert t1["darkAt"] == iso(T0 + timedelta(hours=2))
    assert t1["onBatterySince"] == iso(T0)
    # The DSO has a cell-level agreement with mno (sees RAN-T1) and an area-level one with mno2 (counts only).
    assert [r["ranSiteId"] for r in dso_plan["ranSites"]] == ["RAN-T1"]
    assert {m["mnoId"]: m["firstDarkAt"] for m in dso_plan["ranSitesByMno"]} == {
        env.world.mno.id: iso(T0 + timedelta(hours=2)), env.world.mno2.id: iso(T0 + timedelta(hours=1))}
    cpe_site = next(s for s in dso_plan["dsoSites"] if s["siteId"] == f"{GRID}-bus{env.cpe_bus}")
    assert cpe_site["plmnsLost"] == [{"plmn": PLMN_A, "at": iso(T0 + timedelta(hours=2))},
                                     {"plmn": PLMN_B, "at": iso(T0 + timedelta(hours=1))}]
    assert cpe_site["allPlmnsLostAt"] == iso(T0 + timedelta(hours=2))
    moi = env.client.get(env.ori("LF-2"), headers=env.world.mno.auth("viewer")).json()
    assert moi["mnoMaxServiceDuration"] == 60  # minutes until the first affected site (RAN-T2) goes dark
    assert "dsoSites" not in mno_plan and "CPE" not in json.dumps(mno_plan)


def test_rapid_window_after_comms_fail_needs_a_generator(env: Env) -> None:
    body = _fault_body(env, dsoRapidInterventionTime=iso(T0 + timedelta(minutes=90)),
                       dsoRapidInterventionDuration=60)
    assert _put(env, "LF-3", body).status_code == 201
    plan = _plan(env, "LF-3")
    rapid = plan["rapidIntervention"]
    assert (rapid["fits"], rapid["commsFailAt"], rapid["end"]) == (
        False, iso(T0 + timedelta(hours=2)), iso(T0 + timedelta(minutes=150)))
    assert [(g["ranSiteId"], g["by"]) for g in plan["generatorsNeeded"]] == [("RAN-T1", iso(T0 + timedelta(hours=2)))]
    moi = env.client.get(env.ori("LF-3"), headers=env.world.dso.auth("viewer")).json()
    assert moi["mnoInterventionTime"] == iso(T0 + timedelta(hours=2))
    assert moi["mnoInterventionDuration"] == 180  # until the expected end at T0 + 5 h
    # A window that closes before comms fail fits, and needs no generator.
    r = env.client.patch(env.ori("LF-3"), json={"dsoRapidInterventionTime": iso(T0 + timedelta(minutes=10)),
                                                 "dsoRapidInterventionDuration": 30},
                         headers=env.world.dso.auth())
    assert r.status_code == 200, r.text
    assert "mnoInterventionTime" not in r.json()
    assert _plan(env, "LF-3")["rapidIntervention"]["fits"] is True


def test_switching_restores_the_area(env: Env) -> None:
    _put(env, "LF-4", _fault_body(env))
    r = env.client.post("/api/v1/outages/LF-4/switching", json={"actions": [{"switch": env.switch, "closed": True}]},
                        headers=env.world.dso.auth())
    assert r.status_code == 200, r.text
    plan = r.json()
    assert set(plan["restoredBuses"]) and not set(plan["deEnergizedBuses"]) & set(plan["restoredBuses"])
    assert plan["summary"]["ranSitesAffected"] <= 2


def test_closing_notifies_both_sides(env: Env, receiver: Receiver) -> None:
    subs = {}
    for who in ("dso", "mno"):
        r = env.client.post("/ProvMnS/v1900/subscriptions", json={"consumerReference": receiver.url},
                            headers=getattr(env.world, who).auth())
        assert r.status_code == 201, r.text
        subs[r.json()["id"]] = who
    assert _put(env, "LF-5", _fault_body(env)).status_code == 201
    r = env.client.patch(env.ori("LF-5"), json={"actualOutageEndTime": iso(T0 + timedelta(minutes=5))},
                         headers={**env.world.dso.auth(), "Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text

    def closed(rs: list[dict[str, Any]]) -> set[str]:
        return {x["body"]["subscriptionId"] for x in rs if x["body"]["notificationType"] == "notifyOutagePlanChanged"
                and x["body"]["href"].endswith("=LF-5") and x["body"]["plan"]["status"] == "closed"}

    got = receiver.wait_for(lambda rs: closed(rs) == set(subs))
    closing = {subs[x["body"]["subscriptionId"]]: x["body"]["plan"] for x in got
               if x["body"]["notificationType"] == "notifyOutagePlanChanged" and x["body"]["href"].endswith("=LF-5")
               and x["body"]["plan"]["status"] == "closed"}
    assert closing["dso"]["side"] == "dso" and closing["mno"]["side"] == "mno"
    assert all(r["state"] == "mains" for r in closing["mno"]["ranSites"])
    kinds = {(subs[x["body"]["subscriptionId"]], x["body"]["notificationType"]) for x in got
             if x["body"]["href"].endswith("=LF-5")}
    assert {("dso", "notifyMOICreation"), ("mno", "notifyMOICreation"),
            ("dso", "notifyMOIAttributeValueChanges"), ("mno", "notifyMOIAttributeValueChanges")} <= kinds
    v = validator_for("TS28532_ProvMnS.yaml", "NotifyMoiAttributeValueChanges")
    for x in got:
        if x["body"]["notificationType"] == "notifyMOIAttributeValueChanges":
            v.validate(x["body"])
    for sub_id, who in subs.items():
        assert env.client.delete(f"/ProvMnS/v1900/subscriptions/{sub_id}",
                                 headers=getattr(env.world, who).auth()).status_code == 204


def test_every_returned_moi_validates_against_ts28318(env: Env) -> None:
    v = validator_for("TS28318_DsoNrm.yaml", "OutageAndRecoveryInfo-Single")
    square = [(48.40, 7.75), (48.40, 7.80), (48.44, 7.80), (48.44, 7.75)]
    area = [{"geoArea": {"geoPolygon": [{"latitude": la, "longitude": lo} for la, lo in square]}},
            {"geoArea": {"geoCircle": {"referenceLocation": {"latitude": 48.42, "longitude": 7.85},
                                       "distanceRadius": 800}}}]
    returned = [_put(env, "V-1", {**_fault_body(env), "affectedArea": {"outageArea": area,
                                                                      "energySupplyId": "feeder-7"}}).json(),
                _put(env, "V-2", {"outageStartTime": iso(T0), "affectedArea": {
                    "outageArea": [{"mcc": "262", "mnc": "01", "tac": "1A2B"},
                                   {"mcc": "262", "mnc": "02", "tac": "1A2B"}]}}).json(),
                env.client.get(env.ori("V-1"), headers=env.world.mno.auth("viewer")).json(),
                env.client.patch(env.ori("V-2"), json=[{"op": "add", "path": "/expectedOutageEndTime",
                                                        "value": iso(T0 + timedelta(hours=1))}],
                                 headers={**env.world.dso.auth(),
                                          "Content-Type": "application/json-patch+json"}).json()]
    for moi in returned:
        v.validate(moi)
        assert moi["objectClass"] == "OutageAndRecoveryInfo"
    # The TAIs name the test cells: both RAN sites are affected through them.
    assert _plan(env, "V-2")["summary"]["ranSitesAffected"] == 2
    listed = env.client.get("/api/v1/outages", headers=env.world.mno.auth("viewer")).json()
    for item in listed:
        v.validate(item["moi"])
    tm = validator_for("TS28318_DsoNrm.yaml", "DsoThresholdMonitor-Single")
    r = env.client.put(f"/ProvMnS/v1900/SubNetwork={env.world.dso.id}/DsoThresholdMonitor=TM-V", json={
        "attributes": {"administrativeState": "LOCKED", "thresholdInfoList": [
            {"performanceMetrics": ["SiteStatus.DownRatio"], "thresholdDirection": "UP", "thresholdValue": 0.5,
             "hysteresis": 0.1}], "monitorGranularityPeriod": 60},
        "targetThresholdLocation": area}, headers=env.world.dso.auth())
    assert r.status_code == 201, r.text
    tm.validate(r.json())
    tm.validate(env.client.get(f"/ProvMnS/v1900/SubNetwork={env.world.dso.id}/DsoThresholdMonitor=TM-V",
                               headers=env.world.mno.auth("viewer")).json())


def _problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = dict(r.json())
    assert body["status"] == status and body["cause"]
    return body


def test_bad_input(env: Env) -> None:
    bad = _problem(_put(env, "B-1", {"outageStartTime": "yesterday", "dsoRapidInterventionDuration": "1h"}), 400)
    assert {p["param"] for p in bad["invalidParams"]} == {"outageStartTime", "dsoRapidInterventionDuration"}
    _problem(_put(env, "B-1", {"unknownAttribute": 1}), 400)
    _problem(_put(env, "B-1", {"affectedArea": {"energySupplyId": f"{GRID}/line:999999"}}), 400)
    corners = [(48.40, 7.75), (48.44, 7.80), (48.40, 7.80), (48.44, 7.75)]  # a bow tie
    bowtie = [{"geoArea": {"geoPolygon": [{"latitude": la, "longitude": lo} for la, lo in corners]}}]
    body = _problem(_put(env, "B-1", {"affectedArea": {"outageArea": bowtie}}), 400)
    assert "Self-intersection" in json.dumps(body)
    # An MNO writes nothing; a DSO does not write the MNO-side (readOnly) attributes.
    _problem(_put(env, "B-2", {"outageStartTime": iso(T0)}, who="mno"), 403)
    _problem(_put(env, "B-2", {"outageStartTime": iso(T0), "mnoMaxServiceDuration": 999}), 403)
    assert _put(env, "B-2", {"outageStartTime": iso(T0)}).status_code == 201
    _problem(env.client.patch(env.ori("B-2"), json={"mnoInterventionDuration": 5}, headers=env.world.dso.auth()), 403)
    _problem(env.client.patch(env.ori("B-2"), json={"expectedOutageEndTime": iso(T0 + timedelta(hours=1))},
                              headers=env.world.mno.auth()), 403)
    # The other DSO does not see this SubNetwork at all.
    _problem(env.client.get(env.ori("B-2"), headers=env.world.dso2.auth()), 404)
    _problem(env.client.put(env.ori("B-3"), content=b"{not json", headers=env.world.dso.auth()), 400)
    assert env.client.get(env.ori("B-1"), headers=env.world.dso.auth()).status_code == 404  # nothing half-written


def test_power_alarm_moves_battery_start_and_feeds_the_interfaces(env: Env, receiver: Receiver) -> None:
    sub = env.client.post("/ProvMnS/v1900/subscriptions",
                          json={"consumerReference": receiver.url, "notificationTypes": ["notifyThresholdCrossing"]},
                          headers=env.world.dso.auth()).json()
    r = env.client.put(f"/ProvMnS/v1900/SubNetwork={env.world.dso.id}/DsoThresholdMonitor=TM-P", json={
        "attributes": {"administrativeState": "UNLOCKED", "thresholdInfoList": [
            {"performanceMetrics": ["RanSites.OnBatteryCount"], "thresholdDirection": "UP_AND_DOWN",
             "thresholdValue": 0, "hysteresis": 0}]}}, headers=env.world.dso.auth())
    assert r.status_code == 201, r.text
    _put(env, "P-1", _fault_body(env, outageStartTime=iso(T0 + timedelta(minutes=5))))
    early = T0 - timedelta(minutes=30)
    body = alarm("notifyNewAlarm", "PWR-1", "SubNetwork=1,ManagedElement=x,RanSite=RAN-T1", severity="MAJOR",
                 cause="COMMERCIAL_POWER_FAILURE", at=early, objectInstance="RAN-T1")
    assert env.client.post("/api/v1/ingest/notifications", json=body, headers=env.world.mno.auth()).status_code == 200
    t1 = next(r for r in _plan(env, "P-1", "mno")["ranSites"] if r["ranSiteId"] == "RAN-T1")
    assert (t1["onBatterySince"], t1["darkAt"]) == (iso(early), iso(early + timedelta(hours=2)))
    got = receiver.wait_for(lambda rs: any(x["body"]["subscriptionId"] == sub["id"] for x in rs))
    crossing = next(x["body"] for x in got if x["body"]["subscriptionId"] == sub["id"])
    assert (crossing["observedPerfMetricName"], crossing["observedPerfMetricDirection"]) == \
        ("RanSites.OnBatteryCount", "UP")
    validator_for("TS28532_PerfMnS.yaml", "NotifyThresholdCrossing").validate(crossing)
    with env.db.read() as s:
        from gridcell.topology import service as topology

        ran = {r.site_id: r.pk for r in topology.ran_sites_of_orgs(s, [env.world.mno.id, env.world.mno2.id])}
        power = outages.ran_site_power(s, [ran["RAN-T1"], ran[f"RAN-{PLMN_A}"]], datetime.now(UTC))
        assert power[ran["RAN-T1"]].state == "battery" and power[ran["RAN-T1"]].since == early
        assert power[ran["RAN-T1"]].time_to_dark is not None
        assert power[ran[f"RAN-{PLMN_A}"]].state == "mains"
        site = topology.site_by_id(s, env.world.dso.id, f"{GRID}-bus{env.cpe_bus}")
        found = outages.energy_outages_for_sites(s, env.world.dso.id, [site.pk], T0, T0 + timedelta(hours=1))
        assert {"P-1", "LF-1"} <= {e.id for e in found}
        assert all(e.site_pks == frozenset({site.pk}) for e in found)
        assert outages.energy_outages_for_sites(s, env.world.dso2.id, [site.pk], T0, T0 + timedelta(hours=1)) == []


CIM_XML = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:cim="http://iec.ch/TC57/CIM100#">
  <cim:Outage rdf:ID="_OUT-77">
    <cim:mRID>OUT-77</cim:mRID>
    <cim:actualPeriod><cim:start>2026-11-20T08:00:00Z</cim:start></cim:actualPeriod>
    <cim:estimatedPeriod><cim:end>2026-11-20T12:00:00Z</cim:end></cim:estimatedPeriod>
    <cim:Equipments><cim:mRID>mv_oberrhein/line:LINE</cim:mRID></cim:Equipments>
    <cim:Location>
      <cim:PositionPoints><cim:xPosition>7.80</cim:xPosition><cim:yPosition>48.42</cim:yPosition></cim:PositionPoints>
    </cim:Location>
  </cim:Outage>
</rdf:RDF>"""


def test_import_cim_and_odin(env: Env) -> None:
    fmt, records = importers.parse(CIM_XML.replace("LINE", str(env.line)))
    assert fmt == "cim" and records[0][0] == "OUT-77"
    odin = {"outages": [{"outageId": "ODIN 1", "startTime": "2026-11-21T06:00:00Z",
                         "estimatedRestorationTime": "2026-11-21T09:30:00Z",
                         "geometry": {"type": "Polygon", "coordinates": [[[7.75, 48.40], [7.80, 48.40], [7.80, 48.44],
                                                                          [7.75, 48.40]]]}}]}
    fmt2, records2 = importers.parse(json.dumps(odin))
    assert fmt2 == "odin" and records2[0][0] == "ODIN-1"
    with env.db.write() as s:
        assert outages.import_records(s, env.world.dso.id, records + records2) == {"created": 2, "updated": 0}
    v = validator_for("TS28318_DsoNrm.yaml", "OutageAndRecoveryInfo-Single")
    moi = env.client.get(env.ori("OUT-77"), headers=env.world.dso.auth()).json()
    v.validate(moi)
    assert moi["expectedOutageEndTime"] == "2026-11-20T12:00:00Z"
    assert set(_plan(env, "OUT-77")["deEnergizedBuses"]) == {f"{GRID}/{b}" for b in env.dead}
    v.validate(env.client.get(env.ori("ODIN-1"), headers=env.world.dso.auth()).json())


def test_cli_imports(env: Env, tmp_path: Path) -> None:
    """The commands against their own store: a grid with an MNO's placed RAN sites, then CIM records."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    db = fresh_database(url)
    from gridcell.tenancy import service as tenancy

    with db.write() as s:
        dso = tenancy.create_org(s, "DSO", "dso")
        mno = tenancy.create_org(s, "MNO", "mno")
        s.flush()
        tenancy.create_agreement(s, dso, mno, [PLMN_A], "cell")
    db.dispose()
    envvars = {**os.environ, "GRIDCELL_DATABASE_URL": url, "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-c", "from gridcell.cli import main; main()"]
    r = subprocess.run([*cmd, "import", "pandapower", GRID, "--org", dso, "--mno", mno, "--place-ran-sites", "1732",
                        "--plmn", PLMN_A], capture_output=True, text=True, env=envvars, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["buses"] == 179 and out["stations"] >= 141 and out["ranSitesPlaced"] > 0
    f = tmp_path / "cim.xml"
    f.write_text(CIM_XML.replace("LINE", str(env.line)), encoding="utf-8")
    r = subprocess.run([*cmd, "import", "outages", str(f), "--org", dso], capture_output=True, text=True,
                       env=envvars, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"format": "cim", "created": 1, "updated": 0}
