"""The sequence matcher (numba): step event streams -> occurrences.

Semantics (docs/rules.md, "How the engine matches"):

- Every event of step 1 that passes its conditions starts a search, in time order.
- Step k+1 is an event at or after step k's time that passes its conditions (direction
  with/against an earlier step, ``within`` N bars of an earlier step, ``formed_between`` two
  earlier steps' object bars). Of all chains from a step-1 event, the occurrence is the one that
  COMPLETES FIRST (the earliest last step); of those completing on the same bar, the
  lexicographically earliest. A depth-first search in candidate order finds it: a chain found
  bounds the rest of the search (a candidate at or after its last step cannot complete sooner).
  Both choices use only events at or before the occurrence's last step, so data after it can
  neither add, remove nor change it: no look-ahead, and live = full pass. (The first chain found
  in candidate order is not enough: a zone tried first but retested late would then win over a
  later zone already retested, and a full pass would move the signal to a later bar that live
  mode could not know of; docs/Decision_Log.md, 2026-11-24.)
- ``formed_between`` steps look back: any zone whose object bar lies between the two steps'
  object bars qualifies, and counts as happening at max(its confirmed_at, previous step).
- A retest step has one candidate: the first touch of the zone chosen for its zone step.
  A time step has one candidate too: the first bar inside its window (no backtracking).
- One occurrence per step-1 event, each found independently of the others (so live mode
  re-matches only the step-1 events whose search is still open, below). Two occurrences ending
  on the same event (two sweeps answered by one CHOCH) are one setup: :func:`match` keeps the
  one with the earlier step 1. Otherwise occurrences may overlap.
- Open searches (live mode). Events still to come have times >= ``now`` (the bars seen so
  far): they are appended at the ends of the streams, and a retest's time goes from NEVER to
  its touch bar. A search is OPEN when one of its failed scans stopped where such an event
  could still be a candidate: at the end of a stream, or at an untouched retest, with ``now``
  inside the step's ``within`` bound and, for ``formed_between``, ``now - fb_lag`` at or
  before B's object bar. Every other stop (a bound passed, a fixed event failing, a time or
  retest step's one candidate used) is final, so a search that is not open explores the same
  events with the same outcome on any later data, as long as no ``fb_lag`` grows (the caller
  re-matches everything when one does): it can never yield a new occurrence.

Inputs are the streams laid out in one array per field (``lo[s]:hi[s]`` is step s); outputs
are, per occurrence, each step's global event index and effective time, and per step-1 event
tried whether its search is open.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ita_desktop.detectors._core import helper
from ita_desktop.rules.engine.compiler import DIR_AGAINST, DIR_WITH

#: Event time of something that has not happened (a zone never retested): never matched.
NEVER = np.iinfo(np.int64).max // 4
#: No window bound. A module constant, not ``np.iinfo`` in the kernel: numba implements that in
#: numba.np.arraymath, and a cached kernel using it imports that module and numba's linalg on load.
UNBOUNDED = np.iinfo(np.int64).max


@helper
def _lower_bound(a, lo, hi, x):
    """First index in [lo, hi) with a[i] >= x (a sorted ascending there)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def match_kernel(lo, hi, ev_time, ev_dir, ev_obj, ev_ok, dir_mode, dir_ref, win_n, win_ref, fb_a, fb_b, fb_lag, link,
                 single, starts, now, out_ev, out_time, out_open):
    """Search from each step-1 event in ``starts`` (global indexes, ascending); fill ``out_ev``/``out_time``
    (rows = occurrences, columns = steps) and ``out_open[j]`` (is the search from ``starts[j]`` open,
    see the module docstring; a search that found its occurrence is closed: no event still to come,
    at or after ``now``, can complete before it); returns the number of occurrences.

    ``single[s]``: step s takes only its first candidate (time steps).
    ``fb_lag[s]``: the most bars any usable event of a ``formed_between`` step s is confirmed after
    its object bar. Past ``B's object bar + lag`` no later event can have formed between A and B,
    so the scan stops there instead of running to the end of the stream for every failed chain
    (which made fvg_reversal on M1 quadratic: seconds instead of milliseconds).
    """
    n_steps = lo.shape[0]
    # one np.zeros call of the simulator's types and flags (nogil): numba compiles np.zeros once for both kernels
    work = np.zeros((5, n_steps), np.int64)
    chosen = work[0]
    ctime = work[1]
    cursor = work[2]
    best = work[3]
    btime = work[4]
    n_out = 0
    for j in range(starts.shape[0]):
        e1 = starts[j]
        out_open[j] = False
        if not ev_ok[e1]:
            continue
        chosen[0] = e1
        ctime[0] = ev_time[e1]
        if n_steps == 1:
            out_ev[n_out, 0] = e1
            out_time[n_out, 0] = ev_time[e1]
            n_out += 1
            continue
        is_open = False
        best_end = NEVER  # the last step's time of the best chain so far (none yet)
        s = 1
        cursor[1] = _start(1, lo, hi, ev_time, ev_obj, chosen, ctime, fb_a, link)
        while s >= 1:
            found = -1
            k = cursor[s]  # -1: a time or retest step whose one candidate was used
            end = hi[s]
            if link[s] >= 0:  # retest: the one event at the chosen zone's position
                end = min(end, k + 1)
            bound = ctime[win_ref[s]] + win_n[s] if win_n[s] >= 0 else UNBOUNDED
            while k >= 0:
                if k >= end:
                    if link[s] < 0:  # the stream's end: a later event may still qualify
                        is_open |= now <= bound and (fb_a[s] < 0 or now - fb_lag[s] <= ev_obj[chosen[fb_b[s]]])
                    break
                t = ev_time[k]
                if t >= NEVER:
                    is_open |= now <= bound  # an untouched zone may still be retested in time
                    break  # streams are sorted: nothing after this has happened either
                eff = t
                if fb_a[s] >= 0 and eff < ctime[s - 1]:
                    eff = ctime[s - 1]
                if eff >= best_end:
                    break  # a chain through here ends at or after the best one: it cannot win
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
                        cursor[s] = -1  # no other candidate: fail this step too
                    else:
                        cursor[s] = chosen[s] + 1
                continue
            chosen[s] = found
            eff = ev_time[found]
            if fb_a[s] >= 0 and eff < ctime[s - 1]:
                eff = ctime[s - 1]
            ctime[s] = eff
            cursor[s] = found
            if s == n_steps - 1:  # a chain: the best so far (found in candidate order, and it ends sooner)
                best_end = eff
                for i in range(n_steps):
                    best[i] = chosen[i]
                    btime[i] = ctime[i]
                cursor[s] = found + 1  # go on looking for one that ends sooner (bounded by best_end)
                if single[s] or link[s] >= 0:
                    cursor[s] = -1
                continue
            s += 1
            cursor[s] = _start(s, lo, hi, ev_time, ev_obj, chosen, ctime, fb_a, link)
        if best_end < NEVER:
            for i in range(n_steps):
                out_ev[n_out, i] = best[i]
                out_time[n_out, i] = btime[i]
            n_out += 1
        out_open[j] = is_open and best_end >= NEVER
    return n_out


