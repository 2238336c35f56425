"""A request body from an MNO, in any form it comes (one notification, an array, a VES event or eventList), as
validated notifications: normalised first (`lenient`), the original kept when normalising changed it, and every
error naming the JSON Pointer of its field and what is accepted there. All or nothing per request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gridcell.core.errors import InvalidInput
from gridcell.faults import lenient, ves
from gridcell.faults import schemas as s

MAX_ITEMS = 10_000


@dataclass(frozen=True)
class Item:
    """Where an item sits in the body, and the raw notification (a 3GPP notification, or a VES event)."""

    pointer: str
    raw: Any
    ves_event: bool = False


def items(body: Any) -> list[Item]:
    """The notifications of a body, each with its JSON Pointer."""
    if isinstance(body, list):
        if not body:
            raise InvalidInput("the array holds no notification",
                               errors=[{"loc": "", "msg": "at least one notification"}])
        return [Item(f"/{i}", raw) for i, raw in enumerate(body[:MAX_ITEMS + 1])]
    if isinstance(body, dict) and "eventList" in body:
        events = body["eventList"]
        if not isinstance(events, list) or not events:
            raise InvalidInput("a VES batch needs events", errors=[{"loc": "/eventList", "msg": "a non-empty array"}])
        return [Item(f"/eventList/{i}", raw, True) for i, raw in enumerate(events[:MAX_ITEMS + 1])]
    if isinstance(body, dict) and "event" in body and "notificationType" not in body:
        return [Item("/event", body["event"], True)]
    if isinstance(body, dict):
        return [Item("", body)]
    raise InvalidInput("the body must be a notification, an array of them, a VES event or a VES eventList",
                       errors=[{"loc": "", "msg": "a JSON object or array"}])


def notifications(body: Any) -> list[Any]:
    """Every notification of the body, validated; InvalidInput naming each bad field otherwise."""
    found = items(body)
    if len(found) > MAX_ITEMS:
        raise InvalidInput(f"at most {MAX_ITEMS} notifications per request",
                           errors=[{"loc": found[MAX_ITEMS].pointer, "msg": f"at most {MAX_ITEMS} items"}])
    out: list[Any] = []
    errors: list[dict[str, str]] = []
    for item in found:
        try:
            parsed = one(item)
        except _Invalid as exc:
            errors.extend(exc.errors)
            continue
        out.append(parsed)
    if errors:
        first = errors[0]
        raise InvalidInput(f"{first['loc'] or 'the body'}: {first['msg']}", errors=errors[:50])
    return out


class _Invalid(Exception):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(errors[0]["msg"])
        self.errors = errors


def one(item: Item) -> Any:
    pointer, raw = item.pointer, item.raw
    if item.ves_event:
        if not isinstance(raw, dict):
            raise _Invalid([{"loc": pointer, "msg": "a VES event object"}])
        try:
            mapped = ves.to_notification(raw)
            if mapped is None:  # a domain gridcell has no use for: recorded by its eventId, counted as ignored
                header = raw["commonEventHeader"]
                return s.VesIgnored(notificationId=ves.notification_id(header), domain=str(header["domain"]))
        except ves.VesError as exc:
            raise _Invalid([{"loc": pointer + exc.pointer, "msg": exc.msg}]) from exc
        if raw["commonEventHeader"]["domain"] == "stndDefined":
            pointer += "/stndDefinedFields/data"
        original: Any = raw
    else:
        mapped, original = raw, raw
    normalised = lenient.notification(mapped)
    try:
        n = s.NOTIFICATION.validate_python(normalised)
    except ValidationError as exc:
        raise _Invalid(errors_of(pointer, normalised, exc)) from exc
    if item.ves_event or normalised is not raw:
        n.keep_received(original)
    return n


def errors_of(prefix: str, raw: Any, exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as JSON Pointers into what was sent; the parts of a location that name a union member
    rather than a key of the input are dropped, and the alternatives for one field are joined."""
    by_loc: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = list(err.get("loc", ()))
        kind = err.get("type", "")
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            by_loc.setdefault(prefix + "/notificationType", []).append(
                "one of " + ", ".join(s.NOTIFICATION_TYPES))
            continue
        by_loc.setdefault(prefix + _pointer(raw, loc), []).append(str(err.get("msg", "invalid")))
    return [{"loc": loc, "msg": _alternatives(msgs)} for loc, msgs in by_loc.items()]


def _alternatives(msgs: list[str]) -> str:
    """'Input should be a valid integer' + 'Input should be a valid string' -> '... integer or a valid string'."""
    unique = list(dict.fromkeys(msgs))
    head, prefix = unique[0], "Input should be "
    rest = [m.removeprefix(prefix) if head.startswith(prefix) else m for m in unique[1:]]
    return " or ".join([head, *rest])[:500]


def _pointer(raw: Any, loc: list[Any]) -> str:
    parts: list[str] = []
    node = raw
    for part in loc:
        present = ((isinstance(node, dict) and isinstance(part, str) and part in node)
                   or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)))
        if present:
            node = node[part]
        elif isinstance(part, str) and not parts and part.startswith("notify"):
            continue  # the discriminator's tag
        elif isinstance(part, str) and ("[" in part or part in _TYPE_TAGS):
            continue  # a union member or a constrained type, not a key
        else:
            node = None  # a missing field: named, nothing below it to walk
        parts.append(str(part).replace("~", "~0").replace("/", "~1"))
    return "".join(f"/{p}" for p in parts)


_TYPE_TAGS = frozenset({"int", "str", "float", "bool", "dict", "list", "constrained-str", "constrained-int",
                        "datetime", "none", "tagged-union"})
