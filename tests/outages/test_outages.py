"""ProvMnS rules and notifications of OutageAndRecoveryInfo, threshold monitors and power alarms, on the
mv_oberrhein world of conftest (imports: test_imports.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from gridcell.outages import service as outages
from tests.conftest import PLMN_A, Receiver, alarm
from tests.outages.conftest import GRID, GridEnv, iso, site_id
from tests.outages.schema3gpp import validate_error, validate_moi, validator_for


def _closed_plans(rec: Receiver, moi_id: str) -> list[dict[str, Any]]:
    return [x["body"]["plan"] for x in rec.received if x["body"]["notificationType"] == "notifyOutagePlanChanged"
            and x["body"]["href"].endswith(f"={moi_id}") and x["body"]["plan"]["status"] == "closed"]


def test_closing_notifies_both_sides(genv: GridEnv, outage: str) -> None:
    rec = genv.receivers
    assert genv.put(outage, genv.fault_body()).status_code == 201
    r = genv.client.patch(genv.ori(outage), json={"actualOutageEndTime": iso(genv.t0 + timedelta(minutes=5))},
                          headers={**genv.world.dso.auth(), "Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    for who in ("dso", "mno", "mno2"):
        rec[who].wait_for(lambda rs, w=who: bool(_closed_plans(rec[w], outage)))
    dso_plan, mno_plan = _closed_plans(rec["dso"], outage)[-1], _closed_plans(rec["mno"], outage)[-1]
    assert dso_plan["side"] == "dso" and mno_plan["side"] == "mno"
    assert mno_plan["ranSites"] and all(r["state"] == "mains" for r in mno_plan["ranSites"])
    v = validator_for("TS28532_ProvMnS.yaml", "NotifyMoiAttributeValueChanges")
    for who in ("dso", "mno"):
        kinds = {x["body"]["notificationType"] for x in rec[who].received if x["body"]["href"].endswith(f"={outage}")}
        assert {"notifyMOICreation", "notifyMOIAttributeValueChanges", "notifyOutagePlanChanged"} <= kinds, who
        for x in rec[who].received:
            if x["body"]["notificationType"] == "notifyMOIAttributeValueChanges":
                v.validate(x["body"])


def test_every_returned_moi_validates_against_ts28318(genv: GridEnv, outage: str) -> None:
    t0 = genv.t0
    square = [(48.40, 7.75), (48.40, 7.80), (48.44, 7.80), (48.44, 7.75)]
    area = [{"geoArea": {"geoPolygon": [{"latitude": la, "longitude": lo} for la, lo in square]}},
            {"geoArea": {"geoCircle": {"referenceLocation": {"latitude": 48.42, "longitude": 7.85},
                                       "distanceRadius": 800}}}]
    second = f"{outage}-tai"
    try:
        returned = [genv.put(outage, {**genv.fault_body(), "affectedArea": {"outageArea": area,
                                                                            "energySupplyId": "feeder-7"}}).json(),
                    genv.put(second, {"outageStartTime": iso(t0), "affectedArea": {
                        "outageArea": [{"mcc": "262", "mnc": "01", "tac": "1A2B"},
                                       {"mcc": "262", "mnc": "02", "tac": "1A2B"}]}}).json(),
                    genv.moi(outage, "mno"), genv.moi(outage, "mno2"),
                    genv.client.patch(genv.ori(second), json=[{"op": "add", "path": "/expectedOutageEndTime",
                                                               "value": iso(t0 + timedelta(hours=1))}],
                                      headers={**genv.world.dso.auth(),
                                               "Content-Type": "application/json-patch+json"}).json()]
        for moi in returned:
            validate_moi(moi, "OutageAndRecoveryInfo-Single")
            assert moi["objectClass"] == "OutageAndRecoveryInfo" and "outageStartTime" in moi["attributes"]
        # The TAIs name every test cell: all six RAN sites are affected through them.
        assert genv.plan(second)["summary"]["ranSitesAffected"] == 6
        for who in ("dso", "mno", "mno2"):
            for item in genv.client.get("/api/v1/outages", headers=genv.org(who).auth("viewer")).json():
                validate_moi(item["moi"], "OutageAndRecoveryInfo-Single")
        # GET-modify-PUT of what the DSO read (mnoAnswers and the mno* values included) is accepted.
        echoed = genv.moi(second)
        echoed["attributes"]["isAffectedAreaPriority"] = True
        assert genv.put(second, echoed).json()["attributes"]["isAffectedAreaPriority"] is True
    finally:
        genv.delete(second)
    dn = f"/ProvMnS/v1900/SubNetwork={genv.world.dso.id}/DsoThresholdMonitor=TM-V"
    r = genv.client.put(dn, json={
        "attributes": {"administrativeState": "LOCKED", "thresholdInfoList": [
            {"performanceMetrics": ["SiteStatus.DownRatio"], "thresholdDirection": "UP", "thresholdValue": 0.5,
             "hysteresis": 0.1}], "monitorGranularityPeriod": 60},
        "targetThresholdLocation": area}, headers=genv.world.dso.auth())
    assert r.status_code == 201, r.text
    validate_moi(r.json(), "DsoThresholdMonitor-Single")
    assert r.json()["attributes"]["targetThresholdLocation"] == area  # beside the others, as Resource requires
    validate_moi(genv.client.get(dn, headers=genv.world.mno.auth("viewer")).json(), "DsoThresholdMonitor-Single")
    # An AreaOfInterest of cell ids under `attributes` stays a valid Resource (beside it, it would not be).
    r = genv.client.patch(dn, json={"attributes": {"targetThresholdLocation": ["1A2B3C4D5"]}},
                          headers=genv.world.dso.auth())
    assert r.status_code == 200, r.text
    validate_moi(r.json(), "DsoThresholdMonitor-Single")
    assert genv.client.delete(dn, headers=genv.world.dso.auth()).status_code == 200


def _problem(r: Any, status: int) -> dict[str, Any]:
    """A ProvMnS error: TS 28.623's error body for the method, `status` a string as the standard's schemas say."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = dict(r.json())
    validate_error(body, r.request.method)
    assert body["status"] == str(status) and body["type"] and body["error"]["errorInfo"] == body["reason"]
    return body


