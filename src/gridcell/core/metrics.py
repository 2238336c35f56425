"""Process-wide metrics that more than one capability counts into (exposed at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

RESTARTS = Counter("gridcell_background_restarts_total", "Background loops and workers that failed and were "
                   "restarted", ["loop"])
