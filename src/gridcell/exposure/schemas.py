"""API models for exposure."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

StatusT = Literal["ok", "degraded", "at_risk", "maintenance", "down"]
EventKindT = Literal["siteStatusChanged"]
PlmnT = str


class Reason(BaseModel):
    model_config = ConfigDict(extra="allow")
    category: str
    since: str | None = None
    expectedEnd: str | None = None
    timeToDark: str | None = None


class SiteStatusOut(BaseModel):
    siteId: str
    siteName: str
    kind: str
    lat: float
    lon: float
    plmn: str
    mnoId: str
    exposureLevel: Literal["area", "cell"]
    status: StatusT
    since: str | None
    expectedEnd: str | None
    reasons: list[Reason]
    updatedAt: str | None


class StatusPage(BaseModel):
    items: list[SiteStatusOut]
    summary: dict[str, int]


class AreaQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    area: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon (WGS84)")
    plmn: list[str] | None = None
    minStatus: StatusT | None = None


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    callbackUri: str | None = Field(None, max_length=2000,
                                    description="Webhook target; omit for an SSE-only subscription")
    siteIds: list[str] | None = Field(None, max_length=100_000)
    area: dict[str, Any] | None = Field(None, description="GeoJSON Polygon or MultiPolygon")
    plmns: list[str] | None = None
    minStatus: StatusT = "ok"
    eventKinds: list[EventKindT] | None = None


class SubscriptionOut(BaseModel):
    id: str
    callbackUri: str | None
    siteIds: list[str] | None
    area: dict[str, Any] | None
    plmns: list[str] | None
    minStatus: StatusT
    eventKinds: list[str]
    lastSequenceNo: int
    createdAt: datetime
    secret: str | None = Field(None, description="HMAC-SHA256 key for X-Gridcell-Signature; shown at creation only")


class DeliveryOut(BaseModel):
    sequenceNo: int
    notificationId: str
    kind: str
    createdAt: datetime
    attempts: int
    deliveredAt: datetime | None
    lastError: str | None
