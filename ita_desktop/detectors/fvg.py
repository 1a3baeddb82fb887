"""Fair value gaps (three-candle imbalances).

Bullish at bar i: ``low[i] > high[i-2]``; the gap is ``[high[i-2], low[i]]`` (bottom, top),
the displacement (middle) candle is i-1 (the row's ``bar``), known at i (``confirmed_at``).
Bearish: ``high[i] < low[i-2]``; gap ``[high[i], low[i-2]]``. ``price`` is the consequent
encroachment (CE), the midpoint; ``extra`` the gap size in ATR of the bar before the
middle candle (``ATR[i-2]``; NaN while ATR is undefined, +inf after flat bars where it is 0).

Filters: ``min_size`` (absolute price units), ``min_atr`` (gap >= min_atr x ATR[i-2]; a
gap with ATR undefined fails any min_atr > 0), ``middle_confirms`` (the middle candle must
close in the gap's direction, as smartmoneyconcepts requires).

Life, from bar i+1 on: bullish gap touched when ``low <= top`` (price re-entered;
touched_at, state 1), filled when ``close < bottom`` (closed through the far edge;
filled_at, state 2, end). Bearish: ``high >= bottom`` / ``close > top``. Only open gaps
are watched, in price-ordered queues, and a bar costs work only when a gap changes.

The kernel can carry the ATR series (atr.py's shadow helpers) when the dispatcher runs both over
the same bars: its loop is bound by mispredicted gap and life branches, and the ATR chain runs in
their shadow. FVG reads ATR[i-2] only, written two bars before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ita_desktop.detectors._core import (
    H0, H1, H2, H3, N_CHG, N_OUT, U, kernel, life_due, life_step, new_row, per_atr, pq_push, qtop, save_state,
)
from ita_desktop.detectors.atr import NO_SHADOW, AtrSeries, shadow_bar, shadow_begin, shadow_end
from ita_desktop.detectors.base import BarContext, ObjectDetector
from ita_desktop.detectors.objects import Kind, Table

K_FVG = int(Kind.FVG)


@dataclass(frozen=True)
class FvgParams:
    min_size: float = 0.0
    min_atr: float = 0.0
    middle_confirms: bool = False


@kernel
def fvg_kernel(open_, high, low, close, atr, min_size, min_atr, middle_confirms, i0, i1, ist, out, chg, hk, hid,
               atr_length, atr_ist, atr_fst):
    """FVG rows of bars [i0, i1); with ``atr_length`` > 0 it also writes ATR of those bars into ``atr``
    (state ``atr_ist``/``atr_fst``: AtrSeries.host_args); bar i's ATR is written before the bar's gap
    test reads ATR[i-2]."""
    cap = out.shape[0]
    n_out = ist[N_OUT]
    nchg = ist[N_CHG]
    s0, s1, s2, s3 = ist[H0], ist[H1], ist[H2], ist[H3]
    t0, t1, t2, t3 = qtop(hk, 0, s0), qtop(hk, 1, s1), qtop(hk, 2, s2), qtop(hk, 3, s3)
    shadow = atr_length > 0
    prev, pc, keep, inv = np.nan, 0.0, 0.0, 0.0
    if shadow:
        prev, pc, keep, inv = shadow_begin(high, low, close, atr, atr_length, i0, i1, atr_ist, atr_fst)
    for i in range(i0, i1):
        if n_out + 1 > cap:
            save_state(ist, n_out, nchg, s0, s1, s2, s3, i - 1)
            if shadow:
                shadow_end(atr_ist, i)
            return i
        nchg = 0
        h = high[U(i)]
        lo = low[U(i)]
        c = close[U(i)]
        if shadow:
            prev = shadow_bar(atr, i, h, lo, pc, prev, keep, inv, atr_length)
            pc = c
        if life_due(t0, t1, t2, t3, h, lo, c):
            s0, s1, s2, s3, nchg = life_step(out, i, h, lo, c, hk, hid, s0, s1, s2, s3, chg, nchg, False, False)
            t0, t1, t2, t3 = qtop(hk, 0, s0), qtop(hk, 1, s1), qtop(hk, 2, s2), qtop(hk, 3, s3)
        if i < 2:
            continue
        h2 = high[U(i - 2)]
        l2 = low[U(i - 2)]
        if lo > h2:  # bullish: gap [high[i-2], low[i]]
            gap = lo - h2
            ok = gap >= min_size
            if ok and min_atr > 0.0:
                ok = gap >= min_atr * atr[U(i - 2)]
            if ok and middle_confirms:
                ok = close[U(i - 1)] > open_[U(i - 1)]
            if ok:
                new_row(out, chg, n_out, nchg, i, K_FVG, 0, 1, i - 1, i - 2, -1, lo, h2, 0.5 * (lo + h2), -1,
                        per_atr(gap, atr[U(i - 2)]))
                s0 = pq_push(hk, hid, 0, s0, -lo, n_out)
                t0 = hk[0, U(s0 - 1)]
                n_out += 1
                nchg += 1
        elif h < l2:  # bearish: gap [high[i], low[i-2]]
            gap = l2 - h
            ok = gap >= min_size
            if ok and min_atr > 0.0:
                ok = gap >= min_atr * atr[U(i - 2)]
            if ok and middle_confirms:
                ok = close[U(i - 1)] < open_[U(i - 1)]
            if ok:
                new_row(out, chg, n_out, nchg, i, K_FVG, 0, -1, i - 1, i - 2, -1, l2, h, 0.5 * (l2 + h), -1,
                        per_atr(gap, atr[U(i - 2)]))
                s2 = pq_push(hk, hid, 2, s2, h, n_out)
                t2 = hk[2, U(s2 - 1)]
                n_out += 1
                nchg += 1
    save_state(ist, n_out, nchg, s0, s1, s2, s3, i1 - 1)
    if shadow:
        shadow_end(atr_ist, i1)
    return i1


class Fvg(ObjectDetector):
    name = "fvg"
    table = Table.FVG
    rows_per_1000_bars = 350

    def __init__(self, params: FvgParams = FvgParams(), n_hint: int = 0) -> None:
        super().__init__(n_hint)
        self.params = params
        self._atr_args = NO_SHADOW

    def run_carrying(self, ctx: BarContext, i0: int, i1: int, atr: AtrSeries) -> None:
        """:meth:`run` that also advances ``atr`` over the same bars [i0, i1), in this kernel's loop (the
        ATR chain hides in the shadow of the gap and life branches: ~1.5 ms less a 1M-bar pass than
        the two kernels one after the other). ATR must stand at i0 (it runs alone first when not)."""
        done = atr.bars_done
        if done != i0:  # ATR elsewhere (ahead, or behind): it runs alone, then FVG
            if done < i1:
                atr.run(ctx, done, i1)
            self.run(ctx, i0, i1)
            return
        self._atr_args = atr.host_args()
        try:
            self.run(ctx, i0, i1)
        finally:
            self._atr_args = NO_SHADOW

    def _step(self, ctx: BarContext, i0: int, i1: int) -> int:
        b = self.buf
        p = self.params
        return fvg_kernel(
            ctx.open, ctx.high, ctx.low, ctx.close, ctx.series["atr"], float(p.min_size), float(p.min_atr),
            bool(p.middle_confirms), i0, i1, b.ist, b.out, b.chg, b.hk, b.hid, *self._atr_args,
        )
