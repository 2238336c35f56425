"""Ownership is data: an MNO's cells carry only its agreements' PLMNs, a cell global identity (PLMN, cell id)
belongs to one MNO, and a DSO's USIM links only to cells of the MNO its agreement names for that PLMN."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from gridcell.core.db import Database
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topology
from tests.conftest import PLMN_A, PLMN_B, Org, World, dso_topology, mno_topology

SITE = "D1-S0"


def _links(db: Database, world: World, site_id: str = SITE) -> dict[str, set[tuple[str, str]]]:
    """PLMN → {(owning MNO, cell id)} linked to the site's USIMs."""
    with db.read() as s:
        ref = topology.site_by_id(s, world.dso.id, site_id)
        pairs = {(ref.pk, p) for p in topology.site_plmns(s, [ref.pk])[ref.pk]}
        out = topology.serving_cells_for_pairs(s, pairs)
    return {plmn: {(c.org_id, c.cell_id) for c in cells} for (_, plmn), cells in out.items()}


def _problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return dict(r.json())


def test_foreign_plmn_import_is_refused_and_the_dso_plan_keeps_its_links(app_client: TestClient, db: Database,
                                                                         world: World) -> None:
    before = _links(db, world)
    assert before[PLMN_A] == {(world.mno.id, f"{PLMN_A}-C0")}
    # MNO 2's agreement names PLMN B only: a cell of PLMN A with MNO 1's cell id is refused, naming the field.
    doc = {"ranSites": [{"id": "EVIL", "lat": 48.0, "lon": 7.81, "autonomyH": 9,
                         "cells": [{"cellId": f"{PLMN_B}-OK", "plmn": PLMN_B},
                                   {"cellId": f"{PLMN_A}-C0", "plmn": PLMN_A, "rangeM": 5000}]}]}
    body = _problem(app_client.post("/api/v1/topology/import", json=doc, headers=world.mno2.auth()), 403)
    assert [e["loc"] for e in body["errors"]] == ["ranSites/0/cells/1/plmn"]
    # Nothing was written: not even the valid cell of the same document.
    assert app_client.get("/api/v1/ran-sites/EVIL", headers=world.mno2.auth("viewer")).status_code == 404
    assert _links(db, world) == before


def test_a_cell_identity_of_another_mno_is_a_conflict(app_client: TestClient, db: Database, world: World) -> None:
    # MNO 2 is allowed PLMN A too, by another DSO's agreement (RAN sharing): naming MNO 1's cell is a 409.
    doc = mno_topology(PLMN_A, 1)
    doc["ranSites"][0]["id"] = "MNO2-SITE"
    with db.write() as s:
        dso3 = tenancy.create_org(s, "DSO 3", "dso")
        s.flush()
        tenancy.create_agreement(s, dso3, world.mno2.id, [PLMN_A], "cell")
    body = _problem(app_client.post("/api/v1/topology/import", json=doc, headers=world.mno2.auth()), 409)
    assert [e["loc"] for e in body["errors"]] == ["ranSites/0/cells/0/cellId"]
    assert f"{PLMN_A}-C0" in body["detail"] or f"{PLMN_A}-C0" in str(body["errors"])
    assert world.mno.id not in str(body)  # the owner is not named
    # Its own cell id under the shared PLMN is accepted, and never serves the first DSO (no agreement names it).
    doc["ranSites"][0]["cells"][0]["cellId"] = "MNO2-CELL"
    doc["ranSites"][0]["cells"][0]["rangeM"] = 9000
    assert app_client.post("/api/v1/topology/import", json=doc, headers=world.mno2.auth()).status_code == 200
    assert (world.mno2.id, "MNO2-CELL") not in _links(db, world)[PLMN_A]


def test_agreement_created_after_the_topology_links_the_usims(app_client: TestClient, db: Database) -> None:
    with db.write() as s:
        dso = Org(tenancy.create_org(s, "late DSO", "dso"), "dso")
        mno = Org(tenancy.create_org(s, "late MNO", "mno"), "mno")
        dso.tokens["operator"] = tenancy.create_client(s, dso.id, "operator")[1]
        mno.tokens["operator"] = tenancy.create_client(s, mno.id, "operator")[1]
        other = tenancy.create_org(s, "another DSO", "dso")
        s.flush()
        tenancy.create_agreement(s, other, mno.id, [PLMN_A], "cell")  # lets the MNO import its PLMN
    assert app_client.post("/api/v1/topology/import", json=mno_topology(PLMN_A, 3),
                           headers=mno.auth()).status_code == 200
    assert app_client.post("/api/v1/topology/import", json=dso_topology("L", 7.81),
                           headers=dso.auth()).status_code == 200
    with db.read() as s:
        ref = topology.site_by_id(s, dso.id, "L-S0")
        assert topology.serving_cells_for_pairs(s, {(ref.pk, PLMN_A)})[(ref.pk, PLMN_A)] == []
        v0 = topology.topology_versions(s, [dso.id])[dso.id]
    with db.write() as s:
        tenancy.create_agreement(s, dso.id, mno.id, [PLMN_A], "cell")
    with db.read() as s:
        cells = topology.serving_cells_for_pairs(s, {(ref.pk, PLMN_A)})[(ref.pk, PLMN_A)]
        assert [c.cell_id for c in cells] == [f"{PLMN_A}-C0"] and cells[0].org_id == mno.id
        assert topology.topology_versions(s, [dso.id])[dso.id] > v0
