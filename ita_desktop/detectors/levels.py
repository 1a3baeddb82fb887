"""Opening levels, previous day/week high/low, and the session-level detector that runs them all.

One numba step kernel (:func:`session_levels_step`, with all its helpers in this one file, since
numba's cache only notices edits to the cached function's own file) advances sessions (windows
from ``sessions.py``), the initial balance, opening levels and PDH/PDL/PWH/PWL bar by bar over ``[i0, i1)`` on a saved
state, so a full pass and bar-by-bar live updates write identical rows. It writes two tables:
``sessions`` (SESSION rows) and ``levels`` (LEVEL rows, what the sweep detector watches).

Every LEVEL row: ``price`` (= top = bottom), ``direction`` = liquidity side (+1 highs, -1 lows,
0 two-sided opens/IB mid), ``confirmed_at`` = ``start`` = first bar it may be traded against,
``end`` = the bar where the next level of the same kind takes over (-1 while live; the level
is valid on bars ``start <= i < end``), ``touched_at`` = first bar after ``start`` whose range
(widened to the previous close, so gaps count) reaches the price, and ``bar`` = its source bar.

- PDH/PDL, PWH/PWL: high/low of the previous trading day / week (see ``session_clock``), with
  ``bar`` = the bar of that extreme, confirmed at the first bar of the next day / week. A day or
  week the data did not see begin (the series starts inside it) gives no level.
- Opening levels take the open of the first bar at or after their time; a missing bar (a gap
  over 00:00 NY) makes the next bar the opener and ``extra`` says how many minutes late it is
  (0 when on time). A day with no bar at or after the time has no such level. MIDNIGHT_OPEN
  (00:00), NY_OPEN (``ny_open``, 09:30 by default; 08:30 suits FX news), DAILY_OPEN (the trading
  day start, 18:00 for FX) and WEEKLY_OPEN (the week's first trading-day start, Sunday 18:00).
  With ``fold_weekend`` midnight and NY opens are not made on Saturdays and Sundays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from numba import njit

from ita_desktop.detectors._core import U, step_helper
from ita_desktop.detectors.base import grown
from ita_desktop.detectors.objects import DetectedObject, Kind, LevelKind, empty_objects, rows_to_objects
from ita_desktop.detectors.session_clock import SessionClock, trading_day
from ita_desktop.detectors.sessions import (
    DEFAULT_INITIAL_BALANCE,
    DEFAULT_WINDOWS,
    Session,
    SessionWindow,
    decode_sessions,
    session_windows,
)
from ita_desktop.domain.clock import DAY_MINUTES, parse_hhmm

# --- per-window state and row helpers ---------------------------------------------------------

KIND_SESSION = int(Kind.SESSION)
KIND_LEVEL = int(Kind.LEVEL)
SUB_IB_MID = int(LevelKind.IB_MID)
SUB_IB_EXT = int(LevelKind.IB_EXT)

# Columns of the per-window integer state ``wi[w, :]``; floats ``wf[w, :]`` are open, high, low.
W_STATUS, W_OCC, W_START, W_HBAR, W_LBAR, W_PREV_FIRST, W_PREV_COUNT, W_LAST_OCC, W_NEXT, W_FOLD = range(10)
W_INT_COLS = 10
NONE = -(2**62)


def window_state(n_windows: int) -> tuple[np.ndarray, np.ndarray]:
    """Fresh per-window state: nothing running, no levels yet."""
    wi = np.zeros((n_windows, W_INT_COLS), np.int64)
    wi[:, W_PREV_FIRST] = -1
    wi[:, W_LAST_OCC] = NONE
    wi[:, W_NEXT] = NONE  # the first bar decides where each window stands
    return wi, np.zeros((n_windows, 3), np.float64)


def levels_per_window(window: SessionWindow, n_multiples: int) -> int:
    return 3 + 2 * n_multiples if window.is_ib else 2


@step_helper
def put_row(out, k, kind, sub, direction, bar, start, confirmed_at, price, top, bottom, ref, extra):
    """Write every field of row ``k`` (a new, live row)."""
    r = out[k]
    r.kind = kind
    r.sub = sub
    r.direction = direction
    r.state = 0
    r.bar = bar
    r.start = start
    r.end = -1
    r.confirmed_at = confirmed_at
    r.updated_at = confirmed_at
    r.touched_at = -1
    r.filled_at = -1
    r.top = top
    r.bottom = bottom
    r.price = price
    r.ref = ref
    r.extra = extra


@step_helper
def watch_add(levels, watch, watch_price, gi, n_slot, row):
    """Track a new live level for touches (``gi[n_slot]`` is the watch length; prices kept beside
    the rows so the per-bar scan reads one small contiguous array)."""
    watch[gi[n_slot]] = row
    watch_price[gi[n_slot]] = levels[row].price
    gi[n_slot] += 1


@step_helper
def retire_rows(levels, first, count, i, watch, watch_price, gi, n_slot):
    """Levels replaced at bar ``i``: end them there and stop watching them."""
    for r in range(first, first + count):
        levels[r].end = i
        levels[r].updated_at = i
        n = gi[n_slot]
        for k in range(n):
            if watch[k] == r:
                watch[k] = watch[n - 1]
                watch_price[k] = watch_price[n - 1]
                gi[n_slot] = n - 1
                break


@step_helper
def complete_session(w, i, c, wi, wf, is_ib, hi_sub, lo_sub, ib_mults, sessions, levels, gi, ns_slot, nl_slot,
                     watch, watch_price, nw_slot):
    """Window ``w``'s occurrence ended with bar i - 1 (close ``c``): write its SESSION row and levels."""
    s = gi[ns_slot]
    l0 = gi[nl_slot]
    o, hi, lo = wf[w, 0], wf[w, 1], wf[w, 2]
    direction = 1 if c > o else (-1 if c < o else 0)
    put_row(sessions, s, KIND_SESSION, w, direction, wi[w, W_HBAR], wi[w, W_START], i, o, hi, lo, l0, c)
    sessions[s].end = i - 1
    gi[ns_slot] = s + 1
    if wi[w, W_PREV_FIRST] >= 0:
        retire_rows(levels, wi[w, W_PREV_FIRST], wi[w, W_PREV_COUNT], i, watch, watch_price, gi, nw_slot)
    nan = np.nan
    k = l0
    put_row(levels, k, KIND_LEVEL, hi_sub, 1, wi[w, W_HBAR], i, i, hi, hi, hi, s, nan)
    k += 1
    put_row(levels, k, KIND_LEVEL, lo_sub, -1, wi[w, W_LBAR], i, i, lo, lo, lo, s, nan)
    k += 1
    if is_ib:
        mid = 0.5 * (hi + lo)
        put_row(levels, k, KIND_LEVEL, SUB_IB_MID, 0, wi[w, W_START], i, i, mid, mid, mid, s, nan)
        k += 1
        rng = hi - lo
        for m in ib_mults:
            up = hi + m * rng
            put_row(levels, k, KIND_LEVEL, SUB_IB_EXT, 1, wi[w, W_START], i, i, up, up, up, s, m)
            k += 1
            dn = lo - m * rng
            put_row(levels, k, KIND_LEVEL, SUB_IB_EXT, -1, wi[w, W_START], i, i, dn, dn, dn, s, m)
            k += 1
    for r in range(l0, k):
        watch_add(levels, watch, watch_price, gi, nw_slot, r)
    wi[w, W_PREV_FIRST] = l0
    wi[w, W_PREV_COUNT] = k - l0
    gi[nl_slot] = k


