"""Outage records in IEC CIM 61968 `Outage` form (XML or JSON) and ODIN JSON → OutageAndRecoveryInfo.

CIM `Outage` (IEC 61968-3 / 61970-301): `mRID`, `actualPeriod` (start, end), `estimatedPeriod` (start, end),
`Location/PositionPoints` (xPosition = longitude, yPosition = latitude; three or more make a polygon, one a
circle of `DEFAULT_RADIUS_M`), `Equipments` (mRID naming grid elements "line:12" → energySupplyId).
ODIN JSON (Outage Data Initiative Nationwide): a list, `{"outages": [...]}` or a GeoJSON FeatureCollection of
records with `outageId|id`, `startTime`, `estimatedRestorationTime|etr`, `endTime|restorationTime`, and a
GeoJSON `geometry` (Polygon / MultiPolygon / Point with `radiusM`) or `latitude`/`longitude`.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from gridcell.core.errors import InvalidInput

DEFAULT_RADIUS_M = 1000
_BAD_ID = re.compile(r"[^A-Za-z0-9._:~-]")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _moi_id(raw: Any) -> str:
    text = _BAD_ID.sub("-", str(raw).lstrip("#_").strip())[:100]
    if not text:
        raise InvalidInput("an outage record has no id")
    return text


def _polygon(ring: list[tuple[float, float]]) -> dict[str, Any]:
    return {"geoArea": {"geoPolygon": [{"latitude": lat, "longitude": lon} for lon, lat in ring]}}


def _circle(lon: float, lat: float, radius: float) -> dict[str, Any]:
    return {"geoArea": {"geoCircle": {"referenceLocation": {"latitude": lat, "longitude": lon},
                                      "distanceRadius": max(1, min(65535, round(radius)))}}}


def _area_from_geojson(geom: Any, radius: float) -> list[dict[str, Any]]:
    if not isinstance(geom, dict):
        return []
    kind, coords = geom.get("type"), geom.get("coordinates")
    if kind == "Polygon" and isinstance(coords, list) and coords:
        return [_polygon([(float(c[0]), float(c[1])) for c in coords[0]])]
    if kind == "MultiPolygon" and isinstance(coords, list):
        return [_polygon([(float(c[0]), float(c[1])) for c in poly[0]]) for poly in coords if poly]
    if kind == "Point" and isinstance(coords, list) and len(coords) >= 2:
        return [_circle(float(coords[0]), float(coords[1]), radius)]
    return []


def _attrs(start: Any, etr: Any, end: Any, area: list[dict[str, Any]], supply: str | None) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if start:
        attrs["outageStartTime"] = str(start)
    if etr:
        attrs["expectedOutageEndTime"] = str(etr)
    if end:
        attrs["actualOutageEndTime"] = str(end)
    affected: dict[str, Any] = {}
    if area:
        affected["outageArea"] = area
    if supply:
        affected["energySupplyId"] = supply
    if affected:
        attrs["affectedArea"] = affected
    return attrs


def _first(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if d.get(k) not in (None, ""):
            return d[k]
    return None


# ---- CIM ------------------------------------------------------------------------------------------------


def _cim_from_xml(root: ET.Element) -> list[tuple[str, dict[str, Any]]]:
    out = []
    outages = [e for e in root.iter() if _local(e.tag) == "Outage"]
    for el in outages:
        def text(*path: str, el: ET.Element = el) -> str | None:
            node: ET.Element | None = el
            for name in path:
                node = next((c for c in node if _local(c.tag) == name), None) if node is not None else None
            return node.text.strip() if node is not None and node.text else None

        rid = text("mRID") or next((v for k, v in el.attrib.items() if _local(k) in ("ID", "about")), None)
        points = []
        for pp in (e for e in el.iter() if _local(e.tag) == "PositionPoints"):
            x = next((c.text for c in pp if _local(c.tag) == "xPosition"), None)
            y = next((c.text for c in pp if _local(c.tag) == "yPosition"), None)
            if x and y:
                points.append((float(x), float(y)))
        equipments = [text("mRID", el=e) or "" for e in el if _local(e.tag) == "Equipments"]
        out.append((_moi_id(rid), _cim_record(
            text("actualPeriod", "start") or text("estimatedPeriod", "start"), text("estimatedPeriod", "end"),
            text("actualPeriod", "end"), points, [e for e in equipments if e])))
    return out


def _cim_record(start: Any, etr: Any, end: Any, points: list[tuple[float, float]],
                equipments: list[str]) -> dict[str, Any]:
    area: list[dict[str, Any]] = []
    if len(points) >= 3:
        area = [_polygon(points)]
    elif points:
        area = [_circle(points[0][0], points[0][1], DEFAULT_RADIUS_M)]
    return _attrs(start, etr, end, area, ",".join(equipments) or None)


def _cim_from_json(items: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise InvalidInput("a CIM Outage record must be an object")
        actual = item.get("actualPeriod") or {}
        est = item.get("estimatedPeriod") or {}
        points = []
        loc = item.get("Location") or {}
        for pp in (loc.get("PositionPoints") or []) if isinstance(loc, dict) else []:
            points.append((float(pp["xPosition"]), float(pp["yPosition"])))
        equipments = [e.get("mRID", "") if isinstance(e, dict) else str(e) for e in item.get("Equipments") or []]
        out.append((_moi_id(item.get("mRID")), _cim_record(actual.get("start") or est.get("start"), est.get("end"),
                                                           actual.get("end"), points, [e for e in equipments if e])))
    return out


# ---- ODIN -----------------------------------------------------------------------------------------------


def _odin(items: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise InvalidInput("an ODIN outage record must be an object")
        props = item.get("properties") if item.get("type") == "Feature" else item
        if not isinstance(props, dict):
            raise InvalidInput("an ODIN feature needs properties")
        geom = item.get("geometry") if item.get("type") == "Feature" else _first(item, "geometry", "area", "polygon")
        radius = float(_first(props, "radiusM", "radius_m") or DEFAULT_RADIUS_M)
        area = _area_from_geojson(geom, radius)
        lat, lon = _first(props, "latitude", "lat"), _first(props, "longitude", "lon")
        if not area and lat is not None and lon is not None:
            area = [_circle(float(lon), float(lat), radius)]
        rid = _first(props, "outageId", "outage_id", "outageRecordId", "id", "mRID")
        out.append((_moi_id(rid), _attrs(
            _first(props, "startTime", "start_time", "outageStartTime", "startedAt"),
            _first(props, "estimatedRestorationTime", "etr", "estimated_restoration_time", "estimatedRestoration"),
            _first(props, "endTime", "end_time", "restorationTime", "actualRestorationTime", "restoredAt"),
            area, _first(props, "energySupplyId", "feeder", "circuit"))))
    return out


def parse(text: str, filename: str = "") -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """(format, [(MOI id, OutageAndRecoveryInfo attributes)]) from a CIM XML/JSON or ODIN JSON document."""
    stripped = text.lstrip()
    if stripped.startswith("<"):
        try:
            root = ET.fromstring(stripped)
        except ET.ParseError as exc:
            raise InvalidInput(f"{filename or 'the file'} is not well-formed XML: {exc}") from exc
        records = _cim_from_xml(root)
        if not records:
            raise InvalidInput("no CIM Outage element found")
        return "cim", records
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{filename or 'the file'} is neither XML nor JSON: {exc}") from exc
    if isinstance(doc, dict) and ("Outage" in doc or "mRID" in doc):
        items = doc.get("Outage", doc)
        return "cim", _cim_from_json(items if isinstance(items, list) else [items])
    if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "mRID" in doc[0]:
        return "cim", _cim_from_json(doc)
    if isinstance(doc, dict):
        items = doc.get("features") if doc.get("type") == "FeatureCollection" else doc.get("outages")
        if not isinstance(items, list):
            raise InvalidInput("expected a CIM Outage document, an ODIN {\"outages\": [...]}, a list of records "
                               "or a GeoJSON FeatureCollection")
        return "odin", _odin(items)
    if isinstance(doc, list):
        return "odin", _odin(doc)
    raise InvalidInput("unrecognised outage document")


def read(path: str) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse(text, path)
