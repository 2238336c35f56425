"""Topology routes: import (JSON or GeoJSON) and read, always scoped to the caller's organisation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Path, Query

from gridcell.core.db import Database
from gridcell.deps import get_caller, get_db
from gridcell.tenancy.service import Caller
from gridcell.topology import service
from gridcell.topology.schemas import CellOut, ImportResult, Problem, RanSiteOut, SiteOut

router = APIRouter(tags=["topology"])


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


_AUTH: dict[int | str, dict[str, Any]] = {401: _problem("Missing or invalid bearer token")}
_READ: dict[int | str, dict[str, Any]] = {**_AUTH, 400: _problem("Invalid query parameters")}
_ONE: dict[int | str, dict[str, Any]] = {**_READ, 404: _problem("Not found in the caller's organisation")}
_IMPORT: dict[int | str, dict[str, Any]] = {
    **_AUTH, 400: _problem("Invalid document; `errors` lists every problem with its path"),
    403: _problem("Role below operator, or the other side's items (a DSO importing RAN sites)"),
    404: _problem("The caller's organisation does not exist")}

IMPORT_DESCRIPTION = """
Upsert the caller's topology by natural id (re-importing updates; nothing is deleted). The whole
document is validated first: any invalid item fails the import with `400` and an `errors` array of
`{"loc": "sites/0/cpes/1/usims/0/plmn", "msg": "..."}` entries, and nothing is written.
Serving links (USIM ↔ cell) are recomputed for every affected USIM.

Two shapes are accepted.

**JSON document.** A DSO sends `sites`, an MNO `ranSites`:

```json
{"sites": [{"id": "SS-001", "name": "Substation 1", "kind": "secondary_substation",
            "lat": 48.1, "lon": 7.9, "customers": 420, "criticality": "high", "gridBus": "bus-17",
            "cpes": [{"id": "CPE-001", "model": "RUT955",
                      "usims": [{"plmn": "26201", "role": "primary", "iccid": "8949010000000000001",
                                 "servingCellId": "262-01-0001-1"},
                                {"plmn": "26202", "role": "alternate"}]}]}]}
```

```json
{"ranSites": [{"id": "RS-1", "name": "Tower 1", "lat": 48.1, "lon": 7.9,
               "dn": "SubNetwork=1,ManagedElement=RS-1", "batteryCapacityWh": 9600, "loadW": 3200,
               "depthOfDischarge": 0.8, "autonomyH": null, "gridSupplyPoint": "bus-12",
               "cells": [{"cellId": "262-01-0001-1", "plmn": "26201", "rat": "NR", "tac": 100,
                          "azimuth": 120, "rangeM": 1500, "coverage": null,
                          "dn": "SubNetwork=1,ManagedElement=RS-1,GNBDUFunction=1,NRCellDU=1"}]}]}
```

Site fields: `id`, `name`, `kind`, `lat`, `lon` required; `customers` (default 0), `criticality`
(`low|normal|high|critical`, default `normal`), `gridBus`, `cpes`. USIM `plmn` is MCC+MNC (5 or 6 digits),
`role` is `primary|alternate`. RAN site: `id`, `lat`, `lon` required; `depthOfDischarge` defaults to 0.8.
Cell: `cellId` (NCGI/ECGI) and `plmn` required; `rat` `NR|LTE` (default `NR`); `coverage` is a GeoJSON
Polygon/MultiPolygon; without it coverage is a sector from `azimuth` (120° beam; a disc without
azimuth) and `rangeM` (default 2000 m).

**GeoJSON FeatureCollection.** Each Point feature carries the same attributes in `properties`
plus `featureType` (`site` or `ranSite`); the position comes from the geometry; CPEs and cells
nest in `properties.cpes` / `properties.cells`.
"""

_IMPORT_EXAMPLES: dict[str, Any] = {
    "dso": {"summary": "DSO sites", "value": {"sites": [
        {"id": "SS-001", "name": "Substation 1", "kind": "secondary_substation", "lat": 48.1, "lon": 7.9,
         "customers": 420, "criticality": "high",
         "cpes": [{"id": "CPE-001", "usims": [{"plmn": "26201", "role": "primary"}]}]}]}},
    "mno": {"summary": "MNO RAN sites", "value": {"ranSites": [
        {"id": "RS-1", "lat": 48.1, "lon": 7.9, "batteryCapacityWh": 9600, "loadW": 3200,
         "cells": [{"cellId": "262-01-0001-1", "plmn": "26201", "azimuth": 120, "rangeM": 1500}]}]}},
    "geojson": {"summary": "GeoJSON FeatureCollection", "value": {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [7.9, 48.1]},
         "properties": {"featureType": "site", "id": "SS-001", "name": "Substation 1",
                        "kind": "recloser", "cpes": []}}]}},
}

_SITE_ID = Path(min_length=1, max_length=100, description="The site's natural id")


@router.post("/topology/import", response_model=ImportResult, summary="Import topology (JSON or GeoJSON)",
             description=IMPORT_DESCRIPTION, responses=_IMPORT)
def import_topology(body: dict[str, Any] = Body(..., openapi_examples=_IMPORT_EXAMPLES),
                    caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> ImportResult:
    caller.require("operator")
    with db.write() as session:
        return service.import_topology(session, caller.org_id, body)


@router.get("/sites", response_model=list[SiteOut], summary="The caller's DSO sites with CPEs and USIMs",
            responses=_READ)
def list_sites(limit: int = Query(1000, ge=1, le=10_000), offset: int = Query(0, ge=0, le=100_000_000),
               caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[SiteOut]:
    with db.read() as session:
        return service.list_sites(session, caller.org_id, limit=limit, offset=offset)


@router.get("/sites/{site_id}", response_model=SiteOut, summary="One of the caller's DSO sites",
            responses=_ONE)
def get_site(site_id: str = _SITE_ID, caller: Caller = Depends(get_caller),
             db: Database = Depends(get_db)) -> SiteOut:
    with db.read() as session:
        return service.get_site(session, caller.org_id, site_id)


@router.get("/ran-sites", response_model=list[RanSiteOut], summary="The caller's RAN sites with cells",
            responses=_READ)
def list_ran_sites(limit: int = Query(1000, ge=1, le=10_000), offset: int = Query(0, ge=0, le=100_000_000),
                   caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[RanSiteOut]:
    with db.read() as session:
        return service.list_ran_sites(session, caller.org_id, limit=limit, offset=offset)


@router.get("/ran-sites/{site_id}", response_model=RanSiteOut, summary="One of the caller's RAN sites",
            responses=_ONE)
def get_ran_site(site_id: str = _SITE_ID, caller: Caller = Depends(get_caller),
                 db: Database = Depends(get_db)) -> RanSiteOut:
    with db.read() as session:
        return service.get_ran_site(session, caller.org_id, site_id)


@router.get("/cells", response_model=list[CellOut], summary="The caller's cells", responses=_READ)
def list_cells(plmn: str | None = Query(None, pattern=r"^[0-9]{5,6}$"),
               limit: int = Query(1000, ge=1, le=10_000), offset: int = Query(0, ge=0, le=100_000_000),
               caller: Caller = Depends(get_caller), db: Database = Depends(get_db)) -> list[CellOut]:
    with db.read() as session:
        return service.list_cells(session, caller.org_id, plmn=plmn, limit=limit, offset=offset)
