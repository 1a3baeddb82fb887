"""ATR carried by the FVG kernel's loop (atr.shadow_*, Fvg.run_carrying, dispatcher.ATR_HOST) gives the ATR
series and the FVG rows of the two kernels run one after the other, bit for bit, on the real EURUSD bars:
in one pass, in pieces of random length (a live update after a full pass), with row buffers that grow (the
kernel stops, also inside ATR's seed bars, and is called again), with hostile bars, and wherever the
dispatcher runs them (one thread, worker threads, live updates)."""

from __future__ import annotations

import numpy as np
import pytest

from ita_desktop.detectors.atr import AtrSeries
from ita_desktop.detectors.base import BarContext
from ita_desktop.detectors.dispatcher import ATR_HOST, _run_plan, detect
from ita_desktop.detectors.fvg import Fvg, FvgParams
from tests.support.detectors import fields_equal
from tests.support.real_bars import eurusd_bars

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def bars(eurusd_csv):
    return eurusd_bars(eurusd_csv)


def _hostile(bars):
    """The real columns with bar 0's high below its low, a flat bar and a NaN bar (NaN ATR from there on)."""
    o, h, lo, c = bars.open.copy(), bars.high.copy(), bars.low.copy(), bars.close.copy()
    h[0], lo[0] = lo[0], h[0] + 0.001
    o[41] = h[41] = lo[41] = c[41] = c[40] + 0.0005  # flat, but not a TR of 0 (FVG divides by ATR 1)
    k = len(h) - 300
    o[k], h[k], lo[k], c[k] = np.nan, np.nan, np.nan, np.nan
    return o, h, lo, c


def _ctx(bars, cols):
    o, h, lo, c = cols
    n = len(h)
    return BarContext(o, h, lo, c, bars.time, n, {"atr": np.full(n + 8, -1.0)})


def _separate(bars, cols, length, params):
    """ATR's own kernel, then FVG's (carrying nothing): what the carried path must equal."""
    ctx = _ctx(bars, cols)
    AtrSeries(length).run(ctx, 0, ctx.n)
    fvg = Fvg(params, n_hint=ctx.n)
    fvg.run(ctx, 0, ctx.n)
    return ctx.series["atr"], fvg


def _same_bits(a, b) -> bool:
    return np.array_equal(a.view(np.int64), b.view(np.int64))


@pytest.mark.parametrize("length", [14, 2, 500])  # 1: real bars with a TR of 0 give ATR 0, which FVG divides by
@pytest.mark.parametrize("params", [FvgParams(), FvgParams(min_atr=0.3, middle_confirms=True)])
def test_one_pass_and_random_pieces_with_growing_buffers_give_the_separate_kernels_bits(bars, length, params):
    """Length 500 with 64-row buffers: the rows fill inside ATR's seed bars, so the kernel stops while ATR
    stands ahead of it and is called again from there. Random pieces include pieces of one bar."""
    cols = _hostile(bars)
    want_atr, want = _separate(bars, cols, length, params)
    n = len(cols[0])
    assert np.isnan(want_atr[n - 300:n]).all() and np.isfinite(want_atr[length - 1:n - 300]).all()

    one = _ctx(bars, cols)
    atr, fvg = AtrSeries(length), Fvg(params, n_hint=n)
    fvg.run_carrying(one, 0, n, atr)
    assert _same_bits(one.series["atr"], want_atr) and atr.bars_done == n
    fields_equal(fvg.rows, want.rows)

    rng = np.random.default_rng(length)
    for _ in range(3):
        ctx = _ctx(bars, cols)
        atr, fvg = AtrSeries(length), Fvg(params, n_hint=0)  # 64 rows: they grow many times
        cuts = np.unique(np.r_[0, 1, 2, 3, 15, rng.integers(1, n, 40), rng.integers(1, 2 * length + 4, 6), n])
        stops = []  # the last bar done when the kernel stopped for room
        grow = fvg.buf.grow
        fvg.buf.grow = lambda *a, grow=grow, fvg=fvg: (stops.append(fvg.last_bar()), grow(*a))
        apart = _ctx(bars, cols)  # the same pieces, the kernels one after the other
        atr_apart, fvg_apart = AtrSeries(length), Fvg(params, n_hint=0)
        for n0, n1 in zip(cuts[:-1], cuts[1:]):
            fvg.run_carrying(ctx, int(n0), int(n1), atr)
            atr_apart.run(apart, int(n0), int(n1))
            fvg_apart.run(apart, int(n0), int(n1))
            assert atr.bars_done == n1 and fvg.last_bar() == n1 - 1
            assert fvg.changed_index.tolist() == fvg_apart.changed_index.tolist()  # the last bar's change log
        assert len(stops) >= 4
        if length == 500 and params.min_atr == 0:  # a stop inside the seed bars (min_atr: no rows before ATR)
            assert min(stops) < length
        assert _same_bits(ctx.series["atr"], want_atr)
        fields_equal(fvg.rows, want.rows)


