"""Route helpers for APIs whose bodies are free-form JSON (TMF, ProvMnS): parse, then one unit of work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from gridcell.core.db import Database
from gridcell.core.errors import InvalidInput
from gridcell.core.fields import nul_path


async def read_json(request: Request) -> Any:
    """The body as JSON, or a 400 in the path's error format (schema validation is the service's job)."""
    return loads(await request.body())


def loads(raw: bytes) -> Any:
    """JSON as a peer means it: orjson refuses nesting deeper than 1,024 levels, NaN and Infinity and integers
    beyond 64 bits; a NUL character anywhere is refused by its path (no store can hold one)."""
    try:
        value = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("the body is not valid JSON", errors=[{"loc": "", "msg": str(exc)[:200]}]) from exc
    found = nul_path(value)
    if found is not None:
        raise InvalidInput(f"{found or 'the body'} holds a NUL character",
                           errors=[{"loc": found, "msg": "NUL characters are not accepted"}])
    return value


async def in_write(request: Request, fn: Callable[[Any], Any]) -> Any:
    """Run fn(session) in one write unit of work off the event loop; commits before the response."""
    db: Database = request.app.state.db

    def run() -> Any:
        with db.write() as session:
            return fn(session)

    return await run_in_threadpool(run)
