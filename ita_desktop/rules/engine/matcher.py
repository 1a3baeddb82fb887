"""The sequence matcher (numba): step event streams -> occurrences.

Semantics (docs/rules.md, "How the engine matches"):

- Every event of step 1 that passes its conditions starts a search, in time order.
- Step k+1 is the EARLIEST event at or after step k's time that passes its conditions
  (direction with/against an earlier step, ``within`` N bars of an earlier step,
  ``formed_between`` two earlier steps' object bars) and lets the remaining steps complete:
  a depth-first search that backtracks to the next candidate of a step when the later steps
  cannot be found. So the occurrence found is the lexicographically earliest chain, and
  because a chain's events are all at or before its last step, data after that step can
  neither add nor remove it (no look-ahead, and live = full pass).
- ``formed_between`` steps look back: any zone whose object bar lies between the two steps'
  object bars qualifies, and counts as happening at max(its confirmed_at, previous step).
- A retest step has one candidate: the first touch of the zone chosen for its zone step.
  A time step has one candidate too: the first bar inside its window (no backtracking).
- One occurrence per step-1 event, each found independently of the others (so live mode
  can re-match only recent step-1 events). Two occurrences ending on the same event (two
  sweeps answered by one CHOCH) are one setup: :func:`match` keeps the one with the earlier
  step 1. Otherwise occurrences may overlap.

Inputs are the streams concatenated (``off[s]:off[s+1]`` is step s); outputs are, per
occurrence, each step's global event index and effective time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ita_desktop.rules.engine.compiler import DIR_AGAINST, DIR_WITH

#: Event time of something that has not happened (a zone never retested): never matched.
NEVER = np.iinfo(np.int64).max // 4


@njit(cache=True)
def _lower_bound(a, lo, hi, x):
    """First index in [lo, hi) with a[i] >= x (a sorted ascending there)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def match_kernel(off, ev_time, ev_dir, ev_obj, ev_ok, dir_mode, dir_ref, win_n, win_ref, fb_a, fb_b, fb_lag, link,
                 single, first_from, out_ev, out_time):
    """Fill ``out_ev``/``out_time`` (rows = occurrences, columns = steps); returns the count.

    ``first_from``: only step-1 events with time >= this start a search (live mode's horizon).
    ``single[s]``: step s takes only its first candidate (time steps).
    ``fb_lag[s]``: the most bars any usable event of a ``formed_between`` step s is confirmed after
    its object bar. Past ``B's object bar + lag`` no later event can have formed between A and B,
    so the scan stops there instead of running to the end of the stream for every failed chain
    (which made fvg_reversal on M1 quadratic: seconds instead of milliseconds).
    """
    n_steps = off.shape[0] - 1
    chosen = np.empty(n_steps, np.int64)
    ctime = np.empty(n_steps, np.int64)
    cursor = np.empty(n_steps, np.int64)
    n_out = 0
    for e1 in range(_lower_bound(ev_time, off[0], off[1], first_from), off[1]):
        if not ev_ok[e1]:
            continue
        chosen[0] = e1
        ctime[0] = ev_time[e1]
        if n_steps == 1:
            out_ev[n_out, 0] = e1
            out_time[n_out, 0] = ev_time[e1]
            n_out += 1
            continue
        s = 1
        cursor[1] = _start(1, off, ev_time, ev_obj, chosen, ctime, fb_a, link)
        while s >= 1:
            found = -1
            k = cursor[s]
            hi = off[s + 1]
            if link[s] >= 0:  # retest: the one event at the chosen zone's position
                hi = min(hi, k + 1)
            bound = ctime[win_ref[s]] + win_n[s] if win_n[s] >= 0 else np.iinfo(np.int64).max
            while k < hi:
                t = ev_time[k]
                if t >= NEVER:
                    break  # streams are sorted: nothing after this has happened either
                eff = t
                if fb_a[s] >= 0 and eff < ctime[s - 1]:
                    eff = ctime[s - 1]
                if eff > bound:
                    break
                if fb_a[s] >= 0 and t - fb_lag[s] > ev_obj[chosen[fb_b[s]]]:
                    break  # every event from here on formed after B (see fb_lag)
                if _passes(k, s, eff, chosen, ctime, ev_dir, ev_obj, ev_ok, dir_mode, dir_ref, fb_a, fb_b):
                    found = k
                    break
                if single[s] and eff >= ctime[s - 1]:
                    break  # a time step: only the first bar inside its window counts
                k += 1
            if found < 0:
                s -= 1
                if s >= 1:
                    if single[s] or link[s] >= 0:
                        cursor[s] = off[s + 1]  # no other candidate: fail this step too
                    else:
                        cursor[s] = chosen[s] + 1
                continue
            chosen[s] = found
            eff = ev_time[found]
            if fb_a[s] >= 0 and eff < ctime[s - 1]:
                eff = ctime[s - 1]
            ctime[s] = eff
            cursor[s] = found
            if s == n_steps - 1:
                for j in range(n_steps):
                    out_ev[n_out, j] = chosen[j]
                    out_time[n_out, j] = ctime[j]
                n_out += 1
                break
            s += 1
            cursor[s] = _start(s, off, ev_time, ev_obj, chosen, ctime, fb_a, link)
    return n_out


