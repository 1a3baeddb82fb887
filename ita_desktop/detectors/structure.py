"""Market structure: break of structure (BOS) and change of character (CHOCH).

Consumes swing rows (in ``confirmed_at`` order). At bar i, once the swings confirmed at or
before i are read, the *last confirmed swing high* is broken when ``close[i] > price``
(``break_on="wick"``: ``high[i] > price``); the last swing low alike with ``close < price``
(or ``low``). Each swing is broken at most once; a newer swing high replaces the older one
as the level to watch whether or not the older one was broken.

A break in the direction of the current structure (trend) is a BOS; against it, or with no
structure yet (trend 0 at the start), it is a CHOCH and the trend flips to the break's
direction. With ``break_on="wick"`` a bar can break both sides; the up-break is applied
first, so the bar's trend ends on the down-break.

Row: kind BOS/CHOCH, direction = break direction = trend after the event (also in
``extra``), bar = end = confirmed_at = the breaking bar, start = the broken swing's bar,
price = top = bottom = the swing price, ref = the swing's row (swings table), sub = the
trend before the event (-1, 0, +1). The per-bar ``trend`` series (int8, trend after bar i)
is written alongside.

From a Swings detector the breaks are read from the swings' own life instead of from the bars: a
swing is first closed beyond at its ``filled_at`` (its touch comes first or at that bar) and first
traded beyond at its ``touched_at``, both after its confirmation bar, where no bar of its window is
beyond it. So the watched swing high breaks at its ``filled_at`` (wick: ``touched_at``) unless a
newer swing high is confirmed at or before that bar. The kernel then visits only the bars where a
swing is confirmed or breaks, and writes the trend series once per break (3.0 -> 1.7 ms on 1,000,000
M1 bars). Swing tables without that life (a fixed table from elsewhere) are scanned bar by bar.
Both ways agree on finite prices (all the store keeps); a NaN high or low can hide a swing's touch from its
life (a close beyond it on a bar with a NaN high then breaks it a bar later than the scan would).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ita_desktop.detectors._core import (
    CURSOR, FIRST_FREE, H0, H1, H2, H3, N_CHG, N_OUT, U, kernel, new_row, save_state, step_helper,
)
from ita_desktop.detectors.base import BarContext, ObjectDetector
from ita_desktop.detectors.objects import Kind, Table

S_HROW = FIRST_FREE  # last confirmed swing high row (-1 none)
S_HBROKEN = FIRST_FREE + 1
S_LROW = FIRST_FREE + 2
S_LBROKEN = FIRST_FREE + 3
S_TREND = FIRST_FREE + 4

BREAK_ON = {"close": 0, "wick": 1}
K_BOS = int(Kind.BOS)
K_CHOCH = int(Kind.CHOCH)
K_SWING_HIGH = int(Kind.SWING_HIGH)


@dataclass(frozen=True)
class StructureParams:
    break_on: str = "close"

    def __post_init__(self) -> None:
        if self.break_on not in BREAK_ON:
            raise ValueError(f"structure break_on must be one of {sorted(BREAK_ON)}, got {self.break_on!r}")


@step_helper
def _break_row(out, chg, k, nchg, i, trend, d, swings, row):
    """Row k: swing ``row`` broken at bar i in direction d, a BOS when the trend was already d, else a CHOCH."""
    p = swings[U(row)].price
    new_row(out, chg, k, nchg, i, K_BOS if trend == d else K_CHOCH, trend, d, i, swings[U(row)].bar, i, p, p, p, row,
            float(d))


@kernel
def structure_kernel(high, low, close, swings, n_swings, wick, trend_out, i0, i1, ist, out, chg):
    """Bars [i0, i1), one stretch between swing confirmations at a time.

    Within a stretch the watched prices change only when broken, so each side breaks at most once
    (at most two rows): the room check and the swing consumption run once per stretch, and the bars
    between breaks run a loop of two compares and the trend store. The change log is cleared at
    each bar that writes a row and at the end when the last bar wrote none, as the per-bar loop did.
    """
    cap = out.shape[0]
    n_out = ist[N_OUT]
    nchg = ist[N_CHG]
    c = ist[CURSOR]
    hrow, hbroken, lrow, lbroken, trend = ist[S_HROW], ist[S_HBROKEN], ist[S_LROW], ist[S_LBROKEN], ist[S_TREND]
    # the watched prices, +/-inf when there is nothing to break: one compare per side per bar
    hp = swings[U(hrow)].price if hrow >= 0 and hbroken == 0 else np.inf
    lp = swings[U(lrow)].price if lrow >= 0 and lbroken == 0 else -np.inf
    next_conf = swings[U(c)].confirmed_at if c < n_swings else -1
    last_row_bar = -1  # the last bar that wrote a row in this call
    i = i0
    while i < i1:
        if n_out + 2 > cap:
            if i > i0 and last_row_bar != i - 1:
                nchg = 0
            ist[CURSOR] = c
            ist[S_HROW], ist[S_HBROKEN], ist[S_LROW], ist[S_LBROKEN], ist[S_TREND] = hrow, hbroken, lrow, lbroken, trend
            save_state(ist, n_out, nchg, ist[H0], ist[H1], ist[H2], ist[H3], i - 1)
            return i
        while next_conf >= 0 and next_conf <= i:
            if swings[U(c)].kind == K_SWING_HIGH:
                hrow = c
                hbroken = 0
                hp = swings[U(c)].price
            else:
                lrow = c
                lbroken = 0
                lp = swings[U(c)].price
            c += 1
            next_conf = swings[U(c)].confirmed_at if c < n_swings else -1
        stop = next_conf if 0 <= next_conf < i1 else i1
        while i < stop:
            if wick:
                xh = high[U(i)]
                xl = low[U(i)]
            else:
                xh = close[U(i)]
                xl = xh
            if (xh > hp) | (xl < lp):
                nchg = 0
                last_row_bar = i
                if xh > hp:
                    _break_row(out, chg, n_out, nchg, i, trend, 1, swings, hrow)
                    n_out += 1
                    nchg += 1
                    hbroken = 1
                    hp = np.inf
                    trend = 1
                if xl < lp:
                    _break_row(out, chg, n_out, nchg, i, trend, -1, swings, lrow)
                    n_out += 1
                    nchg += 1
                    lbroken = 1
                    lp = -np.inf
                    trend = -1
            trend_out[U(i)] = trend
            i += 1
    if i1 > i0 and last_row_bar != i1 - 1:
        nchg = 0
    ist[CURSOR] = c
    ist[S_HROW], ist[S_HBROKEN], ist[S_LROW], ist[S_LBROKEN], ist[S_TREND] = hrow, hbroken, lrow, lbroken, trend
    save_state(ist, n_out, nchg, ist[H0], ist[H1], ist[H2], ist[H3], i1 - 1)
    return i1


@kernel(inline="always")
def _break_bar(swings, row, broken, wick, never):
    """The bar where swing ``row`` is first traded (wick) or closed beyond, or ``never`` (none, broken, unknown)."""
    if row < 0 or broken != 0:
        return never
    b = swings[U(row)].touched_at if wick else swings[U(row)].filled_at
    return np.int64(b) if b >= 0 else never


@kernel
def structure_from_life_kernel(swings, n_swings, wick, trend_out, i0, i1, ist, out, chg):
    """Bars [i0, i1) from the swings' life (see the module docstring): the same rows, trend and change log
    as :func:`structure_kernel`, for swings run over at least the same bars (their life up to i1 - 1 is
    final; a break not yet known is read again by the next call)."""
    cap = out.shape[0]
    n_out = ist[N_OUT]
    nchg = ist[N_CHG]
    c = ist[CURSOR]
    hrow, hbroken, lrow, lbroken, trend = ist[S_HROW], ist[S_HBROKEN], ist[S_LROW], ist[S_LBROKEN], ist[S_TREND]
    never = np.int64(2**62)
    next_conf = np.int64(swings[U(c)].confirmed_at) if c < n_swings else never
    last_row_bar = -1  # the last bar that wrote a row in this call
    # the watched swings' breaks as far as the swings know them (never: not yet, read again next call)
    hb = _break_bar(swings, hrow, hbroken, wick, never)
    lb = _break_bar(swings, lrow, lbroken, wick, never)
    i = i0
    f0 = i0  # trend_out[f0:i] is still to be written: the trend changes only at breaks
    while True:
        e = min(next_conf, hb, lb, np.int64(i1))
        if e >= i1:
            i = i1
            break
        i = e
        if n_out + 2 > cap:
            if i > i0 and last_row_bar != i - 1:
                nchg = 0
            break
        while next_conf == i:  # newer swings replace the watched ones before this bar's test
            if swings[U(c)].kind == K_SWING_HIGH:
                hrow = c
                hbroken = 0
                hb = _break_bar(swings, hrow, hbroken, wick, never)
            else:
                lrow = c
                lbroken = 0
                lb = _break_bar(swings, lrow, lbroken, wick, never)
            c += 1
            next_conf = np.int64(swings[U(c)].confirmed_at) if c < n_swings else never
        if hb == i or lb == i:
            for j in range(f0, i):
                trend_out[U(j)] = trend
            nchg = 0
            last_row_bar = i
            if hb == i:
                _break_row(out, chg, n_out, nchg, i, trend, 1, swings, hrow)
                n_out += 1
                nchg += 1
                hbroken = 1
                hb = never
                trend = 1
            if lb == i:
                _break_row(out, chg, n_out, nchg, i, trend, -1, swings, lrow)
                n_out += 1
                nchg += 1
                lbroken = 1
                lb = never
                trend = -1
            trend_out[U(i)] = trend
            f0 = i + 1
    for j in range(f0, i):
        trend_out[U(j)] = trend
    if i >= i1 and i1 > i0 and last_row_bar != i1 - 1:
        nchg = 0
    ist[CURSOR] = c
    ist[S_HROW], ist[S_HBROKEN], ist[S_LROW], ist[S_LBROKEN], ist[S_TREND] = hrow, hbroken, lrow, lbroken, trend
    save_state(ist, n_out, nchg, ist[H0], ist[H1], ist[H2], ist[H3], i - 1)
    return i


class Structure(ObjectDetector):
    name = "structure"
    table = Table.STRUCTURE
    rows_per_1000_bars = 60
    n_heaps = 0  # breaks have no life

    def __init__(self, swings: ObjectDetector, params: StructureParams = StructureParams(), n_hint: int = 0) -> None:
        super().__init__(n_hint)
        self.params = params
        self.swings = swings
        self.buf.ist[S_HROW] = -1
        self.buf.ist[S_LROW] = -1
        # swings that keep their life (Swings does) give the breaks; a fixed table is scanned bar by bar
        self._from_life = hasattr(swings, "touch_rows")

    def _step(self, ctx: BarContext, i0: int, i1: int) -> int:
        b = self.buf
        sw = self.swings.buf
        if self._from_life:
            if self.swings.last_bar() < i1 - 1:
                raise RuntimeError(f"structure over bars {i0}..{i1 - 1} needs the swings run over them first "
                                   f"(they stop at bar {self.swings.last_bar()})")
            return structure_from_life_kernel(sw.out, sw.n_out, BREAK_ON[self.params.break_on] == 1,
                                              ctx.series["trend"], i0, i1, b.ist, b.out, b.chg)
        return structure_kernel(
            ctx.high, ctx.low, ctx.close, sw.out, sw.n_out, BREAK_ON[self.params.break_on] == 1,
            ctx.series["trend"], i0, i1, b.ist, b.out, b.chg,
        )
