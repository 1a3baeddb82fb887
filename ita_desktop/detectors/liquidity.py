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

The life is read from the swings', not watched again: ``price`` is the price of one swing of
the cluster (its lead swing: the highest of equal highs), and no bar from the cluster's first
swing to the row's confirmation traded beyond it (each pair is intact, the last swing's window
ends at the confirmation), so the row is touched and filled exactly when its lead swing is (checked
on every unsuperseded row of the 1,000,000-bar chain). The kernel visits only the bars where swings
are confirmed (it has no per-bar walk: 1.3 ms of 5.6 on that chain) and gives the waiting rows their
lead swing's touch and fill up to the run's last bar, logging that bar's changes in the order the
life queues popped them. A superseded row keeps the touch it had by then. This holds for finite
prices (all the store keeps); a NaN high or low in a cluster's bars can let its lead swing be touched
before the row is confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ita_desktop.detectors._core import CURSOR, FIRST_FREE, N_OUT, U, kernel, mark, new_row, save_state, step_helper
from ita_desktop.detectors.base import BarContext, ObjectDetector, grown
from ita_desktop.detectors.objects import Kind, Table

K_EQH = int(Kind.EQUAL_HIGHS)
K_EQL = int(Kind.EQUAL_LOWS)
K_SWING_HIGH = int(Kind.SWING_HIGH)
R_COUNT = FIRST_FREE  # + side (0 highs, 1 lows): swings in the ring
R_HEAD = FIRST_FREE + 2  # + side: next write position
R_NWAIT = FIRST_FREE + 4  # rows neither filled nor superseded (their life is still to come)


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


@step_helper
def _life_rank(out, swings, lead, r, e):
    """(phase, key) of row r's life event at bar e in the order the life queues popped them: lows touched (key
    -price), lows filled (touched before), highs touched (key price), highs filled."""
    touched_now = swings[U(lead[U(r)])].touched_at == e
    if out[U(r)].direction < 0:
        return (0 if touched_now else 1), -out[U(r)].price
    return (2 if touched_now else 3), out[U(r)].price


@step_helper
def _log_life(out, chg, swings, lead, waiting, nwait, e):
    """Log the rows whose life changes at bar e (first, as the life step did before the bar's swings), in the
    queues' order; returns how many. Their ``updated_at`` is set now, so a supersede at e logs them once."""
    n = 0
    for w in range(nwait):
        r = waiting[U(w)]
        if out[U(r)].state == 2:
            continue
        s = lead[U(r)]
        t = swings[U(s)].touched_at
        f = swings[U(s)].filled_at
        if not (t == e or (f == e and 0 <= t < e)):
            continue
        ph, key = _life_rank(out, swings, lead, r, e)
        j = n
        while j > 0:  # insertion by (phase, key, row): a handful of rows at most
            q = chg[U(j - 1)]
            ph2, key2 = _life_rank(out, swings, lead, q, e)
            if ph2 > ph or (ph2 == ph and (key2 > key or (key2 == key and q > r))):
                chg[U(j)] = q
                j -= 1
            else:
                break
        chg[U(j)] = r
        n += 1
        out[U(r)].updated_at = e
    return n


@step_helper
def _apply_life(out, swings, lead, waiting, nwait, e):
    """Give the waiting rows their lead swing's touch and fill up to bar e (touched: state 1, end = the touch;
    filled: state 2); returns the rows still waiting (neither filled nor superseded)."""
    k = 0
    for w in range(nwait):
        r = waiting[U(w)]
        if out[U(r)].state == 2:
            continue  # superseded
        s = lead[U(r)]
        t = swings[U(s)].touched_at
        if 0 <= t <= e:
            out[U(r)].touched_at = t
            out[U(r)].state = 1
            out[U(r)].end = t
            upd = t
            f = swings[U(s)].filled_at
            if 0 <= f <= e:
                out[U(r)].filled_at = f
                out[U(r)].state = 2
                upd = f
            if upd > out[U(r)].updated_at:
                out[U(r)].updated_at = upd
        if out[U(r)].state != 2:
            waiting[U(k)] = r
            k += 1
    return k


