"""Outage coordination on mv_oberrhein with two MNOs (see conftest for the world): the area as it evolves,
per-MNO answers, the rapid-intervention check over energized stations, generators, priority by section, and a
status that tells the same story as the plan."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandapower.topology as top

from gridcell.outages import grid
from tests.conftest import PLMN_A, PLMN_B
from tests.outages.conftest import (
    FAULT_LINE,
    FEEDER,
    GRID,
    ISOLATE_SWITCH,
    NOP_SWITCH,
    GridEnv,
    iso,
    site_id,
)


def _buses(bs: set[int]) -> set[str]:
    return {f"{GRID}/{b}" for b in bs}


def _feeder_buses(genv: GridEnv) -> set[int]:
    return {b for b, f in grid.feeders(genv.net).items() if f == FEEDER}


def _section_after_isolation(genv: GridEnv) -> set[int]:
    import copy

    n = copy.deepcopy(genv.net)
    n.line.loc[FAULT_LINE, "in_service"] = False
    return {int(b) for b in top.unsupplied_buses(n)}


def test_the_tripped_feeder_comes_first_then_the_isolated_section(genv: GridEnv, outage: str) -> None:
    assert genv.put(outage, genv.fault_body()).status_code == 201
    plan = genv.plan(outage)
    feeder, section = _feeder_buses(genv), _section_after_isolation(genv)
    assert (len(feeder), len(section)) == (44, 16)  # the breaker trips the whole feeder, not just the section
    assert [p["phase"] for p in plan["phases"]] == ["tripped"]
    assert set(plan["phases"][0]["buses"]) == _buses(feeder) == set(plan["deEnergizedBuses"])
    assert site_id("S-UP") in plan["phases"][0]["stations"]
    # The DSO isolates the fault five minutes in: the upstream part is back, the downstream section stays dark.
    at = genv.t0 + timedelta(minutes=5)
    r = genv.client.post(f"/api/v1/outages/{outage}/switching", headers=genv.world.dso.auth(),
                         json={"actions": [{"switch": ISOLATE_SWITCH, "closed": False, "at": iso(at)}]})
    assert r.status_code == 200, r.text
    plan = r.json()
    assert [(p["phase"], p["from"], p["until"]) for p in plan["phases"]] == [
        ("tripped", iso(genv.t0), iso(at)), ("switched", iso(at), None)]
    assert set(plan["phases"][1]["buses"]) == _buses(section) == set(plan["deEnergizedBuses"])
    assert set(plan["restoredBuses"]) == _buses(feeder - section)
    ran = {r["ranSiteId"]: r for r in plan["ranSites"]}
    assert ran["A-UP"]["mainsBackAt"] == iso(at) and ran["A-UP"]["state"] == "mains"
    assert ran["A-DOWN"]["mainsBackAt"] is None and ran["A-DOWN"]["state"] == "battery"
    sites = {s["siteId"]: s for s in plan["dsoSites"]}
    assert sites[site_id("S-UP")]["restored"] and not sites[site_id("S-UP")]["deEnergized"]
    assert sites[site_id("S-UP")]["plmnsLost"] == []  # its RAN sites had mains again before going dark
    assert [b["sectionId"] for b in plan["restorationPriority"]] == [f"{GRID}/section:{min(section)}"]


def test_each_mno_reads_its_own_answer_and_unknown_autonomy_is_unknown(genv: GridEnv, outage: str) -> None:
    assert genv.put(outage, genv.fault_body()).status_code == 201
    a, b, dso = genv.attrs(outage, "mno"), genv.attrs(outage, "mno2"), genv.attrs(outage)
    assert a["mnoMaxServiceDuration"] == 120  # MNO A's own sites: 2 h (its unknown-autonomy site is not a 0)
    assert b["mnoMaxServiceDuration"] == 60
    assert dso["mnoMaxServiceDuration"] == 60  # the DSO's copy: the earliest answer ...
    answers = {x["mnoId"]: x for x in dso["mnoAnswers"]}  # ... and every MNO's answer beside it
    assert answers[genv.world.mno.id]["mnoMaxServiceDuration"] == 120
    assert answers[genv.world.mno2.id]["mnoMaxServiceDuration"] == 60
    assert "mnoAnswers" not in a and "mnoAnswers" not in b
    mine = genv.plan(outage, "mno")
    assert mine["answer"]["unknownAutonomySites"] == 1
    unk = next(r for r in mine["ranSites"] if r["ranSiteId"] == "A-UNK")
    assert (unk["darkAt"], unk["autonomyKnown"], unk["state"]) == (None, False, "battery")
    dso_plan = genv.plan(outage)
    s_unk = next(s for s in dso_plan["dsoSites"] if s["siteId"] == site_id("S-UNK"))
    assert s_unk["allPlmnsLostAt"] is None and s_unk["lossTimeUnknown"] is True


def test_rapid_window_covers_the_energized_station_at_the_normally_open_point(genv: GridEnv, outage: str) -> None:
    t0 = genv.t0
    body = genv.fault_body(dsoRapidInterventionTime=iso(t0 + timedelta(minutes=30)), dsoRapidInterventionDuration=60)
    assert genv.put(outage, body).status_code == 201
    plan = genv.plan(outage)
    rapid = plan["rapidIntervention"]
    assert rapid["fits"] is False and rapid["commsFailAt"] == iso(t0 + timedelta(minutes=60))
    assert rapid["stationsLosingComms"] == [{"siteId": site_id("S-NOP"), "at": iso(t0 + timedelta(minutes=60)),
                                             "deEnergized": False}]
    assert rapid["stationsUnknown"] == [site_id("S-UNK")]
    # The DSO's generator plan keeps every station on a PLMN until the expected end: B-DOWN (MNO B, area-level:
    # no RAN site id for the DSO) serves S-NOP and S-DOWN; A-UP serves S-UP.
    gens = [(g["mnoId"], g.get("ranSiteId"), g["by"], sorted(g["forSites"])) for g in plan["generatorsNeeded"]]
    assert gens == [(genv.world.mno2.id, None, iso(t0 + timedelta(minutes=60)), [site_id("S-DOWN"), site_id("S-NOP")]),
                    (genv.world.mno.id, "A-UP", iso(t0 + timedelta(minutes=120)), [site_id("S-UP")])]
    assert all(g["until"] == iso(t0 + timedelta(hours=5)) for g in plan["generatorsNeeded"])
    # The section's restoring step at S-NOP is marked: that station loses comms at T0 + 60 min.
    down = next(b for b in plan["restorationPriority"] if site_id("S-DOWN") in b["stations"])
    step = next(s for s in down["restore"] if s.get("switch") == NOP_SWITCH)
    assert (step["stationSiteId"], step["stationCommsLostAt"]) == (site_id("S-NOP"), iso(t0 + timedelta(minutes=60)))


def test_generators_are_listed_without_a_rapid_intervention_time(genv: GridEnv, outage: str) -> None:
    assert genv.put(outage, genv.fault_body()).status_code == 201
    t0 = genv.t0
    for who, first, n in (("mno", t0 + timedelta(minutes=120), 2), ("mno2", t0 + timedelta(minutes=60), 2)):
        view = genv.plan(outage, who)
        assert len(view["generatorsNeeded"]) == n, view["generatorsNeeded"]
        assert view["mnoAttributes"]["mnoInterventionTime"] == iso(first)
        assert view["mnoAttributes"]["mnoInterventionDuration"] == (t0 + timedelta(hours=5) - first) // \
            timedelta(minutes=1)
        attrs = genv.attrs(outage, who)
        assert attrs["mnoInterventionTime"] == view["mnoAttributes"]["mnoInterventionTime"]
        assert all("forSites" not in g for g in view["generatorsNeeded"])
    assert len(genv.plan(outage)["generatorsNeeded"]) == 2


def test_restoration_priority_is_by_section_counting_stations_that_lose_every_plmn(genv: GridEnv,
                                                                                   outage: str) -> None:
    assert genv.put(outage, genv.fault_body()).status_code == 201
    plan = genv.plan(outage)
    ranked = plan["restorationPriority"]
    assert [b["rank"] for b in ranked] == [1, 2]
    down, up = ranked
    c = genv.customers
    assert set(down["dependentSites"]) == {site_id("S-DOWN"), site_id("S-NOP"), site_id("S-UNK")}
    assert down["dependentCustomers"] == c["S-DOWN"] + c["S-NOP"] + c["S-UNK"]
    assert up["dependentSites"] == [site_id("S-UP")]  # S-KEEP keeps PLMN B through B-LIVE: not dependent
    assert up["dependentCustomers"] == c["S-UP"]
    assert down["dependentCustomers"] > up["dependentCustomers"]
    assert any(s["action"] == "reclose" for s in up["restore"])  # the upstream part: reclose the breaker
    assert {s.get("switch") for s in down["restore"]} >= {NOP_SWITCH}
    assert len(up["buses"]) + len(down["buses"]) == 44
    assert plan["feederPriority"][0]["feeder"] == FEEDER


def test_status_tells_the_story_of_the_plan(genv: GridEnv, outage: str) -> None:
    c, dso = genv.client, genv.world.dso
    assert genv.put(outage, genv.fault_body()).status_code == 201
    items = {(i["siteId"], i["plmn"]): i for i in c.get("/api/v1/status", headers=dso.auth("viewer")).json()["items"]}
    nop = items[(site_id("S-NOP"), PLMN_B)]
    assert nop["status"] == "at_risk"
    reason = next(r for r in nop["reasons"] if r["category"] == "energy_outage")
    assert reason["timeToDark"] == iso(genv.t0 + timedelta(minutes=60))
    assert items[(site_id("S-DOWN"), PLMN_A)]["status"] == "at_risk"
    assert items[(site_id("S-KEEP"), PLMN_B)]["status"] == "ok"
    # An outage that began three hours ago: MNO B's sites are dark now, so is PLMN B at S-NOP.
    genv.put(outage, genv.fault_body(outageStartTime=iso(genv.t0 - timedelta(hours=3))))
    items = {(i["siteId"], i["plmn"]): i for i in c.get("/api/v1/status", headers=dso.auth("viewer")).json()["items"]}
    assert items[(site_id("S-NOP"), PLMN_B)]["status"] == "down"
    # Closed: back to ok.
    genv.client.patch(genv.ori(outage), json={"actualOutageEndTime": iso(genv.t0)}, headers=dso.auth())
    items = {(i["siteId"], i["plmn"]): i for i in c.get("/api/v1/status", headers=dso.auth("viewer")).json()["items"]}
    assert items[(site_id("S-NOP"), PLMN_B)]["status"] == "ok"


def test_an_mno_states_its_own_answer_and_the_dso_is_told(genv: GridEnv, outage: str) -> None:
    assert genv.put(outage, genv.fault_body()).status_code == 201
    dso_rec = genv.receivers["dso"]
    url = f"/api/v1/outages/{outage}/mno-answer"
    r = genv.client.put(url, params={"dso": genv.world.dso.id}, headers=genv.world.mno2.auth(),
                        json={"mnoMaxServiceDuration": 240, "reason": "generator on site since 08:10"})
    assert r.status_code == 200, r.text
    assert r.json()["answer"]["source"] == "declared"
    assert genv.attrs(outage, "mno2")["mnoMaxServiceDuration"] == 240
    assert genv.attrs(outage, "mno")["mnoMaxServiceDuration"] == 120
    dso = genv.attrs(outage)
    assert dso["mnoMaxServiceDuration"] == 120  # the earliest answer now is MNO A's
    b = next(x for x in dso["mnoAnswers"] if x["mnoId"] == genv.world.mno2.id)
    assert (b["source"], b["reason"], b["mnoMaxServiceDuration"]) == ("declared", "generator on site since 08:10", 240)

    def told(rs: list[dict[str, Any]]) -> bool:
        return any(x["body"]["notificationType"] == "notifyMOIAttributeValueChanges"
                   and x["body"]["href"].endswith(f"={outage}")
                   and any("mnoAnswers" in ch for ch in x["body"]["attributeListValueChanges"][:1]) for x in rs)

    dso_rec.wait_for(told)
    # Bad input names the field; an MNO without sites in the outage's DSO answers nothing; a DSO cannot answer.
    for bad, loc in (({"mnoMaxServiceDuration": -1, "reason": "x"}, "mnoMaxServiceDuration"),
                     ({"mnoMaxServiceDuration": 5}, "reason"), ({"reason": "x", "colour": 1}, "colour")):
        r = genv.client.put(url, params={"dso": genv.world.dso.id}, headers=genv.world.mno2.auth(), json=bad)
        assert r.status_code == 400, r.text
        assert loc in r.text
    r = genv.client.put(url, headers=genv.world.dso.auth(), json={"mnoMaxServiceDuration": 5, "reason": "x"})
    assert r.status_code == 403
    assert genv.client.delete(url, params={"dso": genv.world.dso.id}, headers=genv.world.mno2.auth()).status_code == 200
    assert genv.attrs(outage, "mno2")["mnoMaxServiceDuration"] == 60


def test_a_foreign_plmn_import_cannot_change_the_plan(genv: GridEnv, outage: str) -> None:
    assert genv.put(outage, genv.fault_body()).status_code == 201
    before = genv.plan(outage)
    # MNO B (PLMN B only) claims PLMN A at S-DOWN with MNO A's cell id and a long battery.
    doc = genv.ran_doc("A-DOWN", id="EVIL", autonomyH=48)
    r = genv.client.post("/api/v1/topology/import", json=doc, headers=genv.world.mno2.auth())
    assert r.status_code == 403, r.text
    after = genv.plan(outage)
    assert after["version"] == before["version"]
    s_down = next(s for s in after["dsoSites"] if s["siteId"] == site_id("S-DOWN"))
    assert [p["plmn"] for p in s_down["plmnsLost"]] == [PLMN_A, PLMN_B]


def test_an_answer_through_the_api_keeps_the_generators_the_mno_confirmed(genv: GridEnv, outage: str) -> None:
    """Generator dispatches are confirmed in the console and travel with the MNO's answer; an answer the MNO
    then gives through the API (which has no such field) must not drop them."""
    from gridcell.outages import service as outages
    from gridcell.tenancy import service as tenancy

    assert genv.put(outage, genv.fault_body()).status_code == 201
    token = genv.world.mno2.tokens["operator"]
    with genv.db.write() as s:
        caller = tenancy.authenticate(s, token)
        assert caller is not None
        confirmed = [{"ranSiteId": "B-1", "eta": iso(genv.t0 + timedelta(hours=1)), "late": False}]
        outages.set_mno_answer(s, caller, genv.world.dso.id, outage,
                               {"reason": "generator dispatched to B-1", "generatorsDispatched": confirmed})
    r = genv.client.put(f"/api/v1/outages/{outage}/mno-answer", params={"dso": genv.world.dso.id},
                        headers=genv.world.mno2.auth(), json={"mnoMaxServiceDuration": 240, "reason": "fuel cell"})
    assert r.status_code == 200, r.text
    dso = genv.attrs(outage)
    b = next(x for x in dso["mnoAnswers"] if x["mnoId"] == genv.world.mno2.id)
    assert b["mnoMaxServiceDuration"] == 240 and b["reason"] == "fuel cell"
    with genv.db.read() as s:
        row = outages._find(s, caller, genv.world.dso.id, outage)
        assert row.mno_answers[genv.world.mno2.id]["generatorsDispatched"] == confirmed
