"""Change detection on latency and loss against each USIM's own baseline, vectorised over a batch.

Latency: one-sided CUSUM on standardised RTT, S = max(0, S + clip(z, ±6) − K), alarm at S ≥ H_RTT,
cleared when S returns to 0; baseline = EWMA mean/variance learned only from probes with S < H/2.
Loss: Bernoulli CUSUM (log-likelihood ratio of loss p1 against the baseline p0), alarm at S ≥ H_LOSS.
Both need WARMUP probes of history before they judge. The recursion S_n = max(0, S_{n-1} + y_n) is the
Lindley recursion, S_n = W_n − min(0, min_{j≤n} W_j) with W the running sum, so a whole batch of many
USIMs is computed with cumulative sums and minima, never a Python loop over probes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

K = 0.5
H_RTT = 12.0
H_LOSS = 12.0
Z_CLIP = 6.0
WARMUP = 30
ALPHA_RTT = 0.02
ALPHA_LOSS = 0.01
P0_FLOOR = 0.005
RTT_SIGMA_FLOOR_MS = 1.0
RTT_SIGMA_FLOOR_REL = 0.05

F = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass
class State:
    """Per-group arrays (one entry per USIM)."""

    n_rtt: I64
    mean_rtt: F
    var_rtt: F
    s_rtt: F
    n_loss: I64
    p_loss: F
    s_loss: F
    lat_alarm: B
    loss_alarm: B

    @staticmethod
    def fresh(g: int) -> State:
        z = np.zeros(g)
        return State(np.zeros(g, dtype=np.int64), z.copy(), z.copy(), z.copy(), np.zeros(g, dtype=np.int64),
                     z.copy(), z.copy(), np.zeros(g, dtype=np.bool_), np.zeros(g, dtype=np.bool_))


@dataclass
class Outcome:
    state: State
    lat_alarm_first: I64  # row index (into the batch) where a new latency alarm started, else -1
    loss_alarm_first: I64


def _segments(seg: I64, g: int) -> tuple[I64, I64, I64]:
    """For rows sorted by group: the present groups, their start rows and lengths."""
    if len(seg) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    lengths = np.diff(np.r_[starts, len(seg)])
    return seg[starts], starts, lengths


def lindley(y: F, s0: F, seg: I64) -> F:
    """S per row for each group's recursion S = max(0, S + y), starting from s0[group]; rows sorted by group."""
    if len(y) == 0:
        return np.zeros(0)
    _groups, starts, lengths = _segments(seg, int(seg.max()) + 1)
    cs = np.cumsum(y)
    base = np.repeat(cs[starts] - y[starts], lengths)
    w = s0[seg] + (cs - base)
    order = np.repeat(np.arange(len(starts), dtype=np.float64), lengths)
    off = float(w.max() - min(w.min(), 0.0)) + 1.0
    running_min = np.minimum.accumulate(w - off * order) + off * order
    return np.asarray(w - np.minimum(running_min, 0.0), dtype=np.float64)


def _alarm(s: F, seg: I64, h: float, prev: B, g: int) -> tuple[B, I64, F]:
    """Alarm at the end (hysteresis: on at S ≥ h, off at S = 0), first new crossing row, last S per group."""
    alarm = prev.copy()
    first = np.full(g, -1, dtype=np.int64)
    last_s = np.full(g, np.nan)
    if len(s) == 0:
        return alarm, first, last_s
    groups, starts, lengths = _segments(seg, g)
    idx = np.arange(len(s))
    hi = np.maximum.reduceat(np.where(s >= h, idx, -1), starts)
    lo = np.maximum.reduceat(np.where(s <= 1e-12, idx, -1), starts)
    first_hi = np.minimum.reduceat(np.where(s >= h, idx, len(s)), starts)
    ends = starts + lengths - 1
    last_s[groups] = s[ends]
    now_on = np.where((hi < 0) & (lo < 0), prev[groups], hi > lo)
    alarm[groups] = now_on
    newly = now_on & ~prev[groups] & (first_hi < len(s))
    first[groups[newly]] = first_hi[newly]
    return alarm, first, last_s


def _ewma(values: F, seg: I64, eligible: B, g: int, alpha: float) -> tuple[F, F, I64]:
    """Per group over eligible rows (in order): Σ α(1−α)^(k−r) x_r, (1−α)^k and k."""
    x = values[eligible]
    sg = seg[eligible]
    k = np.bincount(sg, minlength=g).astype(np.int64)
    if len(x) == 0:
        return np.zeros(g), np.ones(g), k
    _, starts, lengths = _segments(sg, g)
    rank = np.arange(len(x)) - np.repeat(starts, lengths) + 1
    weights = alpha * (1 - alpha) ** (k[sg] - rank)
    wsum = np.asarray(np.bincount(sg, weights=weights * x, minlength=g), dtype=np.float64)
    return wsum, np.asarray((1 - alpha) ** k, dtype=np.float64), k


