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


# ---- Fault Supervision MnS (TS 28.532 / TS 28.111) ------------------------------------------------------------------
# JSON Schemas as the standard writes them (absent attributes omitted, never null), narrowed to what the exchange
# sends and takes; documented on the routes as is, so the OpenAPI document states the standard's shapes.

_DATE_TIME = {"type": "string", "format": "date-time"}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}
ALARM_ACK_STATE_ENUM = ["ALL_ALARMS", "ALL_ACTIVE_ALARMS", "ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS",
                        "ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS", "ALL_CLEARED_AND_UNACKNOWLEDGED_ALARMS",
                        "ALL_UNACKNOWLEDGED_ALARMS"]
COMMENT_OUT = {"type": "object", "required": ["commentTime", "commentText"], "properties": {
    "commentTime": _DATE_TIME, "commentUserId": {"type": "string"}, "commentSystemId": {"type": "string"},
    "commentText": {"type": "string"}}}
COMMENT_IN = {"type": "object", "additionalProperties": False, "required": ["commentText"], "properties": {
    "commentTime": {**_DATE_TIME, "description": "default: when the exchange takes it"},
    "commentUserId": _TEXT, "commentSystemId": _TEXT,
    "commentText": {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": r"\S"}}}
ALARM_RECORD = {
    "type": "object",
    "description": "TS 28.532 AlarmRecord as this DSO may see it, with gridcell's members (mnoId, category, "
                   "affectedSites; cell level: mnoAlarmId, cells, expectedEnd). Area level: objectInstance is the "
                   "DSO's own site, alarmType and probableCause stand for the category.",
    "required": ["objectInstance", "notificationId", "alarmRaisedTime", "alarmType", "probableCause",
                 "perceivedSeverity", "ackState", "mnoId", "category", "affectedSites"],
    "properties": {
        "objectInstance": {"type": "string"}, "notificationId": {"type": "integer"},
        "alarmRaisedTime": _DATE_TIME, "alarmChangedTime": _DATE_TIME, "alarmClearedTime": _DATE_TIME,
        "alarmType": {"type": "string", "enum": ["COMMUNICATIONS_ALARM", "QUALITY_OF_SERVICE_ALARM",
                                                 "PROCESSING_ERROR_ALARM", "EQUIPMENT_ALARM", "ENVIRONMENTAL_ALARM",
                                                 "INTEGRITY_VIOLATION", "OPERATIONAL_VIOLATION", "PHYSICAL_VIOLATION",
                                                 "SECURITY_SERVICE_OR_MECHANISM_VIOLATION",
                                                 "TIME_DOMAIN_VIOLATION"]},
        "probableCause": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "specificProblem": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "perceivedSeverity": {"type": "string", "enum": ["INDETERMINATE", "CRITICAL", "MAJOR", "MINOR", "WARNING",
                                                         "CLEARED"]},
        "additionalText": {"type": "string"},
        "ackState": {"type": "string", "enum": ["ACKNOWLEDGED", "UNACKNOWLEDGED"]},
        "ackUserId": {"type": "string"}, "ackSystemId": {"type": "string"}, "ackTime": _DATE_TIME,
        "comments": {"type": "object", "additionalProperties": COMMENT_OUT},
        "mnoId": {"type": "string"},
        "category": {"type": "string", "enum": ["network_outage", "power_supply", "degradation", "information"]},
        "affectedSites": {"type": "array", "items": {"type": "string"}},
        "mnoAlarmId": {"type": "string"}, "cells": {"type": "array", "items": {"type": "string"}},
        "expectedEnd": _DATE_TIME}}
ALARM_MAP = {"type": "object", "description": "The alarmId is the key of the map",
             "additionalProperties": ALARM_RECORD}
ALARM_COUNT = {"type": "object", "required": ["criticalCount", "majorCount", "minorCount", "warningCount",
                                              "indeterminateCount", "clearedCount"],
               "properties": {k: {"type": "integer", "minimum": 0} for k in (
                   "criticalCount", "majorCount", "minorCount", "warningCount", "indeterminateCount",
                   "clearedCount")}}
ACK_PATCH = {"type": "object", "additionalProperties": False, "required": ["ackState", "ackUserId"],
             "description": "TS 28.532 MergePatchAcknowledgeAlarm (a DSO does not clear MNO alarms: "
                            "MergePatchClearAlarm is refused with 403)",
             "properties": {"ackState": {"type": "string", "enum": ["ACKNOWLEDGED", "UNACKNOWLEDGED"]},
                            "ackUserId": {**_TEXT, "pattern": r"\S"}, "ackSystemId": {**_TEXT, "pattern": r"\S"}}}
ACK_PATCHES = {"type": "object", "minProperties": 1, "maxProperties": 1000, "additionalProperties": ACK_PATCH,
               "description": "alarmId -> MergePatchAcknowledgeAlarm; all or nothing"}
FAILED_ALARMS = {"type": "array", "description": "TS 28.532 FailedAlarm per alarm of the patch that failed",
                 "items": {"type": "object", "required": ["alarmId", "failureReason"],
                           "properties": {"alarmId": {"type": "string"}, "failureReason": {"type": "string"}}}}
FAULT_SUBSCRIPTION_OUT = {
    "type": "object", "required": ["consumerReference", "id"],
    "properties": {"consumerReference": {"type": "string"}, "timeTick": {"type": "integer"},
                   "filter": {"type": "string"}, "id": {"type": "string"},
                   "secret": {"type": "string", "description": "HMAC-SHA256 key of X-Gridcell-Signature; "
                                                               "at creation only"}}}


class FaultSubscriptionIn(BaseModel):
    """TS 28.532 Subscription."""

    model_config = ConfigDict(extra="forbid")
    consumerReference: str = Field(max_length=2000, description="the notification recipient's URL (http/https, "
                                                                "public unless private webhooks are allowed)")
    timeTick: int | None = Field(None, ge=0, le=2**31 - 1, description="minutes; kept and returned (the exchange "
                                                                       "does not expire subscriptions)")
    filter: str | None = Field(None, max_length=2000,
                               description='Jex conditions (TS 32.161) evaluated on each notification, e.g. '
                                           'notificationType="notifyNewAlarm" and perceivedSeverity="CRITICAL"')
