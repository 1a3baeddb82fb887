"""Displacement candles: a body of at least k x ATR.

Candle i is a displacement candle when ``|close[i] - open[i]| >= k * ATR[i-1]`` (ATR of the
bar BEFORE the candle, so a huge candle does not raise its own yardstick; NaN ATR -> never)
and, optionally, its body is at least ``min_body_ratio`` of its range (a marubozu-ish
filter; 0 disables). Known at i. Row: kind DISPLACEMENT, direction = sign of the body,
bar = start = end = confirmed_at = i, top/bottom = high/low, price = close,
extra = body / ATR[i-1]. No life.
"""

from __future__ import annotations

from dataclasses import dataclass


from ita_desktop.detectors._core import H0, H1, H2, H3, N_CHG, N_OUT, U, body_ok, kernel, new_row, save_state
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


@kernel
def displacement_kernel(open_, high, low, close, atr, k, min_body_ratio, i0, i1, ist, out, chg):
    cap = out.shape[0]
    n_out = ist[N_OUT]
    nchg = ist[N_CHG]
    for i in range(i0, i1):
        if n_out + 1 > cap:
            save_state(ist, n_out, nchg, ist[H0], ist[H1], ist[H2], ist[H3], i - 1)
            return i
        nchg = 0
        if i == 0:
            continue
        o = open_[U(i)]
        c = close[U(i)]
        a = atr[U(i - 1)]
        if body_ok(o, c, a, k, 0):
            body = c - o
            if min_body_ratio <= 0.0 or abs(body) >= min_body_ratio * (high[U(i)] - low[U(i)]):
                d = 1 if body > 0 else -1
                new_row(out, chg, n_out, nchg, i, K_DISP, 0, d, i, i, i, high[U(i)], low[U(i)], c, -1, abs(body) / a)
                n_out += 1
                nchg += 1
    save_state(ist, n_out, nchg, ist[H0], ist[H1], ist[H2], ist[H3], i1 - 1)
    return i1


class Displacement(ObjectDetector):
    name = "displacement"
    table = Table.DISPLACEMENT
    rows_per_1000_bars = 80

    def __init__(self, params: DisplacementParams = DisplacementParams(), n_hint: int = 0) -> None:
        super().__init__(n_hint)
        self.params = params

    def _step(self, ctx: BarContext, i0: int, i1: int) -> int:
        b = self.buf
        return displacement_kernel(
            ctx.open, ctx.high, ctx.low, ctx.close, ctx.series["atr"], float(self.params.k),
            float(self.params.min_body_ratio), i0, i1, b.ist, b.out, b.chg,
        )
