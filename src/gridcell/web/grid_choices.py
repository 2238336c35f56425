"""What a DSO picks from its own grid model when it declares an outage or records switching: feeders (the line
leaving the substation de-energizes the whole feeder), single lines, and switches with their current position."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gridcell.outages import grid


@dataclass(frozen=True)
class LineChoice:
    value: str  # "<grid>/line:<index>": an energySupplyId the outage planner understands
    label: str
    feeder: str
    head: bool  # leaves the substation: choosing it de-energizes the whole feeder


@dataclass(frozen=True)
class SwitchChoice:
    grid: str
    switch: int
    label: str
    closed: bool


def _name(row: Any, fallback: str) -> str:
    name = row.get("name") if hasattr(row, "get") else None
    return str(name) if isinstance(name, str) and name and name != "nan" else fallback


def lines(session: Session, dso_id: str) -> list[LineChoice]:
    """Every line of the DSO's grids, grouped by feeder, feeder heads first."""
    feeder_of = {key: b.feeder for key, b in grid.bus_infos(session, dso_id).items()}
    out: list[LineChoice] = []
    for ln in grid.grid_lines(session, dso_id):
        feeders = [feeder_of.get(b) for b in ln["buses"]]
        feeder = next((f for f in feeders if f), None) or "other"
        head = any(f is None for f in feeders) and any(f for f in feeders)
        label = ln["name"] or f"line {ln['line']}"
        out.append(LineChoice(f"{ln['grid']}/line:{ln['line']}",
                              f"whole feeder {feeder} (from {label})" if head else f"{label} (line {ln['line']})",
                              str(feeder), head))
    return sorted(out, key=lambda c: (c.feeder, not c.head, c.label))


def switches(session: Session, dso_id: str) -> list[SwitchChoice]:
    out: list[SwitchChoice] = []
    for g in grid.grids_of(session, dso_id):
        net = grid.net_of(session, g.pk)
        for idx, row in net.switch.iterrows():
            kind = {"l": "line", "b": "bus", "t": "transformer"}.get(str(row.get("et")), "element")
            label = f"{_name(row, f'switch {idx}')} (bus {int(row['bus'])} – {kind} {int(row['element'])})"
            out.append(SwitchChoice(g.name, int(idx), label, bool(row.get("closed", True))))
    return out
