"""OpenWrt with mwan3: the agent sets the mwan3 interface metrics through UCI and reloads mwan3, the way an
operator would (`uci set mwan3.<iface>.metric=…; uci commit mwan3; mwan3 restart`). The commands are what is
tested here (no OpenWrt in the test environment); on a router they run as given."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence

from gridcell.agent.config import Config


class Mwan3Driver:
    name = "mwan3"

    def __init__(self, config: Config) -> None:
        self.uplinks = config.uplinks
        self.commands_run: list[list[str]] = []
        self._active: str | None = None

    def probe_interface(self, plmn: str) -> str | None:
        return next(u.interface for u in self.uplinks if u.plmn == plmn)

    def commands(self, plmn: str) -> list[list[str]]:
        """The UCI and mwan3 commands that make `plmn` the preferred uplink."""
        out = []
        for i, u in enumerate(self.uplinks):
            member = u.mwan3_interface or f"{u.interface}_m1_w3"  # the mwan3 member section (OpenWrt's naming)
            out.append(["uci", "set", f"mwan3.{member}.metric={1 if u.plmn == plmn else 2 + i}"])
        out += [["uci", "commit", "mwan3"], ["mwan3", "restart"]]
        return out

    async def _run(self, commands: Sequence[list[str]]) -> None:
        for cmd in commands:
            self.commands_run.append(cmd)
            if shutil.which(cmd[0]) is None:
                raise OSError(f"{cmd[0]} is not installed: the mwan3 driver runs on OpenWrt")
            proc = await asyncio.create_subprocess_exec(*cmd)
            if await proc.wait() != 0:
                raise OSError(f"{' '.join(cmd)} exited with {proc.returncode}")

    async def prepare(self, plmn: str) -> str:
        return "mwan3 keeps every member interface up"

    async def activate(self, plmn: str) -> None:
        await self._run(self.commands(plmn))
        self._active = plmn

    async def active(self) -> str | None:
        return self._active
