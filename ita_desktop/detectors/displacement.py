"""Displacement candles: a body of at least k x ATR.

Candle i is a displacement candle when ``|close[i] - open[i]| >= k * ATR[i-1]`` (ATR of the
bar BEFORE the candle, so a huge candle does not raise its own yardstick; NaN ATR -> never; a candle with
no body never: it has no direction)
and, optionally, its body is at least ``min_body_ratio`` of its range (a marubozu-ish
filter; 0 disables). Known at i. Row: kind DISPLACEMENT, direction = sign of the body,
bar = start = end = confirmed_at = i, top/bottom = high/low, price = close,
extra = body / ATR[i-1] (+inf after flat bars where ATR is 0). No life.
"""

from __future__ import annotations

from dataclasses import dataclass

from numba.cpython.unsafe.numbers import trailing_zeros

from ita_desktop.detectors._core import H0, H1, H2, H3, N_CHG, N_OUT, U, kernel, new_row, per_atr, save_state
from ita_desktop.detectors.base import BarContext, ObjectDetector
from ita_desktop.detectors.objects import Kind, Table

K_DISP = int(Kind.DISPLACEMENT)


@dataclass(frozen=True)
class DisplacementParams:
    k: float = 1.5
    min_body_ratio: float = 0.0

    def __post_init__(self) -> None:
        if not self.k > 0:
            raise ValueError(f"displacement k must be > 0, got {self.k}")


#: Bars per block of displacement_kernel (the room for rows is checked once a block).
BLOCK = 1024


@kernel
def displacement_kernel(open_, high, low, close, atr, k, min_body_ratio, i0, i1, ist, out, chg):
    """Bars [i0, i1) in blocks of up to :data:`BLOCK` bars (and no more than the rows' room), 64 bars at a time:
    the test of each bar goes into a bit mask (a loop with no branch, which LLVM vectorises; one candle in
    fifteen, at random, made a branch a misprediction), then the rows of the set bits are written in bar
    order. The change log is the last bar's, as bar by bar."""
    cap = out.shape[0]
    n_out = ist[N_OUT]
    nchg = ist[N_CHG]
    any_k = k <= 0.0  # body_ok: with k <= 0 only the direction counts (direction 0: any candle)
    ratio = min_body_ratio > 0.0
    a = i0
    while a < i1:
        room = cap - n_out
        if room <= 0:
            save_state(ist, n_out, nchg, ist[H0], ist[H1], ist[H2], ist[H3], a - 1)
            return a
        b = min(a + BLOCK, i1, a + room)
        last = -1
        for lo_c in range(max(a, 1), b, 64):
            w = min(64, b - lo_c)
            m = U(0)
            for t in range(w):
                i = lo_c + t
                body = abs(close[U(i)] - open_[U(i)])
                ok = (any_k | (body >= k * atr[U(i - 1)])) & (body > 0.0)  # no body, no direction (ATR 0: 0 >= 0)
                if ratio:
                    ok = ok & (body >= min_body_ratio * (high[U(i)] - low[U(i)]))
                m |= U(ok) << U(t)
            while m != 0:
                i = lo_c + trailing_zeros(m)
                m &= m - U(1)
                o = open_[U(i)]
                c = close[U(i)]
                body = c - o
                d = 1 if body > 0 else -1
                new_row(out, chg, n_out, 0, i, K_DISP, 0, d, i, i, i, high[U(i)], low[U(i)], c, -1,
                        per_atr(abs(body), atr[U(i - 1)]))
                n_out += 1
                last = i
        nchg = 1 if last == b - 1 else 0
        if nchg:
            chg[0] = n_out - 1
        a = b
    save_state(ist, n_out, nchg, ist[H0], ist[H1], ist[H2], ist[H3], i1 - 1)
    return i1


class Displacement(ObjectDetector):
    name = "displacement"
    table = Table.DISPLACEMENT
    rows_per_1000_bars = 80
    n_heaps = 0  # no life

    def __init__(self, params: DisplacementParams = DisplacementParams(), n_hint: int = 0) -> None:
        super().__init__(n_hint)
        self.params = params

    def _step(self, ctx: BarContext, i0: int, i1: int) -> int:
        b = self.buf
        return displacement_kernel(
            ctx.open, ctx.high, ctx.low, ctx.close, ctx.series["atr"], float(self.params.k),
            float(self.params.min_body_ratio), i0, i1, b.ist, b.out, b.chg,
        )
