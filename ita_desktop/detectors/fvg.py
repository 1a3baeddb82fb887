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
"""

from __future__ import annotations

from dataclasses import dataclass

from ita_desktop.detectors._core import (
    H0, H1, H2, H3, N_CHG, N_OUT, U, kernel, life_due, life_step, new_row, per_atr, pq_push, qtop, save_state,
)
from ita_desktop.detectors.base import BarContext, ObjectDetector
from ita_desktop.detectors.objects import Kind, Table

K_FVG = int(Kind.FVG)


@dataclass(frozen=True)
class FvgParams:
    min_size: float = 0.0
    min_atr: float = 0.0
    middle_confirms: bool = False


@kernel
def fvg_kernel(open_, high, low, close, atr, min_size, min_atr, middle_confirms, i0, i1, ist, out, chg, hk, hid):
    cap = out.shape[0]
    n_out = ist[N_OUT]
    nchg = ist[N_CHG]
    s0, s1, s2, s3 = ist[H0], ist[H1], ist[H2], ist[H3]
    t0, t1, t2, t3 = qtop(hk, 0, s0), qtop(hk, 1, s1), qtop(hk, 2, s2), qtop(hk, 3, s3)
    for i in range(i0, i1):
        if n_out + 1 > cap:
            save_state(ist, n_out, nchg, s0, s1, s2, s3, i - 1)
            return i
        nchg = 0
        h = high[U(i)]
        lo = low[U(i)]
        c = close[U(i)]
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
    return i1


class Fvg(ObjectDetector):
    name = "fvg"
    table = Table.FVG
    rows_per_1000_bars = 350

    def __init__(self, params: FvgParams = FvgParams(), n_hint: int = 0) -> None:
        super().__init__(n_hint)
        self.params = params

    def _step(self, ctx: BarContext, i0: int, i1: int) -> int:
        b = self.buf
        p = self.params
        return fvg_kernel(
            ctx.open, ctx.high, ctx.low, ctx.close, ctx.series["atr"], float(p.min_size), float(p.min_atr),
            bool(p.middle_confirms), i0, i1, b.ist, b.out, b.chg, b.hk, b.hid,
        )
