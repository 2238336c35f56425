"""How the TMF656 routes are described in /openapi.json: request bodies and answers with the specification's
schemas (problems/schema.py), so a client generator or a contract test sees what TMF656 states."""

from __future__ import annotations

from typing import Any

from gridcell.problems import schema

_PATCH_KEYS = frozenset(schema.ATTRIBUTES) - schema.NOT_ON_UPDATE
_CREATE_KEYS = frozenset(schema.ATTRIBUTES) - schema.NOT_ON_CREATE
PROBLEM: dict[str, Any] = {"type": "object", "properties": dict(schema.ATTRIBUTES)}
EVENT_RECORD: dict[str, Any] = {"type": "object", "properties": {
    "id": schema.STR, "href": schema.STR, "eventTime": schema.DATE_TIME, "eventType": schema.STR,
    "recordTime": schema.DATE_TIME, "notification": {}, "serviceProblem": schema.REF}}
HUB: dict[str, Any] = {"type": "object", "required": ["id", "callback"], "properties": {
    "id": schema.STR, "callback": schema.STR, "query": schema.STR,
    "auth": {"type": "object", "properties": {"type": schema.STR, "header": schema.STR}}}}
HUB_INPUT: dict[str, Any] = {"type": "object", "required": ["callback"], "properties": {
    "callback": {"type": "string", "description": "the listener's base URL; events go to "
                                                  "{callback}/listener/{eventName}"},
    "query": {"type": "string", "description": "eventType=A,B narrows the events"},
    "auth": {"type": "object", "description": "extension: credentials presented to the listener, kept encrypted: "
                                              "{type: bearer, token} | {type: basic, username, password} | "
                                              "{type: apiKey, header, value}"}}}


def _subset(keys: frozenset[str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": {k: v for k, v in schema.ATTRIBUTES.items() if k in keys}}
    if required:
        out["required"] = list(required)
    return out


def body(s: dict[str, Any], *media: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {m: {"schema": s} for m in media or ("application/json",)}}}


def answer(status: int, s: dict[str, Any], description: str) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": description, "content": {"application/json": {"schema": s}}}}


CREATE = body(_subset(_CREATE_KEYS, schema.CREATE_REQUIRED))
PATCH = body(_subset(_PATCH_KEYS), "application/merge-patch+json", "application/json")
TASK_ANSWER: dict[str, Any] = {"type": "object", "properties": {"id": schema.STR, "@type": schema.STR}}
ACK = body({"type": "object", "required": ["problem"], "properties": {
    "problem": {"type": "array", "items": schema.REF}, "trackingRecord": schema.TRACKING_RECORD}})
UNACK = ACK
GROUP = body({"type": "object", "required": ["parentProblem", "childProblem"], "properties": {
    "parentProblem": schema.REF, "childProblem": {"type": "array", "items": schema.REF}}})
