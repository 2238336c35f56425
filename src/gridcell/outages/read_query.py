"""The query of a ProvMnS GET (TS 28.532 clause 12.1.1, TS 32.158): `scope`, `filter`, `attributes`, `fields`.

- `scope`: `scopeType` (BASE_ONLY, the default, BASE_NTH_LEVEL, BASE_SUBTREE, BASE_ALL) and `scopeLevel`, sent as
  the standard's form-exploded object (`?scopeType=BASE_SUBTREE&scopeLevel=1`) or as one JSON object (`scope=`);
- `filter`: Jex conditions (TS 32.161) on each scoped resource, e.g. `attributes/isAffectedAreaPriority=true` or
  `objectClass="OutageAndRecoveryInfo"` (an attribute may also be named without `attributes/`);
- `attributes`: the attributes returned (`attributes=outageStartTime,affectedArea`);
- `fields`: attribute fields returned (`fields=attributes/affectedArea/energySupplyId`); with `attributes`, both.

Every name is checked against the classes this producer has: an unknown parameter, scope type, attribute or field
is a 400 naming the parameter, never ignored (a typo that silently returned everything would look like data).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gridcell.core.errors import InvalidInput
from gridcell.exposure.jex import Condition, JexError, compile_with_paths
from gridcell.outages import moi, subscription_control, views
from gridcell.outages.resource import TOP_KEYS
from gridcell.outages.subscription_control import Scope, parse_scope

PARAMETERS = ("scope", "filter", "attributes", "fields")
SUBNETWORK_ATTRIBUTES = ("userLabel",)
ATTRIBUTES = frozenset((*SUBNETWORK_ATTRIBUTES, *moi.ORI_DSO_ATTRS, *moi.ORI_MNO_ATTRS, *moi.ORI_EXTENSIONS,
                        views.EXTENSION, *moi.TM_ATTRS, *subscription_control.ATTRIBUTES))
# The members of structured attributes, which `fields` may select one by one.
FIELDS = {"affectedArea": frozenset({"outageArea", "energySupplyId"}), "scope": frozenset({"scopeType", "scopeLevel"})}
MAX_NAMES = 100


BASE_ONLY = Scope("BASE_ONLY")  # TS 32.158: no scope, the base resource only


@dataclass(frozen=True)
class ReadQuery:
    scope: Scope
    scope_given: bool
    condition: Condition | None
    attributes: frozenset[str] | None
    fields: tuple[tuple[str, ...], ...] | None

    def selects(self, depth: int, resource: dict[str, Any]) -> bool:
        """In scope and passing the filter (evaluated on the resource with its attributes also named flat)."""
        if not self.scope.selects(depth):
            return False
        return self.condition is None or self.condition({**resource, **resource.get("attributes", {})})

    def project(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The resource with only the attributes and fields asked for (all of them when neither is)."""
        if self.attributes is None and self.fields is None:
            return resource
        attrs = resource.get("attributes", {})
        out_attrs = {k: v for k, v in attrs.items() if k in (self.attributes or ())}
        for path in self.fields or ():
            name = path[0]
            if name not in attrs or out_attrs.get(name) is attrs[name]:
                continue  # not an attribute of this resource, or returned whole already
            if len(path) == 1:
                out_attrs[name] = attrs[name]
            elif isinstance(attrs[name], dict) and path[1] in attrs[name]:
                out_attrs.setdefault(name, {})[path[1]] = attrs[name][path[1]]
        out = skeleton(resource)
        if out_attrs:
            out["attributes"] = out_attrs
        return out


