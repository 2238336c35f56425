"""Render errors in the format each family of paths expects.

Native paths: RFC 9457 problem+json. 3GPP-shaped paths: 3GPP ProblemDetails (TS 29.571: the same
members plus `cause` and `invalidParams`), but ProvMnS: the TS 28.532 error body (below). TMF paths: the TM Forum
`Error` object.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from gridcell.core.errors import DomainError

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5

THREEGPP_PREFIXES = ("/api/v1/ingest", "/FaultSupervisionMnS")
PROVMNS_PREFIXES = ("/ProvMnS",)
TMF_PREFIXES = ("/tmf-api",)
VES_PREFIXES = ("/eventListener",)
_CAUSES = {400: "INVALID_MSG_FORMAT", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "RESOURCE_NOT_FOUND",
           405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
           422: "MANDATORY_IE_INCORRECT", 429: "TOO_MANY_REQUESTS"}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _methods_of(request: Request) -> list[str]:
    """The methods some route fully matches this path with (asked of each route, included routers too)."""
    routes = request.app.router.routes
    return [m for m in _METHODS
            if any(route.matches({**request.scope, "method": m})[0] == Match.FULL for route in routes)]


def _ves_error(status: int, detail: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    """VES 7.2 `requestError`: a policy exception for authentication, service exceptions otherwise (the
    event listener specification's message ids), naming the first field in error as `%1`."""
    if status in (401, 403):
        kind, body = "policyException", {"messageId": "POL2000", "text": "Unauthorized user: %1",
                                         "variables": [detail]}
    elif status == 400 and errors:
        kind, body = "serviceException", {"messageId": "SVC0002",
                                          "text": "Invalid input value for message part %1: %2",
                                          "variables": [str(errors[0].get("loc", "")), str(errors[0].get("msg", ""))]}
    elif status == 503 or status >= 500:
        kind, body = "serviceException", {"messageId": "SVC1000", "text": "No server resources: %1",
                                          "variables": [detail]}
    else:
        kind, body = "serviceException", {"messageId": "SVC2000",
                                          "text": "The following service error occurred: %1. Error code is %2",
                                          "variables": [detail, str(status)]}
    return {"requestError": {kind: body}}


def _provmns_error(method: str | None, status: int, title: str, detail: str,
                   errors: list[dict[str, Any]]) -> dict[str, Any]:
    """ProvMnS (TS 28.532) answers with TS 28.623 ComDefs' error bodies: ErrorResponseGet for GET (what was wrong in
    `badQueryParams`), ErrorResponsePatch for PATCH (`badOp`, required), ErrorResponseDefault otherwise
    (`badAttributes`); `status` is a string there and `type` required; each error's reason in `otherProblems`.
    `error.errorInfo` is the one member of the ErrorResponse that the ProvMnS OpenAPI (18.1.0) itself refers to."""
    code, kind = str(status), "about:blank"

    def bad(locs: list[str]) -> dict[str, Any]:
        if method == "GET":
            return {"badQueryParams": locs} if locs else {}
        if method == "PATCH":  # a JSON patch's operation by its index ("0/path" -> "0"); a merge patch's member
            head = locs[0].split("/")[0] if locs else ""
            return {"badOp": head if head.isdigit() else locs[0] if locs else ""}
        return {"badAttributes": locs} if locs else {}

    locs = [str(e.get("loc", "")) for e in errors]
    body: dict[str, Any] = {"status": code, "type": kind, "title": title, "reason": detail,
                            **bad(list(dict.fromkeys(locs)))}
    if errors:
        body["otherProblems"] = [{"status": code, "type": kind, "title": title, "reason": str(e.get("msg", "")),
                                  **bad([loc])} for e, loc in zip(errors, locs, strict=True)]
    body["error"] = {"errorInfo": detail}
    return body


def error_response(path: str, status: int, title: str, detail: str,
                   errors: list[dict[str, Any]] | None = None,
                   extra_headers: dict[str, str] | None = None, *, method: str | None = None) -> JSONResponse:
    """The error in the format of the path's family; `method` picks ProvMnS's body per operation."""
    errors = errors or []
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    headers.update(extra_headers or {})
    if path.startswith(VES_PREFIXES):
        if status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="gridcell", Bearer'
        return JSONResponse(_ves_error(status, detail, errors), status_code=status, headers=headers)
    if path.startswith(TMF_PREFIXES):
        body: dict[str, Any] = {"code": str(status), "reason": title, "message": _tmf_message(detail, errors),
                                "status": str(status), "@type": "Error"}
        return JSONResponse(body, status_code=status, headers=headers)
    if path.startswith(PROVMNS_PREFIXES):
        return JSONResponse(_provmns_error(method, status, title, detail, errors), status_code=status, headers=headers)
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": path}
    if path.startswith(THREEGPP_PREFIXES):
        body["cause"] = _CAUSES.get(status, "SYSTEM_FAILURE" if status >= 500 else "INVALID_MSG_FORMAT")
        if errors:
            body["invalidParams"] = [{"param": e.get("loc", ""), "reason": e.get("msg", "")} for e in errors]
    elif errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _tmf_message(detail: str, errors: list[dict[str, Any]]) -> str:
    """TMF `Error` has no member per field: the fields in error are named in the message (JSON Pointers)."""
    named = [f"{e.get('loc')}: {e.get('msg')}" for e in errors[:10] if e.get("loc") and str(e["loc"]) not in detail]
    return f"{detail} ({'; '.join(named)})" if named else detail


class BodyTooLarge(Exception):
    """Raised by the body-limit middleware while a route reads a chunked body (no Content-Length)."""


def _body_too_large(exc: BaseException) -> bool:
    """FastAPI turns any error raised while reading the body into a 400; the body limit's own means 413."""
    return isinstance(exc.__cause__, BodyTooLarge)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = "/".join(str(p) for p in err.get("loc", ()) if p != "body")
        out.append({"loc": loc, "msg": str(err.get("msg", "invalid"))})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return error_response(request.url.path, exc.status, exc.title, exc.detail, exc.errors,
                              extra_headers=exc.headers, method=request.method)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        json_invalid = any(e.get("type") == "json_invalid" for e in exc.errors())
        detail = "the body is not valid JSON" if json_invalid else "the request does not match the schema"
        return error_response(request.url.path, 400, "Invalid input", detail, errors, method=request.method)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if _body_too_large(exc):
            limit = request.app.state.settings.max_body_bytes
            return error_response(request.url.path, 413, "Payload too large",
                                  f"the body exceeds the limit of {limit} bytes", method=request.method)
        # Keep the exception's headers: a 405 must carry `Allow` (RFC 9110 §15.5.6), listing every method of the
        # resource; the router names only those of the first route whose path matched.
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_methods_of(request))
        return error_response(request.url.path, exc.status_code, str(exc.detail), str(exc.detail),
                              extra_headers=headers, method=request.method)

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        return error_response(request.url.path, 400, "Invalid input", "the body is nested too deeply",
                              [{"loc": "", "msg": "JSON nested too deeply"}], method=request.method)

    async def _data(request: Request, exc: Exception) -> JSONResponse:
        # A value the store cannot hold (a NUL byte in PostgreSQL text, a number out of a column's range) that
        # validation let through: the transaction was rolled back, nothing was written.
        cause = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        log.warning("value refused by the store on %s: %s", request.url.path, cause)
        return error_response(request.url.path, 400, "Invalid input", f"a value cannot be stored: {cause}",
                              method=request.method)

    async def _store_down(request: Request, exc: Exception) -> JSONResponse:
        # The store cannot take the request now (down, locked, full, read-only): retry later, nothing acknowledged.
        log.error("store unavailable on %s: %s", request.url.path, str(getattr(exc, "orig", None) or exc)[:300])
        return error_response(request.url.path, 503, "Service unavailable",
                              "the store cannot take this request now; retry later",
                              extra_headers={"Retry-After": str(RETRY_AFTER_S)}, method=request.method)

    # SQLAlchemy's wrappers, and the drivers' own errors from statements run on the driver cursor.
    data_errors: tuple[type[Exception], ...] = (DataError, psycopg.DataError, sqlite3.DataError)
    store_errors: tuple[type[Exception], ...] = (OperationalError, psycopg.OperationalError, sqlite3.OperationalError)
    for data_error in data_errors:
        app.add_exception_handler(data_error, _data)
    for store_error in store_errors:
        app.add_exception_handler(store_error, _store_down)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request.url.path, 500, "Internal error",
                              "the request failed inside the exchange; nothing was acknowledged", method=request.method)


