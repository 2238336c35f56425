"""CLI: `gridcell feeds connect|list|show|disconnect|reconcile` for an MNO organisation's feeds."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from gridcell.core.db import Database
from gridcell.core.errors import DomainError

feeds = typer.Typer(help="MNO feeds: gridcell as a Fault MnS consumer, and supervision of pushed feeds.",
                    no_args_is_help=True)


def _db() -> Database:
    from gridcell.cli import _db as open_db

    return open_db()


def _settings() -> Any:
    from gridcell.config import get_settings

    return get_settings()


def _fail(exc: DomainError) -> None:
    from gridcell.cli import _fail as fail

    fail(exc)


@feeds.command("connect")
def connect(org: Annotated[str, typer.Option(help="the MNO organisation")],
            url: Annotated[str | None, typer.Option(help="the producer's FaultSupervisionMnS root "
                                                         "(omit with --push)")] = None,
            push: Annotated[bool, typer.Option(help="supervise what the MNO posts instead of subscribing")] = False,
            user: Annotated[str | None, typer.Option(help="HTTP basic user toward the producer")] = None,
            password: Annotated[str | None, typer.Option(help="HTTP basic password")] = None,
            token: Annotated[str | None, typer.Option(help="bearer token toward the producer")] = None,
            filter_: Annotated[str | None, typer.Option("--filter", help="TS 28.532 subscription filter")] = None,
            heartbeat_period: Annotated[int, typer.Option(help="seconds between the producer's heartbeats")] = 60,
            sink_base_url: Annotated[str | None, typer.Option(
                help="this exchange as the producer reaches it (default GRIDCELL_PUBLIC_URL)")] = None) -> None:
    """Connect a feed; prints it (with the consumerReference the producer will post to)."""
    from gridcell.feeds import service

    body: dict[str, Any] = {"kind": "push" if push else "faultMns", "heartbeatPeriodS": heartbeat_period}
    if url is not None:
        body["baseUrl"] = url
    if token is not None:
        body["auth"] = {"type": "bearer", "token": token}
    elif user is not None or password is not None:
        body["auth"] = {"type": "basic", "username": user or "", "password": password or ""}
    if filter_ is not None:
        body["filter"] = filter_
    if sink_base_url is not None:
        body["sinkBaseUrl"] = sink_base_url
    settings = _settings()
    try:
        with _db().write() as session:
            row = service.connect(session, org, service.parse_feed(body,
                                                                   allow_private=settings.allow_private_webhooks))
            typer.echo(json.dumps(service.view(row, settings.public_url), indent=2))
    except DomainError as exc:
        _fail(exc)


@feeds.command("list")
def list_feeds(org: Annotated[str, typer.Option(help="the MNO organisation")]) -> None:
    """List the MNO's feeds: kind, state, when last heard from and last reconciled."""
    from gridcell.feeds import service

    with _db().read() as session:
        for row in service.list_for(session, org):
            typer.echo(f"{row.id}  {row.kind:8}  {row.state:12}  heard {row.last_heard_at or '-'}  "
                       f"reconciled {row.last_reconciled_at or '-'}  {row.base_url or ''}")


@feeds.command("show")
def show(feed_id: str, org: Annotated[str, typer.Option(help="the MNO organisation")]) -> None:
    """Show one feed as JSON (its consumerReference, supervision and reconciliation state)."""
    from gridcell.feeds import service

    try:
        with _db().read() as session:
            typer.echo(json.dumps(service.view(service.get(session, org, feed_id), _settings().public_url),
                                  indent=2))
    except DomainError as exc:
        _fail(exc)


@feeds.command("disconnect")
def disconnect(feed_id: str, org: Annotated[str, typer.Option(help="the MNO organisation")]) -> None:
    """Stop the feed; a running `gridcell serve` removes the subscription at the producer."""
    from gridcell.feeds import service

    try:
        with _db().write() as session:
            service.disconnect(session, org, feed_id)
    except DomainError as exc:
        _fail(exc)


@feeds.command("reconcile")
def reconcile(feed_id: str, org: Annotated[str, typer.Option(help="the MNO organisation")]) -> None:
    """Reconcile with the producer's alarm list now, from this process; prints what changed."""
    from gridcell.feeds import service
    from gridcell.feeds.producer import Producer
    from gridcell.wiring import register_handlers

    register_handlers()
    db = _db()
    settings = _settings()
    try:
        with db.read() as session:
            row = service.get(session, org, feed_id)
            producer = Producer(row.base_url or "", service.credentials(row),
                                allow_private=settings.allow_private_webhooks)
        typer.echo(json.dumps(service.reconcile(db, feed_id, producer)))
    except DomainError as exc:
        _fail(exc)


def register(groups: dict[str, typer.Typer]) -> None:
    groups["root"].add_typer(feeds, name="feeds")