@step_helper
def window_position(minute, day, s, e):
    """(inside, occurrence day) of a bar at local ``minute`` of ``day`` for window [s, e) (scalars only:
    the kernel calls this every bar, and array arguments would cost a refcount round trip each)."""
    if e > s:
        return s <= minute < e, day
    if minute >= s:
        return True, day
    return minute < e, day - 1


@step_helper
def begin_occurrence(w, i, o, h, l, occ, prev_local, win_start, wi, wf):
    """Bar ``i`` is the first of window ``w``'s occurrence ``occ`` (no occurrence is running)."""
    if occ <= wi[w, W_LAST_OCC]:
        return  # the repeated hour of a DST fall-back: this occurrence already ran
    wi[w, W_LAST_OCC] = occ
    wi[w, W_OCC] = occ
    # Seen from its beginning only if the previous bar came before the window opened.
    wi[w, W_STATUS] = 1 if prev_local < occ * DAY_MINUTES + win_start[w] else 2
    wi[w, W_START] = i
    wi[w, W_HBAR] = i
    wi[w, W_LBAR] = i
    wi[w, W_FOLD] = i + 1
    wf[w, 0] = o
    wf[w, 1] = h
    wf[w, 2] = l


# Slots of the integer state ``gi``; floats ``gf`` are day high, day low, week high, week low, and the
# nearest watched level price above and below the last close.
(G_NEXT, G_PREV_LOCAL, G_TDAY, G_WEEK, G_DHB, G_DLB, G_WHB, G_WLB, G_DAY_OK, G_WEEK_OK,
 G_PDH, G_PWH, G_DOPEN, G_WOPEN, G_MOPEN, G_NYOPEN, G_NS, G_NL, G_NWATCH, G_NEXT_OPEN, G_SPAN_MISS) = range(21)
G_SIZE = 21
#: Local minutes (and UTC seconds) beyond any real bar time: the kernel's "never" sentinels lie past them.
_FAR_MINUTE = 2**56
_FAR_SECOND = 2**62
_FIXED_LEVELS_PER_BAR = 8  # PDH, PDL, PWH, PWL and four opens
_NO_ROWS = np.zeros(0, np.int64)  # an update that changed no row of a table (read only)

