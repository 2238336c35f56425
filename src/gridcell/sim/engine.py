"""The event-driven world: truth (faults, repairs, grid, batteries), the CPEs, the control room and the crews.

One engine runs one policy over one seed. Virtual time jumps from event to event; under the gridcell policy
every instant's messages go to the product in one unit of work (gridcell.sim.twin) and the failover commands
it answers with are executed by the simulated CPEs. Under current practice nothing but the world and the
CPE's own ping watchdog exists (the seed's description of today's practice).

The CPEs are the same hardware under every policy (gridcell.sim.config.MODEMS): a switch, whoever decides it,
interrupts traffic for the CPE's own switch time; a single modem cannot see the PLMN it is not using. Each CPE
supervises its active path itself (a `Watchdog`: the seed's pings, or gridcell's agent) and switches when its
probes say the path is down.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gridcell.failover import advisor
from gridcell.sim.config import CAPABILITIES, MODEMS, POLICIES
from gridcell.sim.faults import Truth, lognormal_s, rng
from gridcell.sim.scenario import World
from gridcell.sim.twin import TicketRequest, Twin

INF = math.inf
DISPATCH_AFTER_S = 2 * 3600.0  # an unexplained unreachable station gets a technician after 2 h
# A single modem whose switch landed on a dead path waits 1 min, doubling to 30 min, before it tries the other SIM
# again (assumption: firmware back-off; the same under every policy)
BACKOFF_S = (60.0, 1800.0)


@dataclass
class FaultState:
    id: str
    line: int
    t0: float
    storm: bool
    dead: set[int]  # buses this fault keeps dead
    detect: float = INF
    comms_fail_at: float = INF
    dependent_customers: int = 0
    manual: list[int] = field(default_factory=list)
    manual_up: bool = False
    closed: bool = False


@dataclass
class Incident:
    id: str
    kind: str  # mno_network | energy_outage | dso_equipment (the truth)
    plmn: str
    stations: list[int]
    start: float
    ticket: str | None = None
    cause: str | None = None
    ended: bool = False


@dataclass
class Outcome:
    policy: str
    seed: int
    horizon_s: float
    unavail: list[list[tuple[float, float]]]
    # (time, seconds, station, kind): every switch, from the loss of the old path (kind "failover") or from the
    # switch's start ("spurious": the CPE's probes were wrong; "proactive"; "switch_back") to traffic flowing again
    interruptions: list[tuple[float, float, int, str]]
    customer_interruptions: list[tuple[int, float, float]]  # (station, start, end)
    truck_rolls: list[tuple[float, str]]
    attribution: list[tuple[str, str, float, bool | None]]  # (incident, true cause, seconds, correct?)
    outages: list[dict[str, Any]]
    down_by_cause: dict[str, float] = field(default_factory=dict)  # station-seconds unreachable, by cause
    switches: list[tuple[float, float, int, str]] = field(default_factory=list)  # (start, seconds, station, kind)
    # the control room's choices: (time, the fault it took, customers off per fault waiting then)
    desk_picks: list[tuple[float, str, dict[str, int]]] = field(default_factory=list)
    # (RAN site, from, to, cause): fail, maint, dark; congestion (the site serves, with loss)
    ran_out: list[tuple[int, float, float, str]] = field(default_factory=list)
    service_writes: int = 0
    wall_s: float = 0.0


class Engine:
    def __init__(self, world: World, truth: Truth, seed: int, policy: str, twin: Twin | None = None, *,
                 probe_sweep_s: float | None = None) -> None:
        self.w, self.truth, self.seed, self.policy, self.twin = world, truth, seed, policy, twin
        # Live demo: every CPE probes every PLMN this often (virtual seconds), so the exchange has the probe
        # history that availability and latency are computed from; the year runs send probes around events only.
        self.probe_sweep_s = probe_sweep_s
        self.cfg = world.cfg
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy}")
        self.gc = policy == "gridcell"
        # What gridcell adds on top of best practice; under the baselines nothing (and no twin).
        caps = set(self.cfg.gridcell_capabilities) if self.gc else set()
        unknown = caps - set(CAPABILITIES)
        if unknown:
            raise ValueError(f"unknown gridcell capabilities {sorted(unknown)}")
        on = twin is not None
        self.agent = on and "agent" in caps  # the CPE agent: its own probes and its watch mode
        self.uploads = on and "probes" in caps  # the CPEs' probe results reach the exchange
        self.expose = on and "exposure" in caps  # the MNOs' information reaches the exchange
        self.advised = on and "advisor" in caps  # the CPEs follow the advisor's commands
        self.attributing = on and "attribution" in caps  # TMF621 tickets, attributed automatically
        self.coordinated = on and "coordination" in caps  # outages to the exchange, the plan orders restoration
        self.plmns = list(self.cfg.plmns)
        n, nr = len(world.stations), len(world.ran)
        self.heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self.seq = 0
        self.now = 0.0
        # truth
        self.ran_down: list[set[str]] = [set() for _ in range(nr)]
        self.ran_cong = [0] * nr
        self.cpe_failed = [False] * n
        self.bus_dead: dict[int, set[str]] = defaultdict(set)
        self.dark_token = [0] * nr
        self.battery_since: list[float | None] = [None] * nr
        self.energized_since = [0.0] * n
        self.dead_since: list[float | None] = [None] * n
        self.st_of_ran: dict[int, list[int]] = defaultdict(list)
        self.st_of_bus: dict[int, list[int]] = defaultdict(list)
        self.ran_of_bus: dict[int, list[int]] = defaultdict(list)
        for st in world.stations:
            self.st_of_bus[st.bus].append(st.idx)
            for p in self.plmns:
                self.st_of_ran[st.serving[p]].append(st.idx)
        for r in world.ran:
            if r.bus is not None:
                self.ran_of_bus[r.bus].append(r.idx)
        self.cpe_of = {st.cpe_id: st.idx for st in world.stations}
        # CPEs: the hardware (the same under every policy) and the CPE's own supervision of its path
        self.hw = truth.cpes
        self.modem = [MODEMS[c.modem] for c in truth.cpes]
        self.wd = (self.cfg.agent_watchdog if self.agent else self.cfg.current_watchdog
                   if policy == "current_practice" else self.cfg.best_watchdog)
        # back to the primary on the CPE's own probes (mwan3; the agent only when no exchange commands it)
        self.local_return = self.wd.returns and not self.advised
        self.ret_token = [0] * n
        self.ret_pending = [False] * n
        self.active = [0] * n
        self.switch_until = [0.0] * n
        self.watching = [False] * n  # the agent's watch mode after a `prepare`
        self.stranded = [False] * n  # active path down and no other path up (dual modem): waiting for one
        self.futile = [0] * n  # switches in a row that landed on a path that was down as well
        self.lost_at: list[float | None] = [None] * n
        self.int_start: list[float | None] = [None] * n  # an interruption that a switch began, still open
        self.int_kind = [""] * n
        self.reach = [True] * n
        self.reach_since = [0.0] * n
        self.cause: list[str | None] = [None] * n
        self.cause_since = [0.0] * n
        self.down_by: dict[str, float] = defaultdict(float)
        self.unavail: list[list[tuple[float, float]]] = [[] for _ in range(n)]
        self.unreach_token = [0] * n
        self.modes: dict[int, str] = {}
        self.explained = [0] * n
        self.cpe_repair_at: dict[int, float] = {}
        self.cpe_event: dict[int, Any] = {}
        # outcomes
        self.interruptions: list[tuple[float, float, int, str]] = []
        self.switches: list[tuple[float, float, int, str]] = []
        self.desk_picks: list[tuple[float, str, dict[str, int]]] = []
        self.ran_out: list[tuple[int, float, float, str]] = []
        self.out_since: dict[tuple[int, str], float] = {}
        self.cust: list[tuple[int, float, float]] = []
        self.rolls: list[tuple[float, str]] = []
        self.attr: list[tuple[str, str, float, bool | None]] = []
        self.incidents: dict[str, Incident] = {}
        # grid operations
        self.faults: dict[str, FaultState] = {}
        self.cr_queue: list[str] = []
        self.cr_busy = False
        self.crew_queue: list[tuple[str, float]] = []
        self.crews_free = self.cfg.crews
        self.edge = False
        self.alarm_last: dict[str, float] = {}  # alarm id → when its newest notification reaches the exchange
        self.recovery_news = False  # something in this instant's messages says a path works again

    # ---- scheduling --------------------------------------------------------------------------------------

    def _tw(self) -> Twin:
        assert self.twin is not None
        return self.twin

    def at(self, t: float, fn: Callable[..., None], *args: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (max(t, 0.0), self.seq, fn, args))

    def run(self) -> Outcome:
        self._seed_events()
        horizon = self.cfg.horizon_s
        while self.heap and self.heap[0][0] <= horizon:
            t = self.heap[0][0]
            self.now = t
            while self.heap and self.heap[0][0] == t:
                _, _, fn, args = heapq.heappop(self.heap)
                fn(t, *args)
            if self.twin is not None:
                self._flush(t)
        self._finish(horizon)
        return Outcome(self.policy, self.seed, horizon, self.unavail, self.interruptions, self.cust, self.rolls,
                       self.attr, [self._outage_row(f) for f in self.faults.values()], dict(self.down_by),
                       self.switches, self.desk_picks, self.ran_out, self.twin.writes if self.twin else 0)

    def _seed_events(self) -> None:
        c = self.cfg
        for f in self.truth.ran_failures:
            self.at(f.t, self._ran_fail, f)
            if self.expose and f.precursor_lead is not None:
                self.at(f.t - f.precursor_lead, self._precursor, f)
        for g in self.truth.congestion:
            self.at(g.t, self._cong_start, g)
        for m in self.truth.maintenance:
            if self.expose and m.announced:
                self.at(m.window[0] - c.maintenance_notice_d * 86400.0, self._maint_announce, m)
                self.at(m.window[0], self._window_edge, False)
                self.at(m.window[1], self._window_edge, True)
            self.at(m.t, self._maint_edge, m.ran, True)
            self.at(m.t + m.duration, self._maint_edge, m.ran, False)
        self._probe_loss_alarms()
        for e in self.truth.cpe_failures:
            self.at(e.t, self._cpe_fail, e)
        for gf in self.truth.grid_faults:
            self.at(gf.t, self._grid_fault, gf)
        if self.twin is not None and self.probe_sweep_s:
            self.at(self.probe_sweep_s, self._probe_sweep)

    def _probe_loss_alarms(self) -> None:
        """Probes are lost now and then on a working path too (probe_loss per echo): a CPE whose probes lose
        down_after in a row switches for nothing. Per CPE a Poisson process at the rate such runs end, its times
        drawn from one unit-rate stream per CPE, the same under every policy (common random numbers)."""
        wd, c = self.wd, self.cfg
        q = c.probe_loss ** wd.echoes
        rate = (1.0 - q) * q ** wd.down_after / wd.interval_s  # per second
        if rate <= 0.0 or rate * c.horizon_s < 1e-6:
            return
        for st in self.w.stations:
            g = rng(self.seed, "probe-loss", st.site_id)
            acc = 0.0
            while True:
                acc += g.expovariate(1.0)
                if acc / rate > c.horizon_s:
                    break
                self.at(acc / rate, self._lost_probes, st.idx)

    def _lost_probes(self, t: float, i: int) -> None:
        if t >= self.switch_until[i] and self.path_up(i, self.active[i]):
            self._local_switch(t, i, "spurious")

    def _probe_sweep(self, t: float) -> None:
        """Each CPE's probe on each of its PLMNs: successful while the path is up (RAN site serving, CPE working)."""
        assert self.twin is not None and self.probe_sweep_s
        for st in self.w.stations:
            for k, plmn in enumerate(self.plmns):
                if self.can_probe(st.idx, k):
                    self.twin.probe(t, st.idx, plmn, self.path_up(st.idx, k))
        self.at(t + self.probe_sweep_s, self._probe_sweep)

    # ---- the state of a CPE ----------------------------------------------------------------------------------

    def path_up(self, i: int, k: int) -> bool:
        return not self.cpe_failed[i] and not self.ran_down[self.w.stations[i].serving[self.plmns[k]]]

    def can_probe(self, i: int, k: int) -> bool:
        """The CPE sees this PLMN's path: a working CPE on its active PLMN, or any PLMN with a second modem."""
        if self.cpe_failed[i]:
            return False
        return self.modem[i].probes_standby or (k == self.active[i] and self.now >= self.switch_until[i])

    def _ran_cause(self, i: int) -> str:
        down = self.ran_down[self.w.stations[i].serving[self.plmns[self.active[i]]]]
        return "ran_failure" if "fail" in down else ("maintenance" if "maint" in down else "power")

    def touch(self, t: float, stations: list[int]) -> None:
        for i in stations:
            up = self.path_up(i, self.active[i])
            switching = t < self.switch_until[i]
            if up:
                self.lost_at[i] = None
                self.stranded[i] = False
            elif self.lost_at[i] is None:
                self.lost_at[i] = t
                if not switching:
                    self._arm(i, t)
            elif self.stranded[i] and not switching:
                self._unstrand(t, i)
            if self.local_return:
                self._watch_primary(t, i)
            r = up and not switching
            cause = None if r else ("cpe" if self.cpe_failed[i] else "switching" if switching else self._ran_cause(i))
            if cause != self.cause[i]:
                if self.cause[i] is not None:
                    self.down_by[self.cause[i] or ""] += t - self.cause_since[i]
                self.cause[i], self.cause_since[i] = cause, t
            if r != self.reach[i]:
                if r:
                    self.unavail[i].append((self.reach_since[i], t))
                    start = self.int_start[i]
                    if start is not None:
                        self.interruptions.append((start, t - start, i, self.int_kind[i]))
                        self.int_start[i] = None
                else:
                    self.unreach_token[i] += 1
                    self.at(t + DISPATCH_AFTER_S, self._unreach_check, i, self.unreach_token[i])
                self.reach[i], self.reach_since[i] = r, t

    def _interval(self, i: int) -> tuple[float, float]:
        """The CPE's probe interval and timeout now (the agent probes faster in its watch mode)."""
        wd = self.wd
        if self.watching[i] and wd.watch_interval_s:
            return wd.watch_interval_s, min(wd.timeout_s, wd.watch_interval_s)
        return wd.interval_s, wd.timeout_s

    def _arm(self, i: int, t: float) -> None:
        """The active path died at t: the CPE's probes declare it down at the down_after-th lost probe."""
        step, timeout = self._interval(i)
        phase = self.hw[i].probe_phase * step
        first = phase + step * (math.floor((t - phase) / step) + 1)
        self.at(first + (self.wd.down_after - 1) * step + timeout, self._detect, i, self.lost_at[i])

    def _detect(self, t: float, i: int, lost: float | None, waited: bool = False) -> None:
        if lost is None or self.lost_at[i] != lost or t < self.switch_until[i]:
            return
        if self.futile[i] and not waited and not self.modem[i].probes_standby:
            # a single modem that just switched onto a dead path too backs off before trying the other SIM again
            backoff = min(BACKOFF_S[0] * 2 ** (self.futile[i] - 1), BACKOFF_S[1])
            self.at(t + backoff, self._detect, i, lost, True)
            return
        self._local_switch(t, i, "failover")

    def _local_switch(self, t: float, i: int, kind: str) -> None:
        """The CPE's own rule: another PLMN its probes show up (dual modem), or simply the other SIM (one modem)."""
        n = len(self.plmns)
        others = [(self.active[i] + j) % n for j in range(1, n)]
        if self.modem[i].probes_standby:
            k = next((k for k in others if self.path_up(i, k)), None)
            if k is None:
                self.stranded[i] = kind == "failover"
                return
        else:
            k = others[0]
        self._switch(t, i, k, kind)

    def _unstrand(self, t: float, i: int) -> None:
        """A stranded dual-modem CPE sees another path up after up_after answered probes."""
        if any(self.path_up(i, k) for k in range(len(self.plmns)) if k != self.active[i]):
            self.stranded[i] = False
            step, _ = self._interval(i)
            self.at(t + self.wd.up_after * step, self._detect, i, self.lost_at[i])

    def _watch_primary(self, t: float, i: int) -> None:
        """mwan3 (and the agent without an exchange) move traffic back to the primary once up_after probes in a row
        answer on it: only a CPE that can probe the primary while on the alternate (dual modem)."""
        want = self.active[i] != 0 and self.modem[i].probes_standby and self.path_up(i, 0)
        if want and not self.ret_pending[i]:
            self.ret_pending[i] = True
            self.ret_token[i] += 1
            step, _ = self._interval(i)
            self.at(max(t, self.switch_until[i]) + self.wd.up_after * step, self._return, i, self.ret_token[i])
        elif not want and self.ret_pending[i]:
            self.ret_pending[i] = False
            self.ret_token[i] += 1

    def _return(self, t: float, i: int, token: int) -> None:
        if token != self.ret_token[i]:
            return
        self.ret_pending[i] = False
        if self.active[i] != 0 and self.path_up(i, 0) and t >= self.switch_until[i]:
            self._switch(t, i, 0, "switch_back")

    def _switch(self, t: float, i: int, k: int, kind: str) -> None:
        """Traffic moves to PLMN k: the CPE is unreachable for its modem's switch time, whoever decided."""
        lost = self.lost_at[i]
        if lost is not None:
            kind = "failover"
        if self.int_start[i] is None:
            self.int_start[i] = lost if lost is not None else t
            self.int_kind[i] = kind
        self.switches.append((t, self.hw[i].switch_s, i, kind))
        self.active[i] = k
        self.switch_until[i] = t + self.hw[i].switch_s
        self.lost_at[i] = None
        self.stranded[i] = False
        self.watching[i] = False
        self.touch(t, [i])
        self.at(self.switch_until[i], self._switch_done, i)

    def _switch_done(self, t: float, i: int) -> None:
        self.touch(t, [i])
        if self.lost_at[i] is None:
            self.futile[i] = 0
        elif not self.cpe_failed[i]:
            self.futile[i] += 1
            self._arm(i, t)  # arrived on a path that is down: the probes find out

    def _false_alarm(self, t: float, i: int, ran: int, k: int) -> None:
        """The CPE's probes lost down_after in a row on a path that works (congestion): it switches all the same."""
        if self.active[i] == k and self.ran_cong[ran] and t >= self.switch_until[i] and self.path_up(i, k):
            self._local_switch(t, i, "spurious")

    # gridcell: commands from the product's failover advisor, carried out by the CPE agent
    def _command(self, t: float, cmd: dict[str, Any]) -> None:
        i = self.cpe_of.get(cmd.get("cpeId", ""))
        if i is None or not self.advised:
            return
        if t < self.switch_until[i]:  # the agent carries out one switch at a time
            self.at(self.switch_until[i], self._command, cmd)
            return
        action = cmd["action"]
        if action == "prepare":
            self.modes[i] = "prepare"
            if self.agent and not self.watching[i]:
                self.watching[i] = True
                if self.lost_at[i] is not None:
                    self._arm(i, t)
            return
        if action == "stay":
            self.watching[i] = False
            self.modes[i] = "stay"
            return
        self.modes[i] = "switched" if action == "switch" else "stay"
        k = self.plmns.index(cmd["toPlmn"])
        if k == self.active[i] or self.cpe_failed[i]:
            return
        self._switch(t, i, k, "switch_back" if action == "switch_back" else "proactive")

    def _unreach_check(self, t: float, i: int, token: int) -> None:
        if token != self.unreach_token[i] or self.reach[i]:
            return
        if self.attributing and self.explained[i] > 0:  # attributed to the MNO or an energy outage: no technician
            self.at(t + DISPATCH_AFTER_S, self._unreach_check, i, token)  # yet; still dark later, someone goes
            return
        if i in self.cpe_repair_at:
            return  # a technician is already on the way (attributed to the DSO's equipment)
        self.rolls.append((t, "unreachable_station"))
        e = self.cpe_repair_at.get(i)
        if self.cpe_failed[i] and e is None:
            self._dispatch_cpe(t, i)

    # ---- gridcell: one instant through the product ----------------------------------------------------------

    def _flush(self, t: float) -> None:
        assert self.twin is not None
        res = self.twin.flush(t, self.edge)
        if self.recovery_news:  # the exchange heard a path is back: its switch-back timer is due after HOLD_BACK
            self.at(t + advisor.HOLD_BACK.total_seconds() + 1, self._ftick, False)
        self.edge = self.recovery_news = False
        for moi, plan in res.plans.items():
            f = self.faults.get(moi)
            if f is not None:
                cf = plan.get("commsFailAt")
                f.comms_fail_at = self._secs(cf) if cf else INF
                f.dependent_customers = sum(int(b.get("dependentCustomers", 0))
                                            for b in plan.get("restorationPriority", []))
        for inc_id, (ticket, cause) in res.tickets.items():
            inc = self.incidents[inc_id]
            inc.ticket, inc.cause = ticket, cause
            self._attributed(t, inc)
        for cmd in res.commands:
            self._command(t, cmd)
        if res.commands:  # hold-down and hold-back expire (HOLD_BACK > HOLD_DOWN): one look when both have
            self.at(t + advisor.HOLD_BACK.total_seconds() + 1, self._ftick, False)

    def _secs(self, iso: str) -> float:
        return (datetime.fromisoformat(iso.replace("Z", "+00:00")) - self.cfg.start).total_seconds()

    def _ftick(self, t: float, forced: bool) -> None:
        if self.twin is not None and self.advised and (forced or any(m != "stay" for m in self.modes.values())):
            self.twin.want_failover_tick = True


    # ---- incidents and attribution -----------------------------------------------------------------------------

    def _incident(self, t: float, inc: Incident, ticket_at: float) -> None:
        """ticket_at: when the DSO knows enough to open a ticket (INF: it never sees the incident itself)."""
        self.incidents[inc.id] = inc
        if self.attributing and ticket_at < INF:
            self.at(ticket_at, self._open_ticket, inc)
        else:
            self._desk(inc)

    def _desk(self, inc: Incident) -> None:
        delay = lognormal_s(rng(self.seed, "desk", inc.id), *self.cfg.desk_delay_h)
        self.attr.append((inc.id, inc.kind, delay, None))

    def _open_ticket(self, t: float, inc: Incident) -> None:
        if self.twin is None or inc.ended:
            self._desk(inc)
            return
        st = self.w.stations[inc.stations[0]]
        self.twin.ticket(TicketRequest(inc.id, inc.plmn, [st.site_id], inc.start,
                                       f"{st.site_id}: PLMN {inc.plmn} lost (twin)"))

    def _attributed(self, t: float, inc: Incident) -> None:
        if inc.cause in (None, "unknown"):
            self._desk(inc)
        else:
            self.attr.append((inc.id, inc.kind, t - inc.start, inc.cause == inc.kind))
        if inc.cause in ("mno_network", "energy_outage"):
            for i in inc.stations:
                self.explained[i] += 1
        if inc.kind == "dso_equipment" and inc.cause == "dso_equipment":
            i = inc.stations[0]
            if self.cpe_failed[i] and i not in self.cpe_repair_at:
                self.rolls.append((t, "cpe_repair"))
                self._dispatch_cpe(t, i)
        if inc.ended:
            self._end_incident(t, inc)

    def _end_incident(self, t: float, inc: Incident) -> None:
        inc.ended = True
        if inc.ticket is None:
            return
        if inc.cause in ("mno_network", "energy_outage"):
            for i in inc.stations:
                self.explained[i] -= 1
        if self.twin is not None:
            self.twin.close_ticket(inc.ticket, inc.plmn)
            inc.ticket = None

    # ---- RAN sites ----------------------------------------------------------------------------------------------

    def _site_out(self, t: float, ran: int, cause: str, out: bool) -> None:
        """The truth of a RAN site's service, per cause (fail, maint, dark), for the outcomes."""
        if out:
            self.out_since.setdefault((ran, cause), t)
        else:
            since = self.out_since.pop((ran, cause), None)
            if since is not None:
                self.ran_out.append((ran, since, t, cause))

    def _served(self, ran: int) -> list[int]:
        plmn = self.w.ran[ran].plmn
        return [i for i in self.st_of_ran[ran] if self.w.stations[i].serving[plmn] == ran]

    def _precursor(self, t: float, f: Any) -> None:
        self._pm(t, f.ran, f.id, "RRU.PrbUsedDl.Errors", 12.0, "UP")

    # ---- what the MNO's OSS tells the exchange, and when ---------------------------------------------------------

    def _latency(self, *key: object) -> float:
        """One notification's way from the MNO's OSS to the exchange: lognormal, most within seconds, a tail."""
        median, sigma = self.cfg.alarm_latency_s
        return median * math.exp(sigma * rng(self.seed, "latency", *key).gauss(0.0, 1.0))

    def _notify(self, t: float, ran: int, alarm_id: str, cause: str, severity: str, kind: str) -> float:
        """An alarm notification leaves the OSS at t; returns when the exchange has it (never before an earlier
        notification of the same alarm)."""
        if not self.expose:
            return INF
        arrive = max(t + self._latency(alarm_id, severity), self.alarm_last.get(alarm_id, 0.0) + 0.001)
        self.alarm_last[alarm_id] = arrive
        self.at(arrive, self._alarm, ran, alarm_id, cause, severity, kind)
        return arrive

    def _pm(self, t: float, ran: int, key: str, metric: str, value: float, direction: str) -> None:
        """A PM threshold crossing: evaluated at the end of the granularity period it happened in ("UP"), or of the
        first clean period after it ended ("DOWN"); then the notification's latency."""
        if not self.expose:
            return
        g = self.cfg.pm_granularity_s
        period_end = g * (math.floor(t / g) + (1 if direction == "UP" else 2))
        arrive = max(period_end + self._latency(key, metric, direction), self.alarm_last.get(key, 0.0) + 0.001)
        self.alarm_last[key] = arrive
        self.at(arrive, self._threshold, ran, metric, value, direction)

    def _threshold(self, t: float, ran: int, metric: str, value: float, direction: str) -> None:
        self._tw().threshold(t, ran, metric, value, direction, 5.0)
        self.recovery_news |= direction == "DOWN"

    # ---- what the CPEs' probes tell the exchange (the agent's uploads) ------------------------------------------

    def _evidence_s(self) -> float:
        """From a path's loss to the agent's third lost probe on it."""
        return self.wd.down_after * self.wd.interval_s + self.wd.timeout_s

    def _upload_at(self, stations: list[int], t: float) -> float:
        """The first upload of these CPEs' probe results at or after t (the agent sends them every
        telemetry_every_s, each CPE at its own phase)."""
        p = self.cfg.telemetry_every_s
        best = INF
        for i in stations:
            ph = self.hw[i].upload_phase * p
            best = min(best, ph + p * math.ceil((t - ph) / p))
        return best

    def _seen_by(self, stations: list[int], k: int) -> list[int]:
        return [i for i in stations if self.can_probe(i, k)]

    def _upload(self, t: float, rows: list[tuple[int, str, float, bool]]) -> None:
        """Probe results (station, PLMN, time, ok) reach the exchange."""
        if self.twin is not None:
            for i, plmn, ts, ok in rows:
                self.twin.probe(ts, i, plmn, ok)
                self.recovery_news |= ok

    def _failing(self, stations: list[int], plmn: str, since: float) -> list[tuple[int, str, float, bool]]:
        step = self.wd.interval_s
        return [(i, plmn, since + j * step, False) for i in stations for j in range(1, self.wd.down_after + 1)]

    def _report_probes(self, stations: list[int], plmn: str, since: float, ok: bool) -> float:
        """The CPEs that see this path report it failing (since `since`) or working again (at `since`); returns
        when the exchange hears of it (INF: none of them sees the path)."""
        if not stations or not self.uploads:
            return INF
        if ok:
            rows = [(i, plmn, since + self.wd.interval_s, True) for i in stations]
            at = self._upload_at(stations, since + self.wd.interval_s)
        else:
            rows = self._failing(stations, plmn, since)
            at = self._upload_at(stations, since + self._evidence_s())
        self.at(at, self._upload, rows)
        return at

    # ---- RAN sites (continued) ---------------------------------------------------------------------------------

    def _ran_fail(self, t: float, f: Any) -> None:
        plmn = self.w.ran[f.ran].plmn
        served = self._served(f.ran)
        seen = self._seen_by(served, self.plmns.index(plmn))  # the CPEs whose probes cross this RAN site
        self.ran_down[f.ran].add("fail")
        self._site_out(t, f.ran, "fail", True)
        self.touch(t, served)
        heard = self._report_probes(seen, plmn, t, False)
        if not f.silent:
            arrive = self._notify(t, f.ran, f.id, "TRANSMITTER_FAILURE", "CRITICAL", "notifyNewAlarm")
            heard = min(heard, arrive)
        if served:
            self._incident(t, Incident(f.id, "mno_network", plmn, served, t), heard)
        self.at(t + f.duration, self._ran_repair, f)

    def _ran_repair(self, t: float, f: Any) -> None:
        self.ran_down[f.ran].discard("fail")
        self._site_out(t, f.ran, "fail", False)
        served = self._served(f.ran)
        self.touch(t, served)
        inc = self.incidents.get(f.id)
        if inc is not None:
            self._end_incident(t, inc)
        plmn = self.w.ran[f.ran].plmn
        self._report_probes(self._seen_by(served, self.plmns.index(plmn)), plmn, t, True)
        if not f.silent:
            self._notify(t, f.ran, f.id, "TRANSMITTER_FAILURE", "CLEARED", "notifyClearedAlarm")
        if f.precursor_lead is not None:
            self._pm(t, f.ran, f.id, "RRU.PrbUsedDl.Errors", 1.0, "DOWN")

    def _alarm(self, t: float, ran: int, alarm_id: str, cause: str, severity: str, kind: str) -> None:
        if self.twin is not None:
            self.twin.alarm(t, ran, alarm_id, cause, severity, kind)
            self.recovery_news |= severity == "CLEARED"

    def _cong_start(self, t: float, g: Any) -> None:
        """Congestion loses each probe echo with congestion_loss: a CPE on this PLMN switches once its probes lose
        down_after in a row (the first such run drawn from its geometric waiting time, one draw per CPE and
        episode: the same under every policy)."""
        c = self.cfg
        self.ran_cong[g.ran] += 1
        self._site_out(t, g.ran, "congestion", True)
        k = self.plmns.index(self.w.ran[g.ran].plmn)
        wd = self.wd
        q = c.congestion_loss ** wd.echoes  # a probe is lost when all its echoes are
        rate = (1.0 - q) * q ** wd.down_after  # per probe: a run of down_after losses ends here
        for i in self._served(g.ran):
            if self.active[i] != k or rate <= 0.0:
                continue
            wait = rng(self.seed, "loss", g.id, self.w.stations[i].site_id).expovariate(1.0)
            probes = wd.down_after + wait / rate
            if probes * wd.interval_s >= g.duration:
                continue
            ts = t + probes * wd.interval_s + wd.timeout_s
            self.at(ts, self._false_alarm, i, g.ran, k)
            if self.uploads:
                rows = self._failing([i], self.plmns[k], ts - wd.timeout_s - wd.down_after * wd.interval_s)
                if self.modem[i].probes_standby:  # it keeps probing the congested path: mostly answered
                    rows.append((i, self.plmns[k], ts + wd.interval_s, True))
                self.at(self._upload_at([i], ts + wd.interval_s), self._upload, rows)
        if g.reported:
            self._pm(t, g.ran, g.id, "DRB.PacketLossRateUl", 100 * c.congestion_loss, "UP")
        self.at(t + g.duration, self._cong_end, g)

    def _cong_end(self, t: float, g: Any) -> None:
        self.ran_cong[g.ran] -= 1
        if not self.ran_cong[g.ran]:
            self._site_out(t, g.ran, "congestion", False)
        if g.reported:
            self._pm(t, g.ran, g.id, "DRB.PacketLossRateUl", 0.5, "DOWN")

    def _maint_announce(self, t: float, m: Any) -> None:
        """The MNO announces the window, not the outage: the exchange plans around the window."""
        self._tw().maintenance(t, m.ran, m.id, *m.window)
        for d in (advisor.PREPARE_HORIZON.total_seconds() - 1, advisor.LEAD.total_seconds() - 1):
            self.at(m.window[0] - d, self._ftick, True)

    def _window_edge(self, t: float, closing: bool) -> None:
        self.edge = True  # the exchange opens or closes the announced window (exposure.status.tick)
        self.recovery_news |= closing

    def _maint_edge(self, t: float, ran: int, opening: bool) -> None:
        plmn = self.w.ran[ran].plmn
        served = self._served(ran)
        seen = self._seen_by(served, self.plmns.index(plmn))
        if opening:
            self.ran_down[ran].add("maint")
        else:
            self.ran_down[ran].discard("maint")
        self._site_out(t, ran, "maint", opening)
        self.touch(t, served)
        self._report_probes(seen if opening else self._seen_by(served, self.plmns.index(plmn)), plmn, t,
                            not opening)

    # ---- DSO equipment --------------------------------------------------------------------------------------------

    def _cpe_fail(self, t: float, e: Any) -> None:
        i = e.station
        if self.cpe_failed[i]:
            return
        self.cpe_failed[i] = True
        self.touch(t, [i])
        # The head-end's probes toward the CPE fail on the PLMNs it used; the exchange hears of it at the CPE's
        # upload phase, as for a working one (the DSO's head-end reports for a dead CPE).
        heard = self._upload_at([i], t + self._evidence_s())
        self._incident(t, Incident(e.id, "dso_equipment", self.plmns[0], [i], t), heard)
        self.cpe_event[i] = e
        if self.uploads:
            self.at(heard, self._cpe_probes, i, t)

    def _cpe_probes(self, t: float, i: int, since: float) -> None:
        """The failed CPE's probes fail on its PLMNs; the other CPEs on the same cells keep succeeding."""
        if self.twin is None:
            return
        st = self.w.stations[i]
        step = self.wd.interval_s
        rows: list[tuple[int, str, float, bool]] = []
        for k, p in enumerate(self.plmns):
            if self.modem[i].probes_standby or k == self.active[i]:
                rows += self._failing([i], p, since)
            for j in self._seen_by(self._served(st.serving[p]), k):
                if j != i:
                    rows += [(j, p, since + m * step, True) for m in range(1, self.wd.down_after + 1)]
        self._upload(t, rows)

    def _dispatch_cpe(self, t: float, i: int) -> None:
        e = self.cpe_event[i]
        self.cpe_repair_at[i] = t + e.repair
        self.at(t + e.repair, self._cpe_repair, i, e)

    def _cpe_repair(self, t: float, i: int, e: Any) -> None:
        self.cpe_failed[i] = False
        self.cpe_repair_at.pop(i, None)
        self.touch(t, [i])
        inc = self.incidents.get(e.id)
        if inc is not None:
            self._end_incident(t, inc)
        if self.uploads:
            for k, p in enumerate(self.plmns):
                if self.can_probe(i, k):
                    self._report_probes([i], p, t, True)

    # ---- the grid --------------------------------------------------------------------------------------------------

    def _grid_fault(self, t: float, gf: Any) -> None:
        lf = self.w.lines[gf.line]
        f = FaultState(gf.id, gf.line, t, gf.storm, set(lf.feeder_buses))
        self.faults[f.id] = f
        self._kill(t, f, lf.feeder_buses)
        self.at(t + self.cfg.scada_detect_s, self._grid_detect, f)

    def _kill(self, t: float, f: FaultState, buses: frozenset[int] | set[int]) -> None:
        for b in sorted(buses):
            was = bool(self.bus_dead[b])
            self.bus_dead[b].add(f.id)
            if was:
                continue
            for i in self.st_of_bus.get(b, ()):
                self.dead_since[i] = t
            for r in self.ran_of_bus.get(b, ()):
                self.battery_since[r] = t
                self.dark_token[r] += 1
                # the battery lasts its true autonomy; the exchange plans with the declared one
                self.at(t + self.truth.autonomy_h[r] * 3600.0, self._ran_dark, r, self.dark_token[r])
                self._notify(t, r, f"PWR-{r}-{self.dark_token[r]}", "COMMERCIAL_POWER_FAILURE", "MAJOR",
                             "notifyNewAlarm")
                if self.expose:
                    declared_dark = t + self.w.ran[r].autonomy_h * 3600.0
                    self.at(declared_dark - advisor.LEAD.total_seconds() + 1, self._ftick, True)

    def _revive(self, t: float, f: FaultState, buses: set[int] | frozenset[int] | list[int]) -> None:
        for b in sorted(set(buses) & f.dead):
            f.dead.discard(b)
            self.bus_dead[b].discard(f.id)
            if self.bus_dead[b]:
                continue
            for i in self.st_of_bus.get(b, ()):
                start = self.dead_since[i]
                if start is not None:
                    self.cust.append((i, start, t))
                    self.dead_since[i] = None
            for r in self.ran_of_bus.get(b, ()):
                token = self.dark_token[r]
                self.battery_since[r] = None
                self.dark_token[r] += 1
                if "dark" in self.ran_down[r]:
                    self.ran_down[r].discard("dark")
                    self._site_out(t, r, "dark", False)
                    served = self._served(r)
                    self.touch(t, served)
                    inc = self.incidents.get(f"D-{r}-{token}")
                    if inc is not None:
                        self._end_incident(t, inc)
                    plmn = self.w.ran[r].plmn
                    self._report_probes(self._seen_by(served, self.plmns.index(plmn)), plmn, t, True)
                self._notify(t, r, f"PWR-{r}-{token}", "COMMERCIAL_POWER_FAILURE", "CLEARED", "notifyClearedAlarm")
        if not f.dead and not f.closed:
            f.closed = True
            if self.coordinated:
                self._tw().outage(f.id, f.line, f.t0, f.t0 + self.cfg.line_repair_h[0] * 3600.0, t)

    def _ran_dark(self, t: float, r: int, token: int) -> None:
        if token != self.dark_token[r]:
            return
        plmn = self.w.ran[r].plmn
        served = self._served(r)
        seen = self._seen_by(served, self.plmns.index(plmn))
        self.ran_down[r].add("dark")
        self._site_out(t, r, "dark", True)
        self.touch(t, served)
        heard = self._report_probes(seen, plmn, t, False)
        arrive = self._notify(t, r, f"PWR-{r}-{token}", "MAINS_BREAKDOWN_WITHOUT_BATTERY_BACKUP", "CRITICAL",
                              "notifyChangedAlarm")
        if served:
            self._incident(t, Incident(f"D-{r}-{token}", "energy_outage", plmn, served, t), min(heard, arrive))

    def _grid_detect(self, t: float, f: FaultState) -> None:
        f.detect = t
        if self.coordinated:
            self._tw().outage(f.id, f.line, f.t0, f.t0 + self.cfg.line_repair_h[0] * 3600.0, None)
        self.cr_queue.append(f.id)
        self.at(t + 1.0, self._cr_next)

    def _customers_off(self, f: FaultState) -> int:
        """What an outage-management system knows: the customers this fault still keeps off."""
        return sum(self.w.stations[i].customers for b in f.dead for i in self.st_of_bus.get(b, ()))

    def _coordinated(self) -> bool:
        return self.coordinated

    def _cr_next(self, t: float) -> None:
        if self.cr_busy or not self.cr_queue:
            return
        faults = self.faults
        if self._coordinated():  # the plan: the fault whose comms fail first, then the most customers off
            fid = min(self.cr_queue, key=lambda x: (faults[x].comms_fail_at, -self._customers_off(faults[x]),
                                                    faults[x].detect, x))
        elif self.cfg.grid_dispatch == "oms":
            fid = min(self.cr_queue, key=lambda x: (-self._customers_off(faults[x]), faults[x].detect, x))
        else:
            fid = self.cr_queue[0]
        self.desk_picks.append((t, fid, {x: self._customers_off(faults[x]) for x in self.cr_queue}))
        self.cr_queue.remove(fid)
        self.cr_busy = True
        f = self.faults[fid]
        c = self.cfg
        self.at(t + c.da_step_min[0] * 60.0, self._da_upstream, f)
        self.at(t + c.da_step_min[1] * 60.0, self._da_downstream, f)
        self.at(t + c.control_room_min_per_fault * 60.0, self._cr_free)

    def _cr_free(self, t: float) -> None:
        self.cr_busy = False
        self._cr_next(t)

    def _remote_ok(self, b: int) -> bool:
        sts = self.st_of_bus.get(b, [])
        return all(self.w.stations[i].da and self.reach[i] for i in sts)

    def _da_upstream(self, t: float, f: FaultState) -> None:
        lf = self.w.lines[f.line]
        if lf.iso_bus is not None and not self._remote_ok(lf.iso_bus):
            f.manual_up = True
            return
        self._revive(t, f, lf.upstream)

    def _da_downstream(self, t: float, f: FaultState) -> None:
        lf = self.w.lines[f.line]
        down = sorted(b for b in f.dead if b not in lf.upstream and b not in lf.repair_only)
        if f.manual_up:
            f.manual = down
        else:
            remote = [b for b in down if self._remote_ok(b)]
            self._revive(t, f, remote)
            f.manual = [b for b in down if b not in set(remote)]
        self.crew_queue.append((f.id, t))
        self._crew_next(t)

    def _crew_next(self, t: float) -> None:
        c = self.cfg
        while self.crews_free > 0 and self.crew_queue:
            faults = self.faults
            if self._coordinated():  # the plan's restoration priority, then the most customers off
                job = min(self.crew_queue, key=lambda j: (-faults[j[0]].dependent_customers,
                                                          -self._customers_off(faults[j[0]]),
                                                          faults[j[0]].comms_fail_at, j[1], j[0]))
            elif self.cfg.grid_dispatch == "oms":
                job = min(self.crew_queue, key=lambda j: (-self._customers_off(faults[j[0]]), j[1], j[0]))
            else:
                job = self.crew_queue[0]
            self.crew_queue.remove(job)
            self.crews_free -= 1
            f = self.faults[job[0]]
            self.rolls.append((t, "grid_crew"))
            g = rng(self.seed, "crew", f.id)
            arrive = t + lognormal_s(g, *c.crew_travel_h)
            repair = lognormal_s(g, *c.line_repair_h)
            k = 0
            lf = self.w.lines[f.line]
            if f.manual_up:
                k += 1
                self.at(arrive + k * c.manual_switch_min * 60.0, self._revive_at, f, sorted(lf.upstream))
            for b in f.manual:
                if self.st_of_bus.get(b):
                    k += 1
                self.at(arrive + k * c.manual_switch_min * 60.0, self._revive_at, f, [b])
            done = arrive + k * c.manual_switch_min * 60.0 + repair
            self.at(done, self._repaired, f)

    def _revive_at(self, t: float, f: FaultState, buses: list[int]) -> None:
        self._revive(t, f, buses)

    def _repaired(self, t: float, f: FaultState) -> None:
        self._revive(t, f, set(f.dead))
        self.crews_free += 1
        self._crew_next(t)

    # ---- the end -------------------------------------------------------------------------------------------------

    def _finish(self, horizon: float) -> None:
        for ran, cause in list(self.out_since):
            self._site_out(horizon, ran, cause, False)
        for i in range(len(self.w.stations)):
            open_cause = self.cause[i]
            if open_cause is not None:
                self.down_by[open_cause] += horizon - self.cause_since[i]
            if not self.reach[i]:
                self.unavail[i].append((self.reach_since[i], horizon))
            if self.dead_since[i] is not None:
                self.cust.append((i, self.dead_since[i] or 0.0, horizon))

    def _outage_row(self, f: FaultState) -> dict[str, Any]:
        return {"id": f.id, "line": f.line, "t": f.t0, "storm": f.storm,
                "commsFailAt": None if f.comms_fail_at == INF else f.comms_fail_at}
