"""Failover advisor service: gathers status, planned work, power and own probes per multi-USIM CPE,
decides with gridcell.failover.advisor, and sends commands (MQTT after commit + webhook outbox)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Table, bindparam, insert, or_, select
from sqlalchemy.orm import Session

from gridcell.core.clock import as_utc, isoformat, utcnow
from gridcell.core.db import queue_after_commit
from gridcell.core.errors import Forbidden, InvalidInput, NotFound
from gridcell.core.ids import new_id
from gridcell.exposure import status, subscriptions
from gridcell.exposure.status import StatusChanged
from gridcell.failover import advisor
from gridcell.failover.models import FailoverCommand, FailoverState
from gridcell.faults import service as faults
from gridcell.telemetry import service as telemetry
from gridcell.telemetry.service import ProbesIngested
from gridcell.tenancy.service import Caller
from gridcell.topology import service as topology

CHANNEL = "failover"
BUS_TOPIC = "failover.cpe_command"
ACK_STATUSES = ("done", "failed", "rejected")
REEVALUATE = timedelta(seconds=30)


@dataclass(frozen=True)
class CpeCommandMessage:
    """Queued after commit; the MQTT publisher sends it on the CPE's command topic."""

    dso_id: str
    cpe_id: str
    command_id: str
    payload: bytes


def _ts(value: Any) -> datetime | None:
    if isinstance(value, str):
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    return None


def evaluate(session: Session, dso_id: str, cpe_pks: list[int] | None = None,
             now: datetime | None = None) -> list[FailoverCommand]:
    """Decide for these CPEs of the DSO (all multi-USIM CPEs when None); returns the commands sent."""
    usims = (topology.usim_refs(session, dso_id) if cpe_pks is None
             else topology.usim_refs(session, dso_id, cpe_pks))
    return _evaluate_usims(session, usims, {u.site_pk: dso_id for u in usims}, now or utcnow())


_STATE: Table = FailoverState.__table__  # type: ignore[assignment]
_STATE_VALUES = ("primary_plmn", "active_plmn", "mode", "last_switch_at", "primary_good_since", "updated_at")
# Prebuilt Core statements: the advisor runs in most units of work (status changes, probe uploads, ticks),
# and the ORM's per-row bookkeeping on these rows cost more than the decision itself.
_STATES_OF_CPES = (select(_STATE.c.cpe_pk, *(_STATE.c[c] for c in _STATE_VALUES))
                   .where(_STATE.c.cpe_pk.in_(bindparam("pks", expanding=True))))
_UPDATE_STATE = (_STATE.update().where(_STATE.c.cpe_pk == bindparam("k_cpe"))
                 .values({c: bindparam(c) for c in _STATE_VALUES}))
_DUE_STATES = select(_STATE.c.org_id, _STATE.c.cpe_pk).where(
    _STATE.c.mode != "stay",
    or_(_STATE.c.updated_at <= bindparam("reevaluate_before"), _STATE.c.primary_good_since <= bindparam("back_before")))


def _states(session: Session, cpe_pks: list[int]) -> dict[int, tuple[Any, ...]]:
    """cpe pk → the stored values of _STATE_VALUES."""
    if session.autoflush:  # Core skips the ORM's autoflush: keep a caller's pending changes visible
        session.flush()
    out: dict[int, tuple[Any, ...]] = {}
    for i in range(0, len(cpe_pks), 500):
        for r in session.execute(_STATES_OF_CPES, {"pks": cpe_pks[i:i + 500]}):
            out[r[0]] = tuple(r[1:])
    return out


