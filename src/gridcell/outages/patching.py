"""PATCH of an MOI (TS 28.532): RFC 7396 merge patch (`application/merge-patch+json`,
`application/3gpp-merge-patch+json`, `application/json`) or RFC 6902 JSON patch (`application/json-patch+json`,
`application/3gpp-json-patch+json`), applied to the MOI's ProvMnS representation. A patch naming attributes beside
`id` (the flat form some peers send) is applied to them under `attributes`."""

from __future__ import annotations

import copy
from typing import Any

from gridcell.core.errors import InvalidInput
from gridcell.outages.resource import nest_flat_patch

JSON_PATCH_TYPES = ("application/json-patch+json", "application/3gpp-json-patch+json")
MERGE_PATCH_TYPES = ("application/merge-patch+json", "application/3gpp-merge-patch+json", "application/json", "")


def apply_patch(doc: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """The MOI's representation with the patch applied (validation of the result is the caller's)."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in JSON_PATCH_TYPES:
        return _json_patch(doc, nest_flat_patch(patch, json_patch=True))
    if ctype not in MERGE_PATCH_TYPES:
        raise InvalidInput(f"unsupported patch media type {ctype}")
    if not isinstance(patch, dict):
        raise InvalidInput("a merge patch must be a JSON object", errors=[{"loc": "", "msg": "must be an object"}])
    return dict(_merge(doc, nest_flat_patch(patch, json_patch=False)))


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


def _json_patch(doc: dict[str, Any], ops: Any) -> dict[str, Any]:
    if not isinstance(ops, list):
        raise InvalidInput("a JSON patch must be an array", errors=[{"loc": "", "msg": "must be an array"}])
    out: Any = copy.deepcopy(doc)
    for i, op in enumerate(ops):
        loc = f"{i}"
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove", "test") \
                or not isinstance(op.get("path"), str) or not op["path"].startswith("/"):
            raise InvalidInput("unsupported or malformed patch operation",
                               errors=[{"loc": loc, "msg": "op add|replace|remove|test with a JSON pointer path"}])
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"][1:].split("/")]
        parent: Any = out
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) and p.isdigit() and int(p) < len(parent) \
                else parent.get(p) if isinstance(parent, dict) else None
            if parent is None:
                raise InvalidInput("the patch path does not exist", errors=[{"loc": f"{loc}/path", "msg": op["path"]}])
        last = parts[-1]
        if op["op"] == "test":
            value = parent.get(last) if isinstance(parent, dict) else None
            if value != op.get("value"):
                raise InvalidInput("a test operation failed", errors=[{"loc": f"{loc}", "msg": op["path"]}])
        elif op["op"] == "remove":
            if isinstance(parent, dict) and last in parent:
                del parent[last]
            elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
                parent.pop(int(last))
            else:
                raise InvalidInput("the patch path does not exist", errors=[{"loc": f"{loc}/path", "msg": op["path"]}])
        else:
            if "value" not in op:
                raise InvalidInput("add/replace needs a value", errors=[{"loc": f"{loc}/value", "msg": "required"}])
            if isinstance(parent, dict):
                parent[last] = op["value"]
            elif isinstance(parent, list) and (last == "-" or (last.isdigit() and int(last) <= len(parent))):
                if last == "-":
                    parent.append(op["value"])
                elif op["op"] == "add":
                    parent.insert(int(last), op["value"])
                elif int(last) < len(parent):
                    parent[int(last)] = op["value"]
            else:
                raise InvalidInput("the patch path does not exist", errors=[{"loc": f"{loc}/path", "msg": op["path"]}])
    if not isinstance(out, dict):
        raise InvalidInput("the patched MOI must stay an object")
    return out
