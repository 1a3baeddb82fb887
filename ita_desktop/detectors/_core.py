"""Numba building blocks shared by the step kernels: life queues, row life, the change log.

Conventions every object kernel here follows (see also objects.py):

* ``ist`` is the kernel's int64 state vector. Slots 0..7 are common:
  ``N_OUT`` rows written, ``N_CHG`` entries in the change log, ``H0..H3`` sizes of the
  four life queues, ``CURSOR`` the next unread row of the producer table the kernel
  consumes (swings for structure, structure for order blocks, ...), ``LAST`` the last bar
  processed (-1 before any). Detector-specific slots start at ``FIRST_FREE``.
* A kernel processes bars ``[i0, i1)`` and returns the bar where it stopped. It checks room
  for the most rows it could add *before* touching anything for a bar, so when it returns
  ``i < i1`` the Python layer grows the buffers and calls again from ``i``.
* The change log ``chg`` holds the rows created or changed by the LAST bar processed
  (it is cleared at the start of every bar), so after a one-bar live update it is exactly
  "what changed"; every change also sets the row's ``updated_at``.

Life queues (rows that wait for price): ``0`` support zones not yet touched (key ``-top``),
``1`` support zones touched, waiting for a close below ``bottom`` (key ``-bottom``),
``2`` resistance zones not yet touched (key ``bottom``), ``3`` resistance zones touched,
waiting for a close above ``top`` (key ``top``). Each is a priority queue popping the
smallest ``(key, row)`` first (a sorted array, :func:`pq_push`), so the order rows change
in depends only on the set, never on history: a full pass and bar-by-bar updates give the
same rows in the same order.

Performance rules (1,000,000 bars in a few ms per detector): a jitted call with array
arguments costs an atomic reference count per array (~20 ns a call) unless NRT is off, so
kernels use :func:`kernel`; counters live in local variables during the bar loop and go back
to ``ist`` when the kernel returns (:func:`save_state`); the per-bar life test takes scalars
(:func:`life_due`, queue tops cached in locals).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import register_jitable


def kernel(fn=None, **options):
    """``njit(cache=True, nogil=True)`` without NRT reference counting, for step kernels.

    ``nogil``: the dispatcher runs independent detectors on worker threads for long passes.

    Numba increments and decrements (atomically) the reference count of every array passed to
    a jitted call; in a per-bar helper that costs ~20 ns a call, more than the work itself
    (measured: 46 ms per 1,000,000 bars for an empty life step). Kernels here never allocate,
    so they are compiled with NRT off (numba's ``_nrt`` option; an allocation would fail to
    compile instead of leaking). Falls back to plain ``njit(cache=True)`` if the option goes.
    """

    def wrap(f):
        try:
            return njit(cache=True, nogil=True, _nrt=False, **options)(f)
        except (KeyError, TypeError):  # pragma: no cover - numba without the _nrt option
            return njit(cache=True, nogil=True, **options)(f)

    return wrap if fn is None else wrap(fn)


def helper(fn=None, **options):
    """For a function only kernels call: one compiled specialisation serves every call site.

    A jitted callee is compiled once per distinct argument types, and numba types a constant
    argument (``new_row(..., 3, 0, 1, ...)``) as its own literal type, and a counter as its initial
    constant before a loop unifies it: the ``njit`` helpers here were compiled 2-14 times each on a
    clean cache (``new_row`` 12, ``put_row`` 14, ``_walk`` 6), about a third of the first start's
    compile time. As an overload (numba's ``register_jitable``), a call is typed with plain types
    first, so calls with the same plain types share one compile; the code is linked into (and
    cached with) its callers, so LLVM still inlines it and folds the constants. ``options``: the
    jit options of the callers (``_nrt=False`` under :func:`kernel`). Called from Python, it runs
    as plain Python.
    """

    def wrap(f):
        return register_jitable(**options)(f) if options else register_jitable(f)

    return wrap if fn is None else wrap(fn)


def step_helper(fn):
    """:func:`helper` for the step kernels' helpers (NRT off, as :func:`kernel`)."""
    return helper(fn, _nrt=False)


N_OUT = 0
N_CHG = 1
H0 = 2  # support, untouched
H1 = 3  # support, touched
H2 = 4  # resistance, untouched
H3 = 5  # resistance, touched
CURSOR = 6
LAST = 7
FIRST_FREE = 8
IST_SIZE = 16


INF = np.inf

#: Index arrays with ``arr[U(i)]`` in hot loops. numba wraps a signed index around (``i < 0`` means
#: ``i + len``): a compare and a select on every access, and loops it cannot vectorise (gathers). An
#: unsigned index skips that; the cast is free. Only for indexes known to be >= 0 (no bounds check runs).
U = np.uint64


@step_helper
def mark(out, chg, k, i, nchg):
    """Record that row k changed at bar i (once per bar in the change log); returns nchg."""
    if out[U(k)].updated_at != i:
        out[U(k)].updated_at = i
        chg[U(nchg)] = k
        nchg += 1
    return nchg


@step_helper
def new_row(out, chg, k, nchg, i, kind, sub, direction, bar, start, end, top, bottom, price, ref, extra):
    """Write row k, confirmed at bar i, and log it at chg[nchg]. The caller guarantees room
    and advances its own ``n_out`` and ``nchg`` (kernels keep counters in locals: reading and
    writing ``ist`` every bar costs more than the detection itself)."""
    r = out[U(k)]
    r.kind = kind
    r.sub = sub
    r.direction = direction
    r.state = 0
    r.bar = bar
    r.start = start
    r.end = end
    r.confirmed_at = i
    r.updated_at = i
    r.touched_at = -1
    r.filled_at = -1
    r.top = top
    r.bottom = bottom
    r.price = price
    r.ref = ref
    r.extra = extra
    chg[U(nchg)] = k


@step_helper
def pq_push(keys, ids, h, size, key, idx):
    """Insert (key, idx) into priority queue row h, kept sorted DESCENDING so its minimum (the
    next to pop) is at ``size - 1``. Insertion walks from that end: new objects are usually
    the nearest to price, so this is O(1) in practice (a heap costs log n unpredictable
    swaps every time). Returns the new size."""
    j = size
    while j > 0:
        kj = keys[U(h), U(j - 1)]
        if kj < key or (kj == key and ids[U(h), U(j - 1)] < idx):
            keys[U(h), U(j)] = kj
            ids[U(h), U(j)] = ids[U(h), U(j - 1)]
            j -= 1
        else:
            break
    keys[U(h), U(j)] = key
    ids[U(h), U(j)] = idx
    return size + 1


@kernel(inline="always")
def qtop(keys, h, size):
    """The next-to-pop key of queue h, or +inf when it is empty (so life_due never fires)."""
    return keys[U(h), U(size - 1)] if size > 0 else INF


@kernel(inline="always")
def life_due(k0, k1, k2, k3, high, low, close):
    """Scalar per-bar test: could :func:`life_step` change anything at this bar?

    ``k0..k3`` are the queue tops (:func:`qtop`, +inf when empty). Conservative for strict
    touches: a false "yes" only costs the call.
    """
    return (-k0 >= low) | (-k1 > close) | (k2 <= high) | (k3 < close)


@kernel(inline="always")  # inlined into each kernel: ~10% faster on FVG
def life_step(out, i, high, low, close, hk, hid, s0, s1, s2, s3, chg, nchg, strict_touch, end_on_touch):
    """Advance the life of watched rows by bar i; returns the new (s0, s1, s2, s3, nchg).

    Support (bullish) rows: touched when ``low <= top`` (``low < top`` if strict_touch),
    filled when ``close < bottom``. Resistance rows: touched when ``high >= bottom``
    (``>`` if strict), filled when ``close > top``. Touched -> state 1, touched_at = i;
    filled -> state 2, filled_at = i. ``end`` becomes the touch bar when end_on_touch
    (liquidity: the level is gone once traded through), else the fill bar (zones).
    Rows already in state 2 when popped (invalidated elsewhere) are dropped silently.
    Queues pop in (key, row) order, so the order rows change in is fully determined.
    """
    # 0 support, untouched: key = -top; hit when top >= low (strict: top > low)
    while s0 > 0:
        top = -hk[0, U(s0 - 1)]
        hit = top > low if strict_touch else top >= low
        if not hit:
            break
        s0 -= 1
        k = hid[0, U(s0)]
        if out[U(k)].state == 2:
            continue
        out[U(k)].touched_at = i
        out[U(k)].state = 1
        if end_on_touch:
            out[U(k)].end = i
        nchg = mark(out, chg, k, i, nchg)
        s1 = pq_push(hk, hid, 1, s1, -out[U(k)].bottom, k)
    # 1 support, touched: key = -bottom; filled when bottom > close
    while s1 > 0:
        if not (-hk[1, U(s1 - 1)] > close):
            break
        s1 -= 1
        k = hid[1, U(s1)]
        if out[U(k)].state == 2:
            continue
        out[U(k)].filled_at = i
        out[U(k)].state = 2
        if not end_on_touch:
            out[U(k)].end = i
        nchg = mark(out, chg, k, i, nchg)
    # 2 resistance, untouched: key = bottom; hit when bottom <= high (strict: bottom < high)
    while s2 > 0:
        bottom = hk[2, U(s2 - 1)]
        hit = bottom < high if strict_touch else bottom <= high
        if not hit:
            break
        s2 -= 1
        k = hid[2, U(s2)]
        if out[U(k)].state == 2:
            continue
        out[U(k)].touched_at = i
        out[U(k)].state = 1
        if end_on_touch:
            out[U(k)].end = i
        nchg = mark(out, chg, k, i, nchg)
        s3 = pq_push(hk, hid, 3, s3, out[U(k)].top, k)
    # 3 resistance, touched: key = top; filled when top < close
    while s3 > 0:
        if not (hk[3, U(s3 - 1)] < close):
            break
        s3 -= 1
        k = hid[3, U(s3)]
        if out[U(k)].state == 2:
            continue
        out[U(k)].filled_at = i
        out[U(k)].state = 2
        if not end_on_touch:
            out[U(k)].end = i
        nchg = mark(out, chg, k, i, nchg)
    return s0, s1, s2, s3, nchg


@step_helper
def save_state(ist, n_out, nchg, s0, s1, s2, s3, last):
    ist[N_OUT] = n_out
    ist[N_CHG] = nchg
    ist[H0] = s0
    ist[H1] = s1
    ist[H2] = s2
    ist[H3] = s3
    if last >= 0:
        ist[LAST] = last


@step_helper
def per_atr(x, a):
    """``x`` in units of ATR ``a`` (a row's ``extra``): ``x / a``, and numpy's answer where ``a`` is 0 (flat bars
    before a gap or a candle: +inf, or NaN for 0 / 0) instead of the ZeroDivisionError numba raises there."""
    if a == 0.0:
        return np.inf if x > 0.0 else (-np.inf if x < 0.0 else np.nan)
    return x / a


@step_helper
def body_ok(o, c, a_prev, k, direction):
    """Is a candle (open o, close c) a displacement candle in ``direction`` (+1 up, -1 down,
    0 either)? Body ``|c - o| >= k * a_prev`` where ``a_prev`` is ATR[d-1], the ATR of the
    bar BEFORE the candle (so the candle never inflates its own yardstick; pass NaN for
    d == 0). With k <= 0 only the direction counts; a NaN ATR fails any k > 0.
    """
    body = c - o
    if direction > 0 and not body > 0.0:
        return False
    if direction < 0 and not body < 0.0:
        return False
    if k <= 0.0:
        return True
    return abs(body) >= k * a_prev  # False when a_prev is NaN
