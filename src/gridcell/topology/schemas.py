"""API models for topology import and read.

Import items are validated one by one by the service (so every error is reported with its path);
the read models are what the routes return. Field names are camelCase on the wire.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.alias_generators import to_camel

from gridcell.core.errors import InvalidInput
from gridcell.core.geo import parse_geojson_geometry

# Natural ids appear in URL paths, so no '/' and no control characters.
_ID_PATTERN = r"^[^/\x00-\x1f\x7f]+$"
SiteId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                          pattern=_ID_PATTERN)]
CellId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40,
                                          pattern=_ID_PATTERN)]
Plmn = Annotated[str, StringConstraints(pattern=r"^[0-9]{5,6}$")]
_TEXT_PATTERN = r"^[^\x00]+$"  # PostgreSQL text cannot hold NUL
Dn = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400,
                                      pattern=_TEXT_PATTERN)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                        pattern=_TEXT_PATTERN)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                             pattern=_TEXT_PATTERN)]
Criticality = Literal["low", "normal", "high", "critical"]
Lat = Annotated[float, Field(ge=-90.0, le=90.0)]
Lon = Annotated[float, Field(ge=-180.0, le=180.0)]

DEFAULT_DEPTH_OF_DISCHARGE = 0.8
DEFAULT_RANGE_M = 2000.0


class _In(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=False, validate_by_alias=True,
                              extra="forbid", allow_inf_nan=False)


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)


# ---- import items ---------------------------------------------------------------------------------


class UsimIn(_In):
    plmn: Plmn
    role: Literal["primary", "alternate"]
    iccid: Annotated[str, StringConstraints(pattern=r"^[0-9]{10,21}[0-9Ff]?$")] | None = None
    serving_cell_id: CellId | None = None


class CpeIn(_In):
    id: SiteId
    model: ShortText | None = None
    usims: list[UsimIn] = Field(default_factory=list, max_length=16)


class SiteIn(_In):
    id: SiteId
    name: Text
    kind: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40,
                                           pattern=_TEXT_PATTERN)]
    lat: Lat
    lon: Lon
    customers: Annotated[int, Field(ge=0, le=2_000_000_000)] = 0
    criticality: Criticality = "normal"
    grid_bus: ShortText | None = None
    cpes: list[CpeIn] = Field(default_factory=list)


class CellIn(_In):
    cell_id: CellId
    plmn: Plmn
    rat: Literal["NR", "LTE"] = "NR"
    tac: Annotated[int, Field(ge=0, le=16_777_215)] | None = None
    azimuth: Annotated[float, Field(ge=0.0, lt=360.0)] | None = None
    range_m: Annotated[float, Field(gt=0.0, le=100_000.0)] | None = None
    coverage: dict[str, Any] | None = None
    dn: Dn | None = None

    @field_validator("coverage")
    @classmethod
    def _polygon(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            geom = parse_geojson_geometry(value, polygonal=True)
        except InvalidInput as exc:
            raise ValueError(exc.detail) from exc
        minx, miny, maxx, maxy = geom.bounds
        if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
            raise ValueError("coverage coordinates must be WGS84 longitude/latitude")
        geometry = value.get("geometry") if value.get("type") == "Feature" else value
        if not isinstance(geometry, dict):
            return None
        return {"type": geometry["type"], "coordinates": geometry["coordinates"]}  # drop foreign members


class RanSiteIn(_In):
    id: SiteId
    name: Text | None = None
    lat: Lat
    lon: Lon
    dn: Dn | None = None
    battery_capacity_wh: Annotated[float, Field(ge=0.0, le=1e9)] | None = None
    load_w: Annotated[float, Field(gt=0.0, le=1e9)] | None = None
    depth_of_discharge: Annotated[float, Field(gt=0.0, le=1.0)] = DEFAULT_DEPTH_OF_DISCHARGE
    autonomy_h: Annotated[float, Field(ge=0.0, le=100_000.0)] | None = None
    grid_supply_point: ShortText | None = None
    cells: list[CellIn] = Field(default_factory=list)


# ---- responses ------------------------------------------------------------------------------------


class ImportResult(_Out):
    """How many items the import wrote (created or updated), and how many serving links it recomputed."""

    sites: int = 0
    cpes: int = 0
    usims: int = 0
    ran_sites: int = 0
    cells: int = 0
    links: int = 0


class UsimOut(_Out):
    plmn: str
    role: str
    iccid: str | None = None
    serving_cell_id: str | None = Field(None, description="The serving cell the CPE last reported")
    link_source: Literal["reported", "coverage"] | None = Field(
        None, description="How the USIM is linked to cells: the reported cell, or coverage geometry")
    linked_cells: int = Field(0, description="Number of cells the USIM is linked to")


class CpeOut(_Out):
    id: str
    model: str | None = None
    usims: list[UsimOut]


class SiteOut(_Out):
    id: str
    name: str
    kind: str
    lat: float
    lon: float
    customers: int
    criticality: str
    grid_bus: str | None = None
    updated_at: datetime
    cpes: list[CpeOut]


class CellOut(_Out):
    cell_id: str
    ran_site_id: str
    plmn: str
    rat: str
    tac: int | None = None
    azimuth: float | None = None
    range_m: float | None = None
    coverage: dict[str, Any] | None = Field(None, description="The GeoJSON polygon given at import, if any")
    dn: str | None = None


class RanSiteOut(_Out):
    id: str
    name: str | None = None
    lat: float
    lon: float
    dn: str | None = None
    battery_capacity_wh: float | None = None
    load_w: float | None = None
    depth_of_discharge: float | None = None
    autonomy_h: float | None = Field(
        None, description="Battery autonomy in hours: as given, else capacity * depth of discharge / load")
    grid_supply_point: str | None = None
    cells: list[CellOut]


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None
