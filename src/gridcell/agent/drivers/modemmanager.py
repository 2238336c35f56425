"""Routers whose modems ModemManager runs (D-Bus, org.freedesktop.ModemManager1):

* dual-modem: each PLMN has its own modem (`modem`); `prepare` connects the standby modem's bearer
  (Modem.Simple.Connect) so the later switch only moves routes; `activate` connects if needed, then moves the
  default route as the linux driver does;
* single-modem dual-SIM: the PLMNs share one modem and differ by `sim_slot`; `prepare` does nothing (changing
  the slot would drop the active PLMN), `activate` calls Modem.SetPrimarySimSlot, which makes the modem
  reprobe (45-120 s on the modems measured) before Simple.Connect can succeed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dbus_fast import BusType, Variant
from dbus_fast.aio import MessageBus

from gridcell.agent.config import Config, Uplink
from gridcell.agent.drivers.linux import LinuxDriver

SERVICE = "org.freedesktop.ModemManager1"
MODEM = "org.freedesktop.ModemManager1.Modem"
SIMPLE = "org.freedesktop.ModemManager1.Modem.Simple"
REPROBE_TIMEOUT_S = 180.0


class ModemManagerDriver:
    name = "modemmanager"

    def __init__(self, config: Config, bus_address: str | None = None) -> None:
        self.uplinks = config.uplinks
        self.apn = {u.plmn: str(config.options.get(f"apn_{u.plmn}", config.options.get("apn", ""))) for u in
                    config.uplinks}
        self.bus_address = bus_address or config.options.get("dbus_address")
        self.routes = LinuxDriver(config) if config.options.get("routes", True) else None
        self._bus: MessageBus | None = None
        self._active: str | None = None

    @property
    def single_modem(self) -> bool:
        return len({u.modem for u in self.uplinks}) == 1

    def probe_interface(self, plmn: str) -> str | None:
        # On a single modem only the active SIM has a path; a dual-modem router probes both.
        return None if self.single_modem and plmn != self._active else self._uplink(plmn).interface

    def _uplink(self, plmn: str) -> Uplink:
        return next(u for u in self.uplinks if u.plmn == plmn)

    async def _connect_bus(self) -> MessageBus:
        if self._bus is None or not self._bus.connected:
            bus = MessageBus(bus_address=self.bus_address) if self.bus_address else MessageBus(bus_type=BusType.SYSTEM)
            self._bus = await bus.connect()
        return self._bus

    async def _iface(self, path: str, name: str) -> Any:
        bus = await self._connect_bus()
        introspection = await bus.introspect(SERVICE, path)
        return bus.get_proxy_object(SERVICE, path, introspection).get_interface(name)

    async def _simple_connect(self, uplink: Uplink) -> str:
        assert uplink.modem is not None
        simple = await self._iface(uplink.modem, SIMPLE)
        props = {"apn": Variant("s", self.apn[uplink.plmn])} if self.apn[uplink.plmn] else {}
        bearer: str = await simple.call_connect(props)
        return bearer

    async def prepare(self, plmn: str) -> str:
        uplink = self._uplink(plmn)
        if uplink.modem is None:
            raise OSError(f"uplink {plmn}: no modem configured")
        if self.single_modem:
            return "single modem: the standby SIM cannot be brought up without dropping the active one"
        bearer = await self._simple_connect(uplink)
        return f"bearer {bearer} connected"

    async def activate(self, plmn: str) -> None:
        uplink = self._uplink(plmn)
        if uplink.modem is None:
            raise OSError(f"uplink {plmn}: no modem configured")
        if self.single_modem and uplink.sim_slot is not None:
            modem = await self._iface(uplink.modem, MODEM)
            await modem.call_set_primary_sim_slot(uplink.sim_slot)
            await self._wait_registered(uplink)
        await self._simple_connect(uplink)
        if self.routes is not None:
            await self.routes.activate(plmn)
        self._active = plmn

    async def _wait_registered(self, uplink: Uplink) -> None:
        """After a slot change the modem reprobes; it takes a connection once it is registered again."""
        assert uplink.modem is not None
        deadline = asyncio.get_running_loop().time() + REPROBE_TIMEOUT_S
        while True:
            try:
                modem = await self._iface(uplink.modem, MODEM)
                if int(await modem.get_state()) >= 8:  # MM_MODEM_STATE_REGISTERED and beyond
                    return
            except Exception:  # the modem object disappears while it reprobes
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise OSError(f"modem {uplink.modem} not registered {REPROBE_TIMEOUT_S:.0f} s after the slot change")
            await asyncio.sleep(0.5)

    async def active(self) -> str | None:
        if self.single_modem:
            modem = await self._iface(self.uplinks[0].modem or "", MODEM)
            slot = int(await modem.get_primary_sim_slot())
            return next((u.plmn for u in self.uplinks if u.sim_slot == slot), None)
        if self.routes is not None:
            return await self.routes.active()
        return self._active