# ---- the error answers in the OpenAPI document --------------------------------------------------------------

_PROBLEM = {"type": "object", "required": ["title", "status"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"}, "instance": {"type": "string"},
    "errors": {"type": "array", "items": {"type": "object", "properties": {
        "loc": {"type": "string"}, "msg": {"type": "string"}}}}}}
_PROBLEM_DETAILS = {"type": "object", "required": ["title", "status", "cause"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"}, "instance": {"type": "string"}, "cause": {"type": "string"},
    "invalidParams": {"type": "array", "items": {"type": "object", "required": ["param"], "properties": {
        "param": {"type": "string"}, "reason": {"type": "string"}}}}}}
_VES_ERROR = {"type": "object", "required": ["requestError"], "properties": {"requestError": {
    "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": {
        "type": "object", "required": ["messageId", "text"], "properties": {
            "messageId": {"type": "string"}, "text": {"type": "string"},
            "variables": {"type": "array", "items": {"type": "string"}}}}}}}
_TMF_ERROR = {"type": "object", "required": ["code", "reason"], "properties": {
    "code": {"type": "string"}, "reason": {"type": "string"}, "message": {"type": "string"},
    "status": {"type": "string"}, "@type": {"type": "string"}}}
_PROVMNS_PROBLEM = {"status": {"type": "string"}, "type": {"type": "string"}, "reason": {"type": "string"},
                    "title": {"type": "string"}}


