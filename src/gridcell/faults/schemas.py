"""Wire formats the MNO side sends: TS 28.532 Fault/Perf/Prov MnS notifications, VES 7.2, planned work."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, model_validator

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


class _Received(BaseModel):
    """What the sender sent, when normalising changed it (a vendor's spelling, a VES event): kept beside the
    record so the MNO can always see its own payload."""

    _received: Any = PrivateAttr(default=None)

    @property
    def received(self) -> Any:
        return self._received

    def keep_received(self, original: Any) -> None:
        self._received = original


class _Header(_Received):
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


class NotifyNewSecAlarm(_AlarmBody):
    """A security alarm (TS 28.532): kept in the alarm list; it takes no cell out of service."""

    notificationType: Literal["notifyNewSecAlarm"]
    serviceUser: str = Field(max_length=400)
    serviceProvider: str = Field(max_length=400)
    securityAlarmDetector: str = Field(max_length=400)


class NotifyChangedSecAlarmGeneral(_AlarmBody):
    notificationType: Literal["notifyChangedSecAlarmGeneral"]
    perceivedSeverity: PerceivedSeverity = PerceivedSeverity.INDETERMINATE
    serviceUser: str = Field(max_length=400)
    serviceProvider: str = Field(max_length=400)
    securityAlarmDetector: str = Field(max_length=400)


class NotifyAckStateChanged(_AlarmBody):
    """The MNO's operator acknowledged (or unacknowledged) an alarm: recorded on it."""

    notificationType: Literal["notifyAckStateChanged"]
    ackState: Literal["ACKNOWLEDGED", "UNACKNOWLEDGED"]
    ackUserId: str = Field(max_length=400)
    ackSystemId: str | None = Field(default=None, max_length=400)


class NotifyComments(_AlarmBody):
    notificationType: Literal["notifyComments"]
    comments: dict[str, Any] | list[Any]


class NotifyCorrelatedNotificationChanged(_Header):
    notificationType: Literal["notifyCorrelatedNotificationChanged"]
    alarmId: str = Field(min_length=1, max_length=200)
    correlatedNotifications: list[Any]
    rootCauseIndicator: bool | None = None


class NotifyAlarmListRebuilt(_Header):
    """The producer rebuilt its alarm list: a consumer should realign (stored, counted as ignored here)."""

    notificationType: Literal["notifyAlarmListRebuilt", "notifyPotentialFaultyAlarmList"]
    reason: str = Field(max_length=4000)
    alarmListAlignmentRequirement: str | None = None


class NotifyHeartbeat(_Header):
    """TS 28.532 heartbeat: the feed is alive (stored, counted as ignored)."""

    notificationType: Literal["notifyHeartbeat"]
    heartbeatNtfPeriod: Annotated[Int64, Field(ge=0)] | None = None


class NotifyMoiCreationOrChanges(_Header):
    """ProvMnS MOI creation and changes: nothing in gridcell's topology follows the MNO's NRM (stored, counted
    as ignored); attribute value changes and deletions of cells do act (NotifyMoiAttributeValueChanges)."""

    notificationType: Literal["notifyMOICreation", "notifyMOIChanges"]


IGNORED_KINDS: tuple[type, ...] = (NotifyAlarmListRebuilt, NotifyHeartbeat, NotifyMoiCreationOrChanges)
ANNOTATION_KINDS = (NotifyAckStateChanged, NotifyComments, NotifyCorrelatedNotificationChanged)
SECURITY_KINDS = (NotifyNewSecAlarm, NotifyChangedSecAlarmGeneral)


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


class NotifyPlannedMaintenance(_Received):
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
    | NotifyNewSecAlarm | NotifyChangedSecAlarmGeneral | NotifyAckStateChanged | NotifyComments
    | NotifyCorrelatedNotificationChanged | NotifyAlarmListRebuilt | NotifyHeartbeat
    | NotifyThresholdCrossing | NotifyMoiAttributeValueChanges | NotifyMoiDeletion | NotifyMoiCreationOrChanges
    | NotifyPlannedMaintenance,
    Field(discriminator="notificationType"),
]
NOTIFICATION = TypeAdapter(Notification)
NOTIFICATION_TYPES = ("notifyNewAlarm", "notifyChangedAlarm", "notifyChangedAlarmGeneral", "notifyClearedAlarm",
                      "notifyNewSecAlarm", "notifyChangedSecAlarmGeneral", "notifyAckStateChanged", "notifyComments",
                      "notifyCorrelatedNotificationChanged", "notifyAlarmListRebuilt",
                      "notifyPotentialFaultyAlarmList", "notifyHeartbeat", "notifyThresholdCrossing",
                      "notifyMOIAttributeValueChanges", "notifyMOIDeletion", "notifyMOICreation", "notifyMOIChanges",
                      "notifyPlannedMaintenance")


