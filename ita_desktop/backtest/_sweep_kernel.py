"""Numba kernels of a sweep: many order sets on the same bars, checked, simulated and summarised in parallel.

(``simulate_pooled`` and ``light_stats`` live in _kernel.py beside ``_simulate_slots``, which
``simulate_pooled`` calls: numba's on-disk cache only notices changes to a function's own file. They are
re-exported here.)

Why a kernel of its own: a 1,000-variant sweep spent most of its time in per-variant Python
(building structured order arrays, strided field reads, trade-row conversion, full
statistics with New York calendar days). Here each variant's orders are slices of shared
column POOLS (a column several variants share, e.g. the signal bars when only the target
changes, is stored once), loops over ranges of variants check, simulate and compute the
summary numbers, and Python only sees one row of statistics per variant. The ranges run on
threads (``variants.over_threads``), not in a ``prange`` kernel: numba's parallel compile of
the two loops cost ~4 s of CPU on a clean cache, and a range picked by a free thread balances
variants of unequal cost.

The summary numbers follow ``stats.compute_stats`` exactly (same definitions, same trade
order: by exit time, then entry time, then order), so a sweep row equals a single run's
statistics; Sharpe and Sortino (calendar days on the session clock) are not computed here.
The entry points release the GIL (``nogil``): a sweep on a job thread leaves the GUI thread free.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ita_desktop.backtest._kernel import NSTAT, STAT_NAMES, light_stats, simulate_pooled  # noqa: F401 (re-exported)

#: Order checks, by code (the same rules and words as ``orders.check_orders``).
CHECK_MESSAGES = {
    1: "direction must be +1 or -1", 2: "entry_type must be 0, 1 or 2", 3: "signal_bar outside the bars",
    4: "limit/stop order without entry_price", 5: "no stop_price and no positive stop_distance",
    6: "expiry_bar not after signal_bar", 7: "risk_pct must be > 0 when lots is not set",
    8: "target fractions must sum to 1", 9: "orders not sorted by signal_bar",
}


@njit(cache=True, nogil=True)  # a kernel, not a helper: compiled once whatever calls it
def _first_bad(d, sig, et, price, expiry, stop, stopdist, tp, tpr, tpf, risk, lots, n_bars):
    """(row, code) of the first order breaking a rule of CHECK_MESSAGES, (-1, 0) when all pass."""
    for i in range(len(d)):
        if d[i] != 1 and d[i] != -1:
            return i, 1
        if et[i] < 0 or et[i] > 2:
            return i, 2
        if sig[i] < 0 or sig[i] >= n_bars:
            return i, 3
        if et[i] != 0 and not np.isfinite(price[i]):
            return i, 4
        if math.isnan(stop[i]) and not stopdist[i] > 0:
            return i, 5
        if expiry[i] >= 0 and expiry[i] <= sig[i]:
            return i, 6
        if math.isnan(lots[i]) and not risk[i] > 0:
            return i, 7
        used = False
        fsum = 0.0
        for j in range(tp.shape[1]):
            if np.isfinite(tp[i, j]) or np.isfinite(tpr[i, j]):
                used = True
                fsum += tpf[i, j]
        if used and abs(fsum - 1.0) > 1e-6:
            return i, 8
        if i > 0 and sig[i] < sig[i - 1]:
            return i, 9
    return -1, 0


@njit(cache=True, nogil=True)
def unpack_rows(rows, starts, p_dir, p_sig, p_type, p_price, p_expiry, p_stop, p_stopdist, p_tp, p_tpr, p_tpf, p_be,
                p_texit, p_maxbars, p_risk, p_lots):
    """ORDER_DTYPE rows -> the pools at ``starts`` (one per field), in ONE pass over the records:
    reading field by field walks the whole structured array once per field (~6x slower)."""
    for i in range(len(rows)):
        r = rows[i]
        p_dir[starts[0] + i] = r.direction
        p_sig[starts[1] + i] = r.signal_bar
        p_type[starts[2] + i] = r.entry_type
        p_price[starts[3] + i] = r.entry_price
        p_expiry[starts[4] + i] = r.expiry_bar
        p_stop[starts[5] + i] = r.stop_price
        p_stopdist[starts[6] + i] = r.stop_distance
        for j in range(p_tp.shape[1]):
            p_tp[starts[7] + i, j] = r.target_price[j]
            p_tpr[starts[8] + i, j] = r.target_r[j]
            p_tpf[starts[9] + i, j] = r.target_fraction[j]
        p_be[starts[10] + i] = r.breakeven_at_r
        p_texit[starts[11] + i] = r.time_exit_bar
        p_maxbars[starts[12] + i] = r.max_bars
        p_risk[starts[13] + i] = r.risk_pct
        p_lots[starts[14] + i] = r.lots


@njit(cache=True, nogil=True)
def check_pooled(v0, v1, m, starts, p_dir, p_sig, p_type, p_price, p_expiry, p_stop, p_stopdist, p_tp, p_tpr, p_tpf,
                 p_risk, p_lots, n_bars, bad_row, bad_code):
    """_first_bad for variants v0..v1-1; variant v's field f is ``pool_f[starts[v, f] : starts[v, f] + m[v]]``."""
    for v in range(v0, v1):
        k = m[v]
        s = starts[v]
        bad_row[v], bad_code[v] = _first_bad(
            p_dir[s[0]:s[0] + k], p_sig[s[1]:s[1] + k], p_type[s[2]:s[2] + k], p_price[s[3]:s[3] + k],
            p_expiry[s[4]:s[4] + k], p_stop[s[5]:s[5] + k], p_stopdist[s[6]:s[6] + k], p_tp[s[7]:s[7] + k],
            p_tpr[s[8]:s[8] + k], p_tpf[s[9]:s[9] + k], p_risk[s[13]:s[13] + k], p_lots[s[14]:s[14] + k], n_bars)


