"""CPEs, two PLMNs and a head-end in Linux network namespaces (root only), for the agent's tests and
`gridcell bench failover`:

    cpe ─ up0 ── plmn0 ── head (10.99.0.1: echo, stream, broker, exchange)
        └ up1 ── plmn1 ──┘            └─ mgmt veth to the host namespace (a /30 of 10.250.0.0/16 per testbed,
                                          so testbeds of several processes can run at once)

Every further CPE (`cpes` > 1, the fleet scenario: many CPEs under one cell) has its own namespace and a radio link
to each PLMN; CPE k's uplink i is 10.<i+1>.<k>.2/24.

A PLMN fails as a blackhole: policy rules in its namespace drop everything it would forward, both ways, silently
(the radio stays up, as when a cell's backhaul dies). Random loss is made at the head-end's probe responder
(`LossyEcho`: a share of the echoes through one PLMN dropped), because the kernels this runs on here have neither
netem nor tc's gact action. Everything is removed on exit; names carry the creating process id.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

HEAD_ADDRESS = "10.99.0.1"
TRANSIT = ("10.10.0", "10.20.0")


def available() -> str | None:
    """Why the testbed cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "iproute2 (ip, tc) is not installed"
    probe = f"gcprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add is not permitted: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(cmd), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {result.stderr.strip()}")
    return result


def subnet(plmn: int, cpe: int = 0) -> str:
    """The /24 (first three octets) of CPE `cpe`'s radio link to PLMN `plmn`."""
    return f"10.{plmn + 1}.{cpe}"


