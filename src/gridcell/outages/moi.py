"""TS 28.318 MOI attributes: validation of what a DSO writes, the read-only split, and AreaOfInterest geometry.

The attribute contract is the harvested DsoNrm schema (TS28318_DsoNrm.yaml) with TS 28.623's ThresholdMonitor;
`resource.py` turns a written body into one attribute map (flat or under `attributes`), validated here with every
error and its attribute path. The readOnly attributes (`mno*`, `operationalState`) are computed by gridcell and
never written by a client. `outageCause` (free text, e.g. the CIM `Outage.cause` of an imported record) is a
gridcell extension of OutageAndRecoveryInfo: TS 28.318 has no attribute for why the power is out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from shapely.validation import explain_validity

from gridcell.core.clock import in_range
from gridcell.core.errors import InvalidInput

ORI_CLASS = "OutageAndRecoveryInfo"
TM_CLASS = "DsoThresholdMonitor"
# DSO-writable attributes of OutageAndRecoveryInfo (schema: not readOnly).
ORI_DSO_ATTRS = ("outageStartTime", "expectedOutageEndTime", "dsoRapidInterventionTime",
                 "dsoRapidInterventionDuration", "affectedArea", "isAffectedAreaPriority", "actualOutageEndTime")
# readOnly in the schema: the producer (gridcell) computes them from the MNO's battery and alarm data.
ORI_MNO_ATTRS = ("mnoInterventionTime", "mnoInterventionDuration", "mnoMaxServiceDuration")
ORI_EXTENSIONS = ("outageCause",)  # DSO-writable, gridcell's
MAX_CAUSE_LENGTH = 1000
TM_ATTRS = ("administrativeState", "operationalState", "thresholdInfoList", "monitorGranularityPeriod",
            "objectInstances", "rootObjectInstances", "targetThresholdLocation")
TM_RO_ATTRS = ("operationalState",)
_HEX7 = re.compile(r"^[A-Fa-f0-9]{7}$")
_HEX9 = re.compile(r"^[A-Fa-f0-9]{9}$")
_MCC = re.compile(r"^[0-9]{3}$")
_MNC = re.compile(r"^[0-9]{2,3}$")
_TAC = re.compile(r"(^[A-Fa-f0-9]{4}$)|(^[A-Fa-f0-9]{6}$)")
_MOI_ID = re.compile(r"^[A-Za-z0-9._:~-]{1,100}$")
EARTH_M_PER_DEG = 111_320.0


class Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, loc: str, msg: str) -> None:
        self.items.append({"loc": loc, "msg": msg})

    def raise_if_any(self, what: str) -> None:
        if self.items:
            raise InvalidInput(f"the {what} does not match the TS 28.318 schema ({len(self.items)} error(s))",
                               errors=self.items)


def check_moi_id(moi_id: str) -> None:
    if not _MOI_ID.match(moi_id):
        raise InvalidInput("the MOI id must be 1-100 characters of A-Z a-z 0-9 . _ : ~ -",
                           errors=[{"loc": "id", "msg": "invalid MOI id"}])


def parse_datetime(value: Any, loc: str, errors: Errors) -> datetime | None:
    if not isinstance(value, str):
        errors.add(loc, "must be an RFC 3339 date-time string")
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        errors.add(loc, "must be an RFC 3339 date-time string")
        return None
    if parsed.tzinfo is None:
        errors.add(loc, "must carry a time zone offset (RFC 3339)")
        return None
    try:
        return in_range(parsed)
    except ValueError as exc:
        errors.add(loc, str(exc))
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _num(value) is not None


def _num(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value)):
        return float(value)
    return None


# ---- AreaOfInterest (TS 28.623 ComDefs) ------------------------------------------------------------


@dataclass
class Area:
    """An AreaOfInterest resolved: geometry (WGS84 lon/lat) and/or TAIs and cell ids."""

    geometry: BaseGeometry | None = None
    tais: list[tuple[str, int]] = field(default_factory=list)  # (PLMN mcc+mnc, TAC)
    cell_ids: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.geometry is None and not self.tais and not self.cell_ids


def _circle(lon: float, lat: float, radius_m: float) -> BaseGeometry:
    m_lon = EARTH_M_PER_DEG * max(math.cos(math.radians(lat)), 1e-6)
    pts = [(lon + radius_m * math.sin(2 * math.pi * i / 48) / m_lon,
            lat + radius_m * math.cos(2 * math.pi * i / 48) / EARTH_M_PER_DEG) for i in range(48)]
    return Polygon(pts)


def _coordinate(value: Any, loc: str, errors: Errors) -> tuple[float, float] | None:
    if not isinstance(value, dict):
        errors.add(loc, "must be a GeoCoordinate object")
        return None
    unknown = set(value) - {"latitude", "longitude", "altitude"}
    for k in sorted(unknown):
        errors.add(f"{loc}/{k}", "unknown member of GeoCoordinate")
    lat, lon = _num(value.get("latitude")), _num(value.get("longitude"))
    if lat is None or not -90 <= lat <= 90:
        errors.add(f"{loc}/latitude", "must be a number in [-90, 90]")
    if lon is None or not -180 <= lon <= 180:
        errors.add(f"{loc}/longitude", "must be a number in [-180, 180]")
    if "altitude" in value and not _is_number(value["altitude"]):
        errors.add(f"{loc}/altitude", "must be a number")
    if lat is None or lon is None or not -90 <= lat <= 90 or not -180 <= lon <= 180:
        return None
    return (lon, lat)


def _geo_area(value: Any, loc: str, errors: Errors) -> BaseGeometry | None:
    if not isinstance(value, dict) or len(set(value) & {"geoPolygon", "geoCircle"}) != 1:
        errors.add(loc, "GeoArea must have exactly one of geoPolygon, geoCircle")
        return None
    for k in sorted(set(value) - {"geoPolygon", "geoCircle"}):
        errors.add(f"{loc}/{k}", "unknown member of GeoArea")
    if "geoPolygon" in value:
        raw = value["geoPolygon"]
        if not isinstance(raw, list) or not raw:
            errors.add(f"{loc}/geoPolygon", "must be a non-empty array of GeoCoordinate")
            return None
        pts = [_coordinate(p, f"{loc}/geoPolygon/{i}", errors) for i, p in enumerate(raw)]
        if any(p is None for p in pts):
            return None
        ring = [p for p in pts if p is not None]
        if len(ring) > 1 and ring[0] == ring[-1]:
            ring = ring[:-1]
        if len(set(ring)) < 3:
            errors.add(f"{loc}/geoPolygon", "a polygon needs at least three distinct corners")
            return None
        poly = Polygon(ring)
        if not poly.is_valid:
            errors.add(f"{loc}/geoPolygon", f"the polygon is not simple: {explain_validity(poly)}")
            return None
        return poly
    circle = value["geoCircle"]
    if not isinstance(circle, dict):
        errors.add(f"{loc}/geoCircle", "must be a GeoCircle object")
        return None
    for k in sorted(set(circle) - {"referenceLocation", "distanceRadius"}):
        errors.add(f"{loc}/geoCircle/{k}", "unknown member of GeoCircle")
    centre = _coordinate(circle.get("referenceLocation"), f"{loc}/geoCircle/referenceLocation", errors)
    radius = circle.get("distanceRadius")
    if not isinstance(radius, int) or isinstance(radius, bool) or not 1 <= radius <= 65535:
        errors.add(f"{loc}/geoCircle/distanceRadius", "must be an integer in [1, 65535] (metres)")
        return None
    return None if centre is None else _circle(centre[0], centre[1], float(radius))


def _item_kind(item: Any) -> str:
    if isinstance(item, dict):
        return "tai" if {"mcc", "mnc", "tac"} & set(item) else "geo"
    if _is_int(item):
        return "utra"
    if isinstance(item, str):
        return "nr" if len(item) == 9 else "eutra"
    return "invalid"


def parse_area(value: Any, loc: str, errors: Errors) -> Area:
    """AreaOfInterest: one array of GeoAreaToCellMapping, or of TAIs (1-8), or of NR/E-UTRA/UTRA cell ids (1-32)."""
    area = Area()
    if not isinstance(value, list):
        errors.add(loc, "AreaOfInterest must be an array")
        return area
    kinds = {_item_kind(i) for i in value}
    if "invalid" in kinds or len(kinds) > 1:
        errors.add(loc, "AreaOfInterest must be one array of GeoAreaToCellMapping, Tai, NrCellId, EutraCellId "
                        "or UtraCellId items, not a mix")
        return area
    kind = kinds.pop() if kinds else "geo"
    if kind != "geo" and not 1 <= len(value) <= (8 if kind == "tai" else 32):
        errors.add(loc, f"{'1-8 TAIs' if kind == 'tai' else '1-32 cell ids'} are allowed")
    geoms: list[BaseGeometry] = []
    for i, item in enumerate(value):
        iloc = f"{loc}/{i}"
        if kind == "geo":
            for k in sorted(set(item) - {"geoArea", "associationThreshold"}):
                errors.add(f"{iloc}/{k}", "unknown member of GeoAreaToCellMapping")
            if "associationThreshold" in item and not _is_int(item["associationThreshold"]):
                errors.add(f"{iloc}/associationThreshold", "must be an integer")
            if "geoArea" not in item:
                errors.add(f"{iloc}/geoArea", "is required here to locate the area")
                continue
            geom = _geo_area(item["geoArea"], f"{iloc}/geoArea", errors)
            if geom is not None:
                geoms.append(geom)
        elif kind == "tai":
            for k in sorted(set(item) - {"mcc", "mnc", "tac"}):
                errors.add(f"{iloc}/{k}", "unknown member of Tai")
            mcc, mnc, tac = item.get("mcc"), item.get("mnc"), item.get("tac")
            if not isinstance(mcc, str) or not _MCC.match(mcc):
                errors.add(f"{iloc}/mcc", "must be three digits")
            elif not isinstance(mnc, str) or not _MNC.match(mnc):
                errors.add(f"{iloc}/mnc", "must be two or three digits")
            elif not isinstance(tac, str) or not _TAC.match(tac):
                errors.add(f"{iloc}/tac", "must be 4 or 6 hexadecimal digits")
            else:
                area.tais.append((mcc + mnc, int(tac, 16)))
        elif kind == "nr":
            if not _HEX9.match(item):
                errors.add(iloc, "NrCellId must be 9 hexadecimal digits")
            area.cell_ids.append(item)
        elif kind == "eutra":
            if not _HEX7.match(item):
                errors.add(iloc, "EutraCellId must be 7 hexadecimal digits")
            area.cell_ids.append(item)
        else:
            area.cell_ids.append(str(item))
    if geoms:
        area.geometry = unary_union(geoms) if len(geoms) > 1 else geoms[0]
    return area


def area_of(value: Any) -> Area:
    """Parse a stored (already validated) AreaOfInterest."""
    errors = Errors()
    area = parse_area(value, "area", errors)
    return area


# ---- OutageAndRecoveryInfo ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutageAttrs:
    start: datetime | None
    expected_end: datetime | None
    rapid_time: datetime | None
    rapid_duration_min: int | None
    area: Area
    energy_supply_id: str | None
    priority: bool | None
    actual_end: datetime | None


def validate_outage(attrs: dict[str, Any]) -> OutageAttrs:
    """Validate DSO-writable OutageAndRecoveryInfo attributes (readOnly ones already removed)."""
    errors = Errors()
    for k in sorted(set(attrs) - set(ORI_DSO_ATTRS) - set(ORI_EXTENSIONS)):
        errors.add(k, f"unknown attribute of {ORI_CLASS}")
    cause = attrs.get("outageCause")
    if cause is not None and (not isinstance(cause, str) or not 0 < len(cause) <= MAX_CAUSE_LENGTH):
        errors.add("outageCause", f"must be a non-empty string of at most {MAX_CAUSE_LENGTH} characters")
    times: dict[str, datetime | None] = {}
    for k in ("outageStartTime", "expectedOutageEndTime", "dsoRapidInterventionTime", "actualOutageEndTime"):
        times[k] = parse_datetime(attrs[k], k, errors) if attrs.get(k) is not None else None
    duration = attrs.get("dsoRapidInterventionDuration")
    if duration is not None and (not _is_int(duration) or duration < 0 or duration > 10_000_000):
        errors.add("dsoRapidInterventionDuration", "must be a non-negative integer (minutes)")
        duration = None
    priority = attrs.get("isAffectedAreaPriority")
    if priority is not None and not isinstance(priority, bool):
        errors.add("isAffectedAreaPriority", "must be a boolean")
    area = Area()
    supply: str | None = None
    affected = attrs.get("affectedArea")
    if affected is not None:
        if not isinstance(affected, dict):
            errors.add("affectedArea", "must be an EnergyServiceLocation object")
        else:
            for k in sorted(set(affected) - {"outageArea", "energySupplyId"}):
                errors.add(f"affectedArea/{k}", "unknown member of EnergyServiceLocation")
            if "outageArea" in affected:
                area = parse_area(affected["outageArea"], "affectedArea/outageArea", errors)
            raw_supply = affected.get("energySupplyId")
            if raw_supply is not None:
                if not isinstance(raw_supply, str) or not 0 < len(raw_supply) <= 1000:
                    errors.add("affectedArea/energySupplyId", "must be a non-empty string")
                else:
                    supply = raw_supply
    start, end, actual = times["outageStartTime"], times["expectedOutageEndTime"], times["actualOutageEndTime"]
    if start and end and end < start:
        errors.add("expectedOutageEndTime", "is before outageStartTime")
    if start and actual and actual < start:
        errors.add("actualOutageEndTime", "is before outageStartTime")
    errors.raise_if_any(ORI_CLASS)
    return OutageAttrs(start, end, times["dsoRapidInterventionTime"], duration, area, supply,
                       priority if isinstance(priority, bool) else None, actual)


# ---- DsoThresholdMonitor ------------------------------------------------------------------------------


def validate_monitor(attrs: dict[str, Any]) -> tuple[dict[str, Any], list[Any] | None]:
    """(ThresholdMonitor attributes, targetThresholdLocation) of a DsoThresholdMonitor's attributes, validated."""
    errors = Errors()
    for k in sorted(set(attrs) - set(TM_ATTRS)):
        errors.add(k, f"unknown attribute of {TM_CLASS}")
    admin = attrs.get("administrativeState", "UNLOCKED")
    if admin not in ("LOCKED", "UNLOCKED"):
        errors.add("administrativeState", "must be LOCKED or UNLOCKED")
    infos = attrs.get("thresholdInfoList")
    if not isinstance(infos, list) or not infos:
        errors.add("thresholdInfoList", "a non-empty array of ThresholdInfo is required")
        infos = []
    for i, info in enumerate(infos):
        loc = f"thresholdInfoList/{i}"
        if not isinstance(info, dict):
            errors.add(loc, "must be a ThresholdInfo object")
            continue
        for k in sorted(set(info) - {"performanceMetrics", "thresholdDirection", "thresholdValue", "hysteresis"}):
            errors.add(f"{loc}/{k}", "unknown member of ThresholdInfo")
        metrics = info.get("performanceMetrics")
        if (not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics)
                or len(set(metrics)) != len(metrics)):
            errors.add(f"{loc}/performanceMetrics", "must be a non-empty array of distinct metric names")
        if info.get("thresholdDirection") not in ("UP", "DOWN", "UP_AND_DOWN"):
            errors.add(f"{loc}/thresholdDirection", "must be UP, DOWN or UP_AND_DOWN")
        if not _is_number(info.get("thresholdValue")):
            errors.add(f"{loc}/thresholdValue", "must be a number")
        hyst = _num(info.get("hysteresis", 0))
        if hyst is None or hyst < 0:
            errors.add(f"{loc}/hysteresis", "must be a non-negative number")
    period = attrs.get("monitorGranularityPeriod")
    if period is not None and (not _is_int(period) or period < 1):
        errors.add("monitorGranularityPeriod", "must be an integer >= 1")
    for k in ("objectInstances", "rootObjectInstances"):
        dns = attrs.get(k)
        if dns is not None and (not isinstance(dns, list) or not all(isinstance(d, str) for d in dns)
                                or len(set(dns)) != len(dns)):
            errors.add(k, "must be an array of distinct DN strings")
    target = attrs.get("targetThresholdLocation")
    if target is not None:
        parse_area(target, "targetThresholdLocation", errors)
    errors.raise_if_any(TM_CLASS)
    clean = {k: v for k, v in attrs.items() if k not in TM_RO_ATTRS and k != "targetThresholdLocation"}
    clean.setdefault("administrativeState", admin)
    return clean, target


def point_in(area: Area, lon: float, lat: float) -> bool:
    return area.geometry is not None and area.geometry.intersects(Point(lon, lat))
