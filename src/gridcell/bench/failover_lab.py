"""The failover lab: the namespace testbed with a head-end running the probe responder, a telecontrol stream,
and (when the exchange takes part) Mosquitto and `gridcell serve`; the agent runs in the CPE namespace as it
would on a router. Used by tests/agent and `gridcell bench failover`."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from gridcell.bench.stream import longest_gap
from gridcell.bench.testbed import HEAD_ADDRESS, Testbed, subnet, testbed

PLMNS = ("26201", "26202")
PORT = 8080
STARTUP_S = 120.0
_SWITCH = re.compile(r"traffic on (\d+) \(was (\d+)\): (.*); first packet after (\S+) ms \[t0 ([\d.]+)\]")


@dataclass
class AgentSettings:
    interval_s: float = 1.0
    timeout_s: float = 0.8
    down_after: int = 3
    up_after: int = 5
    count: int = 3
    watch_interval_s: float = 0.15

    @classmethod
    def mwan3_defaults(cls) -> AgentSettings:
        """OpenWrt mwan3's defaults (interval 5 s, timeout 2 s, down 3, up 8, one ping): today's router."""
        return cls(interval_s=5.0, timeout_s=2.0, down_after=3, up_after=8, count=1, watch_interval_s=5.0)


@dataclass
class SwitchSeen:
    at: float  # CLOCK_MONOTONIC (one clock for every namespace and process): when the switch began
    to_plmn: str
    from_plmn: str
    why: str
    first_packet_ms: float | None


@dataclass
class World:
    dso: str
    mno_tokens: dict[str, str]  # PLMN -> MNO operator token
    dso_token: str
    cells: dict[str, str]  # PLMN -> cell id serving the CPE


def cpe_id(k: int) -> str:
    return f"CPE-{k + 1}"


def build_world(url: str, cpes: int = 1) -> World:
    """A DSO site per CPE (one by default), each CPE a USIM on each PLMN, all served by one cell of each PLMN,
    each PLMN of its own MNO, cell-level agreements."""
    from gridcell.core.db import Database
    from gridcell.exposure import status
    from gridcell.migrations import upgrade
    from gridcell.tenancy import service as tenancy
    from gridcell.topology import service as topology
    from gridcell.wiring import register_handlers

    register_handlers()
    db = Database(url, sqlite_synchronous="NORMAL")
    try:
        upgrade(db)
        with db.write() as s:
            dso = tenancy.create_org(s, "Lab DSO", "dso")
            mnos = {p: tenancy.create_org(s, f"Lab MNO {p}", "mno") for p in PLMNS}
            s.flush()
            mno_tokens = {p: tenancy.create_client(s, m, "operator")[1] for p, m in mnos.items()}
            dso_token = tenancy.create_client(s, dso, "operator")[1]
            for p, m in mnos.items():
                tenancy.create_agreement(s, dso, m, [p], "cell")
        cells = {p: f"{p}-C0" for p in PLMNS}
        for i, (p, m) in enumerate(mnos.items()):
            with db.write() as s:
                topology.import_topology(s, m, {"ranSites": [{
                    "id": f"RAN-{p}", "name": f"RAN {p}", "lat": 48.0, "lon": 7.8 + i * 0.01,
                    "dn": f"SubNetwork=1,ManagedElement=gNB-{p}", "batteryCapacityWh": 9600, "loadW": 2400,
                    "cells": [{"cellId": cells[p], "plmn": p, "azimuth": 90.0, "rangeM": 3000,
                               "dn": f"SubNetwork=1,ManagedElement=gNB-{p},GNBDUFunction=1,NRCellDU=0"}]}]})
        with db.write() as s:
            topology.import_topology(s, dso, {"sites": [{
                "id": f"S-{k + 1}", "name": f"Lab substation {k + 1}",
                "kind": "secondary_substation", "lat": 48.0 + 0.0005 * k, "lon": 7.81, "customers": 100,
                "cpes": [{"id": cpe_id(k), "usims": [
                    {"plmn": PLMNS[0], "role": "primary", "servingCellId": cells[PLMNS[0]]},
                    {"plmn": PLMNS[1], "role": "alternate", "servingCellId": cells[PLMNS[1]]}]}]}
                for k in range(cpes)]})
            s.flush()
            status.rebuild_org(s, dso)
    finally:
        db.dispose()
    return World(dso, mno_tokens, dso_token, cells)


def _suffix(k: int) -> str:
    """File and process names of CPE k: the first CPE's carry none."""
    return "" if k == 0 else str(k)