def test_bad_input(genv: GridEnv, outage: str) -> None:
    t0 = genv.t0
    bad = _problem(genv.put(outage, {"outageStartTime": "yesterday", "dsoRapidInterventionDuration": "1h"}), 400)
    assert set(bad["badAttributes"]) == {"outageStartTime", "dsoRapidInterventionDuration"}
    assert {p["badAttributes"][0]: p["reason"] for p in bad["otherProblems"]}["dsoRapidInterventionDuration"] == \
        "must be a non-negative integer (minutes)"
    _problem(genv.put(outage, {"unknownAttribute": 1}), 400)
    _problem(genv.put(outage, {"affectedArea": {"energySupplyId": f"{GRID}/line:999999"}}), 400)
    corners = [(48.40, 7.75), (48.44, 7.80), (48.40, 7.80), (48.44, 7.75)]  # a bow tie
    bowtie = [{"geoArea": {"geoPolygon": [{"latitude": la, "longitude": lo} for la, lo in corners]}}]
    body = _problem(genv.put(outage, {"affectedArea": {"outageArea": bowtie}}), 400)
    assert "Self-intersection" in json.dumps(body)
    # An MNO writes no DSO attribute; a DSO does not write the MNO-side (readOnly) attributes.
    _problem(genv.put(outage, {"outageStartTime": iso(t0)}, who="mno"), 403)
    _problem(genv.put(outage, {"outageStartTime": iso(t0), "mnoMaxServiceDuration": 999}), 403)
    assert genv.client.get(genv.ori(outage), headers=genv.world.dso.auth()).status_code == 404  # nothing written
    assert genv.put(outage, {"outageStartTime": iso(t0)}).status_code == 201
    _problem(genv.client.patch(genv.ori(outage), json={"mnoInterventionDuration": 5}, headers=genv.world.dso.auth()),
             403)
    _problem(genv.client.patch(genv.ori(outage), json={"expectedOutageEndTime": iso(t0 + timedelta(hours=1))},
                               headers=genv.world.mno.auth()), 403)
    # The other DSO does not see this SubNetwork at all.
    _problem(genv.client.get(genv.ori(outage), headers=genv.world.dso2.auth()), 404)
    _problem(genv.client.put(genv.ori(f"{outage}-x"), content=b"{not json", headers=genv.world.dso.auth()), 400)
    # A switching action on a switch the grid does not have names it; nothing is recorded.
    r = genv.client.post(f"/api/v1/outages/{outage}/switching", headers=genv.world.dso.auth(),
                         json={"actions": [{"switch": 99999, "closed": True}]})
    assert r.status_code == 400 and "actions/0/switch" in r.text, r.text
    assert genv.plan(outage)["phases"] == []


