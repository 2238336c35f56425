"""FastAPI dependencies shared by every router: the database, the caller, the clock."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from gridcell.core.db import Database
from gridcell.core.errors import DomainError
from gridcell.tenancy.service import Caller, authenticate


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def read_session(db: Database = Depends(get_db)) -> Iterator[Session]:
    with db.read() as session:
        yield session


def get_caller(request: Request, db: Database = Depends(get_db)) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    with db.read() as session:
        caller = authenticate(session, token.strip())
    if caller is None:
        raise Unauthorized("the bearer token is not valid")
    request.state.caller = caller
    return caller
