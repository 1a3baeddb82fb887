"""The numba trade simulation: bars + orders (as plain arrays) -> trade rows and order status.

How a bar is read. Each bar is a PATH of price points: open -> first extreme -> second
extreme -> close, where the order of the extremes is the intrabar policy (see costs.py);
with a lower timeframe given, the path is the concatenation of the sub-bars' paths (each
read the same way), so the real order of highs and lows decides. The step to each open is
a GAP (a jump): a level crossed by a jump fills at the point reached (the open), a level
crossed by a continuous move fills at the level. Positions and orders walk the same path,
so fills, exits, break-even moves, MFE and MAE are all consistent with one price history.

Prices on the path are bids; a buy compares ask = bid + spread (per bar, or per sub-bar).

Order of events in bar t:
  1. orders with signal_bar == t - 1 become active (never earlier: no look-ahead);
  2. time exits at the open (time_exit_bar, entry_bar + max_bars);
  3. open positions meet the open (gap stops and gap targets fill at the open);
  4. orders in signal order: market orders fill at the open, limit/stop orders where the path
     first reaches their price, while a slot is free (slots freed inside a bar are usable from
     the next bar); expired orders are dropped; a filled position walks the rest of the bar;
  5. positions open before this bar walk the rest of its path.
After the last bar what is still open closes at the last close (end of data).

Speed: a position whose stop, next target and break-even level all lie outside the bar's
range skips the path walk (only MFE/MAE move, to the bar's extremes: the same result). Helper
calls take few arrays on purpose: each array argument of a call costs reference counting.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ita_desktop.detectors._core import helper

# exit reasons
STOP, TARGET1, TARGET2, TARGET3, BREAKEVEN, TIME, END = 1, 2, 3, 4, 5, 6, 7
# order status
NOT_ACTIVE, FILLED, EXPIRED, NO_SLOT, INVALID, OPEN_AT_END, TOO_SMALL = 0, 1, 2, 3, 4, 5, 6

# trade float columns
(F_ENTRY, F_EXIT, F_STOP, F_TP1, F_TP2, F_TP3, F_LOTS, F_RISK_MONEY, F_R, F_PNL, F_POINTS, F_COMMISSION,
 F_MFE, F_MAE, F_EQUITY_BEFORE) = range(15)
NF = 15
# trade int columns
I_ORDER, I_ENTRY_BAR, I_ENTRY_TIME, I_EXIT_BAR, I_EXIT_TIME, I_REASON, I_TARGETS_HIT = range(7)
NI = 7

# position state, float
(P_ENTRY, P_STOP, P_TP0, P_TP1, P_TP2, P_FR0, P_FR1, P_FR2, P_BE, P_RISK, P_LOTS, P_REMAIN, P_PTS, P_EXITSUM,
 P_MFE, P_MAE, P_INIT_STOP, P_EQUITY, P_COMM, P_MONEY) = range(20)
NPF = 20
# position state, int
Q_ORDER, Q_DIR, Q_ENTRY_BAR, Q_ENTRY_TIME, Q_NEXT_TP, Q_BE_MOVED, Q_DEADLINE, Q_ACTIVE, Q_LAST_REASON = range(9)
NPI = 9
NEVER = np.int64(2**62)
#: A stop closer to the fill than this fraction of the price is float rounding, not a stop: the
#: order is refused as INVALID (sizing on it made R multiples of 10^11 in sweeps).
RISK_EPS = 1e-9


@helper
def _first_low(policy, d, o, h, lo):
    """True when the path visits the low before the high."""
    if policy == 0:  # worst: against the position first
        return d > 0
    if policy == 1:  # best
        return d < 0
    return (o - lo) <= (h - o)  # open distance


@helper
def _append_bar(px, sp, jp, tm, di, k, policy, d, o, h, lo, c, s, t):
    px[di, k] = o
    jp[di, k] = 1
    if _first_low(policy, d, o, h, lo):
        px[di, k + 1] = lo
        px[di, k + 2] = h
    else:
        px[di, k + 1] = h
        px[di, k + 2] = lo
    px[di, k + 3] = c
    for j in range(4):
        sp[di, k + j] = s
        tm[di, k + j] = t
    jp[di, k + 1] = 0
    jp[di, k + 2] = 0
    jp[di, k + 3] = 0
    return k + 4


@helper
def _bar_path(px, sp, jp, tm, di, policy, d, o, h, lo, c, s, t):
    """Fill the path buffers for a bar read alone; returns the number of points (4).

    The kernel calls this rather than ``_append_bar``, which ``_ltf_path`` calls too: one compile of it
    (see ``_close_rest``)."""
    return _append_bar(px, sp, jp, tm, di, 0, policy, d, o, h, lo, c, s, t)


@helper
def _ltf_path(px, sp, jp, tm, di, t, d, policy, l_time, l_o, l_h, l_lo, l_c, l_spread, l_start, l_end):
    """Fill the path buffers for bar t from its lower-timeframe bars; returns the number of points.

    Kept out of the per-bar fast path: passing a dozen arrays per bar costs more than the work."""
    k = 0
    for j in range(l_start[t], l_end[t]):
        k = _append_bar(px, sp, jp, tm, di, k, policy, d, l_o[j], l_h[j], l_lo[j], l_c[j], l_spread[j], l_time[j])
    return k


@helper
def _close_part(pf, pi, s, frac, price, reason, bar, t_exit, cs, comm, tf, ti, n_out, state):
    """Close ``frac`` of the original size of slot s at ``price``; write the trade when nothing is left.

    state[0] is the realised equity; returns the new trade count."""
    d = pi[s, Q_DIR]
    lots = pf[s, P_LOTS]
    gross = frac * lots * d * (price - pf[s, P_ENTRY]) * cs
    fee = frac * lots * comm
    pf[s, P_MONEY] += gross - fee
    pf[s, P_COMM] += fee
    pf[s, P_PTS] += frac * d * (price - pf[s, P_ENTRY])
    pf[s, P_EXITSUM] += frac * price
    pf[s, P_REMAIN] -= frac
    state[0] += gross - fee
    pi[s, Q_LAST_REASON] = reason
    if pf[s, P_REMAIN] > 1e-9:
        return n_out
    fav = d * (price - pf[s, P_ENTRY])  # the last fill is the furthest this position saw on its way out
    pf[s, P_MFE] = max(pf[s, P_MFE], fav)
    pf[s, P_MAE] = max(pf[s, P_MAE], -fav)
    k = n_out
    risk_money = lots * pf[s, P_RISK] * cs
    tf[k, F_ENTRY] = pf[s, P_ENTRY]
    tf[k, F_EXIT] = pf[s, P_EXITSUM]
    tf[k, F_STOP] = pf[s, P_INIT_STOP]
    tf[k, F_TP1] = pf[s, P_TP0]
    tf[k, F_TP2] = pf[s, P_TP1]
    tf[k, F_TP3] = pf[s, P_TP2]
    tf[k, F_LOTS] = lots
    tf[k, F_RISK_MONEY] = risk_money
    tf[k, F_R] = pf[s, P_MONEY] / risk_money
    tf[k, F_PNL] = pf[s, P_MONEY]
    tf[k, F_POINTS] = pf[s, P_PTS]  # in price; the wrapper divides by the point
    tf[k, F_COMMISSION] = pf[s, P_COMM]
    tf[k, F_MFE] = pf[s, P_MFE]
    tf[k, F_MAE] = pf[s, P_MAE]
    tf[k, F_EQUITY_BEFORE] = pf[s, P_EQUITY]
    ti[k, I_ORDER] = pi[s, Q_ORDER]
    ti[k, I_ENTRY_BAR] = pi[s, Q_ENTRY_BAR]
    ti[k, I_ENTRY_TIME] = pi[s, Q_ENTRY_TIME]
    ti[k, I_EXIT_BAR] = bar
    ti[k, I_EXIT_TIME] = t_exit
    ti[k, I_REASON] = reason
    ti[k, I_TARGETS_HIT] = pi[s, Q_NEXT_TP]
    pi[s, Q_ACTIVE] = 0
    return n_out + 1


@helper
def _close_rest(pf, pi, s, price, reason, bar, t_exit, cs, comm, tf, ti, n_out, state):
    """Close what is left of slot s (the kernel's time and end-of-data exits).

    The kernel calls this, never ``_close_part`` itself: numba compiles a helper once per calling level
    (called from a kernel and from another helper, ``_close_part`` was compiled twice, 0.4 s of a clean
    cache's first backtest); through this small one it is compiled once."""
    return _close_part(pf, pi, s, pf[s, P_REMAIN], price, reason, bar, t_exit, cs, comm, tf, ti, n_out, state)


@helper
def _walk(pf, pi, s, px, sp, jp, tm, di, k0, k1, bar, slip, cs, comm, tf, ti, n_out, state):
    """Move slot s along path points [k0, k1): stop, targets (partials), break-even, MFE/MAE."""
    d = pi[s, Q_DIR]
    for k in range(k0, k1):
        b = px[di, k] + (sp[di, k] if d < 0 else 0.0)
        jump = jp[di, k]
        if d * (b - pf[s, P_STOP]) <= 0.0:
            fill = b if jump else pf[s, P_STOP]
            fill -= d * slip
            reason = BREAKEVEN if pi[s, Q_BE_MOVED] == 1 else STOP
            n_out = _close_part(pf, pi, s, pf[s, P_REMAIN], fill, reason, bar, tm[di, k], cs, comm, tf, ti, n_out, state)
        else:
            while pi[s, Q_ACTIVE] == 1 and pi[s, Q_NEXT_TP] < 3:
                j = pi[s, Q_NEXT_TP]
                tp = pf[s, P_TP0 + j]
                if math.isnan(tp) or d * (b - tp) < 0.0:
                    break
                fill = b if jump else tp
                pi[s, Q_NEXT_TP] = j + 1
                frac = pf[s, P_FR0 + j]
                if j == 2 or math.isnan(pf[s, P_TP0 + j + 1]) or frac >= pf[s, P_REMAIN]:
                    frac = pf[s, P_REMAIN]  # the last target takes the rest (no float crumbs left open)
                n_out = _close_part(pf, pi, s, frac, fill, TARGET1 + j, bar, tm[di, k], cs, comm, tf, ti, n_out, state)
            if pi[s, Q_ACTIVE] == 1 and pi[s, Q_BE_MOVED] == 0 and not math.isnan(pf[s, P_BE]):
                if d * (b - pf[s, P_BE]) >= 0.0:
                    pf[s, P_STOP] = pf[s, P_ENTRY]
                    pi[s, Q_BE_MOVED] = 1
        if pi[s, Q_ACTIVE] == 0:
            break
        fav = d * (b - pf[s, P_ENTRY])
        if fav > pf[s, P_MFE]:
            pf[s, P_MFE] = fav
        if -fav > pf[s, P_MAE]:
            pf[s, P_MAE] = -fav
    return n_out


#: The least money at risk a position may have: the smallest normal double. Compounding can drain an account
#: towards 0 (a ruined sweep variant: losses and commission took 10,000 to 2e-317); sizes below it lose
#: precision (R of -4.96 for a stop-out) and at 0 a trade's R divided by zero, ending the whole run.
SMALLEST_MONEY = 2.2250738585072014e-308


@helper
def _open(pf, pi, s, oi, d, fill, bar, t_fill, o_stop, o_stopdist, o_tp, o_tpr, o_tpf, o_be, o_texit,
          o_maxbars, o_risk, o_lots, equity, cs, lot_step, min_lot):
    """Start a position in slot s; returns an order status (FILLED, INVALID or TOO_SMALL)."""
    stop = o_stop[oi]
    if math.isnan(stop):
        stop = fill - d * o_stopdist[oi]
    risk = d * (fill - stop)
    if not risk > RISK_EPS * abs(fill):
        return INVALID  # no stop distance (a gap opened at the stop: 2e-16 of "risk" sized 10^13 lots)
    lots = o_lots[oi]
    if math.isnan(lots):
        lots = equity * o_risk[oi] / 100.0 / (risk * cs)
    if lot_step > 0.0:
        lots = math.floor(lots / lot_step + 1e-9) * lot_step
    if not lots > 0.0 or lots < min_lot or not lots * risk * cs >= SMALLEST_MONEY:
        return TOO_SMALL
    pf[s, P_ENTRY] = fill
    pf[s, P_STOP] = stop
    pf[s, P_INIT_STOP] = stop
    pf[s, P_RISK] = risk
    pf[s, P_LOTS] = lots
    pf[s, P_REMAIN] = 1.0
    pf[s, P_PTS] = 0.0
    pf[s, P_EXITSUM] = 0.0
    pf[s, P_MONEY] = 0.0
    pf[s, P_COMM] = 0.0
    pf[s, P_MFE] = 0.0
    pf[s, P_MAE] = 0.0
    pf[s, P_EQUITY] = equity
    for j in range(3):
        tp = o_tp[oi, j]
        if math.isnan(tp) and not math.isnan(o_tpr[oi, j]):
            tp = fill + d * o_tpr[oi, j] * risk
        pf[s, P_TP0 + j] = tp
        pf[s, P_FR0 + j] = o_tpf[oi, j]
    be = o_be[oi]
    pf[s, P_BE] = fill + d * be * risk if not math.isnan(be) else np.nan
    deadline = NEVER
    if o_texit[oi] >= 0:
        deadline = o_texit[oi]
    if o_maxbars[oi] > 0 and bar + o_maxbars[oi] < deadline:
        deadline = bar + o_maxbars[oi]
    pi[s, Q_ORDER] = oi
    pi[s, Q_DIR] = d
    pi[s, Q_ENTRY_BAR] = bar
    pi[s, Q_ENTRY_TIME] = t_fill
    pi[s, Q_NEXT_TP] = 0
    pi[s, Q_BE_MOVED] = 0
    pi[s, Q_DEADLINE] = deadline
    pi[s, Q_ACTIVE] = 1
    pi[s, Q_LAST_REASON] = 0
    return FILLED


@helper
def _drop_closed(live, n_live, pi):
    """Keep the still-open slots of ``live[:n_live]`` (their order kept); returns the new count."""
    keep = 0
    for q in range(n_live):
        s = live[q]
        if pi[s, Q_ACTIVE] == 1:
            live[keep] = s
            keep += 1
    return keep


@helper
def _free_slot(live, n_live):
    """The lowest slot not in ``live[:n_live]`` (ascending), which is also where it goes in the list."""
    for q in range(n_live):
        if live[q] != q:
            return q
    return n_live


#: Slots a simulation without a position limit starts with; one that needs more starts again with 4x
#: (arrays swapped inside the kernel's loop cost reference counting on every use: 3-5x slower).
FIRST_SLOTS = 1024


def simulate_core(time, o, h, lo, c, spread,
                  use_ltf, l_time, l_o, l_h, l_lo, l_c, l_spread, l_start, l_end, max_sub,
                  o_dir, o_sig, o_type, o_price, o_expiry, o_stop, o_stopdist, o_tp, o_tpr, o_tpf, o_be, o_texit,
                  o_maxbars, o_risk, o_lots,
                  initial_equity, cs, comm, slip, max_pos, policy, compound, lot_step, min_lot,
                  tf, ti, status):
    """Simulate sorted orders over the bars; fills tf/ti (one row per trade, in closing order) and
    status (one per order). Returns the number of trades.

    Cost grows with bars + open positions + pending orders, whatever ``max_pos``: open positions
    are the ascending slot list ``live`` (a filled order takes the lowest free slot, so positions
    are met in the same order with or without a limit), pending orders the list ``active``, and
    orders join it from a pointer into the signal-sorted orders. Without a limit the slots are
    FIRST_SLOTS, and a run that needs more starts again with four times as many (one slot per
    order, walked every bar, was O(bars x orders)).

    Plain Python around the kernel ``_simulate_slots`` (nogil), not a kernel of its own: a jitted
    wrapper re-optimised and re-emitted the whole simulator it links (0.6-0.8 s of a clean cache's
    first backtest, for a loop run once or twice). ``simulate_pooled`` repeats the loop in its kernel."""
    limit = max_pos if max_pos > 0 else max(len(o_dir), 1)
    cap = limit if max_pos > 0 else min(limit, FIRST_SLOTS)
    while True:
        n_out = _simulate_slots(time, o, h, lo, c, spread,
                                use_ltf, l_time, l_o, l_h, l_lo, l_c, l_spread, l_start, l_end, max_sub,
                                o_dir, o_sig, o_type, o_price, o_expiry, o_stop, o_stopdist, o_tp, o_tpr, o_tpf, o_be,
                                o_texit, o_maxbars, o_risk, o_lots,
                                initial_equity, cs, comm, slip, limit, policy, compound, lot_step, min_lot,
                                tf, ti, status, cap)
        if n_out >= 0:
            return n_out
        cap = min(4 * cap, limit)
        status[:] = NOT_ACTIVE


@njit(cache=True, nogil=True)
def _simulate_slots(time, o, h, lo, c, spread,
                    use_ltf, l_time, l_o, l_h, l_lo, l_c, l_spread, l_start, l_end, max_sub,
                    o_dir, o_sig, o_type, o_price, o_expiry, o_stop, o_stopdist, o_tp, o_tpr, o_tpf, o_be, o_texit,
                    o_maxbars, o_risk, o_lots,
                    initial_equity, cs, comm, slip, limit, policy, compound, lot_step, min_lot,
                    tf, ti, status, cap):
    """simulate_core with at most ``limit`` positions open in ``cap`` slots; -1 when ``cap`` is too few."""
    n = len(time)
    m = len(o_dir)
    # Every buffer is one of two np.zeros calls (2-D float, 2-D int64): numba compiles its np.zeros/np.empty
    # once per argument types, and the eight kinds of calls here cost ~0.5 s of a clean cache's first backtest.
    pf = np.zeros((cap, NPF))
    pi = np.zeros((cap, NPI), np.int64)
    lists = np.zeros((4, max(cap, 2)), np.int64)
    live = lists[0]  # open slots, ascending
    car = lists[1]  # open slots carried into this bar, ascending
    quiet = lists[2]  # per slot: 1 when this bar's range met none of its levels
    npath = lists[3]  # path points per direction
    active = np.zeros((1, max(m, 1)), np.int64)[0]  # pending orders
    n_live = 0
    n_car = 0
    npts = 4 * max(max_sub, 1)
    px = np.zeros((2, npts))
    sp = np.zeros((2, npts))
    jp = np.zeros((2, npts), np.int64)  # 1: the point is reached by a jump
    tm = np.zeros((2, npts), np.int64)
    n_active = 0
    n_open = 0
    state = np.zeros((1, 1))[0]
    state[0] = initial_equity
    n_out = 0
    nxt = 0
    t = 0
    if m > 0:
        t = o_sig[0] + 1
    while t < n and (nxt < m or n_active > 0 or n_live > 0):
        while nxt < m and o_sig[nxt] + 1 <= t:
            if o_sig[nxt] + 1 == t:
                active[n_active] = nxt
                n_active += 1
            nxt += 1
        for di in range(2):
            d = 1 if di == 0 else -1
            if use_ltf and l_end[t] > l_start[t]:
                npath[di] = _ltf_path(px, sp, jp, tm, di, t, d, policy, l_time, l_o, l_h, l_lo, l_c, l_spread,
                                      l_start, l_end)
            else:
                npath[di] = _bar_path(px, sp, jp, tm, di, policy, d, o[t], h[t], lo[t], c[t], spread[t], time[t])
        # time exits, then the open for positions carried into this bar
        for q in range(n_live):
            s = live[q]
            quiet[s] = 0
            di = 0 if pi[s, Q_DIR] > 0 else 1
            if pi[s, Q_DEADLINE] > t and not (use_ltf and l_end[t] > l_start[t]):
                # the common case, decided from the bar's range: no stop, target or break-even level
                # inside it, so walking the path would only move MFE/MAE to the bar's extremes
                d = pi[s, Q_DIR]
                adj = spread[t] if d < 0 else 0.0
                worst = (lo[t] if d > 0 else h[t]) + adj
                best = (h[t] if d > 0 else lo[t]) + adj
                j = pi[s, Q_NEXT_TP]
                calm = d * (worst - pf[s, P_STOP]) > 0.0
                if calm and j < 3 and not math.isnan(pf[s, P_TP0 + j]):
                    calm = d * (best - pf[s, P_TP0 + j]) < 0.0
                if calm and pi[s, Q_BE_MOVED] == 0 and not math.isnan(pf[s, P_BE]):
                    calm = d * (best - pf[s, P_BE]) < 0.0
                if calm:
                    quiet[s] = 1
                    pf[s, P_MFE] = max(pf[s, P_MFE], d * (best - pf[s, P_ENTRY]))
                    pf[s, P_MAE] = max(pf[s, P_MAE], -d * (worst - pf[s, P_ENTRY]))
                    continue
            if pi[s, Q_DEADLINE] <= t:
                price = o[t] + (spread[t] if pi[s, Q_DIR] < 0 else 0.0)
                n_out = _close_rest(pf, pi, s, price, TIME, t, time[t], cs, comm, tf, ti, n_out, state)
            else:
                n_out = _walk(pf, pi, s, px, sp, jp, tm, di, 0, 1, t, slip, cs, comm, tf, ti, n_out, state)
        n_car = 0
        for q in range(n_live):
            if pi[live[q], Q_ACTIVE] == 1:
                live[n_car] = live[q]
                car[n_car] = live[q]
                n_car += 1
        n_live = n_car
        n_open = n_live  # slots freed inside a bar are usable from the next bar
        # orders, in signal order
        keep = 0
        for a in range(n_active):
            oi = active[a]
            d = o_dir[oi]
            di = 0 if d > 0 else 1
            done = False
            k = -1  # the path point where the order fills
            w0 = 1  # where its position's walk starts: a market fill is the open itself, a level walks on from it
            fill = 0.0
            if o_texit[oi] >= 0 and t >= o_texit[oi] or o_type[oi] != 0 and o_expiry[oi] >= 0 and t > o_expiry[oi]:
                status[oi] = EXPIRED  # past its expiry, or the rule's exit time came before it could fill
                done = True
            elif o_type[oi] == 0:
                done = True
                if n_open >= limit:
                    status[oi] = NO_SLOT
                else:
                    k = 0
                    fill = px[di, 0] + (sp[di, 0] if d > 0 else 0.0)
            elif n_open < limit:
                level = o_price[oi]
                for kk in range(npath[di]):
                    e = px[di, kk] + (sp[di, kk] if d > 0 else 0.0)
                    hit = d * (e - level) <= 0.0 if o_type[oi] == 1 else d * (e - level) >= 0.0
                    if hit:
                        k = kk
                        w0 = kk
                        fill = e if jp[di, kk] else level
                        if o_type[oi] == 2:
                            fill += d * slip
                        done = True
                        break
            if k >= 0:
                q = _free_slot(live, n_live)
                if q >= cap:
                    return -1  # more positions open at once than slots: the caller starts again with more
                s = q
                eq = state[0] if compound else initial_equity
                status[oi] = _open(pf, pi, s, oi, d, fill, t, tm[di, k], o_stop, o_stopdist, o_tp, o_tpr, o_tpf,
                                   o_be, o_texit, o_maxbars, o_risk, o_lots, eq, cs, lot_step, min_lot)
                if status[oi] == FILLED:
                    n_open += 1
                    n_out = _walk(pf, pi, s, px, sp, jp, tm, di, w0, npath[di], t, slip, cs, comm,
                                  tf, ti, n_out, state)
                    if pi[s, Q_ACTIVE] == 1:  # still open: into the list at its place (slot s = position q)
                        for r in range(n_live, q, -1):
                            live[r] = live[r - 1]
                        live[q] = s
                        n_live += 1
            if not done:
                active[keep] = oi
                keep += 1
        n_active = keep
        # the rest of the bar for positions carried in
        for q in range(n_car):
            s = car[q]
            if not quiet[s] and pi[s, Q_ACTIVE] == 1:
                di = 0 if pi[s, Q_DIR] > 0 else 1
                n_out = _walk(pf, pi, s, px, sp, jp, tm, di, 1, npath[di], t, slip, cs, comm, tf, ti,
                              n_out, state)
        if n_car > 0:
            n_live = _drop_closed(live, n_live, pi)
        if n_live == 0 and n_active == 0 and nxt < m:
            t = max(t + 1, o_sig[nxt] + 1)
        else:
            t += 1
    if n > 0:
        for q in range(n_live):
            s = live[q]
            price = c[n - 1] + (spread[n - 1] if pi[s, Q_DIR] < 0 else 0.0)
            n_out = _close_rest(pf, pi, s, price, END, n - 1, time[n - 1], cs, comm, tf, ti, n_out, state)
    for a in range(n_active):
        status[active[a]] = OPEN_AT_END
    return n_out


# -- sweeps: many order sets at once, summarised in the kernel (see _sweep_kernel.py, variants.py) --
# Kept in THIS file on purpose: numba's cache checks only the defining file, so a kernel calling
# the simulator from another module kept running the old simulator after it changed (simulate_pooled calls
# _simulate_slots).

#: The statistics ``simulate_pooled`` computes per variant (``light_stats``), in the column order of its ``stats`` output.
STAT_NAMES = ("trades", "win_rate", "expectancy_r", "avg_win_r", "avg_loss_r", "profit_factor", "net_pnl",
              "total_r", "max_drawdown", "max_drawdown_pct", "max_drawdown_r", "longest_losing_streak", "sqn",
              "exposure", "final_equity", "return_pct")
NSTAT = len(STAT_NAMES)


@njit(cache=True, nogil=True)  # nogil: the simulator's flags, so numba's np.zeros compiled for it serves here
def light_stats(tf, ti, n, initial_equity, n_bars, out):
    """The STAT_NAMES of one variant's ``n`` kernel trade rows (closing order) into ``out``."""
    if n == 0:
        for j in range(NSTAT):
            out[j] = np.nan
        out[0] = 0.0
        out[8] = 0.0
        out[9] = 0.0
        out[10] = 0.0
        out[11] = 0.0
        out[6] = 0.0
        out[7] = 0.0
        out[13] = 0.0
        out[14] = initial_equity
        out[15] = 0.0
        return
    # compute_stats' order: exit time, then entry time, then order index (three stable sorts); one merge sort
    # of ours for both orders here: numba's np.argsort compiled its merge sort per array layout (~1.5 s)
    work = np.zeros((4, n), np.int64)
    idx = _sorted_rows(ti, n, I_EXIT_TIME, I_ENTRY_TIME, I_ORDER, work[0], work[1])
    by_entry = _sorted_rows(ti, n, I_ENTRY_BAR, I_ENTRY_BAR, I_ENTRY_BAR, work[2], work[3])
    wins = 0
    sum_r = 0.0
    win_r = 0.0
    loss_r = 0.0
    gross_win = 0.0
    gross_loss = 0.0
    net = 0.0
    equity = initial_equity
    peak = initial_equity
    dd = 0.0
    dd_pct = 0.0
    cum_r = 0.0
    peak_r = 0.0
    dd_r = 0.0
    streak = 0
    worst_streak = 0
    for q in range(n):
        k = idx[q]
        r = tf[k, F_R]
        pnl = tf[k, F_PNL]
        sum_r += r
        if pnl > 0:
            wins += 1
            win_r += r
            gross_win += pnl
            streak = 0
        else:
            loss_r += r
            gross_loss -= pnl
            streak += 1
            worst_streak = max(worst_streak, streak)
        net += pnl
        equity += pnl
        peak = max(peak, equity)
        dd = max(dd, peak - equity)
        if peak > 0:
            dd_pct = max(dd_pct, (peak - equity) / peak * 100.0)
        cum_r += r
        peak_r = max(peak_r, cum_r)
        dd_r = max(dd_r, peak_r - cum_r)
    mean = sum_r / n
    out[0] = n
    out[1] = wins / n
    out[2] = mean
    out[3] = win_r / wins if wins > 0 else np.nan
    out[4] = loss_r / (n - wins) if n - wins > 0 else np.nan
    if gross_loss > 0:
        out[5] = gross_win / gross_loss
    else:
        out[5] = np.inf if gross_win > 0 else np.nan
    out[6] = net
    out[7] = sum_r
    out[8] = dd
    out[9] = dd_pct
    out[10] = dd_r
    out[11] = worst_streak
    out[12] = np.nan
    if n > 1:
        var = 0.0  # two passes, as numpy's std: no cancellation between large sums
        for q in range(n):
            var += (tf[q, F_R] - mean) ** 2
        var /= n - 1
        if var > 0:
            out[12] = math.sqrt(n) * mean / math.sqrt(var)
    out[13] = _exposure(ti, n, n_bars, by_entry)
    out[14] = initial_equity + net
    out[15] = net / initial_equity * 100.0


@helper
def _before(ti, a, b, c0, c1, c2):
    """Row a sorts before row b: columns c0, c1, c2 in turn, then the row itself (what stable sorts give)."""
    if ti[a, c0] != ti[b, c0]:
        return ti[a, c0] < ti[b, c0]
    if ti[a, c1] != ti[b, c1]:
        return ti[a, c1] < ti[b, c1]
    if ti[a, c2] != ti[b, c2]:
        return ti[a, c2] < ti[b, c2]
    return a < b


@helper
def _sorted_rows(ti, n, c0, c1, c2, idx, tmp):
    """Rows 0..n-1 of ``ti`` in ``_before`` order (a bottom-up merge sort in ``idx``/``tmp``; returns one of
    them). The order is total, so it is exactly the order of numpy's stable sorts by c2, then c1, then c0."""
    for q in range(n):
        idx[q] = q
    src = idx
    dst = tmp
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i = lo
            j = mid
            k = lo
            if mid < hi and _before(ti, src[mid - 1], src[mid], c0, c1, c2):
                for q in range(lo, hi):
                    dst[q] = src[q]
                continue
            while i < mid and j < hi:
                if _before(ti, src[j], src[i], c0, c1, c2):
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < hi:
                dst[k] = src[j]
                j += 1
                k += 1
        src, dst = dst, src
        width *= 2
    return src


@helper
def _exposure(ti, n, n_bars, order):
    """Share of bars inside any trade's [entry bar, exit bar] (a union: overlaps count once); ``order``:
    the rows by entry bar."""
    if n_bars <= 0:
        return 0.0
    covered = 0
    end = -1
    for q in range(n):
        a = ti[order[q], I_ENTRY_BAR]
        b = min(ti[order[q], I_EXIT_BAR], n_bars - 1)
        if b <= end:
            continue
        covered += b - max(a, end + 1) + 1
        end = b
    return covered / n_bars


@njit(cache=True, nogil=True)
def simulate_pooled(v0, v1, time, o, h, lo, c, spread,
                    use_ltf, l_time, l_o, l_h, l_lo, l_c, l_spread, l_start, l_end, max_sub,
                    m, starts, p_dir, p_sig, p_type, p_price, p_expiry, p_stop, p_stopdist, p_tp, p_tpr, p_tpf, p_be,
                    p_texit, p_maxbars, p_risk, p_lots,
                    initial_equity, cs, comm, slip, max_pos, policy, compound, lot_step, min_lot,
                    out_off, tf, ti, status, counts, stats):
    """Simulate variants v0..v1-1 (their orders: pool slices, see check_pooled) and summarise each.

    Variant v writes its trade rows and order status from row ``out_off[v]`` (room for m[v]);
    ``counts[v]`` trades; ``stats[v]`` the STAT_NAMES. Variants are independent: the caller runs
    ranges of them on threads (``variants.over_threads``; the GIL is released here). Not a ``prange``
    kernel: numba's parallel compile of this loop cost ~3 s of CPU on a clean cache."""
    n_bars = len(time)
    for v in range(v0, v1):
        k = m[v]
        s = starts[v]
        a = out_off[v]
        limit = max_pos if max_pos > 0 else max(k, 1)  # simulate_core's loop (see there)
        cap = limit if max_pos > 0 else min(limit, FIRST_SLOTS)
        while True:
            n_out = _simulate_slots(
                time, o, h, lo, c, spread, use_ltf, l_time, l_o, l_h, l_lo, l_c, l_spread, l_start, l_end, max_sub,
                p_dir[s[0]:s[0] + k], p_sig[s[1]:s[1] + k], p_type[s[2]:s[2] + k], p_price[s[3]:s[3] + k],
                p_expiry[s[4]:s[4] + k], p_stop[s[5]:s[5] + k], p_stopdist[s[6]:s[6] + k], p_tp[s[7]:s[7] + k],
                p_tpr[s[8]:s[8] + k], p_tpf[s[9]:s[9] + k], p_be[s[10]:s[10] + k], p_texit[s[11]:s[11] + k],
                p_maxbars[s[12]:s[12] + k], p_risk[s[13]:s[13] + k], p_lots[s[14]:s[14] + k],
                initial_equity, cs, comm, slip, limit, policy, compound, lot_step, min_lot,
                tf[a:a + k], ti[a:a + k], status[a:a + k], cap)
            if n_out >= 0:
                break
            cap = min(4 * cap, limit)
            for r in range(a, a + k):
                status[r] = NOT_ACTIVE
        counts[v] = n_out
        light_stats(tf[a:a + k], ti[a:a + k], counts[v], initial_equity, n_bars, stats[v])
