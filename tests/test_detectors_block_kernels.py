"""The order-block candle search, the displacement kernel's bit masks and ATR's branch-free true range (issue
19's speed work) give what the plain loops they replaced gave, on the real EURUSD bars, at every edge:
windows longer than one 64-bit mask, a window starting at bar 0 (no ATR before it), k = 0, direction 0, a
minimum body ratio, buffers that grow inside a block, hostile bars, and a run cut into uneven pieces (a live
update after a full pass)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from ita_desktop.detectors._core import body_ok
from ita_desktop.detectors.atr import atr
from ita_desktop.detectors.dispatcher import detect
from ita_desktop.detectors.order_blocks import last_displacement, last_opposite
from tests.support.real_bars import eurusd_bars

pytestmark = pytest.mark.realdata


@pytest.fixture
def bars(eurusd_csv):
    return eurusd_bars(eurusd_csv).slice(0, 6000)


@njit(cache=False)
def _fast(open_, close, atr_, k, d, lo, hi):
    dbar = last_displacement(open_, close, atr_, k, d, lo, hi)
    return dbar, (last_opposite(open_, close, d, lo, dbar - 1) if dbar >= 0 else -1)


def _plain(open_, close, atr_, k, d, lo, hi):
    """The scans order_blocks_kernel ran before: back from hi to the first hit."""
    dbar = -1
    for t in range(hi, lo - 1, -1):
        if body_ok(open_[t], close[t], atr_[t - 1] if t >= 1 else np.nan, k, d):
            dbar = t
            break
    u = -1
    if dbar >= 0:
        for t in range(dbar - 1, lo - 1, -1):
            if (d > 0 and close[t] < open_[t]) or (d < 0 and close[t] > open_[t]):
                u = t
                break
    return dbar, u


@pytest.mark.parametrize("lookback", [1, 20, 63, 64, 65, 200])
@pytest.mark.parametrize("k", [0.0, 1.5, 4.0])
def test_order_block_candle_search_equals_the_plain_scan(bars, lookback: int, k: float) -> None:
    a = atr(bars.high, bars.low, bars.close, 14)
    o, c = bars.open, bars.close
    found = 0
    for b in range(0, 3000, 7):
        lo = max(0, b - lookback)
        for d in (1, -1, 0):
            want = _plain(o, c, a, k, d, lo, b)
            assert _fast(o, c, a, k, d, lo, b) == want, (b, d)
            found += want[1] >= 0
    if lookback >= 20:
        assert found > 10  # the windows hold real order blocks, not only misses


@pytest.mark.parametrize("params", [
    {"displacement": {"k": 0.5}}, {"displacement": {"k": 1.5, "min_body_ratio": 0.6}}, {"displacement": {"k": 3.0}},
])
def test_displacement_rows_equal_a_plain_loop_and_a_run_in_pieces(bars, params) -> None:
    k = params["displacement"]["k"]
    ratio = params["displacement"].get("min_body_ratio", 0.0)
    full = detect(bars, ["displacement"], params).tables["displacement"]
    a = atr(bars.high, bars.low, bars.close, 14)
    want = []
    for i in range(1, len(bars)):
        body = bars.close[i] - bars.open[i]
        if body_ok(bars.open[i], bars.close[i], a[i - 1], k, 0) and (
                ratio <= 0 or abs(body) >= ratio * (bars.high[i] - bars.low[i])):
            want.append(i)
    assert full["bar"].tolist() == want and len(want) > 10
    # a full pass over the first part, then uneven live pieces: the same rows, and each piece's log
    cut = 2500
    live = detect(bars.slice(0, cut), ["displacement"], params)
    for n0, n1 in ((cut, cut + 1), (cut + 1, cut + 1500), (cut + 1500, cut + 1501), (cut + 1501, len(bars))):
        piece = bars.slice(n0, n1)
        changed = live.advance(piece)["displacement"]
        rows = live.tables["displacement"]
        u = rows["updated_at"]
        assert sorted(changed.tolist()) == np.flatnonzero((u >= n0) & (u < n1)).tolist()
    got = live.tables["displacement"]
    assert all(np.array_equal(got[f], full[f]) for f in got.dtype.names)


@pytest.mark.parametrize("params", [{}, {"order_blocks": {"lookback": 70, "displacement_k": 0.0}}])
def test_order_blocks_equal_whether_buffers_grow_or_bars_come_in_pieces(bars, params) -> None:
    """The kernel's loop between breaks and its stop when the rows are full (buffers of 64 rows that grow
    many times) give the rows of one pass with room to spare, and so do live pieces after a full pass."""
    from ita_desktop.detectors.base import BarContext
    from ita_desktop.detectors.order_blocks import OrderBlockParams, OrderBlocks

    full = detect(bars, ["order_blocks"], params)
    want = full.tables["order_blocks"]
    assert len(want) > 2 * 64  # more rows than the first buffers hold: they grow at least twice
    st = full.detectors["structure"]
    n = len(bars)
    ctx = BarContext(bars.open, bars.high, bars.low, bars.close, bars.time, n, {"atr": full.series["atr"]})
    small = OrderBlocks(st, OrderBlockParams(**params.get("order_blocks", {})), n_hint=0)
    small.run(ctx, 0, n)
    assert small.buf.capacity >= 4 * 64
    assert all(np.array_equal(small.rows[f], want[f]) for f in want.dtype.names)
    cut = 2500
    live = detect(bars.slice(0, cut), ["order_blocks"], params)
    for n0, n1 in ((cut, cut + 1), (cut + 1, cut + 700), (cut + 700, len(bars))):
        live.advance(bars.slice(n0, n1))
    got = live.tables["order_blocks"]
    assert all(np.array_equal(got[f], want[f]) for f in want.dtype.names)


def _plain_atr(high, low, close, length):
    """ATR as atr_kernel computed it with branches (before its true range became selects)."""
    out = np.empty(len(high))
    seed, prev = 0.0, np.nan
    inv = 1.0 / length
    keep = (length - 1) * inv
    for i in range(len(high)):
        tr = high[i] - low[i]
        if i > 0:
            a, b = abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1])
            if a > tr:
                tr = a
            if b > tr:
                tr = b
        if i + 1 < length:
            seed += tr
            v = np.nan
        elif i + 1 == length:
            seed += tr
            v = seed / length
        else:
            v = prev * keep + tr * inv
        out[i] = v
        prev = v
    return out


def test_atr_equals_the_branching_loop_bit_for_bit_in_one_pass_and_in_pieces(bars) -> None:
    """Real bars with hostile ones (bar 0 with high below low, a flat bar, a NaN bar near the end: NaN then
    carries on through the recurrence), ATR 14 and 1: one pass and a run in uneven pieces give the plain
    loop's values bit for bit."""
    from ita_desktop.detectors.atr import AtrSeries
    from ita_desktop.detectors.base import BarContext

    h, lo, c = bars.high.copy(), bars.low.copy(), bars.close.copy()
    h[0], lo[0] = lo[0], h[0] + 0.001  # high below low: its TR is negative, and the next bar's gaps win
    h[41], lo[41], c[41] = c[39], c[39], c[39]
    h[-3], lo[-3], c[-3] = np.nan, np.nan, np.nan
    for length in (14, 1):
        want = _plain_atr(h, lo, c, length)
        got = atr(h, lo, c, length)
        assert np.array_equal(got.view(np.int64), want.view(np.int64))
        n = len(h)
        ctx = BarContext(bars.open, h, lo, c, bars.time, n, {"atr": np.empty(n)})
        series = AtrSeries(length)
        for n0, n1 in ((0, 1), (1, 2), (2, 15), (15, 900), (900, 901), (901, n)):
            series.run(ctx, n0, n1)
        assert np.array_equal(ctx.series["atr"].view(np.int64), want.view(np.int64))
        assert np.isfinite(want[length - 1:-3]).all() and np.isnan(want[-3:]).all()


def test_displacement_rows_equal_when_the_buffers_grow_in_the_middle_of_a_block(bars) -> None:
    """Buffers of 64 rows (each grow lands inside a 1,024-bar block and a 64-bar mask): the rows of one pass
    with room to spare, and the last bar's change log."""
    from ita_desktop.detectors.base import BarContext
    from ita_desktop.detectors.displacement import Displacement, DisplacementParams

    full = detect(bars, ["displacement"], {"displacement": {"k": 0.5}})
    want = full.tables["displacement"]
    assert len(want) > 4 * 64
    n = len(bars)
    ctx = BarContext(bars.open, bars.high, bars.low, bars.close, bars.time, n, {"atr": full.series["atr"]})
    small = Displacement(DisplacementParams(k=0.5), n_hint=0)
    small.run(ctx, 0, n)
    assert small.buf.capacity < 4 * len(want)
    assert all(np.array_equal(small.rows[f], want[f]) for f in want.dtype.names)
    assert small.changed_index.tolist() == full.detectors["displacement"].changed_index.tolist()
