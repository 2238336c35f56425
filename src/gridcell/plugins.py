"""Capability discovery: each capability package contributes routers, CLI commands and event handlers
by convention, so adding a capability touches no shared file.

- `gridcell.<cap>.api`: `router` (mounted under /api/v1) and optionally `root_routers` (mounted as is).
- `gridcell.<cap>.commands`: `register(groups)` adding typer commands to the groups
  `root`, `admin`, `import`, `bench`, `report`.
- `gridcell.<cap>.handlers`: `register()` subscribing in-transaction event handlers;
  optionally `async def start(app) -> list[asyncio.Task]` for background jobs.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import gridcell

CAPABILITIES_ORDER = ("tenancy", "topology", "faults", "exposure")
_SKIP = {"core", "migrations", "bench"}


def capabilities() -> list[str]:
    found = [m.name for m in pkgutil.iter_modules(gridcell.__path__) if m.ispkg and m.name not in _SKIP]
    return sorted(found, key=lambda n: (CAPABILITIES_ORDER.index(n) if n in CAPABILITIES_ORDER else 99, n))


def modules(kind: str) -> list[ModuleType]:
    out = []
    for cap in capabilities():
        try:
            out.append(importlib.import_module(f"gridcell.{cap}.{kind}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"gridcell.{cap}.{kind}":
                raise
    return out