SUB_PDH, SUB_PDL = int(LevelKind.PDH), int(LevelKind.PDL)
SUB_PWH, SUB_PWL = int(LevelKind.PWH), int(LevelKind.PWL)
SUB_MIDNIGHT, SUB_DAILY = int(LevelKind.MIDNIGHT_OPEN), int(LevelKind.DAILY_OPEN)
SUB_WEEKLY, SUB_NY = int(LevelKind.WEEKLY_OPEN), int(LevelKind.NY_OPEN)


@step_helper
def _emit_pair(levels, gi, slot, hi_sub, lo_sub, hi, hb, lo, lb, i, watch, watch_price):
    """Replace the live high/low pair kept in ``gi[slot]`` with a new one confirmed at bar i."""
    if gi[slot] >= 0:
        retire_rows(levels, gi[slot], 2, i, watch, watch_price, gi, G_NWATCH)
    k = gi[G_NL]
    put_row(levels, k, KIND_LEVEL, hi_sub, 1, hb, i, i, hi, hi, hi, -1, np.nan)
    put_row(levels, k + 1, KIND_LEVEL, lo_sub, -1, lb, i, i, lo, lo, lo, -1, np.nan)
    watch_add(levels, watch, watch_price, gi, G_NWATCH, k)
    watch_add(levels, watch, watch_price, gi, G_NWATCH, k + 1)
    gi[slot] = k
    gi[G_NL] = k + 2


@step_helper
def _emit_open(levels, gi, slot, sub, price, i, late, watch, watch_price):
    """Replace the live opening level kept in ``gi[slot]`` with the open of bar i."""
    if gi[slot] >= 0:
        retire_rows(levels, gi[slot], 1, i, watch, watch_price, gi, G_NWATCH)
    k = gi[G_NL]
    put_row(levels, k, KIND_LEVEL, sub, 0, i, i, i, price, price, price, -1, float(late))
    watch_add(levels, watch, watch_price, gi, G_NWATCH, k)
    gi[slot] = k
    gi[G_NL] = k + 1


@step_helper
def _next_anchor(d, m, x):
    """The first local minute of the form D*1440 + x after minute ``m`` of day ``d``."""
    return d * DAY_MINUTES + x + (DAY_MINUTES if x <= m else 0)


@step_helper
def _next_window_event(wi, n_win):
    """The first local minute any window opens or closes."""
    next_evt = wi[0, W_NEXT] if n_win > 0 else np.int64(2**62)
    for w in range(1, n_win):
        if wi[w, W_NEXT] < next_evt:
            next_evt = wi[w, W_NEXT]
    return next_evt


@step_helper
def _fold(w, wi, wf, high, low, end):
    """Window w's running occurrence (if one runs) over its bars up to ``end`` (exclusive) not folded yet: its
    high and low and their first bars. Done when the occurrence ends and when the kernel returns, instead of
    on every bar that trades beyond a running extreme (about one in ten: each stopped the quiet-bar scan)."""
    if wi[w, W_STATUS] == 0:
        return
    hi = wf[w, 1]
    lo = wf[w, 2]
    hb = wi[w, W_HBAR]
    lb = wi[w, W_LBAR]
    for t in range(wi[w, W_FOLD], end):
        h = high[U(t)]
        l = low[U(t)]
        if h > hi:
            hi = h
            hb = t
        if l < lo:
            lo = l
            lb = t
    wf[w, 1] = hi
    wf[w, 2] = lo
    wi[w, W_HBAR] = hb
    wi[w, W_LBAR] = lb
    if end > wi[w, W_FOLD]:
        wi[w, W_FOLD] = end


@step_helper
def _fold_all(wi, wf, n_win, high, low, end):
    for w in range(n_win):
        _fold(w, wi, wf, high, low, end)


@step_helper
def _utc_bound(local, off):
    """The first UTC second whose local minute ``(utc + off) // 60`` is at least ``local`` (saturated for
    the sentinels far beyond any real time), so a test of the local minute is a test of the UTC time."""
    if local >= _FAR_MINUTE:
        return _FAR_SECOND
    if local <= -_FAR_MINUTE:
        return -_FAR_SECOND
    return local * 60 - off


@step_helper
def _quiet_bars(high, low, close, utc, i, i1, t_min, t_max, near_up, near_dn, dh, dl, dhb, dlb):
    """From bar i (> 0), the first bar in ``[i, i1)`` that does more than extend the day's high and low
    (``dh``/``dl`` at bars ``dhb``/``dlb``, returned extended over the bars before it; the running sessions'
    are folded in later, :func:`_fold`): a UTC time outside ``[t_min, t_max)`` (the held offset span and
    trading day, up to the next opening level or window edge: the kernel's tests of the local minute turned
    into UTC bounds by :func:`_utc_bound`, so the loop needs no division and few registers) or a range
    (widened to the previous close) that reaches the nearest watched level. The same tests as the kernel's,
    in the same form (NaN alike). The bars of the new day high and low are found after the loop
    (:func:`_first_at`), which keeps their indexes out of the loop's registers."""
    i_first = i
    dh0 = dh
    dl0 = dl
    while i < i1:
        h = high[U(i)]
        l = low[U(i)]
        pc = close[U(i - 1)]
        t = utc[U(i)]
        if t < t_min or t >= t_max:
            break
        if max(h, pc) >= near_up or min(l, pc) <= near_dn:
            break
        if h > dh:
            dh = h
        if l < dl:
            dl = l
        i += 1
    if dh > dh0:
        dhb = _first_at(high, i_first, dh)
    if dl < dl0:
        dlb = _first_at(low, i_first, dl)
    return i, dh, dl, dhb, dlb