def _evaluate_usims(session: Session, usims: list[topology.UsimRef], org_of_site: dict[int, str],
                    now: datetime) -> list[FailoverCommand]:
    """Set-based over every CPE of these USIMs, whatever their DSO: one query per input, not per DSO."""
    by_cpe: dict[int, list[topology.UsimRef]] = defaultdict(list)
    for u in usims:
        by_cpe[u.cpe_pk].append(u)
    by_cpe = {k: v for k, v in by_cpe.items() if len({u.plmn for u in v}) >= 2}
    if not by_cpe:
        return []
    all_usims = [u for us in by_cpe.values() for u in us]
    current = status.current(session, {(u.site_pk, u.plmn) for u in all_usims})
    links = topology.links_for_usims(session, [u.pk for u in all_usims])
    cells = sorted({c for ls in links.values() for c, _ in ls})
    upcoming = faults.upcoming_maintenance(session, cells, now, now + advisor.PREPARE_HORIZON)
    own = telemetry.own_probe_state(session, [u.pk for u in all_usims])
    states = _states(session, sorted(by_cpe))
    commands: list[FailoverCommand] = []
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    subs_by_org: dict[str, list[subscriptions.Subscriber]] = {}  # webhook subscribers, once per DSO
    fleet = _Fleet(session, {org_of_site[us[0].site_pk] for us in by_cpe.values()}, by_cpe, links, now)
    for cpe_pk, us in fleet.order():
        primary = next((u.plmn for u in us if u.role == "primary"), us[0].plmn)
        views: dict[str, advisor.PlmnView] = {}
        for u in us:
            st = current.get((u.site_pk, u.plmn), {})
            ttd = [t for r in st.get("reasons", []) if (t := _ts(r.get("timeToDark")))]
            fails = [t for r in st.get("reasons", []) if (t := _ts(r.get("predictedFailureAt")))]
            ucells = [c for c, _ in links.get(u.pk, [])]
            m_start = m_end = None
            if ucells and all(c in upcoming for c in ucells):
                m_start = max(min(w.starts_at for w in upcoming[c]) for c in ucells)
                m_end = min(max(w.ends_at or w.starts_at for w in upcoming[c]) for c in ucells)
            probe = own.get(u.pk, {})
            views[u.plmn] = advisor.PlmnView(
                plmn=u.plmn, status=st.get("status", "ok"), time_to_dark=min(ttd) if ttd else None,
                failure_predicted_at=min(fails) if fails else None,
                maintenance_start=m_start, maintenance_end=m_end, latency_alarm=bool(probe.get("latencyAlarm")),
                loss_alarm=bool(probe.get("lossAlarm")), tail_failures=int(probe.get("tailFailures", 0)))
        dso_id = org_of_site[us[0].site_pk]
        stored = states.get(cpe_pk)
        _, active, mode, last_switch_at, good_since, _ = (None, primary, "stay", None, None, None) if stored is None \
            else stored
        if active not in views:
            active = primary
        state = advisor.State(primary, active, mode, last_switch_at, good_since)
        d = fleet.limit(cpe_pk, state, advisor.decide(state, views, now))
        values = {"primary_plmn": primary, "active_plmn": d.state.active, "mode": d.state.mode,
                  "last_switch_at": d.state.last_switch_at, "primary_good_since": d.state.primary_good_since,
                  "updated_at": now}
        if stored is None:
            inserts.append({"cpe_pk": cpe_pk, "org_id": dso_id, "confirmed_plmn": None, **values})
        elif stored != tuple(values[c] for c in _STATE_VALUES):
            updates.append({"k_cpe": cpe_pk, **values})
        if d.emit:
            if dso_id not in subs_by_org:
                subs_by_org[dso_id] = subscriptions.channel_subscriptions(session, CHANNEL, [dso_id])
            commands.append(_command(session, dso_id, cpe_pk, us[0].cpe_id, d, state.active, now,
                                     subs_by_org[dso_id]))
    if inserts:
        session.execute(insert(_STATE), inserts)
    if updates:
        session.execute(_UPDATE_STATE, updates)
    return commands


