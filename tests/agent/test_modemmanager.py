"""The modemmanager driver against a ModemManager D-Bus service this test runs on a private bus (the
org.freedesktop.ModemManager1 objects, methods and properties the driver uses, recording each call): dual-modem
routers bring the standby bearer up on `prepare`; single-modem dual-SIM routers change the primary SIM slot on
`activate` (and wait for the modem to register again), never on `prepare`."""

# D-Bus signatures are dbus-fast's annotations ("u", "a{sv}"), not Python types.
# ruff: noqa: UP037, F821, F722

from __future__ import annotations

import asyncio
import copy
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from dbus_fast import PropertyAccess
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, dbus_property, method

from gridcell.agent.config import parse
from gridcell.agent.drivers.modemmanager import ModemManagerDriver
from tests.agent.test_config import GOOD
from tests.conftest import IN_CI

pytestmark = pytest.mark.skipif(shutil.which("dbus-daemon") is None and not IN_CI, reason="no dbus-daemon here")
MM = "/org/freedesktop/ModemManager1/Modem"


class Modem(ServiceInterface):  # type: ignore[misc]
    def __init__(self, calls: list[tuple[str, Any]], slot: int = 1) -> None:
        super().__init__("org.freedesktop.ModemManager1.Modem")
        self.calls, self.slot, self.state = calls, slot, 11  # MM_MODEM_STATE_CONNECTED

    @method()
    def SetPrimarySimSlot(self, slot: "u"):
        self.calls.append(("SetPrimarySimSlot", slot))
        self.slot = slot

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> "i":
        return self.state

    @dbus_property(access=PropertyAccess.READ)
    def PrimarySimSlot(self) -> "u":
        return self.slot


class Simple(ServiceInterface):  # type: ignore[misc]
    def __init__(self, calls: list[tuple[str, Any]], index: int) -> None:
        super().__init__("org.freedesktop.ModemManager1.Modem.Simple")
        self.calls, self.index = calls, index

    @method()
    def Connect(self, properties: "a{sv}") -> "o":
        self.calls.append(("Connect", self.index, {k: v.value for k, v in properties.items()}))
        return f"/org/freedesktop/ModemManager1/Bearer/{self.index}"


@pytest.fixture
def bus_address() -> Iterator[str]:
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                              stdout=subprocess.PIPE, text=True)
    assert daemon.stdout is not None
    address = daemon.stdout.readline().strip()
    yield address
    daemon.terminate()
    daemon.wait(10)


async def _serve(address: str, modems: int, calls: list[tuple[str, Any]]) -> MessageBus:
    bus = await MessageBus(bus_address=address).connect()
    for i in range(modems):
        bus.export(f"{MM}/{i}", Modem(calls))
        bus.export(f"{MM}/{i}", Simple(calls, i))
    await bus.request_name("org.freedesktop.ModemManager1")
    return bus


def _config(single: bool) -> Any:
    raw = copy.deepcopy(GOOD)
    raw["agent"]["driver"] = "modemmanager"
    raw["driver"] = {"routes": False, "apn": "internet.m2m"}
    for i, u in enumerate(raw["uplink"]):
        u["modem"] = f"{MM}/0" if single else f"{MM}/{i}"
        if single:
            u["sim_slot"] = i + 1
    return parse(raw)


def test_dual_modem_prepares_the_standby_bearer(bus_address: str) -> None:
    async def run() -> tuple[str, list[tuple[str, Any]]]:
        calls: list[tuple[str, Any]] = []
        service = await _serve(bus_address, 2, calls)
        try:
            driver = ModemManagerDriver(_config(single=False), bus_address=bus_address)
            detail = await driver.prepare("26202")
            await driver.activate("26202")
            return detail, calls
        finally:
            service.disconnect()

    detail, calls = asyncio.run(run())
    assert "Bearer/1" in detail
    assert calls == [("Connect", 1, {"apn": "internet.m2m"}), ("Connect", 1, {"apn": "internet.m2m"})]


def test_single_modem_changes_the_slot_only_when_switching(bus_address: str) -> None:
    async def run() -> tuple[str, str | None, list[tuple[str, Any]]]:
        calls: list[tuple[str, Any]] = []
        service = await _serve(bus_address, 1, calls)
        try:
            driver = ModemManagerDriver(_config(single=True), bus_address=bus_address)
            detail = await driver.prepare("26202")
            assert calls == []  # a slot change would drop the PLMN carrying traffic
            await driver.activate("26202")
            return detail, await driver.active(), calls
        finally:
            service.disconnect()

    detail, active, calls = asyncio.run(run())
    assert "single modem" in detail
    assert calls == [("SetPrimarySimSlot", 2), ("Connect", 0, {"apn": "internet.m2m"})]
    assert active == "26202"