@step_helper
def _first_at(values, i, x):
    """The first bar from i whose value equals ``x`` (a new running extreme of these bars: the first bar
    that reached it is the one a running ``value > extreme`` update kept)."""
    while values[U(i)] != x:
        i += 1
    return i


@step_helper
def _offset_span(times, end, t, k):
    """(k, times[k], end of that span) for the last transition ``times[k] <= t`` (``t`` within the spans the
    caller looked up), searching from the previous span ``k``."""
    nt = times.shape[0]
    while k + 1 < nt and times[U(k + 1)] <= t:
        k += 1
    while k > 0 and times[U(k)] > t:
        k -= 1
    return k, times[U(k)], times[U(k + 1)] if k + 1 < nt else end


@step_helper
def _save_bar_state(gi, gf, nxt, prev_local, cur_td, next_open, dh, dl, dhb, dlb):
    """Write the kernel's per-bar locals back to the state arrays (``nxt``: the next bar to do)."""
    gi[G_NEXT] = nxt
    gi[G_PREV_LOCAL] = prev_local
    gi[G_TDAY] = cur_td
    gi[G_NEXT_OPEN] = next_open
    gf[0] = dh
    gf[1] = dl
    gi[G_DHB] = dhb
    gi[G_DLB] = dlb


@njit(cache=True, _nrt=False)
def session_levels_step(open_, high, low, close, utc, span_times, span_offsets, span_end, i0, i1,
                        win_start, win_end, win_hi_sub, win_lo_sub, win_ib, ib_mults,
                        day_start_min, fold_weekend, ny_open_min, max_levels_per_bar,
                        wi, wf, gi, gf, watch, watch_price, sessions, levels):
    """Advance over bars [i0, i1) (i0 must equal ``gi[G_NEXT]``). Returns the next bar to do: less
    than i1 when a table is too small for one more bar (grow it and call again from there).

    Hot loop: most bars only extend running highs/lows and compare against a few thresholds;
    helpers that take arrays run only on the rare bars that emit rows (a numba call costs a
    refcount round trip per array argument)."""
    label_shift = 1 if day_start_min >= DAY_MINUTES // 2 else 0
    n_win = win_start.shape[0]
    # Per-bar state in locals (written back to gi/gf whenever the kernel returns): a store to a state
    # array makes every later read of it, and of the other arrays, a reload.
    prev_local = gi[G_PREV_LOCAL]
    cur_td = gi[G_TDAY]
    next_open = gi[G_NEXT_OPEN]
    dh, dl, dhb, dlb = gf[0], gf[1], gi[G_DHB], gi[G_DLB]
    near_up, near_dn = gf[4], gf[5]
    # The sessions loop runs only at the first local minute any window opens or closes (next_evt); between
    # those a bar can only extend running occurrences, which are folded in when they end (_fold).
    next_evt = _next_window_event(wi, n_win)
    # The trading day and week of the bars' local minutes [t_lo, t_hi) (session_clock.trading_day, once per
    # trading day); empty at first, so the first bar looks them up.
    t_lo = np.int64(1)
    t_hi = np.int64(0)
    # The zone's offset span [sp_lo, sp_hi) of the bars' UTC times (offset ``off``): the local minute is
    # (utc + off) // 60, as session_clock computes it; empty at first.
    k_span = 0
    sp_lo = np.int64(1)
    sp_hi = np.int64(0)
    off = np.int64(0)
    td_w = cur_td
    wk_w = gi[G_WEEK]
    i = i0
    while i < i1:
        if i > 0:
            # Most bars only move the day's high/low: one tight scan runs past them (the loop below keeps
            # too much live to hold it in registers, and paid ~11 ns a bar).
            t_min = max(sp_lo, _utc_bound(t_lo, off))
            t_max = min(sp_hi, _utc_bound(min(t_hi, next_open, next_evt), off))
            j, dh, dl, dhb, dlb = _quiet_bars(high, low, close, utc, i, i1, t_min, t_max, near_up, near_dn, dh, dl,
                                              dhb, dlb)
            if j > i:
                prev_local = (utc[U(j - 1)] + off) // 60  # the last bar passed lies in the held span
                i = j
                if i >= i1:
                    break
        if gi[G_NS] + n_win > sessions.shape[0] or gi[G_NL] + max_levels_per_bar > levels.shape[0]:
            _fold_all(wi, wf, n_win, high, low, i)
            _save_bar_state(gi, gf, i, prev_local, cur_td, next_open, dh, dl, dhb, dlb)
            return i
        # the open is read only where a bar opens a level or a session (a few bars a day): the scan never reads
        # the open column, so loading it here for every bar the scan stops at was a cache miss on each
        h, l, c = high[U(i)], low[U(i)], close[U(i)]
        t = utc[U(i)]
        if t < sp_lo or t >= sp_hi:
            if t < span_times[0] or t >= span_end:  # beyond the spans looked up: the caller widens them
                _fold_all(wi, wf, n_win, high, low, i)
                _save_bar_state(gi, gf, i, prev_local, cur_td, next_open, dh, dl, dhb, dlb)
                gi[G_SPAN_MISS] = 1
                return i
            k_span, sp_lo, sp_hi = _offset_span(span_times, span_end, t, k_span)
            off = span_offsets[U(k_span)]
        local = (t + off) // 60
        d = local // DAY_MINUTES
        m = local - d * DAY_MINUTES
        if local < t_lo or local >= t_hi:
            td_w, wk_w, t_lo = trading_day(local, day_start_min, label_shift, fold_weekend)
            t_hi = t_lo + DAY_MINUTES
        td = td_w
        first = i == 0
        nl_before = gi[G_NL]
        prev = local - 1 if first else prev_local

        # Previous day / week: known at the first bar of the next one. The week's extremes are
        # folded in from each finished day, so the hot path tracks only the day's.
        if first or td != cur_td:
            wk = wk_w
            if not first and gi[G_DAY_OK] == 1:
                _emit_pair(levels, gi, G_PDH, SUB_PDH, SUB_PDL, dh, dhb, dl, dlb, i, watch, watch_price)
            if not first and dh > gf[2]:
                gf[2] = dh
                gi[G_WHB] = dhb
            if not first and dl < gf[3]:
                gf[3] = dl
                gi[G_WLB] = dlb
            if first or wk != gi[G_WEEK]:
                if not first and gi[G_WEEK_OK] == 1:
                    _emit_pair(levels, gi, G_PWH, SUB_PWH, SUB_PWL, gf[2], gi[G_WHB], gf[3], gi[G_WLB], i,
                               watch, watch_price)
                week_anchor = (wk * 7 - 3 - label_shift) * DAY_MINUTES + day_start_min
                gi[G_WEEK_OK] = 1 if (not first or local <= week_anchor) else 0
                gi[G_WEEK] = wk
                gf[2] = -np.inf
                gf[3] = np.inf
            day_anchor = (td - label_shift) * DAY_MINUTES + day_start_min
            gi[G_DAY_OK] = 1 if (not first or local <= day_anchor) else 0
            cur_td = td
            gi[G_TDAY] = td
            dh = h
            dl = l
            dhb = i
            dlb = i
        else:
            if h > dh:
                dh = h
                dhb = i
            if l < dl:
                dl = l
                dlb = i

        # Opening levels: bar i opens an anchor that falls in (previous bar, this bar]. Every
        # anchor is a day at 00:00, the NY open or the day start, so nothing can open before
        # next_open, the first such minute after the previous bar.
        if local >= next_open or first:
            day_anchor = (td - label_shift) * DAY_MINUTES + day_start_min
            if prev < day_anchor <= local:
                _emit_open(levels, gi, G_DOPEN, SUB_DAILY, open_[U(i)], i, local - day_anchor, watch, watch_price)
            wk = wk_w
            week_anchor = (wk * 7 - 3 - label_shift) * DAY_MINUTES + day_start_min
            if prev < week_anchor <= local:
                _emit_open(levels, gi, G_WOPEN, SUB_WEEKLY, open_[U(i)], i, local - week_anchor, watch, watch_price)
            weekday_ok = (not fold_weekend) or (d + 3) % 7 < 5
            midnight = d * DAY_MINUTES
            if weekday_ok and prev < midnight <= local:
                _emit_open(levels, gi, G_MOPEN, SUB_MIDNIGHT, open_[U(i)], i, local - midnight, watch, watch_price)
            ny_anchor = midnight + ny_open_min
            if weekday_ok and prev < ny_anchor <= local:
                _emit_open(levels, gi, G_NYOPEN, SUB_NY, open_[U(i)], i, local - ny_anchor, watch, watch_price)
            next_open = min(_next_anchor(d, m, 0), _next_anchor(d, m, ny_open_min),
                            _next_anchor(d, m, day_start_min))

        # Sessions. ``wi[w, W_NEXT]`` is the local minute at which window w next opens or closes:
        # until then a bar only extends the running occurrence.
        if local >= next_evt:
            for w in range(n_win):
                if local < wi[w, W_NEXT]:
                    continue  # still running: folded in when it ends
                if wi[w, W_STATUS] == 1:
                    _fold(w, wi, wf, high, low, i)
                    complete_session(w, i, close[U(i - 1)], wi, wf, win_ib[w] != 0, win_hi_sub[w], win_lo_sub[w],
                                     ib_mults, sessions, levels, gi, G_NS, G_NL, watch, watch_price, G_NWATCH)
                wi[w, W_STATUS] = 0
                ws = win_start[w]
                we = win_end[w]
                inside, occ = window_position(m, d, ws, we)
                if inside:
                    wi[w, W_NEXT] = occ * DAY_MINUTES + we + (DAY_MINUTES if we <= ws else 0)
                    begin_occurrence(w, i, open_[U(i)], h, l, occ, prev, win_start, wi, wf)
                else:
                    wi[w, W_NEXT] = _next_anchor(d, m, ws)
            next_evt = _next_window_event(wi, n_win)

        # Touches: the first bar after a level's start whose range (widened to the previous
        # close, so a gap through the price counts) reaches it. Untouched levels all lie outside
        # the last bar's range, so only the nearest one above (near_up) and below (near_dn) the last
        # close can be reached: the full scan runs only when one of them is.
        lo_reach = l
        hi_reach = h
        if not first:
            pc = close[U(i - 1)]
            lo_reach = min(l, pc)
            hi_reach = max(h, pc)
        scanned = hi_reach >= near_up or lo_reach <= near_dn
        if scanned:
            _touch(levels, watch, watch_price, gi, i, lo_reach, hi_reach)
        if scanned or gi[G_NL] != nl_before:
            _nearest(watch_price, gi[G_NWATCH], c, gf)
            near_up, near_dn = gf[4], gf[5]
        prev_local = local
        i += 1
    _fold_all(wi, wf, n_win, high, low, i1)
    _save_bar_state(gi, gf, i1, prev_local, cur_td, next_open, dh, dl, dhb, dlb)
    return i1