def test_run_carrying_with_atr_elsewhere_runs_them_one_after_the_other(bars):
    """ATR already past the bars (or behind them): the kernel carries nothing and both are still right."""
    cols = (bars.open, bars.high, bars.low, bars.close)
    want_atr, want = _separate(bars, cols, 14, FvgParams())
    n = len(bars)
    ctx = _ctx(bars, cols)
    atr, fvg = AtrSeries(14), Fvg(n_hint=n)
    atr.run(ctx, 0, 5000)
    fvg.run_carrying(ctx, 0, 3000, atr)  # ATR ahead
    atr.run(ctx, 5000, 6000)
    fvg.run_carrying(ctx, 3000, 7000, atr)  # ATR inside the bars: it catches up alone first
    fvg.run_carrying(ctx, 7000, n, atr)  # at the same bar again: carried
    assert _same_bits(ctx.series["atr"], want_atr)
    fields_equal(fvg.rows, want.rows)


def test_the_dispatcher_runs_the_host_in_atrs_place_and_its_readers_after_it(bars):
    names, deps, host = _run_plan(dict.fromkeys(["atr", "swings", "displacement", "equal", "fvg", "order_blocks"]))
    assert host == ATR_HOST == "fvg"
    assert names[0] == "fvg" and "atr" not in names and names.count("fvg") == 1
    assert deps["fvg"] == () and deps["displacement"] == ("fvg",) and "fvg" in deps["order_blocks"]
    assert "fvg" in deps["equal"] and "swings" in deps["equal"]
    names, deps, host = _run_plan(dict.fromkeys(["atr", "displacement"]))
    assert host is None and names == ("atr", "displacement") and deps["displacement"] == ("atr",)


@pytest.mark.parametrize("parallel", [False, True])
def test_detect_and_live_updates_give_the_separate_kernels_atr_and_every_table(bars, parallel, monkeypatch):
    """Every kind over the real bars: the carried pass (one thread and on worker threads, which run passes
    of PARALLEL_MIN_BARS or more) and a live run of single bars and pieces after it equal a dispatcher with
    no host (ATR's own kernel first, as before)."""
    import ita_desktop.detectors.dispatcher as dispatcher

    monkeypatch.setattr(dispatcher, "PARALLEL_MIN_BARS", 1000)
    carried = []
    run_carrying = Fvg.run_carrying
    monkeypatch.setattr(Fvg, "run_carrying", lambda self, ctx, i0, i1, atr: (
        carried.append(atr.bars_done == i0), run_carrying(self, ctx, i0, i1, atr)))
    got = detect(bars, "all", parallel=parallel)
    cut = len(bars) - 400
    live = detect(bars.slice(0, cut), "all", parallel=parallel)
    for i in range(cut, cut + 150):
        live.advance({"time": bars.time[i], "open": bars.open[i], "high": bars.high[i], "low": bars.low[i],
                      "close": bars.close[i]})
    live.advance(bars.slice(cut + 150, len(bars)))
    assert len(carried) == 3 + 150 and all(carried)  # every pass and update carried ATR, at its bar
    monkeypatch.setattr(dispatcher, "ATR_HOST", "no such detector")
    want = detect(bars, "all", parallel=parallel)
    assert len(carried) == 153
    for res in (got, live):
        assert _same_bits(res.series["atr"], want.series["atr"])
        assert np.array_equal(res.series["trend"], want.series["trend"])
        for name, rows in want.tables.items():
            fields_equal(res.tables[name], rows)
