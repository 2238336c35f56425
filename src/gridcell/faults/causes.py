"""Probable causes: the names TS 28.111 Annex B gives, the X.733 integer codes vendors send, and which causes
mean that a site runs on battery or is dark."""

from __future__ import annotations

import re
from typing import Any

# TS 28.111 (Rel-19) Annex B, in the standard's order.
ANNEX_B = frozenset((
    "INDETERMINATE", "ALARM_INDICATION_SIGNAL", "CALL_SETUP_FAILURE", "DEGRADED_SIGNAL", "FAR_END_RECEIVER_FAILURE",
    "FRAMING_ERROR", "LOSS_OF_FRAME", "LOSS_OF_POINTER", "LOSS_OF_SIGNAL", "PAYLOAD_TYPE_MISMATCH",
    "REMOTE_ALARM_INTERFACE", "EXCESSIVE_BIT_ERROR_RATE", "PATH_TRACE_MISMATCH", "UNAVAILABLE",
    "SIGNAL_LABEL_MISMATCH", "LOSS_OF_MULTI_FRAME", "COMMUNICATIONS_RECEIVE_FAILURE",
    "COMMUNICATIONS_TRANSMIT_FAILURE", "MODULATION_FAILURE", "DEMODULATION_FAILURE", "BACK_PLANE_FAILURE",
    "DATA_SET_PROBLEM", "EQUIPMENT_IDENTIFIER_DUPLICATION", "EXTERNAL_IF_DEVICE_PROBLEM", "LINE_CARD_PROBLEM",
    "MULTIPLEXER_PROBLEM", "NE_IDENTIFIER_DUPLICATION", "POWER_PROBLEM", "PROCESSOR_PROBLEM",
    "PROTECTION_PATH_FAILURE", "RECEIVER_FAILURE", "REPLACEABLE_UNIT_MISSING", "REPLACEABLE_UNIT_TYPE_MISMATCH",
    "SYNCHRONIZATION_SOURCE_MISMATCH", "TERMINAL_PROBLEM", "TIMING_PROBLEM", "TRANSMITTER_FAILURE",
    "TRUNK_CARD_PROBLEM", "REPLACEABLE_UNIT_PROBLEM", "REAL_TIME_CLOCK_FAILURE", "PROTECTION_MECHANISM_FAILURE",
    "PROTECTING_RESOURCE_FAILURE", "AIR_COMPRESSOR_FAILURE", "AIR_CONDITIONING_FAILURE", "AIR_DRYER_FAILURE",
    "BATTERY_DISCHARGING", "BATTERY_FAILURE", "COMMERCIAL_POWER_FAILURE", "COOLING_FAN_FAILURE", "ENGINE_FAILURE",
    "FIRE_DETECTOR_FAILURE", "FUSE_FAILURE", "GENERATOR_FAILURE", "LOW_BATTERY_THRESHOLD", "PUMP_FAILURE",
    "RECTIFIER_FAILURE", "RECTIFIER_HIGH_VOLTAGE", "RECTIFIER_LOW_F_VOLTAGE", "VENTILATION_SYSTEM_FAILURE",
    "ENCLOSURE_DOOR_OPEN", "EXPLOSIVE_GAS", "FIRE", "FLOOD", "HIGH_HUMIDITY", "HIGH_TEMPERATURE", "HIGH_WIND",
    "ICE_BUILD_UP", "INTRUSION_DETECTION", "LOW_FUEL", "LOW_HUMIDITY", "LOW_CABLE_PRESSURE", "LOW_TEMPERATURE",
    "LOW_WATER", "SMOKE", "TOXIC_GAS", "EXTERNAL_POINT_FAILURE", "STORAGE_CAPACITY_PROBLEM", "MEMORY_MISMATCH",
    "CORRUPT_DATA", "OUT_OF_CPU_CYCLES", "SOFTWARE_ENVIRONMENT_PROBLEM", "SOFTWARE_DOWNLOAD_FAILURE",
    "LOSS_OF_REAL_TIME", "REINITIALIZED", "EXCESSIVE_ERROR_RATE", "ADAPTER_ERROR", "APPLICATION_SUBSYSTEM_FAILURE",
    "BANDWIDTH_REDUCED", "COMMUNICATIONS_PROTOCOL_ERROR", "COMMUNICATIONS_SUBSYSTEM_FAILURE",
    "CONFIGURATION_OR_CUSTOMIZATION_ERROR", "CONGESTION", "CPU_CYCLES_LIMIT_EXCEEDED", "DATA_SET_OR_MODEM_ERROR",
    "DTE_DCE_INTERFACE_ERROR", "EQUIPMENT_MALFUNCTION", "EXCESSIVE_VIBRATION", "FILE_ERROR",
    "HEATING_OR_VENTILATION_OR_COOLING_SYSTEM_PROBLEM", "HUMIDITY_UNACCEPTABLE", "INPUT_OUTPUT_DEVICE_ERROR",
    "INPUT_DEVICE_ERROR", "LAN_ERROR", "LEAK_DETECTED", "LOCAL_NODE_TRANSMISSION_ERROR",
    "MATERIAL_SUPPLY_EXHAUSTED", "OUT_OF_MEMORY", "OUTPUT_DEVICE_ERROR", "PERFORMANCE_DEGRADED",
    "PRESSURE_UNACCEPTABLE", "QUEUE_SIZE_EXCEEDED", "RECEIVE_FAILURE", "REMOTE_NODE_TRANSMISSION_ERROR",
    "RESOURCE_AT_OR_NEARING_CAPACITY", "RESPONSE_TIME_EXCESSIVE", "RETRANSMISSION_RATE_EXCESSIVE", "SOFTWARE_ERROR",
    "SOFTWARE_PROGRAM_ABNORMALLY_TERMINATED", "SOFTWARE_PROGRAM_ERROR", "TEMPERATURE_UNACCEPTABLE",
    "THRESHOLD_CROSSED", "TOXIC_LEAK_DETECTED", "TRANSMIT_FAILURE", "UNDERLYING_RESOURCE_UNAVAILABLE",
    "VERSION_MISMATCH", "A_BIS_TO_BTS_INTERFACE_FAILURE", "A_BIS_TO_TRX_INTERFACE_FAILURE", "ANTENNA_PROBLEM",
    "BATTERY_BREAKDOWN", "BATTERY_CHARGING_FAULT", "CLOCK_SYNCHRONIZATION_PROBLEM", "COMBINER_PROBLEM",
    "DISK_PROBLEM", "EXCESSIVE_RECEIVER_TEMPERATURE", "EXCESSIVE_TRANSMITTER_OUTPUT_POWER",
    "EXCESSIVE_TRANSMITTER_TEMPERATURE", "FREQUENCY_HOPPING_DEGRADED", "FREQUENCY_HOPPING_FAILURE",
    "FREQUENCY_REDEFINITION_FAILED", "LINE_INTERFACE_FAILURE", "LINK_FAILURE", "LOSS_OF_SYNCHRONIZATION",
    "LOST_REDUNDANCY", "MAINS_BREAKDOWN_WITH_BATTERY_BACKUP", "MAINS_BREAKDOWN_WITHOUT_BATTERY_BACKUP",
    "POWER_SUPPLY_FAILURE", "RECEIVER_ANTENNA_FAULT", "RECEIVER_MULTICOUPLER_FAILURE",
    "REDUCED_TRANSMITTER_OUTPUT_POWER", "SIGNAL_QUALITY_EVALUATION_FAULT", "TIMESLOT_HARDWARE_FAILURE",
    "TRANSCEIVER_PROBLEM", "TRANSCODER_PROBLEM", "TRANSCODER_OR_RATE_ADAPTER_PROBLEM",
    "TRANSMITTER_ANTENNA_FAILURE", "TRANSMITTER_ANTENNA_NOT_ADJUSTED", "TRANSMITTER_LOW_VOLTAGE_OR_CURRENT",
    "TRANSMITTER_OFF_FREQUENCY", "DATABASE_INCONSISTENCY", "FILE_SYSTEM_CALL_UNSUCCESSFUL",
    "INPUT_PARAMETER_OUT_OF_RANGE", "INVALID_PARAMETER", "INVALID_POINTER", "MESSAGE_NOT_EXPECTED",
    "MESSAGE_NOT_INITIALIZED", "MESSAGE_OUT_OF_SEQUENCE", "SYSTEM_CALL_UNSUCCESSFUL", "TIMEOUT_EXPIRED",
    "VARIABLE_OUT_OF_RANGE", "WATCH_DOG_TIMER_EXPIRED", "COOLING_SYSTEM_FAILURE", "EXTERNAL_EQUIPMENT_FAILURE",
    "EXTERNAL_POWER_SUPPLY_FAILURE", "EXTERNAL_TRANSMISSION_DEVICE_FAILURE", "REDUCED_ALARM_REPORTING",
    "REDUCED_EVENT_REPORTING", "REDUCED_LOGGING_CAPABILITY", "SYSTEM_RESOURCES_OVERLOAD",
    "BROADCAST_CHANNEL_FAILURE", "CONNECTION_ESTABLISHMENT_ERROR", "INVALID_MESSAGE_RECEIVED",
    "INVALID_MSU_RECEIVED", "LAPD_LINK_PROTOCOL_FAILURE", "LOCAL_ALARM_INDICATION", "REMOTE_ALARM_INDICATION",
    "ROUTING_FAILURE", "SS7_PROTOCOL_FAILURE", "TRANSMISSION_ERROR", "AUTHENTICATION_FAILURE",
    "BREACH_OF_CONFIDENTIALITY", "CABLE_TAMPER", "DELAYED_INFORMATION", "DENIAL_OF_SERVICE",
    "DUPLICATE_INFORMATION", "INFORMATION_MISSING", "INFORMATION_MODIFICATION_DETECTED",
    "INFORMATION_OUT_OF_SEQUENCE", "INTRUSION_DETECTED", "KEY_EXPIRED", "NON_REPUDIATION_FAILURE",
    "OUT_OF_HOURS_ACTIVITY", "OUT_OF_SERVICE", "PROCEDURAL_ERROR", "UNAUTHORISED_ACCESS_ATTEMPT",
    "UNEXPECTED_INFORMATION", "UNSPECIFIED_REASON"
))
# ITU-T X.733 / X.736 probable causes by their integer value (the X.721 `probableCause` arcs), as vendors send them.
X733_CODES: dict[int, str] = dict(enumerate((
    "adapterError", "applicationSubsystemFailure", "bandwidthReduced", "callEstablishmentError",
    "communicationsProtocolError", "communicationsSubsystemFailure", "configurationOrCustomizationError",
    "congestion", "corruptData", "cpuCyclesLimitExceeded", "dataSetOrModemError", "degradedSignal",
    "dteDceInterfaceError", "enclosureDoorOpen", "equipmentMalfunction", "excessiveVibration", "fileError",
    "fireDetected", "floodDetected", "framingError", "heatingOrVentilationOrCoolingSystemProblem",
    "humidityUnacceptable", "inputOutputDeviceError", "inputDeviceError", "lanError", "leakDetected",
    "localNodeTransmissionError", "lossOfFrame", "lossOfSignal", "materialSupplyExhausted", "multiplexerProblem",
    "outOfMemory", "outputDeviceError", "performanceDegraded", "powerProblem", "pressureUnacceptable",
    "processorProblem", "pumpFailure", "queueSizeExceeded", "receiveFailure", "receiverFailure",
    "remoteNodeTransmissionError", "resourceAtOrNearingCapacity", "responseTimeExcessive",
    "retransmissionRateExcessive", "softwareError", "softwareProgramAbnormallyTerminated", "softwareProgramError",
    "storageCapacityProblem", "temperatureUnacceptable", "thresholdCrossed", "timingProblem", "toxicLeakDetected",
    "transmitFailure", "transmitterFailure", "underlyingResourceUnavailable", "versionMismatch",
    "authenticationFailure", "breachOfConfidentiality", "cableTamper", "delayedInformation", "denialOfService",
    "duplicateInformation", "informationMissing", "informationModificationDetected", "informationOutOfSequence",
    "intrusionDetection", "keyExpired", "nonRepudiationFailure", "outOfHoursActivity", "outOfService",
    "proceduralError", "unauthorizedAccessAttempt", "unexpectedInformation", "unspecifiedReason",
), start=1))
# X.733 names that Annex B spells differently.
_ALIASES = {"FIRE_DETECTED": "FIRE", "FLOOD_DETECTED": "FLOOD", "POWER_PROBLEMS": "POWER_PROBLEM",
            "UNAUTHORIZED_ACCESS_ATTEMPT": "UNAUTHORISED_ACCESS_ATTEMPT"}