@helper
def _start(s, lo, hi, ev_time, ev_obj, chosen, ctime, fb_a, link):
    """Where step s's candidates begin in its stream."""
    if link[s] >= 0:
        return lo[s] + (chosen[link[s]] - lo[link[s]])
    if fb_a[s] >= 0:
        # a zone formed at or after A's object bar is confirmed at or after it
        return _lower_bound(ev_time, lo[s], hi[s], ev_obj[chosen[fb_a[s]]])
    return _lower_bound(ev_time, lo[s], hi[s], ctime[s - 1])


@helper
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


@dataclass(frozen=True)
class MatchPlan:
    """The steps' conditions as the kernel's arrays (built once per rule; see StepPlan)."""

    dir_mode: np.ndarray
    dir_ref: np.ndarray
    win_n: np.ndarray
    win_ref: np.ndarray
    fb_a: np.ndarray
    fb_b: np.ndarray
    link: np.ndarray
    single: np.ndarray

    @classmethod
    def of(cls, plans) -> MatchPlan:
        arr = lambda f: np.array([f(p) for p in plans], np.int64)  # noqa: E731
        return cls(arr(lambda p: p.dir_mode), arr(lambda p: max(p.dir_ref, 0)), arr(lambda p: p.within_bars),
                   arr(lambda p: max(p.within_ref, 0)), arr(lambda p: p.formed_a), arr(lambda p: p.formed_b),
                   arr(lambda p: p.link), np.array([p.event == "time" for p in plans], np.bool_))


