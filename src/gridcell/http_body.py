"""Route helpers for APIs whose bodies are free-form JSON (TMF, ProvMnS): parse, then one unit of work."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from gridcell.core.db import Database
from gridcell.core.errors import InvalidInput


async def read_json(request: Request) -> Any:
    """The body as JSON, or a 400 in the path's error format (schema validation is the service's job)."""
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput("the body is not valid JSON", errors=[{"loc": "", "msg": str(exc)[:200]}]) from exc


async def in_write(request: Request, fn: Callable[[Any], Any]) -> Any:
    """Run fn(session) in one write unit of work off the event loop; commits before the response."""
    db: Database = request.app.state.db

    def run() -> Any:
        with db.write() as session:
            return fn(session)

    return await run_in_threadpool(run)
