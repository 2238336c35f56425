"""Validate against the 3GPP OpenAPI YAML in ../shared/standards/3gpp, $refs resolved across the files.

OpenAPI 3.0 is read as JSON Schema the way 3GPP tooling does: `oneOf` as `anyOf` (3GPP's alternatives
overlap), `nullable: true` as "or null". Skips with a reason when the standards are absent outside CI.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

STANDARDS = Path(__file__).resolve().parents[2] / ".." / "shared" / "standards" / "3gpp"
BASE = "https://forge.3gpp.org/specs/"


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {("anyOf" if k == "oneOf" else k): _convert(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@functools.lru_cache(maxsize=1)
def registry() -> Registry:
    if not STANDARDS.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            raise AssertionError(f"the 3GPP standards are missing at {STANDARDS}")
        pytest.skip(f"3GPP standards not found at {STANDARDS} (../shared beside the repo)")
    resources = []
    for f in sorted(STANDARDS.glob("*.yaml")):
        doc = _convert(yaml.safe_load(f.read_text(encoding="utf-8")))
        resources.append((BASE + f.name, Resource.from_contents(doc, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


def validator_for(filename: str, schema: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{BASE}{filename}#/components/schemas/{schema}"},
                                registry=registry(), format_checker=FormatChecker())
