"""Order blocks: the last opposite candle before the displacement that broke structure.

Consumes BOS/CHOCH rows. For a bullish break at bar b (``candle="last_opposite"``, the
default): find the displacement candle ``d`` = the most recent bullish candle in
``[b - lookback, b]`` whose body is at least ``displacement_k`` x ATR[d-1] (see
_core.body_ok; ``displacement_k = 0`` accepts any bullish candle); then the order block is
the last down-close candle (``close < open``) before it, in ``[b - lookback, d - 1]``. No
displacement or no such candle in the window: no order block for that break. Bearish alike
(the last up-close candle before a bearish displacement).

``candle="extreme"`` reproduces smartmoneyconcepts' choice instead: the candle with the
lowest low (bullish; last one on ties) strictly between the broken swing and the break,
or the candle before the break when there is none; no displacement required (``extra``
is then -1).

A break whose candle is the same as this side's latest order block adds nothing (one order
block per candle and side). The zone is the candle's full range ``[low, high]``; price = its midpoint; bar = start =
the candle; confirmed_at = b (known when the break closes); ref = the BOS/CHOCH row
(structure table); extra = the displacement candle's bar. Life from bar b+1: bullish OB
mitigated when ``low <= top`` (touched_at, state 1), turned into a breaker when a bar
closes below ``bottom`` (filled_at, state 2, end). Bearish: ``high >= bottom`` /
``close > top``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba.cpython.unsafe.numbers import leading_zeros

from ita_desktop.detectors._core import (
    CURSOR, FIRST_FREE, H0, H1, H2, H3, N_CHG, N_OUT, U, kernel, life_due, life_step, new_row, pq_push, qtop,
    save_state,
)
from ita_desktop.detectors.base import BarContext, ObjectDetector
from ita_desktop.detectors.objects import Kind, Table

K_OB = int(Kind.ORDER_BLOCK)
S_LAST_BULL = FIRST_FREE  # candle of the latest bullish order block (-1 none)
S_LAST_BEAR = FIRST_FREE + 1
CANDLE = {"last_opposite": 0, "extreme": 1}


@dataclass(frozen=True)
class OrderBlockParams:
    lookback: int = 20
    displacement_k: float = 1.5
    candle: str = "last_opposite"

    def __post_init__(self) -> None:
        if self.lookback < 1:
            raise ValueError(f"order block lookback must be >= 1, got {self.lookback}")
        if self.candle not in CANDLE:
            raise ValueError(f"order block candle must be one of {sorted(CANDLE)}, got {self.candle!r}")


@kernel(inline="always")
def last_displacement(open_, close, atr, disp_k, d, lo, hi):
    """The latest bar t in [lo, hi] whose candle passes ``body_ok(open, close, ATR[t-1], disp_k, d)``, or -1.

    Up to 64 bars at a time into a bit mask, with no branch per bar (the candle directions are a coin
    toss: a scan that stops at the first hit mispredicted about every other bar), then the highest bit."""
    while hi >= lo:
        lo_c = max(lo, hi - 63)
        m = U(0)
        for t in range(lo_c, hi + 1):
            body = close[U(t)] - open_[U(t)]
            a_prev = atr[U(t - 1)] if t >= 1 else np.nan
            dir_ok = (body > 0.0) if d > 0 else ((body < 0.0) if d < 0 else True)
            ok = dir_ok and (disp_k <= 0.0 or abs(body) >= disp_k * a_prev)
            m |= U(ok) << U(t - lo_c)
        if m != 0:
            return lo_c + 63 - leading_zeros(m)
        hi = lo_c - 1
    return -1


@kernel(inline="always")
def last_opposite(open_, close, d, lo, hi):
    """The latest bar t in [lo, hi] that closed against ``d`` (down-close for d > 0, up-close for d < 0),
    or -1; bit masks as :func:`last_displacement`."""
    while hi >= lo:
        lo_c = max(lo, hi - 63)
        m = U(0)
        for t in range(lo_c, hi + 1):
            c = close[U(t)]
            o = open_[U(t)]
            ok = (c < o) if d > 0 else ((c > o) if d < 0 else False)
            m |= U(ok) << U(t - lo_c)
        if m != 0:
            return lo_c + 63 - leading_zeros(m)
        hi = lo_c - 1
    return -1


@kernel
def order_blocks_kernel(open_, high, low, close, atr, events, n_events, lookback, disp_k, extreme,
                        i0, i1, ist, out, chg, hk, hid):
    cap = out.shape[0]
    n_out = ist[N_OUT]
    nchg = ist[N_CHG]
    s0, s1, s2, s3 = ist[H0], ist[H1], ist[H2], ist[H3]
    t0, t1, t2, t3 = qtop(hk, 0, s0), qtop(hk, 1, s1), qtop(hk, 2, s2), qtop(hk, 3, s3)
    c = ist[CURSOR]
    next_conf = events[U(c)].confirmed_at if c < n_events else -1
    last_bull = ist[S_LAST_BULL]
    last_bear = ist[S_LAST_BEAR]
    i = i0
    while i < i1:
        # the bars up to the next break's bar only advance the life queues: a tight loop (the break handling,
        # with its scans, stays out of it). The break's bar is the loop's last when it has room for the most
        # rows the break could add (rows are added at break bars only, so the room known now is the room there);
        # one life step in the kernel, not two (its inlined code was half the kernel's compile time).
        brk = 0 <= next_conf < i1
        stop = max(next_conf, i) if brk else i1
        end = stop + 1 if brk and n_out + 2 <= cap else stop
        while i < end:
            nchg = 0
            h = high[U(i)]
            lo = low[U(i)]
            cl = close[U(i)]
            if life_due(t0, t1, t2, t3, h, lo, cl):
                s0, s1, s2, s3, nchg = life_step(out, i, h, lo, cl, hk, hid, s0, s1, s2, s3, chg, nchg, False,
                                                 False)
                t0, t1, t2, t3 = qtop(hk, 0, s0), qtop(hk, 1, s1), qtop(hk, 2, s2), qtop(hk, 3, s3)
            i += 1
        if not brk:
            break
        if i == stop:  # no room for the break's rows: stop before its bar
            ist[CURSOR] = c
            ist[S_LAST_BULL] = last_bull
            ist[S_LAST_BEAR] = last_bear
            save_state(ist, n_out, nchg, s0, s1, s2, s3, i - 1)
            return i
        i -= 1  # the break's bar, its life step done
        while next_conf >= 0 and next_conf <= i:
            e = c
            c += 1
            next_conf = events[U(c)].confirmed_at if c < n_events else -1
            b = events[U(e)].bar
            d = events[U(e)].direction
            lo_bar = b - lookback
            if lo_bar < 0:
                lo_bar = 0
            u = -1
            dbar = -1
            if extreme:
                st = events[U(e)].start
                if b - st > 1:
                    u = st + 1
                    for t in range(st + 1, b):
                        if d > 0:
                            if low[U(t)] <= low[U(u)]:
                                u = t
                        else:
                            if high[U(t)] >= high[U(u)]:
                                u = t
                elif b >= 1:
                    u = b - 1
            else:
                dbar = last_displacement(open_, close, atr, disp_k, d, lo_bar, b)
                if dbar >= 0:
                    u = last_opposite(open_, close, d, lo_bar, dbar - 1)
            if u >= 0 and u == (last_bull if d > 0 else last_bear):
                u = -1  # the same candle already made this side's latest order block
            if u >= 0:
                if d > 0:
                    last_bull = u
                else:
                    last_bear = u
                top = high[U(u)]
                bottom = low[U(u)]
                new_row(out, chg, n_out, nchg, i, K_OB, 0, d, u, u, -1, top, bottom, 0.5 * (top + bottom), e,
                        float(dbar))
                if d > 0:
                    s0 = pq_push(hk, hid, 0, s0, -top, n_out)
                    t0 = hk[0, U(s0 - 1)]
                else:
                    s2 = pq_push(hk, hid, 2, s2, bottom, n_out)
                    t2 = hk[2, U(s2 - 1)]
                n_out += 1
                nchg += 1
        i += 1
    ist[CURSOR] = c
    ist[S_LAST_BULL] = last_bull
    ist[S_LAST_BEAR] = last_bear
    save_state(ist, n_out, nchg, s0, s1, s2, s3, i1 - 1)
    return i1


class OrderBlocks(ObjectDetector):
    name = "order_blocks"
    table = Table.ORDER_BLOCKS
    rows_per_1000_bars = 40

    def __init__(self, structure: ObjectDetector, params: OrderBlockParams = OrderBlockParams(), n_hint: int = 0) -> None:
        super().__init__(n_hint)
        self.params = params
        self.structure = structure
        self.buf.ist[S_LAST_BULL] = -1
        self.buf.ist[S_LAST_BEAR] = -1

    def _step(self, ctx: BarContext, i0: int, i1: int) -> int:
        b = self.buf
        ev = self.structure.buf
        p = self.params
        return order_blocks_kernel(
            ctx.open, ctx.high, ctx.low, ctx.close, ctx.series["atr"], ev.out, ev.n_out, int(p.lookback),
            float(p.displacement_k), CANDLE[p.candle] == 1, i0, i1, b.ist, b.out, b.chg, b.hk, b.hid,
        )
