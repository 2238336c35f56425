"""CLI: `gridcell admin create-user ORG_ID USERNAME --role R` (a dashboard user with a password)."""

from __future__ import annotations

import secrets
import sys
from typing import Annotated

import typer

from gridcell.core.errors import DomainError


def create_user(org_id: str, username: str,
                role: Annotated[str, typer.Option(help="viewer | operator | admin")],
                password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                             help="read the password from the first line of stdin")]
                = False,
                generate: Annotated[bool, typer.Option("--generate",
                                                       help="generate a password and print it (shown once)")]
                = False) -> None:
    """Create a dashboard user of an organisation; prints the user id (or, with --generate, the password).

    The password is hashed with scrypt; without --password-stdin or --generate it is prompted for."""
    from gridcell.cli import _db, _fail
    from gridcell.web import auth

    if generate:
        password = secrets.token_urlsafe(18)
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    try:
        with _db().write() as session:
            user_id = auth.create_user(session, org_id, username, password, role)
    except DomainError as exc:
        _fail(exc)
        return
    if generate:
        typer.echo(user_id, err=True)
        typer.echo(password)
    else:
        typer.echo(user_id)


def register(groups: dict[str, typer.Typer]) -> None:
    groups["admin"].command("create-user")(create_user)