def run(state: State, seg: I64, ok: B, rtt: F) -> Outcome:
    """Rows sorted by (group, time); returns the updated state and where new alarms started."""
    g = len(state.n_rtt)
    st = State(state.n_rtt.copy(), state.mean_rtt.copy(), state.var_rtt.copy(), state.s_rtt.copy(),
               state.n_loss.copy(), state.p_loss.copy(), state.s_loss.copy(), state.lat_alarm.copy(),
               state.loss_alarm.copy())

    # ---- latency ----
    has = ok & ~np.isnan(rtt)
    ls, x = seg[has], rtt[has]
    warm = st.n_rtt >= WARMUP
    sigma = np.sqrt(np.maximum.reduce([st.var_rtt, (RTT_SIGMA_FLOOR_REL * st.mean_rtt) ** 2,
                                       np.full(g, RTT_SIGMA_FLOOR_MS ** 2)]))
    z = np.clip((x - st.mean_rtt[ls]) / sigma[ls], -Z_CLIP, Z_CLIP) - K
    z = np.where(warm[ls], z, -K)
    s = lindley(z, np.where(warm, st.s_rtt, 0.0), ls)
    st.lat_alarm, lat_first_sub, last = _alarm(s, ls, H_RTT, st.lat_alarm & warm, g)
    present = ~np.isnan(last)
    st.s_rtt[present] = np.minimum(last[present], 2 * H_RTT)
    lat_first = np.where(lat_first_sub >= 0, np.flatnonzero(has)[np.maximum(lat_first_sub, 0)] if has.any() else -1, -1)
    eligible = s < H_RTT / 2
    # warm groups: EWMA; cold groups: pooled mean/variance of everything seen so far
    wsum, decay, k = _ewma(x, ls, eligible & warm[ls], g, ALPHA_RTT)
    dsum, _, _ = _ewma((x - st.mean_rtt[ls]) ** 2, ls, eligible & warm[ls], g, ALPHA_RTT)
    upd = warm & (k > 0)
    st.mean_rtt[upd] = decay[upd] * st.mean_rtt[upd] + wsum[upd]
    st.var_rtt[upd] = decay[upd] * st.var_rtt[upd] + dsum[upd]
    cold_rows = ~warm[ls]
    kc = np.bincount(ls[cold_rows], minlength=g)
    sx = np.bincount(ls[cold_rows], weights=x[cold_rows], minlength=g)
    sxx = np.bincount(ls[cold_rows], weights=x[cold_rows] ** 2, minlength=g)
    cold = ~warm & (kc > 0)
    n0 = st.n_rtt[cold].astype(np.float64)
    n1 = n0 + kc[cold]
    m_new = (n0 * st.mean_rtt[cold] + sx[cold]) / n1
    ex2 = (n0 * (st.var_rtt[cold] + st.mean_rtt[cold] ** 2) + sxx[cold]) / n1
    st.mean_rtt[cold], st.var_rtt[cold] = m_new, np.maximum(ex2 - m_new ** 2, 0.0)
    st.n_rtt = st.n_rtt + np.bincount(ls, minlength=g)

    # ---- loss ----
    fail = (~ok).astype(np.float64)
    warm_l = st.n_loss >= WARMUP
    p0 = np.clip(st.p_loss, P0_FLOOR, 0.49)  # below p1 (≤ 0.5) and 1: the log-likelihood ratio stays finite
    p1 = np.minimum(0.5, np.maximum(0.2, 5 * p0))
    y = np.where(fail[np.arange(len(seg))] > 0, np.log(p1 / p0)[seg], np.log((1 - p1) / (1 - p0))[seg]) \
        if len(seg) else np.zeros(0)
    y = np.where(warm_l[seg], y, -1.0) if len(seg) else y
    s2 = lindley(y, np.where(warm_l, st.s_loss, 0.0), seg)
    st.loss_alarm, loss_first, last2 = _alarm(s2, seg, H_LOSS, st.loss_alarm & warm_l, g)
    present2 = ~np.isnan(last2)
    st.s_loss[present2] = np.minimum(last2[present2], 2 * H_LOSS)
    elig2 = s2 < H_LOSS / 2
    wsum2, decay2, k2 = _ewma(fail, seg, elig2 & warm_l[seg], g, ALPHA_LOSS)
    upd2 = warm_l & (k2 > 0)
    st.p_loss[upd2] = decay2[upd2] * st.p_loss[upd2] + wsum2[upd2]
    cold2 = ~warm_l[seg]
    kc2 = np.bincount(seg[cold2], minlength=g)
    sf2 = np.bincount(seg[cold2], weights=fail[cold2], minlength=g)
    c2 = ~warm_l & (kc2 > 0)
    st.p_loss[c2] = (st.n_loss[c2] * st.p_loss[c2] + sf2[c2]) / (st.n_loss[c2] + kc2[c2])
    st.n_loss = st.n_loss + np.bincount(seg, minlength=g)
    return Outcome(st, lat_first.astype(np.int64), loss_first)


def tail_failures(seg: I64, ok: B, prev: I64) -> I64:
    """Consecutive failures at the end of each group's rows (continuing the previous count)."""
    out = prev.copy()
    if len(seg) == 0:
        return out
    groups, starts, lengths = _segments(seg, len(prev))
    idx = np.arange(len(seg))
    last_ok = np.maximum.reduceat(np.where(ok, idx, -1), starts)
    ends = starts + lengths - 1
    out[groups] = np.where(last_ok >= starts, ends - last_ok, prev[groups] + lengths)
    return out