@dataclass
class Testbed:
    tag: str
    cpes: int = 1
    slot: int = 0  # which /30 of 10.250.0.0/16 joins the host namespace to the head-end

    @property
    def mgmt_host(self) -> str:
        return f"10.250.{self.slot // 64}.{self.slot % 64 * 4 + 1}"

    @property
    def mgmt_head(self) -> str:
        return f"10.250.{self.slot // 64}.{self.slot % 64 * 4 + 2}"

    @property
    def cpe(self) -> str:
        return self.cpe_ns(0)

    def cpe_ns(self, k: int) -> str:
        return f"{self.tag}-cpe" if k == 0 else f"{self.tag}-cpe{k}"

    @property
    def head(self) -> str:
        return f"{self.tag}-head"

    def plmn(self, i: int) -> str:
        return f"{self.tag}-p{i}"

    @property
    def namespaces(self) -> list[str]:
        return [*(self.cpe_ns(k) for k in range(self.cpes)), self.plmn(0), self.plmn(1), self.head]

    def ns(self, namespace: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run("ip", "netns", "exec", namespace, *cmd, check=check)

    def popen(self, namespace: str, cmd: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """A process inside a namespace (the caller stops it)."""
        return subprocess.Popen(["ip", "netns", "exec", namespace, *cmd], **kwargs)  # type: ignore[call-overload]

    def up(self) -> Testbed:
        try:
            self._build()
        except BaseException:
            self.down()
            raise
        return self

    def _build(self) -> None:
        for n in self.namespaces:
            _run("ip", "netns", "add", n)
            self.ns(n, "ip", "link", "set", "lo", "up")
            for key in ("net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"):
                self.ns(n, "sysctl", "-qw", f"{key}=0")
        t = self.tag[-6:]  # interface names stay within 15 characters
        for i in (0, 1):
            p = self.plmn(i)
            self.ns(p, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            for k in range(self.cpes):
                self._radio(i, k, t)
            # PLMN i <-> head-end (core side)
            _run("ip", "link", "add", f"c{i}{t}", "netns", p, "type", "veth", "peer", "name", f"h{i}{t}",
                 "netns", self.head)
            self.ns(p, "ip", "link", "set", f"c{i}{t}", "name", "core")
            self.ns(self.head, "ip", "link", "set", f"h{i}{t}", "name", f"plmn{i}")
            self.ns(p, "ip", "addr", "add", f"{TRANSIT[i]}.2/30", "dev", "core")
            self.ns(self.head, "ip", "addr", "add", f"{TRANSIT[i]}.1/30", "dev", f"plmn{i}")
            for dev, ns in (("core", p), (f"plmn{i}", self.head)):
                self.ns(ns, "ip", "link", "set", dev, "up")
            self.ns(p, "ip", "route", "add", "default", "via", f"{TRANSIT[i]}.1")
            self.ns(self.head, "ip", "route", "add", f"10.{i + 1}.0.0/16", "via", f"{TRANSIT[i]}.2")
        self.ns(self.head, "ip", "addr", "add", f"{HEAD_ADDRESS}/32", "dev", "lo")
        # management: the host namespace reaches the head-end (the exchange's API), nothing else
        _run("ip", "link", "add", f"m{t}", "type", "veth", "peer", "name", f"mh{t}", "netns", self.head)
        _run("ip", "addr", "add", f"{self.mgmt_host}/30", "dev", f"m{t}")
        _run("ip", "link", "set", f"m{t}", "up")
        self.ns(self.head, "ip", "addr", "add", f"{self.mgmt_head}/30", "dev", f"mh{t}")
        self.ns(self.head, "ip", "link", "set", f"mh{t}", "up")

    def _radio(self, i: int, k: int, t: str) -> None:
        """CPE k's uplink i <-> PLMN i (radio side), its default route through it (the primary's metric lower)."""
        cpe, p, radio = self.cpe_ns(k), self.plmn(i), self.radio(k)
        _run("ip", "link", "add", f"u{i}k{k}{t}", "netns", cpe, "type", "veth", "peer", "name", f"r{i}k{k}{t}",
             "netns", p)
        self.ns(cpe, "ip", "link", "set", f"u{i}k{k}{t}", "name", f"up{i}")
        self.ns(p, "ip", "link", "set", f"r{i}k{k}{t}", "name", radio)
        self.ns(cpe, "ip", "addr", "add", f"{subnet(i, k)}.2/24", "dev", f"up{i}")
        self.ns(p, "ip", "addr", "add", f"{subnet(i, k)}.1/24", "dev", radio)
        self.ns(cpe, "ip", "link", "set", f"up{i}", "up")
        self.ns(p, "ip", "link", "set", radio, "up")
        self.ns(cpe, "ip", "route", "add", "default", "via", f"{subnet(i, k)}.1", "dev", f"up{i}",
                "metric", str(10 if i == 0 else 101))

    @staticmethod
    def radio(k: int) -> str:
        return "radio" if k == 0 else f"radio{k}"

    def down(self) -> None:
        for n in self.namespaces:
            _run("ip", "netns", "del", n, check=False)
        _run("ip", "link", "del", f"m{self.tag[-6:]}", check=False)

    # ---- faults ----------------------------------------------------------------------------------------------

    def blackhole(self, i: int) -> None:
        """PLMN i forwards nothing any more, in either direction."""
        for dev in self._forwarding():
            self.ns(self.plmn(i), "ip", "rule", "add", "iif", dev, "priority", "100", "blackhole")

    def heal(self, i: int) -> None:
        for dev in self._forwarding():
            self.ns(self.plmn(i), "ip", "rule", "del", "iif", dev, "priority", "100", "blackhole", check=False)

    def _forwarding(self) -> list[str]:
        return [*(self.radio(k) for k in range(self.cpes)), "core"]

    def default_route_dev(self, k: int = 0) -> str:
        """CPE k's interface with the lowest-metric default route: where its traffic goes."""
        out = self.ns(self.cpe_ns(k), "ip", "route", "show", "default").stdout.splitlines()
        best = sorted((int(line.split("metric")[1].split()[0]) if "metric" in line else 0, line) for line in out)
        return best[0][1].split(" dev ")[1].split()[0] if best else ""


def testbed(cpes: int = 1) -> Testbed:
    return Testbed(f"gc{os.getpid() % 100000}", cpes, os.getpid() % 16384)
