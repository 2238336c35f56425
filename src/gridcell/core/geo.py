"""Geometry helpers over shapely (WGS84 lon/lat everywhere)."""

from __future__ import annotations

import math
from typing import Any

from shapely.geometry import Polygon, shape
from shapely.geometry.base import BaseGeometry

from gridcell.core.errors import InvalidInput

EARTH_RADIUS_M = 6_371_008.8


def parse_geojson_geometry(obj: Any, *, polygonal: bool = False) -> BaseGeometry:
    if not isinstance(obj, dict) or "type" not in obj:
        raise InvalidInput("not a GeoJSON geometry object")
    if obj.get("type") == "Feature":
        obj = obj.get("geometry")
    try:
        geom = shape(obj)
    except Exception as exc:  # shapely raises several types for malformed input
        raise InvalidInput(f"invalid GeoJSON geometry: {exc}") from exc
    if geom.is_empty or not geom.is_valid:
        raise InvalidInput("GeoJSON geometry is empty or invalid")
    if polygonal and geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidInput("a Polygon or MultiPolygon is required")
    return geom


def sector_polygon(lon: float, lat: float, azimuth_deg: float | None, range_m: float,
                   beamwidth_deg: float = 120.0, steps: int = 12) -> BaseGeometry:
    """Approximate a cell's coverage: a sector, or a disc when omnidirectional, on a local tangent plane."""
    m_per_deg_lat = math.pi * EARTH_RADIUS_M / 180.0
    m_per_deg_lon = m_per_deg_lat * max(math.cos(math.radians(lat)), 1e-6)

    def at(bearing_deg: float) -> tuple[float, float]:
        a = math.radians(bearing_deg)
        return (lon + range_m * math.sin(a) / m_per_deg_lon, lat + range_m * math.cos(a) / m_per_deg_lat)

    if azimuth_deg is None:
        return Polygon([at(360.0 * i / 32) for i in range(32)])
    start = azimuth_deg - beamwidth_deg / 2
    arc = [at(start + beamwidth_deg * i / steps) for i in range(steps + 1)]
    return Polygon([(lon, lat), *arc, (lon, lat)])


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))
