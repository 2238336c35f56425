"""The two patch formats peers send: RFC 7396 JSON merge patch (TMF630, TS 28.532 merge-patch) and RFC 6902 JSON
patch (TS 28.532 json-patch, applied with the `jsonpatch` library). Errors are InvalidInput naming the operation
(its index in the patch) and what is wrong, so every route answers in its own error format."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from gridcell.core.errors import InvalidInput


def merge(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge member by member, null removes a member, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge(out.get(k), v)
    return out


def merge_object(doc: dict[str, Any], patch: Any) -> dict[str, Any]:
    """A merge patch on a resource: the patch must be an object, so the result stays one."""
    if not isinstance(patch, dict):
        raise InvalidInput("a merge patch must be a JSON object", errors=[{"loc": "", "msg": "must be an object"}])
    out = merge(doc, patch)
    assert isinstance(out, dict)
    return out


def json_patch(doc: dict[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902, all or nothing, on a copy of `doc`; operations applied one by one so an error names its index
    and member (`2/path`, `0/from`, `1/op`)."""
    if not isinstance(ops, list):
        raise InvalidInput("a JSON patch must be an array", errors=[{"loc": "", "msg": "must be an array"}])
    out: Any = copy.deepcopy(doc)
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or not isinstance(op.get("op"), str) or not isinstance(op.get("path"), str):
            raise InvalidInput("malformed patch operation",
                               errors=[{"loc": f"{i}", "msg": "an object with op and a JSON pointer path"}])
        if op["op"] in ("move", "copy"):
            try:
                jsonpointer.resolve_pointer(out, str(op.get("from")))
            except jsonpointer.JsonPointerException:
                missing = f"from {op.get('from')} does not exist"
                raise InvalidInput("the patch's from does not exist",
                                   errors=[{"loc": f"{i}/from", "msg": missing}]) from None
        try:
            out = jsonpatch.JsonPatch([op]).apply(out, in_place=True)
        except jsonpatch.JsonPatchTestFailed:
            raise InvalidInput("a test operation failed",
                               errors=[{"loc": f"{i}", "msg": f"test of {op['path']} failed"}]) from None
        except jsonpatch.InvalidJsonPatch as exc:
            field = "value" if "value" in str(exc) else "from" if "from" in str(exc) else "op"
            raise InvalidInput("malformed patch operation",
                               errors=[{"loc": f"{i}/{field}", "msg": f"{field}: {exc}"}]) from None
        except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException):
            raise InvalidInput("the patch path does not exist",
                               errors=[{"loc": f"{i}/path", "msg": f"path {op['path']} does not exist"}]) from None
    if not isinstance(out, dict):
        raise InvalidInput("the patched resource must stay an object", errors=[{"loc": "", "msg": "not an object"}])
    return out
