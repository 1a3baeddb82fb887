"""Average true range, Wilder's smoothing, as a step kernel over a per-bar series.

True range ``TR[i] = max(high-low, |high-close[i-1]|, |low-close[i-1]|)`` (``high-low`` at
bar 0). ``ATR[length-1]`` is the mean of the first ``length`` TRs; after that
``ATR[i] = (ATR[i-1] * (length-1) + TR[i]) / length``. Before bar ``length-1`` it is NaN.
ATR[i] uses bar i itself; detectors that measure a candle against ATR use ATR[d-1], the
bar before the candle (see _core.body_ok and docs/detector_definitions.md).

The recurrence is a serial chain (a multiply and an add, ~8 cycles a bar) that must not be
reassociated or fused (the bits would change), so alone the kernel waits on it. A host kernel
with a long, branchy per-bar loop can carry it instead (:func:`shadow_begin`,
:func:`shadow_bar`, :func:`shadow_end`): out-of-order execution then runs the chain in the shadow
of the host's own work, the same values bit for bit (fvg.py hosts it; the dispatcher decides).
"""

from __future__ import annotations

import numpy as np

from ita_desktop.detectors._core import U, kernel


@kernel(inline="always")
def true_range(h, lo, pc, with_close):
    """``max(h - lo, |h - pc|, |lo - pc|)``, or ``h - lo`` without a previous close (``with_close`` False: bar 0).
    Selects, not branches: which of the three is largest is a coin toss (LLVM made the second test a branch
    that mispredicted)."""
    tr = h - lo
    a = abs(h - pc)
    b = abs(lo - pc)
    tr = a if with_close & (a > tr) else tr
    return b if with_close & (b > tr) else tr


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
        on = i > 0
        tr = true_range(h, lo, close[U(i - 1 if on else 0)], on)  # bar 0 reads a close it ignores
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


@kernel(inline="always")
def shadow_begin(high, low, close, out, length, i0, i1, ist, fst):
    """A host kernel's set-up for carrying ATR over bars [i0, i1): the seed bars (the first ``length``,
    with their count and sum) are written here by :func:`atr_kernel`, so the host's loop runs only the
    recurrence. Returns (prev, pc, keep, inv): ATR and close of bar i0 - 1, where the recurrence starts,
    and its two factors, computed as :func:`atr_kernel` computes them.

    ATR must stand at bar i0 or beyond (``ist[0]``, bars done, >= i0: beyond after a host stopped early
    inside the seed bars); bars from i0 on are then written again, to the same values."""
    cnt = ist[0]
    if cnt < length and cnt < i1:
        atr_kernel(high, low, close, out, length, cnt, min(i1, length), ist, fst)
    prev = out[U(i0 - 1)] if i0 >= length else np.nan
    pc = close[U(i0 - 1)] if i0 > 0 else 0.0
    inv = 1.0 / length
    return prev, pc, (length - 1) * inv, inv


@kernel(inline="always")
def shadow_bar(out, i, h, lo, pc, prev, keep, inv, length):
    """ATR of bar i in a host's per-bar loop (h, lo: the bar's high and low, pc: the previous close,
    prev: ATR[i-1], keep and inv from :func:`shadow_begin`); returns it, the next bar's ``prev``. The
    same operations in the same order as :func:`atr_kernel`: bit for bit its values. A seed bar
    (i < length) is read back, not computed."""
    tr = true_range(h, lo, pc, True)
    if i >= length:
        v = prev * keep + tr * inv
        out[U(i)] = v
        return v
    return out[U(i)]


@kernel(inline="always")
def shadow_end(ist, stop):
    """The host stopped before bar ``stop``: ATR's bars done (never back below what the seed wrote)."""
    if stop > ist[0]:
        ist[0] = stop


class AtrSeries:
    """ATR as a live series: ``run`` fills ``series['atr'][i0:i1]`` of the context (alone, or carried by a
    host detector's kernel: :meth:`host_args`)."""

    name = "atr"

    def __init__(self, length: int = 14) -> None:
        if length < 1:
            raise ValueError(f"ATR length must be >= 1, got {length}")
        self.length = int(length)
        self.ist = np.zeros(2, dtype=np.int64)
        self.fst = np.zeros(2, dtype=np.float64)

    @property
    def bars_done(self) -> int:
        """Bars the series holds (ATR runs from bar 0 on, in order)."""
        return int(self.ist[0])

    def run(self, ctx, i0: int, i1: int) -> None:
        atr_kernel(ctx.high, ctx.low, ctx.close, ctx.series["atr"], self.length, i0, i1, self.ist, self.fst)

    def host_args(self) -> tuple[int, np.ndarray, np.ndarray]:
        """(length, ist, fst): what a host kernel passes to :func:`shadow_begin` and :func:`shadow_end`."""
        return self.length, self.ist, self.fst


#: A host kernel's arguments when it carries no ATR (length 0).
NO_SHADOW = (0, np.zeros(2, np.int64), np.zeros(2, np.float64))


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
