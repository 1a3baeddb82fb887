"""Equal highs and equal lows: two or more swings within a tolerance (resting liquidity).

Consumes swing rows. When swing high s (price p, bar b) is confirmed at bar i, it pairs with
the MOST RECENT earlier swing high s' (price p', bar b') such that

* ``|p - p'| <= tol`` with ``tol = max(tolerance, tolerance_atr x ATR[b-1])``
  (ATR of the bar before the new swing; NaN ATR -> just ``tolerance``),
* the pair is intact: no bar strictly between b' and b traded above ``max(p, p')``,
* ``b - b' <= max_bars``, and s' is among the last ``max_swings`` swing highs.

If s' already belongs to a cluster that has not been closed through, the new row extends
it (chained tolerance: each swing within tol of the previous one), and the older cluster
row is superseded: state 2, end = i, filled_at stays -1. Row: kind EQUAL_HIGHS (direction
+1) / EQUAL_LOWS (-1), start = first swing bar of the cluster, bar = the new swing's bar,
confirmed_at = i (the second/last swing's confirmation), top/bottom = highest/lowest swing
of the cluster, price = the liquidity line (top for highs, bottom for lows), ref = the new
swing's row (swings table), extra = the number of swings in the cluster.

Life: touched (liquidity taken) when a later bar trades strictly beyond ``price``
(touched_at, state 1, end = that bar); filled when a bar closes beyond it (filled_at,
state 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ita_desktop.detectors._core import (
    CURSOR, FIRST_FREE, H0, H1, H2, H3, N_CHG, N_OUT, U, kernel, life_due, life_step, mark, new_row, pq_push, qtop,
    save_state,
)
from ita_desktop.detectors.base import BarContext, ObjectDetector
from ita_desktop.detectors.objects import Kind, Table

K_EQH = int(Kind.EQUAL_HIGHS)
K_EQL = int(Kind.EQUAL_LOWS)
K_SWING_HIGH = int(Kind.SWING_HIGH)
R_COUNT = FIRST_FREE  # + side (0 highs, 1 lows): swings in the ring
R_HEAD = FIRST_FREE + 2  # + side: next write position


@dataclass(frozen=True)
class EqualParams:
    tolerance: float = 0.0
    tolerance_atr: float = 0.1
    max_bars: int = 500
    max_swings: int = 10

    def __post_init__(self) -> None:
        if self.tolerance < 0 or self.tolerance_atr < 0:
            raise ValueError("equal highs/lows tolerances must be >= 0")
        if self.tolerance == 0 and self.tolerance_atr == 0:
            raise ValueError("equal highs/lows need a tolerance (absolute or ATR fraction)")
        if not 1 <= self.max_swings <= 256:
            raise ValueError(f"equal highs/lows max_swings must be in 1..256, got {self.max_swings}")
        if self.max_bars < 1:
            raise ValueError(f"equal highs/lows max_bars must be >= 1, got {self.max_bars}")


@kernel
def equal_kernel(high, low, close, atr, swings, n_swings, tol_abs, tol_atr, max_bars, K,
                 ring_bar, ring_price, ring_row, ring_cluster, i0, i1, ist, out, chg, hk, hid):
    cap = out.shape[0]
    n_out = ist[N_OUT]
    nchg = ist[N_CHG]
    s0, s1, s2, s3 = ist[H0], ist[H1], ist[H2], ist[H3]
    t0, t1, t2, t3 = qtop(hk, 0, s0), qtop(hk, 1, s1), qtop(hk, 2, s2), qtop(hk, 3, s3)
    c = ist[CURSOR]
    next_conf = swings[U(c)].confirmed_at if c < n_swings else -1
    last_evt = -1  # the last bar of this call that ran the life step or read swings (its change log stands)
    i = i0
    while i < i1:
        # the next bar that confirms swings (or the end); room for its rows (one a side) before any of it
        stop = next_conf if 0 <= next_conf < i1 else i1
        if stop < i:
            stop = i
        if stop < i1 and n_out + 2 > cap:
            if i > i0 and last_evt != i - 1:
                nchg = 0
            ist[CURSOR] = c
            save_state(ist, n_out, nchg, s0, s1, s2, s3, i - 1)
            return i
        # up to and including that bar, only the life of the rows already written (one life step
        # in the kernel: inlined twice, it cost 0.9 s more compile)
        end = stop + 1 if stop < i1 else i1
        while i < end:
            h = high[U(i)]
            lo = low[U(i)]
            cl = close[U(i)]
            if life_due(t0, t1, t2, t3, h, lo, cl):
                nchg = 0
                last_evt = i
                s0, s1, s2, s3, nchg = life_step(out, i, h, lo, cl, hk, hid, s0, s1, s2, s3, chg, nchg, True, True)
                t0, t1, t2, t3 = qtop(hk, 0, s0), qtop(hk, 1, s1), qtop(hk, 2, s2), qtop(hk, 3, s3)
            i += 1
        if stop >= i1:
            break
        i = stop  # the swings confirmed at this bar, after its life
        if last_evt != i:
            nchg = 0
            last_evt = i
        while next_conf >= 0 and next_conf <= i:
            s = c
            c += 1
            next_conf = swings[U(c)].confirmed_at if c < n_swings else -1
            side = 0 if swings[U(s)].kind == K_SWING_HIGH else 1
            sgn = 1.0 if side == 0 else -1.0
            p = swings[U(s)].price
            b = swings[U(s)].bar
            tol = tol_abs
            if tol_atr > 0.0 and b >= 1:
                t_atr = tol_atr * atr[U(b - 1)]
                if t_atr > tol:  # False for NaN
                    tol = t_atr
            # scan the ring newest -> oldest. swx = most extreme ring swing passed (sign-adjusted):
            # a swing between beyond p + tol rules out every older candidate without reading
            # bars; the bars between are scanned (runx) only once a candidate is within tol.
            cnt = ist[R_COUNT + side]
            head = ist[R_HEAD + side]
            runx = -np.inf
            swx = -np.inf
            end_excl = b
            found = -1
            slot = head
            for q in range(cnt):
                slot = slot - 1 if slot > 0 else K - 1  # newest first (no integer modulo: it is slow)
                bj = ring_bar[U(side), U(slot)]
                if b - bj > max_bars or swx > sgn * p + tol:
                    break
                pj = ring_price[U(side), U(slot)]
                if abs(p - pj) <= tol:
                    for t in range(bj + 1, end_excl):
                        v = high[U(t)] if side == 0 else -low[U(t)]
                        if v > runx:
                            runx = v
                    end_excl = bj + 1
                    if runx > sgn * p + tol:
                        break
                    top2 = sgn * p if sgn * p > sgn * pj else sgn * pj
                    if runx <= top2:
                        found = slot
                        break
                if sgn * pj > swx:
                    swx = sgn * pj
            cluster = -1
            if found >= 0:
                pj = ring_price[U(side), U(found)]
                r = ring_cluster[U(side), U(found)]
                if r >= 0 and out[U(r)].filled_at == -1 and out[U(r)].state != 2:
                    start = out[U(r)].start
                    count = out[U(r)].extra + 1.0
                    top = max(out[U(r)].top, p)
                    bottom = min(out[U(r)].bottom, p)
                    out[U(r)].state = 2
                    out[U(r)].end = i
                    nchg = mark(out, chg, r, i, nchg)
                else:
                    start = ring_bar[U(side), U(found)]
                    count = 2.0
                    top = max(p, pj)
                    bottom = min(p, pj)
                cluster = n_out
                if side == 0:
                    new_row(out, chg, n_out, nchg, i, K_EQH, 0, 1, b, start, -1, top, bottom, top, s, count)
                    s2 = pq_push(hk, hid, 2, s2, top, cluster)  # touched when high > top
                    t2 = hk[2, U(s2 - 1)]
                else:
                    new_row(out, chg, n_out, nchg, i, K_EQL, 0, -1, b, start, -1, top, bottom, bottom, s, count)
                    s0 = pq_push(hk, hid, 0, s0, -bottom, cluster)  # touched when low < bottom
                    t0 = hk[0, U(s0 - 1)]
                n_out += 1
                nchg += 1
            ring_bar[U(side), U(head)] = b
            ring_price[U(side), U(head)] = p
            ring_row[U(side), U(head)] = s
            ring_cluster[U(side), U(head)] = cluster
            ist[R_HEAD + side] = head + 1 if head + 1 < K else 0
            if cnt < K:
                ist[R_COUNT + side] = cnt + 1
        i += 1
    if i1 > i0 and last_evt != i1 - 1:
        nchg = 0
    ist[CURSOR] = c
    save_state(ist, n_out, nchg, s0, s1, s2, s3, i1 - 1)
    return i1


class EqualHighsLows(ObjectDetector):
    name = "equal"
    table = Table.EQUAL
    rows_per_1000_bars = 20

    def __init__(self, swings: ObjectDetector, params: EqualParams = EqualParams(), n_hint: int = 0) -> None:
        super().__init__(n_hint)
        self.params = params
        self.swings = swings
        k = int(params.max_swings)
        self.ring_bar = np.zeros((2, k), np.int64)
        self.ring_price = np.zeros((2, k), np.float64)
        self.ring_row = np.zeros((2, k), np.int64)
        self.ring_cluster = np.full((2, k), -1, np.int64)

    def _step(self, ctx: BarContext, i0: int, i1: int) -> int:
        b = self.buf
        sw = self.swings.buf
        p = self.params
        return equal_kernel(
            ctx.high, ctx.low, ctx.close, ctx.series["atr"], sw.out, sw.n_out, float(p.tolerance),
            float(p.tolerance_atr), int(p.max_bars), int(p.max_swings), self.ring_bar, self.ring_price,
            self.ring_row, self.ring_cluster, i0, i1, b.ist, b.out, b.chg, b.hk, b.hid,
        )
