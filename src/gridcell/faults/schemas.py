"""Wire formats the MNO side sends: TS 28.532 Fault/Perf/Prov MnS notifications, VES 7.2, planned work."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from gridcell.core.fields import Instant, Int64, refuse_nul


class AlarmType(StrEnum):
    COMMUNICATIONS_ALARM = "COMMUNICATIONS_ALARM"
    QUALITY_OF_SERVICE_ALARM = "QUALITY_OF_SERVICE_ALARM"
    PROCESSING_ERROR_ALARM = "PROCESSING_ERROR_ALARM"
    EQUIPMENT_ALARM = "EQUIPMENT_ALARM"
    ENVIRONMENTAL_ALARM = "ENVIRONMENTAL_ALARM"
    INTEGRITY_VIOLATION = "INTEGRITY_VIOLATION"
    OPERATIONAL_VIOLATION = "OPERATIONAL_VIOLATION"
    PHYSICAL_VIOLATION = "PHYSICAL_VIOLATION"
    SECURITY_SERVICE_OR_MECHANISM_VIOLATION = "SECURITY_SERVICE_OR_MECHANISM_VIOLATION"
    TIME_DOMAIN_VIOLATION = "TIME_DOMAIN_VIOLATION"


class PerceivedSeverity(StrEnum):
    INDETERMINATE = "INDETERMINATE"
    CRITICAL = "CRITICAL"
    MAJOR = "MAJOR"
    MINOR = "MINOR"
    WARNING = "WARNING"
    CLEARED = "CLEARED"


class Impact(StrEnum):
    outage = "outage"
    degradation = "degradation"
    none = "none"


NotificationIdT = Annotated[Int64 | Annotated[str, Field(min_length=1, max_length=80)], Field()]
# TS 28.111: a standard string (Annex B), any vendor string, or a vendor-mapped integer.
ProbableCauseT = Int64 | Annotated[str, Field(min_length=1, max_length=200)]


class _Header(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    _no_nul = model_validator(mode="before")(refuse_nul)

    href: str = Field(min_length=1, max_length=1000, description="URI of the managed object instance")
    notificationId: NotificationIdT
    eventTime: Instant
    systemDN: str = Field(min_length=1, max_length=400)
    sequenceNo: Int64 | None = None
    subscriptionId: str | None = None
    objectInstance: str | None = Field(default=None, max_length=400,
                                       description="DN of the object; derived from href when absent")


class _AlarmBody(_Header):
    alarmId: str = Field(min_length=1, max_length=200)
    alarmType: AlarmType
    probableCause: ProbableCauseT
    perceivedSeverity: PerceivedSeverity
    specificProblem: str | Int64 | None = None
    additionalText: str | None = Field(default=None, max_length=4000)
    additionalInformation: dict[str, Any] | None = None
    proposedRepairActions: str | None = None
    rootCauseIndicator: bool | None = None


class NotifyNewAlarm(_AlarmBody):
    notificationType: Literal["notifyNewAlarm"]


class NotifyChangedAlarm(_AlarmBody):
    notificationType: Literal["notifyChangedAlarm"]


class NotifyChangedAlarmGeneral(_AlarmBody):
    notificationType: Literal["notifyChangedAlarmGeneral"]
    perceivedSeverity: PerceivedSeverity = PerceivedSeverity.INDETERMINATE


class NotifyClearedAlarm(_AlarmBody):
    notificationType: Literal["notifyClearedAlarm"]


class NotifyThresholdCrossing(_Header):
    notificationType: Literal["notifyThresholdCrossing"]
    observedPerfMetricName: str = Field(min_length=1, max_length=200)
    observedPerfMetricValue: float
    observedPerfMetricDirection: Literal["UP", "DOWN"]
    thresholdValue: float
    hysteresis: float | None = None
    monitorGranularityPeriod: Annotated[Int64, Field(ge=0)] | None = None
    additionalText: str | None = None


class NotifyMoiAttributeValueChanges(_Header):
    notificationType: Literal["notifyMOIAttributeValueChanges"]
    attributeListValueChanges: list[dict[str, Any]] = Field(min_length=1, max_length=2)
    additionalText: str | None = None
    sourceIndicator: Literal["RESOURCE_OPERATION", "MANAGEMENT_OPERATION", "SON_OPERATION", "UNKNOWN"] | None = None


class NotifyMoiDeletion(_Header):
    notificationType: Literal["notifyMOIDeletion"]
    additionalText: str | None = None


class NotifyPlannedMaintenance(BaseModel):
    """gridcell extension: 3GPP has no notification for planned work, so MNOs post windows in this form."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    _no_nul = model_validator(mode="before")(refuse_nul)

    notificationType: Literal["notifyPlannedMaintenance"]
    notificationId: NotificationIdT
    eventTime: Instant
    maintenanceId: str = Field(min_length=1, max_length=200)
    start: Instant
    end: Instant
    cells: list[str] = Field(default_factory=list, max_length=10_000, description="NCGI/ECGI cell ids")
    objectInstances: list[str] = Field(default_factory=list, max_length=10_000, description="DNs")
    expectedImpact: Impact = Impact.outage
    description: str | None = Field(default=None, max_length=4000)
    cancelled: bool = False


Notification = Annotated[
    NotifyNewAlarm | NotifyChangedAlarm | NotifyChangedAlarmGeneral | NotifyClearedAlarm
    | NotifyThresholdCrossing | NotifyMoiAttributeValueChanges | NotifyMoiDeletion | NotifyPlannedMaintenance,
    Field(discriminator="notificationType"),
]
NOTIFICATION = TypeAdapter(Notification)
NOTIFICATION_TYPES = ("notifyNewAlarm", "notifyChangedAlarm", "notifyChangedAlarmGeneral", "notifyClearedAlarm",
                      "notifyThresholdCrossing", "notifyMOIAttributeValueChanges", "notifyMOIDeletion",
                      "notifyPlannedMaintenance")


class VesCommonEventHeader(BaseModel):
    model_config = ConfigDict(extra="allow")
    domain: Literal["stndDefined"]
    eventId: str
    eventName: str | None = None
    stndDefinedNamespace: str | None = None


class VesStndDefinedFields(BaseModel):
    model_config = ConfigDict(extra="allow")
    schemaReference: str | None = None
    data: dict[str, Any]
    stndDefinedFieldsVersion: str | None = None


class VesEvent(BaseModel):
    model_config = ConfigDict(extra="allow")
    commonEventHeader: VesCommonEventHeader
    stndDefinedFields: VesStndDefinedFields


class IngestResult(BaseModel):
    accepted: int = Field(description="notifications stored now")
    duplicates: int = Field(description="notificationIds seen before; acknowledged, not applied twice")
    stale: int = Field(default=0, description="older than what is already known for the same alarm")
    unmapped: int = Field(description="accepted but naming no known cell; listed as unmapped")


class ConditionOut(BaseModel):
    id: str
    kind: str
    impact: str
    objectInstance: str | None
    cells: list[str] | None
    startsAt: datetime
    endsAt: datetime | None
    clearedAt: datetime | None
    details: dict[str, Any]


class VesEnvelope(BaseModel):
    """VES 7.2: {"event": {commonEventHeader: {domain: "stndDefined", ...}, stndDefinedFields: {data: ...}}}."""

    event: VesEvent


class VesBatch(BaseModel):
    eventList: list[VesEvent] = Field(min_length=1, max_length=10_000)


NotificationList = Annotated[list[Notification], Field(min_length=1, max_length=10_000)]
IngestBody = Notification | NotificationList | VesEnvelope | VesBatch