class _Fleet:
    """Fleet safety: switches away from one cell are spread over time (advisor.FLEET), in an order that changes
    from one interval to the next so the same CPEs are not always the last to move."""

    def __init__(self, session: Session, dso_ids: set[str], by_cpe: dict[int, list[topology.UsimRef]],
                 links: dict[int, list[tuple[int, Any]]], now: datetime) -> None:
        self.by_cpe, self.now = by_cpe, now
        self.source: dict[int, list[int]] = {}  # cpe pk -> the cells serving its primary USIM
        population: dict[int, int] = defaultdict(int)
        for cpe_pk, us in by_cpe.items():
            primary = next((u for u in us if u.role == "primary"), us[0])
            self.source[cpe_pk] = sorted({c for c, _ in links.get(primary.pk, [])})
            for cell in self.source[cpe_pk]:
                population[cell] += 1
        self.used: dict[int, int] = defaultdict(int)
        since = now - advisor.FLEET.interval
        recent = session.execute(select(FailoverCommand.cpe_pk, FailoverCommand.reason).where(
            FailoverCommand.org_id.in_(sorted(dso_ids)), FailoverCommand.action == "switch",
            FailoverCommand.issued_at >= since))
        for cpe_pk, reason in recent:
            for cell in (reason or {}).get("sourceCells", []):
                self.used[int(cell)] += 1
                if cpe_pk not in by_cpe:  # moved and not evaluated now: still one of the cell's CPEs
                    population[int(cell)] += 1
        self.budget = {cell: advisor.FLEET.budget(n) for cell, n in population.items()}
        self.bucket = int(now.timestamp() // max(advisor.FLEET.interval.total_seconds(), 1.0))

    def order(self) -> list[tuple[int, list[topology.UsimRef]]]:
        return sorted(self.by_cpe.items(), key=lambda kv: (hash((kv[0], self.bucket)), kv[0]))

    def limit(self, cpe_pk: int, state: advisor.State, d: advisor.Decision) -> advisor.Decision:
        if d.action != "switch":
            return d
        cells = self.source.get(cpe_pk, [])
        full = next((c for c in cells if self.used[c] >= self.budget.get(c, 1)), None)
        if full is not None:
            return advisor.staggered(d, state, str(full), self.now)
        for cell in cells:
            self.used[cell] += 1
        d.reason["sourceCells"] = cells
        return d


def _command(session: Session, dso_id: str, cpe_pk: int, cpe_id: str, d: advisor.Decision, before: str,
             now: datetime, subs: list[subscriptions.Subscriber]) -> FailoverCommand:
    cmd = FailoverCommand(id=new_id("fcmd"), org_id=dso_id, cpe_pk=cpe_pk, cpe_id=cpe_id, action=d.action,
                          from_plmn=before, to_plmn=d.target, reason=d.reason, issued_at=now)
    session.add(cmd)
    body = command_out(cmd)
    queue_after_commit(session, CpeCommandMessage(dso_id, cpe_id, cmd.id, orjson.dumps(body)))
    for sub in subs:
        subscriptions.enqueue(session, sub, "cpeCommand", _builder(sub.id, "cpeCommand", "command", body, now), now)
    return cmd


def _builder(sub_id: str, kind: str, key: str, body: dict[str, Any],
             now: datetime) -> Callable[[int, str], dict[str, Any]]:
    def build(seq: int, nid: str) -> dict[str, Any]:
        return {"notificationId": nid, "notificationType": kind, "eventTime": isoformat(now),
                "subscriptionId": sub_id, "sequenceNo": seq, key: body}

    return build


def command_out(c: FailoverCommand) -> dict[str, Any]:
    return {"commandId": c.id, "cpeId": c.cpe_id, "action": c.action, "fromPlmn": c.from_plmn, "toPlmn": c.to_plmn,
            "reason": c.reason, "issuedAt": isoformat(c.issued_at), "ackedAt": isoformat(c.acked_at),
            "ackStatus": c.ack_status}


def on_status_changed(session: Session, event: StatusChanged) -> None:
    org_of_site = {ch.site.pk: ch.site.org_id for ch in event.changes}
    usims = [u for u in topology.usims_at_sites(session, org_of_site) if u.site_pk in org_of_site]
    _evaluate_usims(session, usims, org_of_site, event.at)


def on_probes_ingested(session: Session, event: ProbesIngested) -> None:
    evaluate(session, event.dso_id, sorted(event.cpe_pks), event.at)


def tick(session: Session, now: datetime | None = None) -> int:
    """Time-driven: CPEs near planned work, and CPEs not in their nominal state (switch-back timers)."""
    now = now or utcnow()
    cells = faults.cells_with_window_edges(session, now - timedelta(seconds=1), now + advisor.PREPARE_HORIZON)
    targets: dict[str, set[int]] = defaultdict(set)
    if cells:
        pairs = topology.pairs_for_cells(session, cells)
        by_org: dict[str, set[int]] = defaultdict(set)
        for s in topology.site_refs(session, {p[0] for p in pairs}).values():
            by_org[s.org_id].add(s.pk)
        for org, site_pks in by_org.items():
            targets[org].update(u.cpe_pk for u in topology.usims_at_sites(session, site_pks, org))
    # Timer-driven transitions only: a due switch back / end of prepare, and a periodic look at every
    # CPE away from its nominal state (hold-down expiry); everything else is driven by events.
    if session.autoflush:
        session.flush()
    for org_id, cpe_pk in session.execute(_DUE_STATES, {"reevaluate_before": now - REEVALUATE,
                                                        "back_before": now - advisor.HOLD_BACK}):
        targets[org_id].add(cpe_pk)
    n = 0
    for org, cpes in sorted(targets.items()):
        n += len(evaluate(session, org, sorted(cpes), now))
    return n


def acknowledge(session: Session, dso_id: str, command_id: str, ack_status: str, detail: str | None = None,
                cpe_id: str | None = None, now: datetime | None = None) -> FailoverCommand:
    if ack_status not in ACK_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(ACK_STATUSES)}")
    cmd = session.get(FailoverCommand, command_id)
    if cmd is None or cmd.org_id != dso_id or (cpe_id is not None and cmd.cpe_id != cpe_id):
        raise NotFound(f"command {command_id} not found")
    if cmd.acked_at is None:
        cmd.acked_at, cmd.ack_status, cmd.ack_detail = now or utcnow(), ack_status, (detail or "")[:500] or None
        state = session.get(FailoverState, cmd.cpe_pk)
        if state is not None and ack_status == "done" and cmd.action in ("switch", "switch_back"):
            state.confirmed_plmn = cmd.to_plmn
    return cmd