def _provmns_error_schema(bad: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """TS 28.623 ComDefs ErrorResponseGet / -Default / -Patch, as this exchange fills them."""
    return {"type": "object", "required": ["status", "type", *required], "properties": {
        **_PROVMNS_PROBLEM, **bad,
        "otherProblems": {"type": "array", "items": {"type": "object", "required": ["type", *required],
                                                     "properties": {**_PROVMNS_PROBLEM, **bad}}},
        "error": {"type": "object", "properties": {"errorInfo": {"type": "string"}}}}}


_NAMES = {"type": "array", "items": {"type": "string"}}
_PROVMNS_ERRORS = {"ProvMnsErrorGet": _provmns_error_schema({"badQueryParams": _NAMES}, []),
                   "ProvMnsErrorPatch": _provmns_error_schema({"badOp": {"type": "string"}}, ["badOp"]),
                   "ProvMnsErrorDefault": _provmns_error_schema({"badAttributes": _NAMES, "badObjects": _NAMES}, [])}
_WHY = {400: "The request is malformed or does not match the schema; nothing changed",
        401: "No valid bearer token", 403: "The caller's organisation or role may not do this",
        404: "Not found, or not visible to the caller's organisation", 409: "It conflicts with existing data",
        413: "The body exceeds the limit", 500: "The request failed inside the exchange; nothing was acknowledged",
        503: "Overloaded, or the store cannot take the request now (Retry-After)"}


def _error_content(path: str, method: str) -> tuple[str, dict[str, Any]]:
    if path.startswith(PROVMNS_PREFIXES):
        name = {"get": "ProvMnsErrorGet", "patch": "ProvMnsErrorPatch"}.get(method, "ProvMnsErrorDefault")
        return "application/json", {"$ref": f"#/components/schemas/{name}"}
    if path.startswith(VES_PREFIXES):
        return "application/json", {"$ref": "#/components/schemas/VesRequestError"}
    if path.startswith(TMF_PREFIXES):
        return "application/json", {"$ref": "#/components/schemas/TmfError"}
    if path.startswith(THREEGPP_PREFIXES):
        return "application/problem+json", {"$ref": "#/components/schemas/ProblemDetails"}
    return "application/problem+json", {"$ref": "#/components/schemas/Problem"}


def document_errors(app: FastAPI) -> None:
    """Every operation's document lists the error answers the exchange can give it, in its path's format (the
    framework's own 422 never happens: validation errors are 400)."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(Problem=_PROBLEM, ProblemDetails=_PROBLEM_DETAILS, TmfError=_TMF_ERROR,
                       VesRequestError=_VES_ERROR, **_PROVMNS_ERRORS)
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        for path, item in doc.get("paths", {}).items():
            for method, op in item.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                media, schema = _error_content(path, method)
                _hoist_defs(op, schemas)
                responses = op["responses"]
                responses.pop("422", None)
                codes = [400, 401, 403, 404, 413, 500, 503] + ([409] if method in ("post", "put", "patch") else [])
                for code in codes:
                    entry = {"description": _WHY[code], "content": {media: {"schema": schema}}}
                    if code == 503:
                        entry["headers"] = {"Retry-After": {"schema": {"type": "integer"},
                                                            "description": "seconds to wait"}}
                    responses.setdefault(str(code), entry)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def _hoist_defs(op: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A request body given as a pydantic JSON Schema (`ref_template="#/components/schemas/{model}"`) carries its
    definitions in `$defs`: they move to the document's components, where its references point."""
    for media in op.get("requestBody", {}).get("content", {}).values():
        schema = media.get("schema", {})
        for name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