@njit(cache=True)
def _start(s, off, ev_time, ev_obj, chosen, ctime, fb_a, link):
    """Where step s's candidates begin in its stream."""
    if link[s] >= 0:
        return off[s] + (chosen[link[s]] - off[link[s]])
    if fb_a[s] >= 0:
        # a zone formed at or after A's object bar is confirmed at or after it
        return _lower_bound(ev_time, off[s], off[s + 1], ev_obj[chosen[fb_a[s]]])
    return _lower_bound(ev_time, off[s], off[s + 1], ctime[s - 1])


@njit(cache=True)
def _passes(k, s, eff, chosen, ctime, ev_dir, ev_obj, ev_ok, dir_mode, dir_ref, fb_a, fb_b):
    if not ev_ok[k]:
        return False
    if eff < ctime[s - 1]:
        return False
    if dir_mode[s] == DIR_WITH and ev_dir[k] != ev_dir[chosen[dir_ref[s]]]:
        return False
    if dir_mode[s] == DIR_AGAINST and ev_dir[k] != -ev_dir[chosen[dir_ref[s]]]:
        return False
    if fb_a[s] >= 0:
        b = ev_obj[k]
        if b < ev_obj[chosen[fb_a[s]]] or b > ev_obj[chosen[fb_b[s]]]:
            return False
    return True


def match(streams, plans, first_from: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the kernel over ``streams`` (one per plan). Returns (offsets, events [n_occ, n_steps] as
    global indexes into the concatenated streams, effective times [n_occ, n_steps])."""
    n_steps = len(plans)
    sizes = [len(s) for s in streams]
    off = np.zeros(n_steps + 1, np.int64)
    off[1:] = np.cumsum(sizes)

    def cat(name: str, dtype) -> np.ndarray:
        parts = [np.asarray(getattr(s, name), dtype) for s in streams]
        return np.concatenate(parts) if parts else np.zeros(0, dtype)

    ev_time, ev_dir, ev_obj, ev_ok = cat("time", np.int64), cat("direction", np.int8), cat("obj_bar", np.int64), \
        cat("ok", np.bool_)
    arr = lambda f: np.array([f(p) for p in plans], np.int64)  # noqa: E731
    dir_mode, dir_ref = arr(lambda p: p.dir_mode), arr(lambda p: max(p.dir_ref, 0))
    win_n, win_ref = arr(lambda p: p.within_bars), arr(lambda p: max(p.within_ref, 0))
    fb_a, fb_b, link = arr(lambda p: p.formed_a), arr(lambda p: p.formed_b), arr(lambda p: p.link)
    single = np.array([p.event == "time" for p in plans], np.bool_)
    fb_lag = np.zeros(n_steps, np.int64)
    for s, p in enumerate(plans):
        usable = slice(off[s], off[s + 1])
        good = ev_ok[usable] & (ev_time[usable] < NEVER)
        if p.formed_a >= 0 and good.any():
            fb_lag[s] = int((ev_time[usable][good] - ev_obj[usable][good]).max())
    cap = max(sizes[0], 1)
    out_ev = np.empty((cap, n_steps), np.int64)
    out_time = np.empty((cap, n_steps), np.int64)
    n = match_kernel(off, ev_time, ev_dir, ev_obj, ev_ok, dir_mode, dir_ref, win_n, win_ref, fb_a, fb_b, fb_lag, link,
                     single, int(first_from), out_ev, out_time)
    out_ev, out_time = out_ev[:n], out_time[:n]
    if n and n_steps > 1:
        rows = np.concatenate([np.asarray(s.row, np.int64) for s in streams])
        last = rows[out_ev[:, -1]]
        seen: set[tuple[int, int]] = set()
        keep = np.zeros(n, bool)
        for i in range(n):  # occurrences are in step-1 order: the earlier step 1 keeps a shared end
            k = (int(out_time[i, -1]), int(last[i]))
            if k not in seen:
                seen.add(k)
                keep[i] = True
        out_ev, out_time = out_ev[keep], out_time[keep]
    return off, out_ev.copy(), out_time.copy()
