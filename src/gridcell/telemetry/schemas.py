"""API models for telemetry."""

from __future__ import annotations

from pydantic import BaseModel


class UnknownCpe(BaseModel):
    cpeId: str
    results: int
    firstLine: int


class IngestOut(BaseModel):
    received: int
    accepted: int
    duplicates: int
    expired: int
    late: int
    unknownCpes: list[UnknownCpe]
    unknownCells: int
    alarmsRaised: int
    alarmsCleared: int


class AvailabilityOut(BaseModel):
    siteId: str
    plmn: str
    mnoId: str | None
    role: str
    availability1h: float | None
    availability24h: float | None
    availability30d: float | None
    loss24h: float | None
    probes24h: int
    probes30d: int
    p50RttMs24h: float | None
    p95RttMs24h: float | None
    p99RttMs24h: float | None
    slaTarget: float | None
    meetsSla: bool | None


class ChannelSubscriptionIn(BaseModel):
    callbackUri: str


class ChannelSubscriptionOut(BaseModel):
    id: str
    callbackUri: str | None
    secret: str | None = None