def skeleton(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource on the way to a selected one (hierarchical form): its name, none of its attributes."""
    return {k: resource[k] for k in TOP_KEYS if k in resource}


def parse(items: Iterable[tuple[str, str]]) -> ReadQuery:
    """The query string's (name, value) pairs as a ReadQuery; every problem in one 400, each naming its parameter."""
    values: dict[str, list[str]] = {}
    for name, value in items:
        values.setdefault(name, []).append(value)
    errors: list[dict[str, Any]] = []
    for name in sorted(set(values) - {*PARAMETERS, "scopeType", "scopeLevel"}):
        errors.append({"loc": name, "msg": f"not a ProvMnS GET parameter ({', '.join(PARAMETERS)})"})
    for name, given in sorted(values.items()):
        if len(given) > 1 and name not in ("attributes", "fields"):
            errors.append({"loc": _param(name), "msg": f"{name} is given {len(given)} times"})
    scope, scope_given = _scope(values, errors)
    condition = _filter(values["filter"][0], errors) if "filter" in values else None
    attributes = _attributes(values["attributes"], errors) if "attributes" in values else None
    fields = _fields(values["fields"], errors) if "fields" in values else None
    if errors:
        raise InvalidInput("the query does not match TS 28.532 ProvMnS (" + ", ".join(
            sorted({e["loc"] for e in errors})) + ")", errors=errors)
    return ReadQuery(scope or BASE_ONLY, scope_given, condition, attributes, fields)


def _param(name: str) -> str:
    return "scope" if name in ("scopeType", "scopeLevel") else name


def _scope(values: dict[str, list[str]], errors: list[dict[str, Any]]) -> tuple[Scope | None, bool]:
    if "scope" in values and ({"scopeType", "scopeLevel"} & set(values)):
        errors.append({"loc": "scope", "msg": "give scope either as scopeType/scopeLevel or as one JSON object"})
        return None, True
    if "scope" in values:
        try:
            raw: Any = json.loads(values["scope"][0])
        except ValueError:
            errors.append({"loc": "scope", "msg": "scope=… must be a JSON Scope object {scopeType, scopeLevel}"})
            return None, True
    elif {"scopeType", "scopeLevel"} & set(values):
        raw = {"scopeType": values.get("scopeType", ["BASE_ONLY"])[0]}
        if "scopeLevel" in values:
            level = values["scopeLevel"][0].strip()
            raw["scopeLevel"] = int(level) if level.isdigit() and len(level) < 6 else level
    else:
        return None, False
    found: list[dict[str, Any]] = []
    scope = parse_scope(raw, "scope", found)
    errors.extend({"loc": "scope", "msg": f"{e['loc']}: {e['msg']}"} for e in found)
    return scope, True


def _unknown_attribute(steps: tuple[str, ...]) -> str | None:
    """Why an attribute path (`name` or `name/field`) names nothing a resource here has (None: it is known)."""
    if steps[0] not in ATTRIBUTES:
        return f"{steps[0]} is not an attribute of SubNetwork, {moi.ORI_CLASS}, {moi.TM_CLASS} or " \
               f"{subscription_control.CLASS}"
    if len(steps) > 1 and steps[1] not in FIELDS.get(steps[0], ()):
        return f"{steps[0]} has no field {steps[1]}"
    if len(steps) > 2:
        return f"{'/'.join(steps)}: fields are selected at most one level deep"
    return None


def _unknown_in_filter(path: tuple[str, ...]) -> str | None:
    if path[0] in TOP_KEYS:
        return None if len(path) == 1 else f"{path[0]} has no fields"
    steps = path[1:] if path[0] == "attributes" else path
    return _unknown_attribute(steps) if steps else None


def _filter(text: str, errors: list[dict[str, Any]]) -> Condition | None:
    try:
        condition, paths = compile_with_paths(text)
    except JexError as exc:
        errors.append({"loc": "filter", "msg": f"not a Jex conditions expression (TS 32.161): {exc}"})
        return None
    unknown = [why for why in (_unknown_in_filter(p) for p in paths) if why]
    errors.extend({"loc": "filter", "msg": why} for why in unknown)
    return None if unknown else condition


def _names(given: list[str], loc: str, errors: list[dict[str, Any]]) -> list[str]:
    names = [n.strip() for value in given for n in value.split(",")]
    if any(not n for n in names) or len(names) > MAX_NAMES:
        errors.append({"loc": loc, "msg": f"a comma-separated list of 1-{MAX_NAMES} names"})
        return []
    return names


def _attributes(given: list[str], errors: list[dict[str, Any]]) -> frozenset[str] | None:
    names = _names(given, "attributes", errors)
    unknown = sorted({n for n in names if n not in ATTRIBUTES})
    if unknown:
        errors.append({"loc": "attributes", "msg": f"unknown attribute(s): {', '.join(unknown)}"})
    return frozenset(names)


def _fields(given: list[str], errors: list[dict[str, Any]]) -> tuple[tuple[str, ...], ...] | None:
    out = []
    for name in _names(given, "fields", errors):
        path = tuple(name.lstrip("/").split("/"))
        steps = path[1:] if path[0] == "attributes" else path
        why = f"{name} names no attribute" if not steps or steps[0] in TOP_KEYS else _unknown_attribute(steps)
        if why:
            errors.append({"loc": "fields", "msg": why})
        else:
            out.append(steps)
    return tuple(out)