@dataclass
class Lab:
    workdir: Path
    exchange: bool = False
    lossy_plmn: int | None = None  # this PLMN's probe echoes are dropped with `loss`
    loss: float = 0.0
    cpes: int = 1
    tb: Testbed = field(init=False)
    world: World | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: list[IO[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tb = testbed(self.cpes)

    def __enter__(self) -> Lab:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tb.up()
        try:
            self._start_head()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _spawn(self, name: str, namespace: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self.logs.append(log)
        self.procs[name] = self.tb.popen(namespace, cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)

    def _start_head(self) -> None:
        py = sys.executable
        echo = [py, "-m", "gridcell.bench.lossy_echo", "--listen", f"{HEAD_ADDRESS}:7"]
        if self.lossy_plmn is not None:
            echo += ["--lossy", f"10.{self.lossy_plmn + 1}.0.0/16", "--loss", str(self.loss)]
        self._spawn("echo", self.tb.head, echo)
        for k in range(self.cpes):  # a stream per CPE, each to its own port of the head-end
            sfx = _suffix(k)
            self._spawn(f"stream-head{sfx}", self.tb.head, [
                py, "-m", "gridcell.bench.stream", "head", "--listen", f"{HEAD_ADDRESS}:{2404 + k}", "--out",
                str(self.workdir / f"head{sfx}.rx")])
            self._spawn(f"stream-cpe{sfx}", self.tb.cpe_ns(k), [
                py, "-m", "gridcell.bench.stream", "cpe", "--to", f"{HEAD_ADDRESS}:{2404 + k}", "--out",
                str(self.workdir / f"cpe{sfx}.rx")])
        if self.exchange:
            self._start_exchange()

    def _start_exchange(self) -> None:
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("listener 1883 0.0.0.0\nallow_anonymous true\npersistence false\n")
        self._spawn("mosquitto", self.tb.head, [mosquitto, "-c", str(conf)])
        url = f"sqlite:///{self.workdir / 'gridcell.db'}"
        self.world = build_world(url, self.cpes)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDCELL_")}
        env.update(GRIDCELL_DATABASE_URL=url, GRIDCELL_MQTT_HOST="127.0.0.1", GRIDCELL_TICK_INTERVAL_S="0.25",
                   GRIDCELL_ALLOW_PRIVATE_WEBHOOKS="true")
        self._spawn("gridcell", self.tb.head, [sys.executable, "-c", "from gridcell.cli import main; main()",
                                               "serve", "--host", "0.0.0.0", "--port", str(PORT),
                                               "--log-level", "warning"], env=env)
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            if self.procs["gridcell"].poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"gridcell serve did not start: {self.tail('gridcell')}")

    @property
    def base(self) -> str:
        return f"http://{self.tb.mgmt_head}:{PORT}"

    def tail(self, name: str, n: int = 3000) -> str:
        try:
            return (self.workdir / f"{name}.log").read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def start_agent(self, settings: AgentSettings, k: int = 0) -> None:
        p, sfx = settings, _suffix(k)
        cfg = self.workdir / f"agent{sfx}.toml"
        cfg.write_text(f"""[agent]
dso = "{self.world.dso if self.world else 'dso_lab'}"
cpe = "{cpe_id(k)}"
driver = "linux"
primary = "{PLMNS[0]}"
state_dir = "{self.workdir / f'agent-state{sfx}'}"
telemetry_every_s = 5
[broker]
host = "{HEAD_ADDRESS}"
port = 1883
keepalive_s = 5
[probe]
target = "{HEAD_ADDRESS}:7"
interval_s = {p.interval_s}
timeout_s = {p.timeout_s}
down_after = {p.down_after}
up_after = {p.up_after}
count = {p.count}
watch_interval_s = {p.watch_interval_s}
""" + "".join(f"""[[uplink]]
plmn = "{plmn}"
interface = "up{i}"
gateway = "{subnet(i, k)}.1"
""" for i, plmn in enumerate(PLMNS)))
        self._spawn(f"agent{sfx}", self.tb.cpe_ns(k), [sys.executable, "-m", "gridcell.agent.main", "run",
                                                      "--config", str(cfg)])

    def switches(self, k: int = 0) -> list[SwitchSeen]:
        out = []
        for line in self.tail(f"agent{_suffix(k)}", 1_000_000).splitlines():
            m = _SWITCH.search(line)
            if m:
                ms = None if m.group(4) == "None" else float(m.group(4))
                out.append(SwitchSeen(float(m.group(5)), m.group(1), m.group(2), m.group(3), ms))
        return out

    def gap_ms(self, start: float, end: float, k: int = 0) -> float:
        """The longest silence of CPE k's stream, either way, within [start, end] (monotonic seconds)."""
        sfx = _suffix(k)
        return max(longest_gap(self.workdir / f"head{sfx}.rx", start, end),
                   longest_gap(self.workdir / f"cpe{sfx}.rx", start, end))

    def wait_for(self, check: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.05)
        raise AssertionError(f"not within {timeout_s:g} s: {what}\n{self.tail('agent')}")

    def post(self, path: str, body: Any, token: str) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def get(self, path: str, token: str) -> Any:
        r = httpx.get(f"{self.base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        r.raise_for_status()
        return r.json()

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in self.logs:
            log.close()
        self.tb.down()
