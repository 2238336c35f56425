"""In-transaction handlers: alarms and topology change the power of RAN sites, hence plans and monitors."""

from __future__ import annotations

from gridcell.core import events
from gridcell.faults.service import CELLS_CHANGED
from gridcell.outages import service
from gridcell.topology.service import TOPOLOGY_IMPORTED


def register() -> None:
    events.register(CELLS_CHANGED, service.on_cells_changed)
    events.register(TOPOLOGY_IMPORTED, service.on_topology_imported)
