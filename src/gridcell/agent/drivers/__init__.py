"""How the agent moves a router's traffic between PLMNs: one interface, a driver per kind of router."""

from __future__ import annotations

from typing import Protocol

from gridcell.agent.config import Config


class Driver(Protocol):
    name: str

    async def prepare(self, plmn: str) -> str:
        """Bring the standby path up without disturbing traffic; what was done, for the acknowledgement."""

    async def activate(self, plmn: str) -> None:
        """Make `plmn` carry the router's traffic."""

    async def active(self) -> str | None:
        """The PLMN carrying traffic now, as the router says (None when it cannot tell)."""

    def probe_interface(self, plmn: str) -> str | None:
        """The interface a probe of `plmn`'s path is bound to (None: that path cannot be probed while standby)."""


def make(config: Config) -> Driver:
    if config.driver == "linux":
        from gridcell.agent.drivers.linux import LinuxDriver

        return LinuxDriver(config)
    if config.driver == "modemmanager":
        from gridcell.agent.drivers.modemmanager import ModemManagerDriver

        return ModemManagerDriver(config)
    from gridcell.agent.drivers.mwan3 import Mwan3Driver

    return Mwan3Driver(config)
