"""Average true range, Wilder's smoothing, as a step kernel over a per-bar series.

True range ``TR[i] = max(high-low, |high-close[i-1]|, |low-close[i-1]|)`` (``high-low`` at
bar 0). ``ATR[length-1]`` is the mean of the first ``length`` TRs; after that
``ATR[i] = (ATR[i-1] * (length-1) + TR[i]) / length``. Before bar ``length-1`` it is NaN.
ATR[i] uses bar i itself; detectors that measure a candle against ATR use ATR[d-1], the
bar before the candle (see _core.body_ok and docs/detector_definitions.md).
"""

from __future__ import annotations

import numpy as np

from ita_desktop.detectors._core import U, kernel


@kernel
def atr_kernel(high, low, close, out, length, i0, i1, ist, fst):
    """Write ATR for bars [i0, i1) into ``out``. State: ist[0] bars seen, fst[0] seed sum.

    The count, the seed sum and the previous ATR stay in locals through the loop (written back
    at the end): the recurrence then waits on registers, not on its own last store (3-4x faster,
    the same values bit for bit)."""
    inv = 1.0 / length  # multiply, not divide: the recurrence is a serial dependency chain
    keep = (length - 1) * inv
    cnt = ist[0]
    seed = fst[0]
    prev = out[U(i0 - 1)] if cnt >= length and i0 > 0 else np.nan
    for i in range(i0, i1):
        h = high[U(i)]
        lo = low[U(i)]
        tr = h - lo
        # selects, not branches: which of the three is largest is a coin toss (LLVM made the second test a
        # branch that mispredicted); bar 0 reads a close it ignores
        on = i > 0
        pc = close[U(i - 1 if on else 0)]
        a = abs(h - pc)
        b = abs(lo - pc)
        tr = a if on & (a > tr) else tr
        tr = b if on & (b > tr) else tr
        cnt += 1
        if cnt < length:
            seed += tr
            v = np.nan
        elif cnt == length:
            seed += tr
            v = seed / length
        else:
            v = prev * keep + tr * inv
        out[U(i)] = v
        prev = v
    ist[0] = cnt
    fst[0] = seed
    return i1


class AtrSeries:
    """ATR as a live series: ``run`` fills ``series['atr'][i0:i1]`` of the context."""

    name = "atr"

    def __init__(self, length: int = 14) -> None:
        if length < 1:
            raise ValueError(f"ATR length must be >= 1, got {length}")
        self.length = int(length)
        self.ist = np.zeros(2, dtype=np.int64)
        self.fst = np.zeros(2, dtype=np.float64)

    def run(self, ctx, i0: int, i1: int) -> None:
        atr_kernel(ctx.high, ctx.low, ctx.close, ctx.series["atr"], self.length, i0, i1, self.ist, self.fst)


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, length: int = 14) -> np.ndarray:
    """ATR of whole arrays (a convenience over the step kernel)."""
    n = len(high)
    out = np.empty(n, dtype=np.float64)
    atr_kernel(
        np.ascontiguousarray(high, np.float64),
        np.ascontiguousarray(low, np.float64),
        np.ascontiguousarray(close, np.float64),
        out,
        int(length),
        0,
        n,
        np.zeros(2, np.int64),
        np.zeros(2, np.float64),
    )
    return out
