"""The topology import format as a JSON Schema (draft 2020-12), made from the same models the import validates with,
so the published schema (docs/topology.schema.json) cannot drift from what `gridcell import topology` and
`POST /api/v1/topology/import` accept. Two forms: `{"sites": [...], "ranSites": [...]}`, or a GeoJSON
FeatureCollection of Point features whose `properties.featureType` is `site` or `ranSite`."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import TypeAdapter

from gridcell.topology.schemas import RanSiteIn, SiteIn

SCHEMA_ID = "https://gridcell.example/schemas/topology-import.json"


def _item_schemas() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(sites array, ranSites array, shared $defs) in validation (wire) form."""
    sites = TypeAdapter(list[SiteIn]).json_schema(by_alias=True, ref_template="#/$defs/{model}")
    ran = TypeAdapter(list[RanSiteIn]).json_schema(by_alias=True, ref_template="#/$defs/{model}")
    defs = {**sites.pop("$defs", {}), **ran.pop("$defs", {})}
    return sites, ran, defs


def _as_feature(model: dict[str, Any], kind: str) -> dict[str, Any]:
    """A site or RAN site as a GeoJSON Feature: its position in `geometry`, everything else in `properties`."""
    props = copy.deepcopy(model)
    for key in ("lat", "lon"):
        props.get("properties", {}).pop(key, None)
    props["required"] = [r for r in props.get("required", []) if r not in ("lat", "lon")]
    props.setdefault("properties", {})["featureType"] = {"const": kind}
    props["required"].append("featureType")
    return {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
        "type": {"const": "Feature"},
        "geometry": {"type": "object", "required": ["type", "coordinates"], "properties": {
            "type": {"const": "Point"},
            "coordinates": {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "number"},
                            "description": "[longitude, latitude] (WGS84)"}}},
        "properties": props}}


def document_schema() -> dict[str, Any]:
    sites, ran, defs = _item_schemas()
    defs["SiteFeature"] = _as_feature(defs["SiteIn"], "site")
    defs["RanSiteFeature"] = _as_feature(defs["RanSiteIn"], "ranSite")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
        "title": "gridcell topology import",
        "description": "A DSO's sites with their CPEs and USIMs, or an MNO's RAN sites with their cells and power "
                       "backup. Ids are the organisation's own; an import creates or updates by id.",
        "oneOf": [
            {"type": "object", "additionalProperties": False, "minProperties": 1,
             "properties": {"sites": {**sites, "description": "a DSO's sites (DSO organisations only)"},
                            "ranSites": {**ran, "description": "an MNO's RAN sites (MNO organisations only)"}}},
            {"type": "object", "required": ["type", "features"], "properties": {
                "type": {"const": "FeatureCollection"},
                "features": {"type": "array", "items": {"oneOf": [{"$ref": "#/$defs/SiteFeature"},
                                                                  {"$ref": "#/$defs/RanSiteFeature"}]}}}}],
        "$defs": defs}