@step_helper
def _touch(levels, watch, watch_price, gi, i, lo_reach, hi_reach):
    """Mark watched levels (started before bar i) whose price lies in [lo_reach, hi_reach] touched."""
    k = 0
    while k < gi[G_NWATCH]:
        r = watch[k]
        p = watch_price[k]
        if lo_reach <= p <= hi_reach and levels[r].start < i:
            levels[r].state = 1
            levels[r].touched_at = i
            levels[r].updated_at = i
            last = gi[G_NWATCH] - 1
            watch[k] = watch[last]
            watch_price[k] = watch_price[last]
            gi[G_NWATCH] = last
        else:
            k += 1


@step_helper
def _nearest(watch_price, n, close, gf):
    """Nearest watched price above the close into gf[4], at or below it into gf[5] (kept in locals while
    searching: a store to ``gf`` on every entry was 6 % of the kernel)."""
    up = np.inf
    dn = -np.inf
    for k in range(n):
        p = watch_price[k]
        if p > close:
            up = min(up, p)
        else:
            dn = max(dn, p)
    gf[4] = up
    gf[5] = dn


@dataclass(frozen=True)
class SessionLevelParams:
    """What to detect. Clock zone, trading-day start and weekend folding live in :class:`SessionClock`."""

    windows: tuple[tuple[str, str, str], ...] = tuple((k, *v) for k, v in DEFAULT_WINDOWS.items())
    initial_balance: tuple[str, str] | None = DEFAULT_INITIAL_BALANCE
    ib_multiples: tuple[float, ...] = (0.5, 1.0, 2.0)
    ny_open: str = "09:30"

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> "SessionLevelParams":
        """Windows and initial balance from ``load_settings().sessions``; anything else by keyword."""
        s = settings.sessions
        base = {"windows": tuple((k, str(v[0]), str(v[1])) for k, v in s.windows.items()) or cls().windows,
                "initial_balance": tuple(s.initial_balance)}
        base.update(overrides)
        return cls(**base)

    def session_windows(self) -> tuple[SessionWindow, ...]:
        return session_windows({name: (a, b) for name, a, b in self.windows}, self.initial_balance)


