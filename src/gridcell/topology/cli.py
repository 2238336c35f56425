"""`gridcell import topology FILE --org ORG_ID`: the same import as the API, from a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gridcell.core.db import Database
from gridcell.core.errors import InvalidInput
from gridcell.topology import service


def import_topology(db: Database, org_id: str, path: str) -> dict[str, int]:
    """Import a JSON or GeoJSON topology file for an organisation; returns the counts written."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        doc: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path} is not valid JSON: {exc}") from exc
    with db.write() as session:
        result = service.import_topology(session, org_id, doc)
    counts: dict[str, int] = result.model_dump(by_alias=True)
    return counts
