"""The agent's one configuration file (TOML), checked completely at start: a router must not run half-configured."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DRIVERS = ("linux", "modemmanager", "mwan3")


class ConfigError(ValueError):
    """A setting that is missing or wrong, named by its TOML path."""


@dataclass(frozen=True)
class Uplink:
    plmn: str
    interface: str  # the uplink's network interface (wwan0, a VLAN, a veth in the testbed)
    gateway: str | None = None  # next hop (linux driver); None for point-to-point links
    modem: str | None = None  # ModemManager: the modem's D-Bus path or index (modemmanager driver)
    sim_slot: int | None = None  # ModemManager: the SIM slot of this PLMN on a single-modem dual-SIM router
    mwan3_interface: str | None = None  # OpenWrt: the uplink's mwan3 member section (mwan3 driver)


@dataclass(frozen=True)
class Broker:
    host: str
    port: int = 1883
    prefix: str = "gridcell"
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    keepalive_s: int = 30


@dataclass(frozen=True)
class Probe:
    target: str  # host:port of a UDP echo responder at the head-end
    interval_s: float = 1.0
    timeout_s: float = 1.0
    down_after: int = 3  # consecutive losses that mark a path down (mwan3: 3)
    up_after: int = 5  # consecutive answers that mark it up again (mwan3: 8 at 5 s)
    watch_interval_s: float = 0.15  # after a `prepare`: how often the active path is probed
    count: int = 3  # echoes per probe: a probe is lost only when all are

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.target.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Config:
    dso: str
    cpe: str
    primary: str
    driver: str
    broker: Broker
    probe: Probe
    uplinks: tuple[Uplink, ...]
    state_dir: Path
    telemetry_every_s: float = 60.0  # probe results are published to the exchange this often
    options: dict[str, Any] = field(default_factory=dict)  # driver options

    def uplink(self, plmn: str) -> Uplink:
        for u in self.uplinks:
            if u.plmn == plmn:
                return u
        raise KeyError(plmn)


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise ConfigError(f"{where}.{key}: required")
        return default
    value = table[key]
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise ConfigError(f"{where}.{key}: expected {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def load(path: str | Path) -> Config:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse(raw)


def parse(raw: dict[str, Any]) -> Config:
    agent = _get(raw, "agent", dict, "")
    broker = _get(raw, "broker", dict, "")
    probe = _get(raw, "probe", dict, "")
    uplinks_raw = _get(raw, "uplink", list, "")
    uplinks = tuple(Uplink(plmn=str(_get(u, "plmn", str, f"uplink[{i}]")),
                           interface=_get(u, "interface", str, f"uplink[{i}]"),
                           gateway=_get(u, "gateway", str, f"uplink[{i}]", None),
                           modem=_get(u, "modem", str, f"uplink[{i}]", None),
                           sim_slot=_get(u, "sim_slot", int, f"uplink[{i}]", None),
                           mwan3_interface=_get(u, "mwan3_interface", str, f"uplink[{i}]", None))
                    for i, u in enumerate(uplinks_raw) if isinstance(u, dict))
    if len(uplinks) != len(uplinks_raw) or len(uplinks) < 2:
        raise ConfigError("uplink: at least two [[uplink]] tables, one per PLMN")
    if len({u.plmn for u in uplinks}) != len(uplinks):
        raise ConfigError("uplink: one [[uplink]] per PLMN")
    driver = _get(agent, "driver", str, "agent", "linux")
    if driver not in DRIVERS:
        raise ConfigError(f"agent.driver: one of {', '.join(DRIVERS)}")
    primary = _get(agent, "primary", str, "agent", uplinks[0].plmn)
    if primary not in {u.plmn for u in uplinks}:
        raise ConfigError("agent.primary: the PLMN of one of the uplinks")
    p = Probe(target=_get(probe, "target", str, "probe"),
              interval_s=float(_get(probe, "interval_s", (int, float), "probe", 1.0)),
              timeout_s=float(_get(probe, "timeout_s", (int, float), "probe", 1.0)),
              down_after=_get(probe, "down_after", int, "probe", 3), up_after=_get(probe, "up_after", int, "probe", 5),
              watch_interval_s=float(_get(probe, "watch_interval_s", (int, float), "probe", 0.15)),
              count=_get(probe, "count", int, "probe", 3))
    try:
        p.address  # noqa: B018 (checks host:port)
    except ValueError as exc:
        raise ConfigError("probe.target: host:port of the UDP echo responder") from exc
    if not (0.05 <= p.interval_s <= 3600 and 0.01 <= p.timeout_s <= 60 and p.down_after >= 1 and p.up_after >= 1
            and 1 <= p.count <= 10):
        raise ConfigError("probe: interval_s 0.05-3600, timeout_s 0.01-60, down_after and up_after >= 1, count 1-10")
    b = Broker(host=_get(broker, "host", str, "broker"), port=_get(broker, "port", int, "broker", 1883),
               prefix=_get(broker, "prefix", str, "broker", "gridcell"),
               username=_get(broker, "username", str, "broker", None),
               password=_get(broker, "password", str, "broker", None), tls=_get(broker, "tls", bool, "broker", False),
               ca_file=_get(broker, "ca_file", str, "broker", None),
               keepalive_s=_get(broker, "keepalive_s", int, "broker", 30))
    return Config(dso=_get(agent, "dso", str, "agent"), cpe=_get(agent, "cpe", str, "agent"), primary=primary,
                  driver=driver, broker=b, probe=p, uplinks=uplinks,
                  state_dir=Path(_get(agent, "state_dir", str, "agent", "/var/lib/gridcell-agent")),
                  telemetry_every_s=float(_get(agent, "telemetry_every_s", (int, float), "agent", 60.0)),
                  options=_get(raw, "driver", dict, "", {}))
