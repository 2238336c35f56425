"""Outage records from a DSO's systems → OutageAndRecoveryInfo attributes: IEC CIM `Outage` (CIMXML, IEC 61968-100
XML, CIM JSON; `cim.py`) and ODIN JSON.

ODIN JSON (Outage Data Initiative Nationwide): a list, `{"outages": [...]}` or a GeoJSON FeatureCollection of
records with `outageId|id`, `startTime`, `estimatedRestorationTime|etr`, `endTime|restorationTime`, `cause`, and a
GeoJSON `geometry` (Polygon / MultiPolygon / Point with `radiusM`) or `latitude`/`longitude`.

A record keeps what it is given or is refused naming the missing field: nothing is filled in (an import time is not
an outage start). The whole file is imported or nothing is.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from gridcell.core.errors import InvalidInput
from gridcell.outages import cim
from gridcell.outages.cim import OutageRecord

DEFAULT_RADIUS_M = 1000
USAGE_POINT_RADIUS_M = 100  # a usage point is a meter: the DSO's site there is within metres
_BAD_ID = re.compile(r"[^A-Za-z0-9._:~-]")
# The OutageAndRecoveryInfo attribute each record field becomes.
ATTRIBUTE_OF = {"start": "outageStartTime", "etr": "expectedOutageEndTime", "end": "actualOutageEndTime",
                "cause": "outageCause"}


def moi_id(raw: Any) -> str:
    text = _BAD_ID.sub("-", str(raw).lstrip("#_").strip())[:100]
    if not text:
        raise InvalidInput("an outage record has no id")
    return text


def _polygon(ring: list[tuple[float, float]]) -> dict[str, Any]:
    return {"geoArea": {"geoPolygon": [{"latitude": lat, "longitude": lon} for lon, lat in ring]}}


def _circle(lon: float, lat: float, radius: float) -> dict[str, Any]:
    return {"geoArea": {"geoCircle": {"referenceLocation": {"latitude": lat, "longitude": lon},
                                      "distanceRadius": max(1, min(65535, round(radius)))}}}


def attributes(rec: OutageRecord, sites: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """The record's OutageAndRecoveryInfo attributes; `sites` (DSO site id → lon/lat) locates usage points that
    carry no location of their own. A usage point that is neither located nor a site of the DSO is refused."""
    attrs = {attr: getattr(rec, key) for key, attr in ATTRIBUTE_OF.items() if getattr(rec, key) is not None}
    area = [_polygon(p) for p in rec.polygons] + [_circle(x, y, rec.point_radius_m) for x, y in rec.points]
    unknown = []
    for up in rec.usage_points:
        where = up.point or sites.get(up.id)
        if where is None:
            unknown.append(up.id)
        else:
            area.append(_circle(where[0], where[1], USAGE_POINT_RADIUS_M))
    if unknown:
        raise InvalidInput(f"outage record {rec.moi_id}: usage points without a location that are no site of the "
                           f"DSO: {', '.join(unknown[:20])}", errors=[{"loc": "Outage.UsagePoints",
                                                                      "msg": f"{u}: no location, no such site"}
                                                                     for u in unknown[:50]])
    affected: dict[str, Any] = {}
    if area:
        affected["outageArea"] = area
    if rec.equipments:
        affected["energySupplyId"] = ",".join(rec.equipments)
    if affected:
        attrs["affectedArea"] = affected
    return attrs


# ---- CIM -----------------------------------------------------------------------------------------------------------


def _cim(outages: list[cim.Node], index: dict[str, cim.Node]) -> list[OutageRecord]:
    if not outages:
        raise InvalidInput("no CIM Outage found", errors=[{"loc": "Outage", "msg": "no Outage element or object"}])
    out = []
    for rec in cim.records(outages, index):
        rec.moi_id = moi_id(rec.moi_id)
        lacking = cim.missing(rec)
        if lacking:
            raise InvalidInput(f"outage record {rec.moi_id}: " + "; ".join(f"{e['loc']}: {e['msg']}" for e in lacking)
                               + "; nothing was imported", errors=[{**e, "loc": f"{rec.moi_id}/{e['loc']}"}
                                                                   for e in lacking])
        out.append(rec)
    return out


# ---- ODIN ----------------------------------------------------------------------------------------------------------


def _first(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if d.get(k) not in (None, ""):
            return d[k]
    return None


def _geojson(geom: Any, rec: OutageRecord) -> None:
    if not isinstance(geom, dict):
        return
    kind, coords = geom.get("type"), geom.get("coordinates")
    if kind == "Polygon" and isinstance(coords, list) and coords:
        rec.polygons.append([(float(c[0]), float(c[1])) for c in coords[0]])
    elif kind == "MultiPolygon" and isinstance(coords, list):
        rec.polygons += [[(float(c[0]), float(c[1])) for c in poly[0]] for poly in coords if poly]
    elif kind == "Point" and isinstance(coords, list) and len(coords) >= 2:
        rec.points.append((float(coords[0]), float(coords[1])))


def _odin(items: list[Any]) -> list[OutageRecord]:
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise InvalidInput("an ODIN outage record must be an object")
        props = item.get("properties") if item.get("type") == "Feature" else item
        if not isinstance(props, dict):
            raise InvalidInput("an ODIN feature needs properties")
        rec = OutageRecord(moi_id(_first(props, "outageId", "outage_id", "outageRecordId", "id", "mRID")))
        rec.start = _first(props, "startTime", "start_time", "outageStartTime", "startedAt")
        rec.etr = _first(props, "estimatedRestorationTime", "etr", "estimated_restoration_time",
                         "estimatedRestoration")
        rec.end = _first(props, "endTime", "end_time", "restorationTime", "actualRestorationTime", "restoredAt")
        rec.cause = _first(props, "cause", "outageCause")
        rec.point_radius_m = float(_first(props, "radiusM", "radius_m") or DEFAULT_RADIUS_M)
        geom = item.get("geometry") if item.get("type") == "Feature" else _first(item, "geometry", "area", "polygon")
        _geojson(geom, rec)
        lat, lon = _first(props, "latitude", "lat"), _first(props, "longitude", "lon")
        if not rec.polygons and not rec.points and lat is not None and lon is not None:
            rec.points.append((float(lon), float(lat)))
        supply = _first(props, "energySupplyId", "feeder", "circuit")
        rec.equipments = [str(supply)] if supply else []
        lacking = [why for why, absent in (("startTime", rec.start is None), (
            "geometry or latitude/longitude", not (rec.polygons or rec.points or rec.equipments))) if absent]
        if lacking:
            raise InvalidInput(f"ODIN outage {rec.moi_id}: {' and '.join(lacking)} missing; nothing was imported",
                               errors=[{"loc": f"{rec.moi_id}/{why}", "msg": "is missing"} for why in lacking])
        out.append(rec)
    return out


# ---- the file ------------------------------------------------------------------------------------------------------


def parse(text: str, filename: str = "") -> tuple[str, list[OutageRecord]]:
    """(format, records) from a CIM XML/JSON or ODIN JSON document."""
    stripped = text.lstrip()
    if stripped.startswith("<"):
        try:
            root = ET.fromstring(stripped)
        except ET.ParseError as exc:
            raise InvalidInput(f"{filename or 'the file'} is not well-formed XML: {exc}") from exc
        return "cim", _cim(*cim.from_xml(root))
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{filename or 'the file'} is neither XML nor JSON: {exc}") from exc
    if cim.looks_like_cim_json(doc):
        return "cim", _cim(*cim.from_json(doc))
    if isinstance(doc, dict):
        items = doc.get("features") if doc.get("type") == "FeatureCollection" else doc.get("outages")
        if not isinstance(items, list):
            raise InvalidInput("expected a CIM Outage document, an ODIN {\"outages\": [...]}, a list of records "
                               "or a GeoJSON FeatureCollection")
        return "odin", _odin(items)
    if isinstance(doc, list):
        return "odin", _odin(doc)
    raise InvalidInput("unrecognised outage document")


def read(path: str) -> tuple[str, list[OutageRecord]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse(text, path)