# Causes that mean "running on battery or about to": service continues for a while.
POWER_CAUSES = frozenset({
    "COMMERCIAL_POWER_FAILURE", "MAINS_BREAKDOWN_WITH_BATTERY_BACKUP", "BATTERY_DISCHARGING",
    "LOW_BATTERY_THRESHOLD", "BATTERY_FAILURE", "BATTERY_BREAKDOWN", "BATTERY_CHARGING_FAULT",
    "POWER_PROBLEM", "POWER_SUPPLY_FAILURE", "EXTERNAL_POWER_SUPPLY_FAILURE",
})
# Power lost with nothing behind it: the site is dark now.
DARK_CAUSES = frozenset({"MAINS_BREAKDOWN_WITHOUT_BATTERY_BACKUP"})


def screaming_snake(name: str) -> str:
    """'lossOfSignal', 'Loss of signal', 'loss-of-signal' -> 'LOSS_OF_SIGNAL'."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name.strip())
    return re.sub(r"[^0-9A-Z]+", "_", spaced.upper()).strip("_")


def standard_name(name: str) -> str | None:
    """The Annex B name a spelling of a cause stands for, or None when it is a vendor's own cause."""
    snake = screaming_snake(name)
    snake = _ALIASES.get(snake, snake)
    return snake if snake in ANNEX_B else None


def normalise(value: Any) -> Any:
    """An X.733 code (a number or numeric string) becomes its Annex B name; a spelling of an Annex B name takes
    the standard's; a vendor's own cause (a string or an integer without an X.733 meaning) stays as sent."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 19:
        value = int(value.strip())
    if isinstance(value, int):
        name = X733_CODES.get(value)
        return (standard_name(name) or value) if name else value
    if isinstance(value, str):
        return standard_name(value) or value
    return value