@kernel
def equal_kernel(atr, high, low, swings, n_swings, tol_abs, tol_atr, max_bars, K,
                 ring_bar, ring_price, ring_row, ring_cluster, lead, waiting, i0, i1, ist, out, chg):
    """Bars [i0, i1): the swings confirmed there, and the rows' life read from their lead swings (the module
    docstring). The caller leaves room for a row per swing to read, so the kernel never stops early."""
    if i1 <= i0:
        return i1
    n_out = ist[N_OUT]
    nwait = ist[R_NWAIT]
    c = ist[CURSOR]
    last = i1 - 1
    nchg = 0
    life_logged = False
    next_conf = swings[U(c)].confirmed_at if c < n_swings else -1
    while 0 <= next_conf < i1:
        i = next_conf
        nchg = 0
        if i == last:
            nchg = _log_life(out, chg, swings, lead, waiting, nwait, last)
            life_logged = True
        while next_conf == i:
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
                # the cluster row as of this bar: not superseded, and its lead swing not yet closed beyond
                alive = r >= 0 and out[U(r)].state != 2
                if alive:
                    f = swings[U(lead[U(r)])].filled_at
                    alive = not (0 <= f <= i)
                if alive:
                    start = out[U(r)].start
                    count = out[U(r)].extra + 1.0
                    top = max(out[U(r)].top, p)
                    bottom = min(out[U(r)].bottom, p)
                    ls = s if sgn * p > sgn * out[U(r)].price else lead[U(r)]
                    t = swings[U(lead[U(r)])].touched_at
                    out[U(r)].touched_at = t if 0 <= t <= i else -1
                    out[U(r)].state = 2
                    out[U(r)].end = i
                    nchg = mark(out, chg, r, i, nchg)
                else:
                    start = ring_bar[U(side), U(found)]
                    count = 2.0
                    top = max(p, pj)
                    bottom = min(p, pj)
                    ls = s if sgn * p > sgn * pj else ring_row[U(side), U(found)]
                cluster = n_out
                if side == 0:
                    new_row(out, chg, n_out, nchg, i, K_EQH, 0, 1, b, start, -1, top, bottom, top, s, count)
                else:
                    new_row(out, chg, n_out, nchg, i, K_EQL, 0, -1, b, start, -1, top, bottom, bottom, s, count)
                lead[U(n_out)] = ls
                waiting[U(nwait)] = n_out
                nwait += 1
                n_out += 1
                nchg += 1
            ring_bar[U(side), U(head)] = b
            ring_price[U(side), U(head)] = p
            ring_row[U(side), U(head)] = s
            ring_cluster[U(side), U(head)] = cluster
            ist[R_HEAD + side] = head + 1 if head + 1 < K else 0
            if cnt < K:
                ist[R_COUNT + side] = cnt + 1
    if not life_logged:
        nchg = _log_life(out, chg, swings, lead, waiting, nwait, last)
    nwait = _apply_life(out, swings, lead, waiting, nwait, last)
    ist[CURSOR] = c
    ist[R_NWAIT] = nwait
    save_state(ist, n_out, nchg, 0, 0, 0, 0, last)
    return i1


class EqualHighsLows(ObjectDetector):
    name = "equal"
    table = Table.EQUAL
    rows_per_1000_bars = 20
    n_heaps = 0  # their life is their lead swing's

    def __init__(self, swings: ObjectDetector, params: EqualParams = EqualParams(), n_hint: int = 0) -> None:
        """``swings``: a Swings (or a table of its rows) run over at least the bars this detector runs."""
        super().__init__(n_hint)
        self.params = params
        self.swings = swings
        k = int(params.max_swings)
        self.ring_bar = np.zeros((2, k), np.int64)
        self.ring_price = np.zeros((2, k), np.float64)
        self.ring_row = np.zeros((2, k), np.int64)
        self.ring_cluster = np.full((2, k), -1, np.int64)
        self._lead = np.empty(self.buf.capacity, np.int32)  # each row's lead swing (see the module docstring)
        self._waiting = np.empty(self.buf.capacity, np.int32)

    def _step(self, ctx: BarContext, i0: int, i1: int) -> int:
        b = self.buf
        sw = self.swings.buf
        need = b.n_out + max(0, int(sw.n_out) - int(b.ist[CURSOR]))  # a row at most per swing still to read
        if need > b.capacity:
            b.grow(need)
        if len(self._lead) < b.capacity:
            self._lead = grown(self._lead, b.capacity, b.n_out)
            self._waiting = grown(self._waiting, b.capacity, int(b.ist[R_NWAIT]))
        p = self.params
        return equal_kernel(
            ctx.series["atr"], ctx.high, ctx.low, sw.out, sw.n_out, float(p.tolerance), float(p.tolerance_atr),
            int(p.max_bars), int(p.max_swings), self.ring_bar, self.ring_price, self.ring_row, self.ring_cluster,
            self._lead, self._waiting, i0, i1, b.ist, b.out, b.chg,
        )
