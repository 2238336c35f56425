"""The agent's configuration file: a router never runs half-configured; each mistake names its TOML path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gridcell.agent.config import ConfigError, parse

GOOD: dict[str, Any] = {
    "agent": {"dso": "dso_1", "cpe": "CPE-1", "driver": "linux", "primary": "26201"},
    "broker": {"host": "broker.example", "port": 8883, "tls": True, "username": "CPE-1", "password": "x"},
    "probe": {"target": "10.99.0.1:7", "interval_s": 1, "down_after": 3},
    "uplink": [{"plmn": "26201", "interface": "wwan0", "gateway": "10.1.0.1"},
               {"plmn": "26202", "interface": "wwan1", "gateway": "10.2.0.1"}],
}


def test_a_good_file_reads_with_defaults() -> None:
    cfg = parse(copy.deepcopy(GOOD))
    assert (cfg.primary, cfg.driver, cfg.broker.tls, cfg.probe.address) == ("26201", "linux", True, ("10.99.0.1", 7))
    assert (cfg.probe.up_after, cfg.probe.count) == (5, 3)
    assert cfg.uplink("26202").interface == "wwan1"


def _with(path: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(GOOD)
    node: Any = raw
    *parents, last = path.split(".")
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    if value is None:
        del node[int(last) if last.isdigit() else last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return raw


@pytest.mark.parametrize(("path", "value", "named"), [
    ("agent.dso", None, "agent.dso"),
    ("agent.driver", "netplan", "agent.driver"),
    ("agent.primary", "99999", "agent.primary"),
    ("broker.port", "1883", "broker.port"),
    ("broker.tls", "yes", "broker.tls"),
    ("probe.target", "10.99.0.1", "probe.target"),
    ("probe.interval_s", 0, "probe"),
    ("probe.count", 50, "probe"),
    ("uplink.1", None, "uplink"),
    ("uplink.1.plmn", "26201", "uplink"),
    ("uplink.0.interface", None, "uplink[0].interface"),
])
def test_each_mistake_is_refused_by_name(path: str, value: Any, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(_with(path, value))
    assert str(caught.value).startswith(named), caught.value