@dataclass(frozen=True)
class RunningSession:
    """A session still in progress at the last bar: usable for drawing, not as a finished range."""

    name: str
    index: int
    start: int
    last: int
    open: float
    high: float
    low: float
    close: float
    high_bar: int
    low_bar: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SessionLevelResult:
    """Snapshot after ``n_bars`` bars: the ``sessions`` and ``levels`` tables (OBJECT_DTYPE copies)."""

    sessions: np.ndarray
    levels: np.ndarray
    windows: tuple[SessionWindow, ...]
    n_bars: int
    running: tuple[RunningSession, ...] = field(default=())

    @property
    def tables(self) -> dict[str, np.ndarray]:
        return {"sessions": self.sessions, "levels": self.levels}

    def session_list(self) -> list[Session]:
        return decode_sessions(self.sessions, self.levels, self.windows)

    def level_objects(self, times: np.ndarray | None = None) -> list[DetectedObject]:
        return rows_to_objects(self.levels, times)

    def session_objects(self, times: np.ndarray | None = None) -> list[DetectedObject]:
        return rows_to_objects(self.sessions, times)

    def levels_of(self, kind: LevelKind) -> np.ndarray:
        return self.levels[self.levels["sub"] == int(kind)]

    def to_dict(self, times: np.ndarray | None = None) -> dict[str, Any]:
        return {
            "n_bars": self.n_bars,
            "windows": [w.__dict__ for w in self.windows],
            "sessions": [o.to_dict() | {"name": self.windows[o.sub].name} for o in self.session_objects(times)],
            "levels": [o.to_dict() for o in self.level_objects(times)],
            "running": [r.to_dict() for r in self.running],
        }


