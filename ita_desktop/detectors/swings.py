"""Swing highs and lows (fractals) of length n.

Swing high at bar p: ``high[p]`` is the highest of bars ``p-n .. p+n``; it is known at
bar ``p+n`` (``confirmed_at``), never earlier. Ties (``ties="first"``, the default): the
leftmost bar of a flat top wins, i.e. ``high[p] > high[j]`` for ``j`` in ``p-n..p-1`` and
``high[p] >= high[j]`` for ``j`` in ``p+1..p+n``. ``ties="all"`` marks every bar equal to
the window maximum (the raw rule smartmoneyconcepts starts from). A full window is
required: no swing in the first or last n bars. Swing lows alike with lows.

Row: kind SWING_HIGH (direction +1) / SWING_LOW (-1), bar = start = p, price = top =
bottom = the swing price. Life (liquidity): touched when a later bar trades strictly
beyond the price (touched_at, state 1, end = that bar), filled when a bar closes beyond it
(filled_at, state 2).

Touch log: the rows in the order they were touched (``Swings.touch_rows``; per bar, lows from the
highest price, then highs from the lowest, ties by row). A touch of a swing is exactly the raid of its
level (sweeps.py), so the sweeps read it here instead of watching 119,000 levels of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ita_desktop.detectors._core import (
    FIRST_FREE, H0, H1, H2, H3, N_CHG, N_OUT, U, kernel, life_due, life_step, new_row, pq_push, qtop, save_state,
    step_helper,
)
from ita_desktop.detectors.base import BarContext, ObjectDetector, grown
from ita_desktop.detectors.objects import Kind, Table

TIES = {"first": 0, "all": 1}


@dataclass(frozen=True)
class SwingParams:
    length: int = 5
    ties: str = "first"

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"swing length must be >= 1, got {self.length}")
        if self.ties not in TIES:
            raise ValueError(f"swing ties must be one of {sorted(TIES)}, got {self.ties!r}")


BLOCK = 1024
S_NTOUCH = FIRST_FREE  # rows in the touch log


@step_helper
def swing_flags(high, low, n, ties_all, b0, b1, scratch, flags):
    """Flags for bars i in [b0, b1): bit 0 = bar i-n is a swing high, bit 1 = a swing low.

    One sliding window of n bars serves both sides: the right window of bar p (p+1..p+n) is
    the left window of bar p+n+1. Window extremes come from doubling (max of 1, 2, 4, ...
    bars, then two overlapping windows): about log2(n)+1 max operations per bar and side, with
    no unpredictable branches. Each doubling step writes a second buffer (``scratch`` rows 0/1
    hold highs/lows, 2/3 the next step's), so LLVM vectorises it; in place, it read values the
    same loop writes and stayed scalar (3.0 -> 1.7 ms per 1,000,000 bars). The first step reads
    the bars themselves and the last is taken in the flag loop, so n = 5 makes two passes.
    """
    m = b1 - b0
    s = 2 * n - b0  # first t with i = b0 + t >= 2n (a full window on both sides)
    if s < 0:
        s = 0
    for t in range(min(s, m)):
        flags[U(t)] = 0
    if s >= m:
        return
    base = b0 - 2 * n  # scratch index t <-> bar base + t
    T = m + 2 * n
    A = scratch[0]  # window max of highs
    B = scratch[1]  # window min of lows
    A2 = scratch[2]
    B2 = scratch[3]
    a = 1
    if n >= 2:  # max of 2 straight from the bars
        for t in range(s, T - 1):
            x = high[U(base + t + 1)]
            y = high[U(base + t)]
            A[U(t)] = x if x > y else y
            x = low[U(base + t + 1)]
            y = low[U(base + t)]
            B[U(t)] = x if x < y else y
        a = 2
    else:
        for t in range(s, T):
            A[U(t)] = high[U(base + t)]
            B[U(t)] = low[U(base + t)]
    while 2 * a <= n:
        for t in range(s, T - 2 * a + 1):
            x = A[U(t + a)]
            y = A[U(t)]
            A2[U(t)] = x if x > y else y
            x = B[U(t + a)]
            y = B[U(t)]
            B2[U(t)] = x if x < y else y
        A, A2 = A2, A
        B, B2 = B2, B
        a *= 2
    # now A[t] = max(high[base+t .. base+t+a-1]) for t < T - a + 1; with d = n - a the window of n
    # bars from t is max(A[t], A[t+d]). For bar i = b0+t, p = i-n: left window from t, right window
    # from t+n+1, the swing bar itself = base+t+n
    d = n - a
    for t in range(s, m):
        hp = high[U(base + t + n)]
        lp = low[U(base + t + n)]
        x = A[U(t + d)]
        y = A[U(t)]
        lmx = x if x > y else y
        x = A[U(t + n + 1 + d)]
        y = A[U(t + n + 1)]
        rmx = x if x > y else y
        x = B[U(t + d)]
        y = B[U(t)]
        lmn = x if x < y else y
        x = B[U(t + n + 1 + d)]
        y = B[U(t + n + 1)]
        rmn = x if x < y else y
        # bitwise (not short-circuit) logic: no branches to mispredict
        fh = (hp >= rmx) & ((hp > lmx) | (ties_all & (hp == lmx)))
        fl = (lp <= rmn) & ((lp < lmn) | (ties_all & (lp == lmn)))
        flags[U(t)] = np.int8(fh) | (np.int8(fl) << np.int8(1))


@kernel
def swings_kernel(high, low, close, n, ties_all, i0, i1, ist, out, chg, hk, hid, scratch, flags, touch_rows):
    cap = out.shape[0]
    n_out = ist[N_OUT]
    nchg = ist[N_CHG]
    ntouch = ist[S_NTOUCH]  # a row is touched once, so the log never holds more than the rows (its capacity)
    s0, s1, s2, s3 = ist[H0], ist[H1], ist[H2], ist[H3]
    t0, t1, t2, t3 = qtop(hk, 0, s0), qtop(hk, 1, s1), qtop(hk, 2, s2), qtop(hk, 3, s3)
    b0 = i0
    while b0 < i1:
        b1 = min(b0 + BLOCK, i1)
        swing_flags(high, low, n, ties_all, b0, b1, scratch, flags)
        for i in range(b0, b1):
            if n_out + 2 > cap:
                ist[S_NTOUCH] = ntouch
                save_state(ist, n_out, nchg, s0, s1, s2, s3, i - 1)
                return i
            nchg = 0
            h = high[U(i)]
            lo = low[U(i)]
            c = close[U(i)]
            if life_due(t0, t1, t2, t3, h, lo, c):
                s0, s1, s2, s3, nchg = life_step(out, i, h, lo, c, hk, hid, s0, s1, s2, s3, chg, nchg, True, True)
                t0, t1, t2, t3 = qtop(hk, 0, s0), qtop(hk, 1, s1), qtop(hk, 2, s2), qtop(hk, 3, s3)
                for e in range(nchg):  # the bar's changes so far are its life events, in pop order
                    k = chg[U(e)]
                    if out[U(k)].touched_at == i:
                        touch_rows[U(ntouch)] = k
                        ntouch += 1
            f = flags[U(i - b0)]
            if f != 0:
                p = i - n
                if f & 1:
                    hp = high[U(p)]
                    new_row(out, chg, n_out, nchg, i, 1, 0, 1, p, p, -1, hp, hp, hp, -1, np.nan)
                    s2 = pq_push(hk, hid, 2, s2, hp, n_out)
                    t2 = hk[2, U(s2 - 1)]
                    n_out += 1
                    nchg += 1
                if f & 2:
                    lp = low[U(p)]
                    new_row(out, chg, n_out, nchg, i, 2, 0, -1, p, p, -1, lp, lp, lp, -1, np.nan)
                    s0 = pq_push(hk, hid, 0, s0, -lp, n_out)
                    t0 = hk[0, U(s0 - 1)]
                    n_out += 1
                    nchg += 1
        b0 = b1
    ist[S_NTOUCH] = ntouch
    save_state(ist, n_out, nchg, s0, s1, s2, s3, i1 - 1)
    return i1


class Swings(ObjectDetector):
    name = "swings"
    table = Table.SWINGS
    rows_per_1000_bars = 150

    def __init__(self, params: SwingParams = SwingParams(), n_hint: int = 0) -> None:
        super().__init__(n_hint)
        self.params = params
        self._scratch = np.empty((4, BLOCK + 2 * params.length + 2), np.float64)
        self._flags = np.empty(BLOCK, np.int8)
        self._touch_rows = np.empty(self.buf.capacity, np.int32)

    @property
    def touch_rows(self) -> np.ndarray:
        """The rows in the order they were touched (see the module docstring)."""
        return self._touch_rows[: int(self.buf.ist[S_NTOUCH])]

    def _step(self, ctx: BarContext, i0: int, i1: int) -> int:
        b = self.buf
        if len(self._touch_rows) < b.capacity:  # the buffers grew: the log keeps room for every row
            self._touch_rows = grown(self._touch_rows, b.capacity, int(b.ist[S_NTOUCH]))
        return swings_kernel(
            ctx.high, ctx.low, ctx.close, self.params.length, TIES[self.params.ties] == 1,
            i0, i1, b.ist, b.out, b.chg, b.hk, b.hid, self._scratch, self._flags, self._touch_rows,
        )


assert Kind.SWING_HIGH == 1 and Kind.SWING_LOW == 2
