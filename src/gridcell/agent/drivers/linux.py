"""Two (or more) uplink interfaces on a Linux router: every uplink keeps a default route, the active one with
the lowest metric. Probes bound to an interface use that interface's route whatever the metrics, so every
path is probed all the time; switching changes metrics only, in an order that never leaves the router without
a default route (the old active route goes first: traffic falls onto the target's standby route at once)."""

from __future__ import annotations

import asyncio
from typing import Any

from pyroute2 import IPRoute

from gridcell.agent.config import Config, Uplink

ACTIVE_METRIC = 10
STANDBY_METRIC = 100  # + the uplink's position


class LinuxDriver:
    name = "linux"

    def __init__(self, config: Config) -> None:
        self.uplinks = config.uplinks
        self.table = int(config.options.get("table", 254))  # main

    def probe_interface(self, plmn: str) -> str | None:
        return next(u.interface for u in self.uplinks if u.plmn == plmn)

    async def prepare(self, plmn: str) -> str:
        return await asyncio.to_thread(self._prepare, plmn)

    async def activate(self, plmn: str) -> None:
        await asyncio.to_thread(self._activate, plmn)

    async def active(self) -> str | None:
        return await asyncio.to_thread(self._active)

    def _index(self, ipr: IPRoute, uplink: Uplink) -> int:
        found = ipr.link_lookup(ifname=uplink.interface)
        if not found:
            raise OSError(f"interface {uplink.interface} not found")
        return int(found[0])

    def _prepare(self, plmn: str) -> str:
        uplink = next(u for u in self.uplinks if u.plmn == plmn)
        with IPRoute() as ipr:
            ipr.link("set", index=self._index(ipr, uplink), state="up")
        return f"{uplink.interface} up"

    def _defaults(self, ipr: IPRoute) -> list[tuple[int, int]]:
        """(oif, metric) of every IPv4 default route in the table."""
        out = []
        for r in ipr.get_routes(family=2, table=self.table):
            if r.get("dst_len") == 0 and r.get_attr("RTA_OIF") is not None:
                out.append((int(r.get_attr("RTA_OIF")), int(r.get_attr("RTA_PRIORITY") or 0)))
        return out

    def _route(self, ipr: IPRoute, op: str, uplink: Uplink, oif: int, metric: int) -> None:
        spec: dict[str, Any] = {"dst": "0.0.0.0/0", "oif": oif, "priority": metric, "table": self.table}
        if uplink.gateway and op == "add":
            spec["gateway"] = uplink.gateway
        ipr.route(op, **spec)

    def _activate(self, plmn: str) -> None:
        with IPRoute() as ipr:
            index = {u.plmn: self._index(ipr, u) for u in self.uplinks}
            standby = {u.plmn: STANDBY_METRIC + i for i, u in enumerate(self.uplinks)}
            target = next(u for u in self.uplinks if u.plmn == plmn)
            current = self._defaults(ipr)
            # 1. make sure the target has its standby route, so traffic has somewhere to fall
            if not any(oif == index[plmn] for oif, _ in current):
                self._route(ipr, "add", target, index[plmn], standby[plmn])
            # 2. the old active routes go: traffic now takes the target's route (the lowest metric left)
            for oif, metric in current:
                if metric == ACTIVE_METRIC and oif != index[plmn]:
                    self._route(ipr, "del", target, oif, metric)
            # 3. the target becomes active; its standby route goes
            if not any(oif == index[plmn] and metric == ACTIVE_METRIC for oif, metric in self._defaults(ipr)):
                self._route(ipr, "add", target, index[plmn], ACTIVE_METRIC)
            for oif, metric in self._defaults(ipr):
                if oif == index[plmn] and metric != ACTIVE_METRIC:
                    self._route(ipr, "del", target, oif, metric)
            # 4. every other uplink keeps a standby route (probes and the next switch need it)
            have = {oif for oif, _ in self._defaults(ipr)}
            for u in self.uplinks:
                if u.plmn != plmn and index[u.plmn] not in have:
                    self._route(ipr, "add", u, index[u.plmn], standby[u.plmn])

    def _active(self) -> str | None:
        with IPRoute() as ipr:
            defaults = sorted(self._defaults(ipr), key=lambda d: d[1])
            if not defaults:
                return None
            by_index = {self._index(ipr, u): u.plmn for u in self.uplinks}
            return by_index.get(defaults[0][0])