class SessionLevels:
    """Incremental sessions + levels detector: ``run`` from bar 0, ``update`` for bars appended since.

    The clock may be shared with other detectors; it is extended here when it is shorter than
    the bars. Rows changed by bar n are those with ``updated_at == n`` (``changed(n)``).
    """

    def __init__(self, params: SessionLevelParams | None = None, clock: SessionClock | None = None, *,
                 tz_name: str = "America/New_York", day_start: str = "18:00", fold_weekend: bool = True) -> None:
        self.params = params or SessionLevelParams()
        self.clock = clock if clock is not None else SessionClock(tz_name, day_start, fold_weekend)
        self.windows = self.params.session_windows()
        self._win_start = np.array([w.start_min for w in self.windows], np.int64)
        self._win_end = np.array([w.end_min for w in self.windows], np.int64)
        self._win_hi = np.array([int(w.level_kinds[0]) for w in self.windows], np.int64)
        self._win_lo = np.array([int(w.level_kinds[1]) for w in self.windows], np.int64)
        self._win_ib = np.array([1 if w.is_ib else 0 for w in self.windows], np.int64)
        self._mults = np.array(self.params.ib_multiples, np.float64)
        self._ny_open = parse_hhmm(self.params.ny_open) % DAY_MINUTES
        per_window = [levels_per_window(w, len(self._mults)) for w in self.windows]
        self._max_levels_per_bar = sum(per_window) + _FIXED_LEVELS_PER_BAR
        self._watch_size = self._max_levels_per_bar  # at most one live generation per level slot
        self.reset()

    def reset(self) -> None:
        self._wi, self._wf = window_state(len(self.windows))
        self._gi = np.full(G_SIZE, -1, np.int64)
        for slot in (G_NEXT, G_NS, G_NL, G_NWATCH, G_DAY_OK, G_WEEK_OK, G_SPAN_MISS):
            self._gi[slot] = 0
        self._gf = np.array([0.0, 0.0, -np.inf, np.inf, np.inf, -np.inf])
        self._watch = np.zeros(self._watch_size, np.int64)
        self._watch_price = np.zeros(self._watch_size, np.float64)
        self._sessions = empty_objects(64)
        self._levels = empty_objects(256)
        self._last_close = float("nan")
        #: rows not yet ended (end == -1): the only old rows a bar can change (a touch, a retirement);
        #: ended levels and completed sessions never change again, so an update looks at these and
        #: the rows it appended, not at the whole history (tens of rows against hundreds of thousands)
        self._open_levels = np.zeros(0, np.int64)
        self.last_changed: tuple[int, int, dict[str, np.ndarray]] | None = None

    @property
    def n_bars(self) -> int:
        return int(self._gi[G_NEXT])

    def run(self, bars: Any) -> SessionLevelResult:
        """Full pass from bar 0 (state reset). ``bars`` needs time/open/high/low/close arrays; the clock
        must describe the same bar times (it may run past them)."""
        self.reset()
        self.update(bars)
        return self.result()

    def update(self, bars: Any) -> dict[str, np.ndarray]:
        """Process the bars after the last one seen (the earlier bars must be unchanged); returns the
        indexes per table of the rows those bars created or changed (no copy: cheap for live ticks)."""
        n = len(bars.time)
        if n < self.n_bars:
            raise ValueError(f"update got {n} bars but {self.n_bars} were already processed; call run()")
        if len(self.clock) < n:
            self.clock.extend(bars.time[len(self.clock):n])
        clk = self.clock
        i = i0 = self.n_bars
        if n > i:
            # bar times are ascending (the dispatcher checks them): the first and last bound the stretch; a bar
            # outside makes the kernel stop there and the spans are widened to what is left (no min/max pass)
            spans = clk.offset_spans(int(bars.time[i]), int(bars.time[n - 1]))
        nl0, ns0 = int(self._gi[G_NL]), int(self._gi[G_NS])
        if n > i:
            # Reserve roughly what this stretch needs up front, so long passes rarely regrow.
            days = (n - i) // 1000 + 2
            self._sessions = _ensure_rows(self._sessions, int(self._gi[G_NS]), days * len(self.windows))
            self._levels = _ensure_rows(self._levels, int(self._gi[G_NL]), days * self._max_levels_per_bar)
        while i < n:
            i = session_levels_step(
                bars.open, bars.high, bars.low, bars.close, np.ascontiguousarray(bars.time, np.int64), *spans, i, n,
                self._win_start, self._win_end, self._win_hi, self._win_lo, self._win_ib, self._mults,
                clk.day_start_min, clk.fold_weekend, self._ny_open, self._max_levels_per_bar,
                self._wi, self._wf, self._gi, self._gf, self._watch, self._watch_price,
                self._sessions, self._levels)
            if i < n and self._gi[G_SPAN_MISS]:
                self._gi[G_SPAN_MISS] = 0
                rest = bars.time[i:n]
                spans = clk.offset_spans(int(rest.min()), int(rest.max()))
            elif i < n:
                self._sessions = _grown_rows(self._sessions, int(self._gi[G_NS]), len(self.windows))
                self._levels = _grown_rows(self._levels, int(self._gi[G_NL]), self._max_levels_per_bar)
        if n:
            self._last_close = float(bars.close[n - 1])
        nl, ns = int(self._gi[G_NL]), int(self._gi[G_NS])
        levels = self._levels[:nl]
        # the open levels are ascending and all before nl0, so the candidates are too (no sort); a live bar
        # mostly adds no level and no session: skip the concatenation and the empty scans then
        candidates = self._open_levels if nl == nl0 else \
            np.concatenate([self._open_levels, np.arange(nl0, nl, dtype=np.int64)])  # np.r_: 50 us a bar
        if len(candidates):
            changed_levels = candidates[levels["updated_at"][candidates] >= i0]
            self._open_levels = candidates[levels["end"][candidates] == -1]
        else:
            changed_levels = candidates
        changed = {"sessions": ns0 + np.flatnonzero(self._sessions["updated_at"][ns0:ns] >= i0) if ns > ns0
                   else _NO_ROWS,
                   "levels": changed_levels}
        self.last_changed = (i0, n - 1, changed)
        return changed


    @property
    def sessions(self) -> np.ndarray:
        """Live view of the SESSION rows (changes with later updates)."""
        return self._sessions[: int(self._gi[G_NS])]

    @property
    def levels(self) -> np.ndarray:
        """Live view of the LEVEL rows (changes with later updates)."""
        return self._levels[: int(self._gi[G_NL])]

    def result(self) -> SessionLevelResult:
        return SessionLevelResult(self.sessions.copy(), self.levels.copy(), self.windows, self.n_bars,
                                  self.running_sessions())

    def changed(self, bar: int) -> dict[str, np.ndarray]:
        """Row indexes per table whose ``updated_at`` is ``bar`` (what bar ``bar`` changed)."""
        return {"sessions": np.flatnonzero(self.sessions["updated_at"] == bar),
                "levels": np.flatnonzero(self.levels["updated_at"] == bar)}

    def running_sessions(self) -> tuple[RunningSession, ...]:
        out = []
        for w, win in enumerate(self.windows):
            if self._wi[w, W_STATUS] == 1:
                o, h, lo = (float(x) for x in self._wf[w])
                out.append(RunningSession(win.name, w, int(self._wi[w, W_START]), self.n_bars - 1, o, h, lo,
                                          self._last_close,
                                          int(self._wi[w, W_HBAR]), int(self._wi[w, W_LBAR])))
        return tuple(out)


