"""How long the event loop was kept from running: a task asks to wake every 10 ms and records by how much it
was late. Whatever runs on the loop without yielding (a parse, a hash, a long computation) shows as lag, and
every request, webhook and health check on the loop waited that long."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from prometheus_client import Gauge, Histogram

PERIOD_S = 0.01
WINDOW_S = 10.0
LAG = Histogram("gridcell_event_loop_lag_seconds", "How late the event loop ran a 10 ms timer",
                buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
LAG_MAX = Gauge("gridcell_event_loop_lag_max_seconds", "The longest event loop lag in the last 10 s")


async def monitor() -> None:
    recent: deque[tuple[float, float]] = deque()  # (time, lag) of lags above a millisecond
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(PERIOD_S)
        lag = max(0.0, loop.time() - before - PERIOD_S)
        LAG.observe(lag)
        now = time.monotonic()
        if lag > 0.001:
            recent.append((now, lag))
        while recent and recent[0][0] < now - WINDOW_S:
            recent.popleft()
        LAG_MAX.set(max((lag for _, lag in recent), default=0.0))