def test_power_alarm_moves_battery_start_and_feeds_the_interfaces(genv: GridEnv, outage: str) -> None:
    c, world, t0 = genv.client, genv.world, genv.t0
    rec = genv.receivers["dso"]
    tm = f"/ProvMnS/v1900/SubNetwork={world.dso.id}/DsoThresholdMonitor=TM-P"
    r = c.put(tm, json={
        "attributes": {"administrativeState": "UNLOCKED", "thresholdInfoList": [
            {"performanceMetrics": ["RanSites.OnBatteryCount"], "thresholdDirection": "UP_AND_DOWN",
             "thresholdValue": 0, "hysteresis": 0}]}}, headers=world.dso.auth())
    assert r.status_code == 201, r.text
    try:
        genv.put(outage, genv.fault_body(outageStartTime=iso(t0 + timedelta(minutes=5))))
        early = t0 - timedelta(minutes=30)
        body = alarm("notifyNewAlarm", "PWR-1", "SubNetwork=1,ManagedElement=x,RanSite=A-DOWN", severity="MAJOR",
                     cause="COMMERCIAL_POWER_FAILURE", at=early, objectInstance="A-DOWN")
        assert c.post("/api/v1/ingest/notifications", json=body, headers=world.mno.auth()).status_code == 200
        a_down = next(r for r in genv.plan(outage, "mno")["ranSites"] if r["ranSiteId"] == "A-DOWN")
        assert (a_down["onBatterySince"], a_down["darkAt"]) == (iso(early), iso(early + timedelta(hours=2)))
        got = rec.wait_for(lambda rs: any(x["body"]["notificationType"] == "notifyThresholdCrossing" for x in rs))
        crossing = next(x["body"] for x in got if x["body"]["notificationType"] == "notifyThresholdCrossing")
        assert (crossing["observedPerfMetricName"], crossing["observedPerfMetricDirection"]) == \
            ("RanSites.OnBatteryCount", "UP")
        validator_for("TS28532_PerfMnS.yaml", "NotifyThresholdCrossing").validate(crossing)
        with genv.db.read() as s:
            from gridcell.topology import service as topology

            ran = {r.site_id: r.pk for r in topology.ran_sites_of_orgs(s, [world.mno.id, world.mno2.id])}
            power = outages.ran_site_power(s, [ran["A-DOWN"], ran[f"RAN-{PLMN_A}"]], datetime.now(UTC))
            assert power[ran["A-DOWN"]].state == "battery" and power[ran["A-DOWN"]].since == early
            assert power[ran["A-DOWN"]].time_to_dark is not None
            assert power[ran[f"RAN-{PLMN_A}"]].state == "mains"
            site = topology.site_by_id(s, world.dso.id, site_id("S-DOWN"))
            found = outages.energy_outages_for_sites(s, world.dso.id, [site.pk], t0, t0 + timedelta(hours=1))
            assert [e.id for e in found] == [outage] and found[0].site_pks == frozenset({site.pk})
            assert outages.energy_outages_for_sites(s, world.dso2.id, [site.pk], t0, t0 + timedelta(hours=1)) == []
        clear = alarm("notifyClearedAlarm", "PWR-1", "SubNetwork=1,ManagedElement=x,RanSite=A-DOWN",
                      severity="CLEARED", objectInstance="A-DOWN")
        assert c.post("/api/v1/ingest/notifications", json=clear, headers=world.mno.auth()).status_code == 200
    finally:
        assert c.delete(tm, headers=world.dso.auth()).status_code == 200