def _grown_rows(buf: np.ndarray, used: int, more: int) -> np.ndarray:
    """``buf`` doubled (or to ``used + more`` rows), its first ``used`` rows kept. The new rows are left
    unwritten (``np.empty``): the kernel writes every field of a row it adds (``put_row``) and nothing reads
    past the counts, so filling the spare rows with defaults (``objects.grow``) only wrote and faulted in
    memory (a full pass reserves ~25,000 level rows for ~16,000 used)."""
    return grown(buf, max(2 * len(buf), used + more, 16), used)


def _ensure_rows(buf: np.ndarray, used: int, more: int) -> np.ndarray:
    return buf if len(buf) >= used + more else _grown_rows(buf, used, more)


def detect_session_levels(bars: Any, params: SessionLevelParams | None = None, clock: SessionClock | None = None,
                          **clock_options: Any) -> SessionLevelResult:
    """One full pass: sessions, initial balance, opening levels, PDH/PDL and PWH/PWL."""
    if clock is None:
        clock = SessionClock.build(bars.time, **clock_options)
    return SessionLevels(params, clock).run(bars)


def windows_from_mapping(windows: Mapping[str, Sequence[str]]) -> tuple[tuple[str, str, str], ...]:
    """``{"asia": ["20:00", "00:00"]}`` as the ``windows`` tuple of :class:`SessionLevelParams`."""
    return tuple((str(k), str(v[0]), str(v[1])) for k, v in windows.items())
