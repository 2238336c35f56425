"""Commands as the agent judges them before touching the router: another CPE's, an unknown action, a PLMN it has
no uplink for, a command older than the newest it executed: each refused and acknowledged as refused; a
command published again (the exchange replays after a reconnect) gets the same answer, not a second run; what
is not yet acknowledged survives a restart of the agent."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

from gridcell.agent.config import parse
from gridcell.agent.drivers.mwan3 import Mwan3Driver
from gridcell.agent.runtime import Agent
from tests.agent.test_config import GOOD


def _agent(tmp_path: Path) -> Agent:
    raw = copy.deepcopy(GOOD)
    raw["agent"]["state_dir"] = str(tmp_path / "state")
    raw["agent"]["driver"] = "mwan3"  # never reached by these commands: nothing on this machine changes
    cfg = parse(raw)
    return Agent(cfg, Mwan3Driver(cfg))


def _cmd(**fields: Any) -> bytes:
    base = {"commandId": "c-1", "cpeId": "CPE-1", "action": "stay", "fromPlmn": "26201", "toPlmn": "26201",
            "issuedAt": "2026-12-04T10:00:00Z"}
    return json.dumps({**base, **fields}).encode()


def test_commands_that_cannot_be_right_are_refused(tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    cases = {"c-other": _cmd(commandId="c-other", cpeId="CPE-2", action="switch", toPlmn="26202"),
             "c-unknown": _cmd(commandId="c-unknown", action="reboot"),
             "c-plmn": _cmd(commandId="c-plmn", action="switch", toPlmn="99999")}
    for command_id, payload in cases.items():
        ack = asyncio.run(agent.handle(payload))
        assert ack is not None and ack["commandId"] == command_id and ack["status"] == "rejected", ack
    assert asyncio.run(agent.handle(b"not json")) is None
    assert asyncio.run(agent.handle(b'{"action": "switch"}')) is None
    assert agent.driver.commands_run == [] and agent.switches == []  # type: ignore[attr-defined]


def test_a_stale_command_is_refused_and_a_replay_answered_the_same(tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    first = asyncio.run(agent.handle(_cmd(commandId="c-new", issuedAt="2026-12-04T10:05:00Z")))
    assert first is not None and first["status"] == "done"
    stale = asyncio.run(agent.handle(_cmd(commandId="c-old", issuedAt="2026-12-04T10:01:00Z", action="switch",
                                          toPlmn="26202")))
    assert stale is not None and stale["status"] == "rejected" and "stale" in stale["detail"]
    assert asyncio.run(agent.handle(_cmd(commandId="c-new", issuedAt="2026-12-04T10:05:00Z"))) == first


def test_unsent_acknowledgements_survive_a_restart(tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    ack = asyncio.run(agent.handle(_cmd(commandId="c-keep", issuedAt="2026-12-04T10:05:00Z")))
    assert ack is not None
    agent.unsent.append(ack)
    agent._save_state()  # as the broker loop does before publishing
    again = _agent(tmp_path)
    assert again.unsent == [ack] and again.last_issued_at == "2026-12-04T10:05:00Z"
    assert asyncio.run(again.handle(_cmd(commandId="c-keep", issuedAt="2026-12-04T10:05:00Z"))) == ack


def test_the_mwan3_driver_runs_the_uci_commands_an_operator_would(tmp_path: Path) -> None:
    raw = copy.deepcopy(GOOD)
    raw["uplink"][1]["mwan3_interface"] = "wwan_b_m1_w3"
    cfg = parse(raw)
    assert Mwan3Driver(cfg).commands("26202") == [
        ["uci", "set", "mwan3.wwan0_m1_w3.metric=2"], ["uci", "set", "mwan3.wwan_b_m1_w3.metric=1"],
        ["uci", "commit", "mwan3"], ["mwan3", "restart"]]
