"""FastAPI dependencies shared by every router: the database, the caller, the clock."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gridcell.core.db import Database
from gridcell.core.errors import DomainError
from gridcell.tenancy.service import Caller, authenticate, cached_caller


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


async def get_db(request: Request) -> Database:
    # async: a plain attribute read, not worth a trip to the thread pool (FastAPI runs sync dependencies there)
    db: Database = request.app.state.db
    return db


def read_session(db: Database = Depends(get_db)) -> Iterator[Session]:
    with db.read() as session:
        yield session


def _authenticate(db: Database, token: str) -> Caller | None:
    with db.read() as session:
        return authenticate(session, token)


async def get_caller(request: Request, db: Database = Depends(get_db)) -> Caller:
    """The token cache answers on the event loop; only a miss reads the database, in the thread pool."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    caller = cached_caller(token.strip())
    if caller is None:
        caller = await run_in_threadpool(_authenticate, db, token.strip())
    if caller is None:
        raise Unauthorized("the bearer token is not valid")
    request.state.caller = caller
    return caller
