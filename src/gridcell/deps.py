"""FastAPI dependencies shared by every router: the database, the caller, the clock."""

from __future__ import annotations

import base64
import binascii
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
    return await _caller_of(request, db, token.strip())


async def _caller_of(request: Request, db: Database, token: str, client_id: str | None = None) -> Caller:
    caller = cached_caller(token)
    if caller is None:
        caller = await run_in_threadpool(_authenticate, db, token)
    if caller is None or (client_id is not None and caller.client_id != client_id):
        raise Unauthorized("the credentials are not valid")
    request.state.caller = caller
    return caller


async def get_basic_or_bearer_caller(request: Request, db: Database = Depends(get_db)) -> Caller:
    """For agents configured with a user name and password (VES agents' `basicAuth`): the user is the API
    client's id, the password its token; a bearer token works as everywhere else."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return await _caller_of(request, db, value.strip())
    if scheme.lower() != "basic" or not value.strip():
        raise Unauthorized("HTTP basic (client id : token) or bearer credentials are required")
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Unauthorized("the basic credentials are not valid base64 of 'client id:token'") from exc
    if not sep or not user or not password:
        raise Unauthorized("the basic credentials must be 'client id:token'")
    return await _caller_of(request, db, password, client_id=user)
