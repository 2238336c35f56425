"""PATCH of an MOI (TS 28.532): RFC 7396 merge patch (`application/merge-patch+json`,
`application/3gpp-merge-patch+json`, `application/json`) or RFC 6902 JSON patch (`application/json-patch+json`,
`application/3gpp-json-patch+json`), applied to the MOI's ProvMnS representation. A patch naming attributes beside
`id` (the flat form some peers send) is applied to them under `attributes`."""

from __future__ import annotations

from typing import Any

from gridcell.core import patches
from gridcell.core.errors import InvalidInput
from gridcell.outages.resource import nest_flat_patch

JSON_PATCH_TYPES = ("application/json-patch+json", "application/3gpp-json-patch+json")
MERGE_PATCH_TYPES = ("application/merge-patch+json", "application/3gpp-merge-patch+json", "application/json", "")


def apply_patch(doc: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """The MOI's representation with the patch applied (validation of the result is the caller's)."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in JSON_PATCH_TYPES:
        return patches.json_patch(doc, nest_flat_patch(patch, json_patch=True))
    if ctype not in MERGE_PATCH_TYPES:
        raise InvalidInput(f"unsupported patch media type {ctype}")
    if not isinstance(patch, dict):
        raise InvalidInput("a merge patch must be a JSON object", errors=[{"loc": "", "msg": "must be an object"}])
    return patches.merge_object(doc, nest_flat_patch(patch, json_patch=False))