def fb_lags(mp: MatchPlan, lo: np.ndarray, hi: np.ndarray, ev_time: np.ndarray, ev_obj: np.ndarray,
            ev_ok: np.ndarray) -> np.ndarray:
    """Per ``formed_between`` step, the most bars a usable event is confirmed after its object bar (else 0)."""
    lag = np.zeros(len(lo), np.int64)
    for s in np.flatnonzero(mp.fb_a >= 0):
        lag[s] = usable_lag(ev_time[lo[s]:hi[s]], ev_obj[lo[s]:hi[s]], ev_ok[lo[s]:hi[s]])
    return lag


def usable_lag(time: np.ndarray, obj: np.ndarray, ok: np.ndarray) -> int:
    """max(time - obj) over the events that can be matched (ok, happened), 0 for none."""
    good = ok & (time < NEVER)
    return int((time[good] - obj[good]).max()) if good.any() else 0


def run_kernel(mp: MatchPlan, lo: np.ndarray, hi: np.ndarray, ev_time: np.ndarray, ev_dir: np.ndarray,
               ev_obj: np.ndarray, ev_ok: np.ndarray, fb_lag: np.ndarray, starts: np.ndarray,
               now: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`match_kernel` from ``starts``: (events, effective times, open flag per start)."""
    n_steps = len(lo)
    cap = max(len(starts), 1)
    out_ev = np.empty((cap, n_steps), np.int64)
    out_time = np.empty((cap, n_steps), np.int64)
    out_open = np.empty(len(starts), np.bool_)
    n = match_kernel(lo, hi, ev_time, ev_dir, ev_obj, ev_ok, mp.dir_mode, mp.dir_ref, mp.win_n, mp.win_ref, mp.fb_a,
                     mp.fb_b, fb_lag, mp.link, mp.single, starts, int(now), out_ev, out_time, out_open)
    return out_ev[:n], out_time[:n], out_open


def one_per_end(ev: np.ndarray, times: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Occurrences (in step-1 order) ending on the same event are one: the earlier step 1 keeps it.
    ``rows``: the row of every event (the last step's event is identified by time and row)."""
    n = len(ev)
    if n == 0 or ev.shape[1] == 1:
        return ev.copy(), times.copy()
    last = rows[ev[:, -1]]
    seen: set[tuple[int, int]] = set()
    keep = np.zeros(n, bool)
    for i in range(n):
        k = (int(times[i, -1]), int(last[i]))
        if k not in seen:
            seen.add(k)
            keep[i] = True
    return ev[keep], times[keep]


def match(streams, plans) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the kernel over ``streams`` (one per plan) from every step-1 event. Returns (offsets,
    events [n_occ, n_steps] as global indexes into the concatenated streams, effective times
    [n_occ, n_steps])."""
    sizes = [len(s) for s in streams]
    off = np.zeros(len(plans) + 1, np.int64)
    off[1:] = np.cumsum(sizes)

    def cat(name: str, dtype) -> np.ndarray:
        parts = [np.asarray(getattr(s, name), dtype) for s in streams]
        return np.concatenate(parts) if parts else np.zeros(0, dtype)

    ev_time, ev_dir, ev_obj, ev_ok = cat("time", np.int64), cat("direction", np.int8), cat("obj_bar", np.int64), \
        cat("ok", np.bool_)
    mp = MatchPlan.of(plans)
    lo, hi = off[:-1], off[1:]
    ev, times, _ = run_kernel(mp, lo, hi, ev_time, ev_dir, ev_obj, ev_ok, fb_lags(mp, lo, hi, ev_time, ev_obj, ev_ok),
                              np.arange(off[1], dtype=np.int64), NEVER)
    ev, times = one_per_end(ev, times, cat("row", np.int64))
    return off, ev, times