class VesCommonEventHeader(BaseModel):
    """The VES 7.2 header as gridcell reads it (documentation: events are parsed leniently by faults.ves)."""

    model_config = ConfigDict(extra="allow")
    domain: str = Field(min_length=1, max_length=100,
                        description="stndDefined (a 3GPP notification), fault, heartbeat; others are recorded and "
                                    "counted as ignored")
    eventId: str = Field(min_length=1, max_length=200)
    eventName: str | None = None
    stndDefinedNamespace: str | None = None
    sourceName: str | None = Field(default=None, max_length=400,
                                   description="the managed element: a DN, a RAN site id or a cell id (fault, "
                                               "heartbeat: required)")
    reportingEntityName: str | None = Field(default=None, max_length=400)
    sequence: Int64 | None = None
    startEpochMicrosec: Int64 | None = None
    lastEpochMicrosec: Int64 | None = Field(default=None, description="the event's time (fault, heartbeat: "
                                                                        "this or startEpochMicrosec required)")


class VesStndDefinedFields(BaseModel):
    model_config = ConfigDict(extra="allow")
    schemaReference: str | None = None
    data: dict[str, Any] = Field(description="a TS 28.532 notification, as on /api/v1/ingest/notifications")
    stndDefinedFieldsVersion: str | None = None


class VesFaultFields(BaseModel):
    """The classic fault domain (faultFieldsVersion 4.0): eventSeverity NORMAL clears; the alarm is
    (sourceName, alarmCondition[, alarmInterfaceA]); alarmCondition also gives the probable cause when it spells
    a TS 28.111 one and alarmAdditionalInformation names none."""

    model_config = ConfigDict(extra="allow")
    alarmCondition: str = Field(min_length=1, max_length=200)
    eventSeverity: str = Field(description="CRITICAL, MAJOR, MINOR, WARNING or NORMAL (any case)")
    specificProblem: str | None = None
    eventSourceType: str | None = None
    vfStatus: str | None = None
    alarmInterfaceA: str | None = None
    alarmAdditionalInformation: dict[str, Any] | list[Any] | None = None
    faultFieldsVersion: str | float | None = None


class VesHeartbeatFields(BaseModel):
    model_config = ConfigDict(extra="allow")
    heartbeatInterval: Int64 | None = Field(default=None, description="seconds between heartbeats")
    heartbeatFieldsVersion: str | None = None


class VesEvent(BaseModel):
    model_config = ConfigDict(extra="allow")
    commonEventHeader: VesCommonEventHeader
    stndDefinedFields: VesStndDefinedFields | None = None  # required for the stndDefined domain
    faultFields: VesFaultFields | None = None  # required for the fault domain
    heartbeatFields: VesHeartbeatFields | None = None


class FailurePrediction(_Received):
    """A TS 28.104 MDA failure prediction (FailurePredictionOutput of an MDAReport): the objects it names are at
    risk from `eventTime`, the predicted failure time, until `predictedFailureEndTime`; CLEARED withdraws it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    _no_nul = model_validator(mode="before")(refuse_nul)

    notificationId: str = Field(min_length=1, max_length=80)
    predictionId: str = Field(min_length=1, max_length=200, description="issueID, else report id and output index")
    eventTime: Instant = Field(description="when the prediction arrived (orders predictions of one issue)")
    failurePredictionObject: list[Annotated[str, Field(min_length=1, max_length=400)]] = Field(
        min_length=1, max_length=10_000)
    predictedFailureTime: Instant
    predictedFailureEndTime: Instant | None = None
    perceivedSeverity: Literal["CRITICAL", "MAJOR", "MINOR", "WARNING", "INTERMEDIATE", "CLEARED"] = "MAJOR"
    potentialFailureType: str | None = Field(default=None, max_length=400)
    potentialFailureCause: str | Int64 | None = None
    confidenceDegree: float | None = Field(default=None, ge=0, le=100)
    reportId: str | None = Field(default=None, max_length=200)


class VesIgnored(BaseModel):
    """A VES event of a domain gridcell has no use for (heartbeat, measurement, ...): recorded by its eventId so a
    resend is a duplicate, counted as ignored; never a reason to refuse the batch it came in."""

    notificationId: str
    domain: str


class ItemOutcome(BaseModel):
    notificationId: str
    outcome: Literal["accepted", "duplicate", "stale", "unmapped", "ignored"]


class IngestResult(BaseModel):
    accepted: int = Field(description="notifications stored now")
    duplicates: int = Field(description="notificationIds seen before; acknowledged, not applied twice")
    stale: int = Field(default=0, description="older than what is already known for the same alarm")
    unmapped: int = Field(description="accepted but naming no known cell; listed as unmapped")
    ignored: int = Field(default=0, description="valid notifications of a kind (or about an alarm) gridcell has no "
                                                "use for: recorded, not applied")
    items: list[ItemOutcome] = Field(default_factory=list,
                                     description="each notification's outcome, in the order of the request")


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
