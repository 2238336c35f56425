"""TM Forum REST conventions shared by the TMF facades (TMF621, TMF656): field selection, attribute filters,
paging, JSON merge patch, and status lifecycles that name the allowed transitions when they refuse one.

Generic on purpose: no capability's data lives here, only the TMF Open API design guidelines' rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from gridcell.core import patches
from gridcell.core.clock import isoformat
from gridcell.core.errors import Forbidden, InvalidInput

RESERVED_QUERY = frozenset({"fields", "offset", "limit", "sort"})
MAX_LIMIT = 1000
MERGE_PATCH_TYPES = ("application/merge-patch+json", "application/json", "")


def select_fields(resource: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """`fields=a,b`: only those first-level attributes (the CTK checks that nothing else comes back)."""
    if fields is None or not fields.strip():
        return resource
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    return {k: resource[k] for k in wanted if k in resource}


def _matches(value: Any, wanted: list[str]) -> bool:
    if isinstance(value, bool):
        return str(value).lower() in wanted
    if isinstance(value, (str, int, float)):
        return str(value) in wanted
    return False


def attribute_filter(items: Iterable[dict[str, Any]], query: Mapping[str, list[str]],
                     known: Iterable[str]) -> list[dict[str, Any]]:
    """`attr=value` (first-level, exact; `a=x,y` or repeated means any of them). Unknown attributes are a 400,
    so a misspelt filter never silently returns everything."""
    known_set = set(known)
    filters: dict[str, list[str]] = {}
    for key, values in query.items():
        if key in RESERVED_QUERY:
            continue
        if key not in known_set:
            raise InvalidInput(f"unknown filter attribute '{key}'", errors=[{"loc": key, "msg": "not filterable"}])
        filters[key] = [v for raw in values for v in raw.split(",")]
    if not filters:
        return list(items)
    return [i for i in items if all(_matches(i.get(k), vs) for k, vs in filters.items())]


def paging(offset: int | None, limit: int | None) -> tuple[int, int]:
    off = 0 if offset is None else offset
    lim = MAX_LIMIT if limit is None else limit
    if off < 0:
        raise InvalidInput("offset must be >= 0", errors=[{"loc": "offset", "msg": "must be >= 0"}])
    if lim < 0 or lim > MAX_LIMIT:
        raise InvalidInput(f"limit must be within 0..{MAX_LIMIT}", errors=[{"loc": "limit", "msg": "out of range"}])
    return off, lim


def merge_patch(doc: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """RFC 7386/7396 JSON merge patch; `application/json` is taken as a merge patch as TMF630 allows."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype not in MERGE_PATCH_TYPES:
        raise InvalidInput(f"unsupported patch media type '{ctype}'; use application/merge-patch+json or "
                           "application/json")
    return patches.merge_object(doc, patch)


class Lifecycle:
    """A status state machine: `check(old, new)` refuses a forbidden transition with the allowed ones."""

    def __init__(self, initial: str, transitions: Mapping[str, tuple[str, ...]]) -> None:
        self.initial = initial
        self.transitions = dict(transitions)

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(self.transitions)

    def allowed(self, current: str) -> tuple[str, ...]:
        return self.transitions.get(current, ())

    def is_final(self, state: str) -> bool:
        return not self.transitions.get(state)

    def check(self, current: str, new: str) -> None:
        if new not in self.transitions:
            raise InvalidInput(f"status '{new}' is not one of {', '.join(self.transitions)}",
                               errors=[{"loc": "status", "msg": "unknown status"}])
        if new == current:
            return
        allowed = self.allowed(current)
        if new not in allowed:
            names = ", ".join(allowed) if allowed else "none (final state)"
            raise InvalidInput(f"status cannot change from '{current}' to '{new}'; allowed from '{current}': {names}",
                               errors=[{"loc": "status", "msg": f"allowed: {names}"}])


# TMF621 v4 / TMF656 v4 share the status values; the transitions follow the TMF621 lifecycle figure.
TMF_LIFECYCLE = Lifecycle("acknowledged", {
    "acknowledged": ("inProgress", "pending", "held", "rejected", "cancelled"),
    "inProgress": ("pending", "held", "resolved", "cancelled"),
    "pending": ("inProgress", "cancelled"),
    "held": ("inProgress", "cancelled"),
    "resolved": ("closed", "inProgress"),
    "rejected": (),
    "cancelled": (),
    "closed": (),
})


_ORG_LABEL = re.compile(r"^\s*(dso|mno)\b", re.IGNORECASE)


def note_author(label: str, given: Any, counterparts: Iterable[str], loc: str) -> str:
    """Who a new note is stored as: always the writing organisation (`label`, "MNO mno_1"). A person's name
    given as `author` is kept in front of it ("Jane Roe (MNO mno_1)"); an author that names an organisation
    other than the writer's (its label, id or name) is a forgery: 403."""
    if given is None or (isinstance(given, str) and given.strip() in ("", label)):
        return label
    text = str(given).strip()
    lowered = text.lower()
    if _ORG_LABEL.match(text) or any(c and c.lower() in lowered for c in counterparts):
        raise Forbidden(f"a note is authored by the organisation that writes it ({label}), not '{text}'",
                        errors=[{"loc": loc, "msg": f"names another organisation; leave it out or give {label}"}])
    return f"{text[:200]} ({label})"


def stamp_notes(notes: list[dict[str, Any]], existing: list[dict[str, Any]], label: str, now: datetime, *,
                counterparts: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Notes are append-only: existing ones stay as they were (changing one is a 400); new ones get an id, the
    date and the writing organisation as author (see `note_author`)."""
    kept = {n["id"]: n for n in existing}
    others = list(counterparts)
    out = list(existing)
    next_id = len(existing) + 1
    for i, n in enumerate(notes):
        if n.get("id") in kept:
            if n.get("text") != kept[n["id"]].get("text"):
                raise InvalidInput(f"note {n['id']} exists and cannot be changed; add a new note instead",
                                   errors=[{"loc": f"note/{i}/text", "msg": "notes are append-only"}])
            continue
        author = note_author(label, n.get("author"), others, f"note/{i}/author")
        out.append({"id": str(next_id), "author": author, "date": isoformat(now), "text": n["text"],
                    **{k: v for k, v in n.items() if k.startswith("@")}})
        next_id += 1
    return out
