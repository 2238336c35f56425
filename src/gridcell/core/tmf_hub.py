"""TMF630 notifications as both TMF facades (TMF621, TMF656) speak them: hub registration (EventSubscriptionInput
with credentials for the listener) and the event envelope, delivered to `{callback}/listener/{eventName}`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from gridcell.core import sealed
from gridcell.core.clock import isoformat
from gridcell.core.errors import InvalidInput

AUTH_TYPES = {"bearer": ("token",), "basic": ("username", "password"), "apiKey": ("header", "value")}
_SECRET = {"bearer": "token", "basic": "password", "apiKey": "value"}
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")  # an RFC 9110 token
_FORBIDDEN_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding", "connection"})


@dataclass(frozen=True)
class Hub:
    """A parsed EventSubscriptionInput: where events go (`{callback}/listener/{eventName}`), which ones, and the
    credentials the exchange presents to that listener (sealed: encrypted at rest, see core.sealed)."""

    callback: str
    query: str | None
    event_types: list[str] | None
    auth: dict[str, str] | None

    @property
    def filter(self) -> dict[str, Any]:
        return {"query": self.query, "eventTypes": self.event_types}

    @property
    def listener(self) -> dict[str, Any]:
        """How the shared outbox addresses and authenticates each event (exposure.listener_target)."""
        return {"paths": "tmfListener", **({"auth": self.auth} if self.auth else {})}

    def view(self, sub_id: str, callback: str) -> dict[str, Any]:
        """The EventSubscription answered: the credentials' type, never the credentials."""
        out: dict[str, Any] = {"id": sub_id, "callback": callback}
        if self.query is not None:
            out["query"] = self.query
        if self.auth:
            out["auth"] = {"type": self.auth["type"], **({"header": self.auth["header"]}
                                                           if "header" in self.auth else {})}
        return out


def _text(value: Any, loc: str, errors: list[dict[str, str]], limit: int = 4000) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or any(ord(c) < 0x20 or ord(c) == 0x7F
                                                                           for c in value):
        errors.append({"loc": loc, "msg": f"a non-empty string of at most {limit} characters without control "
                                          "characters"})
        return ""
    return value


def parse_auth(raw: Any, errors: list[dict[str, str]], loc: str = "auth") -> dict[str, str] | None:
    """{type: bearer, token} | {type: basic, username, password} | {type: apiKey, header, value}; the secret part
    comes back sealed."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") not in AUTH_TYPES:
        errors.append({"loc": f"{loc}/type", "msg": f"one of {', '.join(AUTH_TYPES)}"})
        return None
    kind = str(raw["type"])
    fields = AUTH_TYPES[kind]
    errors += [{"loc": f"{loc}/{k}", "msg": f"not a {kind} credential field"} for k in sorted(raw)
               if k not in (*fields, "type")]
    values = {f: _text(raw.get(f), f"{loc}/{f}", errors) for f in fields}
    if kind == "basic" and ":" in values["username"]:
        errors.append({"loc": f"{loc}/username", "msg": "must not contain ':'"})
    if kind == "apiKey" and values["header"] and (not _HEADER_NAME.match(values["header"])
                                                  or values["header"].lower() in _FORBIDDEN_HEADERS):
        errors.append({"loc": f"{loc}/header", "msg": "an HTTP header name of the caller's choosing"})
    if any(e["loc"].startswith(loc) for e in errors):
        return None
    secret = _SECRET[kind]
    return {"type": kind, **{k: v for k, v in values.items() if k != secret}, secret: sealed.seal(values[secret])}


def _split_credentials(callback: str) -> tuple[str, dict[str, str] | None]:
    """A callback `https://user:pass@host/path` (common TMF practice) becomes the bare callback and basic
    credentials: kept sealed, never shown with the URL nor logged with it."""
    try:
        parts = urlsplit(callback)
        user, password = parts.username, parts.password
    except ValueError:
        return callback, None  # the URL check names the problem
    if user is None and password is None:
        return callback, None
    host = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return bare, {"type": "basic", "username": unquote(user or ""), "password": unquote(password or "")}


def parse_hub(body: Any, event_types: tuple[str, ...]) -> Hub:
    """EventSubscriptionInput {callback, query?}; `query` may narrow the events: `eventType=A,B`. Extension:
    `auth` for the listener (bearer, basic or an API-key header), or credentials in the callback URL."""
    if not isinstance(body, dict):
        raise InvalidInput("the EventSubscriptionInput must be a JSON object", errors=[{"loc": "", "msg": "object"}])
    errors = [{"loc": k, "msg": "unknown member of EventSubscriptionInput"} for k in sorted(set(body) - {
        "callback", "query", "auth", "@type", "@baseType", "@schemaLocation"})]
    callback, query = body.get("callback"), body.get("query")
    if not isinstance(callback, str) or not callback:
        errors.append({"loc": "callback", "msg": "is mandatory (the listener URL)"})
        callback = ""
    callback, in_url = _split_credentials(callback)
    if in_url is not None and body.get("auth") is not None:
        errors.append({"loc": "auth", "msg": "credentials are given in the callback URL already"})
    if query is not None and not isinstance(query, str):
        errors.append({"loc": "query", "msg": "must be a string"})
    types: list[str] | None = None
    if isinstance(query, str) and query.strip():
        parsed = parse_qs(query.strip().lstrip("?"), keep_blank_values=True)
        unknown = sorted(set(parsed) - {"eventType"})
        if unknown:
            errors.append({"loc": "query", "msg": f"only eventType filters are supported, not {', '.join(unknown)}"})
        types = sorted({t.strip() for v in parsed.get("eventType", []) for t in v.split(",") if t.strip()})
        bad = [t for t in types if t not in event_types]
        if bad:
            errors.append({"loc": "query",
                           "msg": f"unknown eventType {', '.join(bad)}; known: {', '.join(event_types)}"})
    if errors:
        raise InvalidInput("the EventSubscriptionInput does not match the schema", errors=errors)
    auth = parse_auth(in_url if in_url is not None else body.get("auth"), errors,
                      "callback" if in_url is not None else "auth")
    if errors:
        raise InvalidInput("the EventSubscriptionInput does not match the schema", errors=errors)
    return Hub(callback, query if isinstance(query, str) else None, types or None, auth)


def listener_name(event_type: str) -> str:
    """`TroubleTicketCreateEvent` -> `troubleTicketCreateEvent`: the last segment of its listener path."""
    return event_type[:1].lower() + event_type[1:]


def tmf_event(event_id: str, event_type: str, now: datetime, description: str, resource_key: str,
              resource: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A TMF v4 event (TMF630): absent optional members are left out, never sent as null."""
    out: dict[str, Any] = {"eventId": event_id, "eventTime": isoformat(now), "eventType": event_type,
                           "correlationId": resource.get("id"), "domain": "gridcell", "title": event_type,
                           "description": description, "timeOcurred": isoformat(now),
                           "event": {resource_key: resource}, **extra}
    priority = resource.get("priority")
    if priority is not None:
        out["priority"] = str(priority)
    return {k: v for k, v in out.items() if v is not None}
