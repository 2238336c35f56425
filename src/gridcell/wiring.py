"""Connects producers and consumers at start-up, so capabilities never import each other's consumers."""

from __future__ import annotations

from typing import Any

from gridcell import plugins
from gridcell.core import events
from gridcell.core.bus import Bus
from gridcell.core.db import Database
from gridcell.exposure import status
from gridcell.exposure.subscriptions import OUTBOX_TOPIC, OutboxMessage
from gridcell.faults.service import CELLS_CHANGED
from gridcell.tenancy.service import AGREEMENT_CREATED
from gridcell.topology import service as topology
from gridcell.topology.service import TOPOLOGY_IMPORTED


def register_handlers() -> None:
    """In-transaction consumers; idempotent. Every entry point that writes calls it (app, CLI, demo)."""
    events.register(CELLS_CHANGED, status.on_cells_changed)
    events.register(TOPOLOGY_IMPORTED, status.on_topology_imported)
    events.register(AGREEMENT_CREATED, topology.on_agreement_created)  # links first, then the status on them
    events.register(AGREEMENT_CREATED, status.on_agreement_created)
    for module in plugins.modules("handlers"):
        module.register()


def wire(db: Database, bus: Bus) -> None:
    register_handlers()

    def publish(messages: list[Any]) -> None:
        for m in messages:
            if isinstance(m, OutboxMessage):
                bus.publish(OUTBOX_TOPIC, m)

    db.on_commit(publish)
