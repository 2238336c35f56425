"""The one ProvMnS representation of every MOI (TS 28.532 `Resource`, TS 32.158): `id`, `objectClass`,
`objectInstance` and every attribute under `attributes`.

Why one form: the ProvMnS `Resource` schema allows beside `id`, `objectClass`, `objectInstance` and `attributes`
only arrays of contained objects, so an attribute drawn flat beside `id` (as TS28318_DsoNrm.yaml draws
OutageAndRecoveryInfo) fails it, and an AreaOfInterest of cell ids beside `attributes` (DsoThresholdMonitor's
`targetThresholdLocation`) fails it too; the TS 28.318 schemas forbid nothing extra, so the `attributes` form
satisfies both. Writes stay lenient: attributes flat beside `id` or under `attributes` are both taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gridcell.core.errors import InvalidInput

MNS_ROOT = "/ProvMnS/v1900"
SUBNETWORK = "SubNetwork"
TOP_KEYS = ("id", "objectClass", "objectInstance")


@dataclass(frozen=True)
class MoiRef:
    """An MOI contained in a DSO's SubNetwork (the SubNetwork id is the DSO organisation's id)."""

    dso_id: str
    object_class: str
    moi_id: str

    @property
    def dn(self) -> str:
        return f"{SUBNETWORK}={self.dso_id},{self.object_class}={self.moi_id}"

    @property
    def href(self) -> str:
        return f"{MNS_ROOT}/{SUBNETWORK}={self.dso_id}/{self.object_class}={self.moi_id}"


def resource(ref: MoiRef, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"id": ref.moi_id, "objectClass": ref.object_class, "objectInstance": ref.dn, "attributes": attributes}


def subnetwork_dn(dso_id: str) -> str:
    return f"{SUBNETWORK}={dso_id}"


def attributes_of(body: Any, ref: MoiRef) -> dict[str, Any]:
    """The attribute map of an MOI as written: `attributes` merged with attributes given flat beside `id`; the
    top-level members checked against the URI. A name given both ways with different values is refused."""
    if not isinstance(body, dict):
        raise InvalidInput("the MOI must be a JSON object", errors=[{"loc": "", "msg": "must be an object"}])
    errors: list[dict[str, Any]] = []
    if "id" in body and body["id"] != ref.moi_id:
        errors.append({"loc": "id", "msg": f"must equal the id in the URI ({ref.moi_id})"})
    if "objectClass" in body and body["objectClass"] != ref.object_class:
        errors.append({"loc": "objectClass", "msg": f"must be {ref.object_class}"})
    if "objectInstance" in body and not isinstance(body["objectInstance"], str):
        errors.append({"loc": "objectInstance", "msg": "must be a DN string"})
    if "VsDataContainer" in body:
        errors.append({"loc": "VsDataContainer", "msg": "vendor-specific data is not supported on this MOI"})
    nested = body.get("attributes", {})
    if not isinstance(nested, dict):
        errors.append({"loc": "attributes", "msg": "must be an object"})
        nested = {}
    out = dict(nested)
    for key, value in body.items():
        if key in TOP_KEYS or key in ("attributes", "VsDataContainer"):
            continue
        if key in out and out[key] != value:
            errors.append({"loc": key, "msg": "given twice (beside id and under attributes) with different values"})
        out[key] = value
    if errors:
        raise InvalidInput(f"the {ref.object_class} does not match the ProvMnS Resource form", errors=errors)
    return out


def nest_flat_patch(patch: Any, json_patch: bool) -> Any:
    """A patch naming attributes beside `id` (the flat form) rewritten to name them under `attributes`."""
    keep = (*TOP_KEYS, "attributes", "VsDataContainer")
    if json_patch:
        if not isinstance(patch, list):
            return patch
        out = []
        for op in patch:
            path = op.get("path") if isinstance(op, dict) else None
            if isinstance(path, str) and path.startswith("/") and path[1:].split("/")[0] not in keep:
                op = {**op, "path": "/attributes" + path}
            out.append(op)
        return out
    if not isinstance(patch, dict) or all(k in keep for k in patch):
        return patch
    flat = {k: v for k, v in patch.items() if k not in keep}
    nested = {k: v for k, v in patch.items() if k in keep}
    attrs = nested.get("attributes")
    nested["attributes"] = {**(attrs if isinstance(attrs, dict) else {}), **flat}
    return nested
