"""API models for tenancy."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class MeOut(BaseModel):
    clientId: str
    orgId: str
    orgName: str
    orgKind: Literal["dso", "mno"]
    role: Literal["viewer", "operator", "admin"]


class AgreementOut(BaseModel):
    id: str
    dsoId: str
    mnoId: str
    plmns: list[str]
    siteIds: list[str] | None
    level: Literal["area", "cell"]
    shareTelemetry: bool
    slaTarget: float


class ClientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["viewer", "operator", "admin"]
    name: str | None = None


class ClientOut(BaseModel):
    id: str
    role: str
    token: str


class ClientListItem(BaseModel):
    id: str
    name: str | None
    role: Literal["viewer", "operator", "admin"]
    createdAt: datetime
    revoked: bool


class AuditOut(BaseModel):
    id: int
    at: datetime
    clientId: str
    orgId: str
    action: str
    counterparts: list[str]
    detail: dict[str, Any] | None