def list_commands(session: Session, caller: Caller, *, cpe_id: str | None = None,
                  limit: int = 500) -> list[dict[str, Any]]:
    _dso(caller)
    q = select(FailoverCommand).where(FailoverCommand.org_id == caller.org_id)
    if cpe_id is not None:
        q = q.where(FailoverCommand.cpe_id == cpe_id)
    return [command_out(c) for c in session.scalars(q.order_by(FailoverCommand.issued_at.desc()).limit(limit))]


def list_states(session: Session, caller: Caller) -> list[dict[str, Any]]:
    _dso(caller)
    rows = list(session.scalars(select(FailoverState).where(FailoverState.org_id == caller.org_id)))
    names = {u.cpe_pk: u.cpe_id for u in topology.usim_refs(session, caller.org_id)}
    return [{"cpeId": names.get(r.cpe_pk), "primaryPlmn": r.primary_plmn, "activePlmn": r.active_plmn,
             "confirmedPlmn": r.confirmed_plmn, "mode": r.mode, "lastSwitchAt": isoformat(r.last_switch_at),
             "updatedAt": isoformat(r.updated_at)} for r in rows]


def unacked(session: Session, since: datetime) -> list[CpeCommandMessage]:
    rows = session.scalars(select(FailoverCommand).where(FailoverCommand.acked_at.is_(None),
                                                         FailoverCommand.issued_at >= since)
                           .order_by(FailoverCommand.issued_at))
    return [CpeCommandMessage(c.org_id, c.cpe_id, c.id, orjson.dumps(command_out(c))) for c in rows]


def _dso(caller: Caller) -> None:
    if caller.org_kind != "dso":
        raise Forbidden("failover commands are for DSO organisations")
