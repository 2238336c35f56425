"""In-transaction domain events: a producer emits, registered handlers act in the same unit of work.

This keeps "acknowledged" and "processed" one atomic step: when an ingest commits, the status
changes and outbox rows it caused are committed with it. Capabilities register handlers at start-up
(see gridcell.wiring), so the producer never imports the consumer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

Handler = Callable[[Session, Any], None]

_handlers: dict[str, list[Handler]] = defaultdict(list)


def register(kind: str, handler: Handler) -> None:
    if handler not in _handlers[kind]:
        _handlers[kind].append(handler)


def emit(session: Session, kind: str, event: Any) -> None:
    for handler in list(_handlers.get(kind, ())):
        handler(session, event)
