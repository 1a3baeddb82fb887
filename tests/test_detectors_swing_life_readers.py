"""Sweeps read the swing levels' raids from the swings' touch log (issue 19): the rows must be the ones the
old way gives, where every swing is a queued level watched by the sweeps themselves. A fixed table of swing
rows (StaticTable, no touch log) still takes that old way, so the two are compared on the real EURUSD M1,
with equal highs/lows and session levels at the same prices (the tie order between the sources)."""

from __future__ import annotations

import numpy as np
import pytest

from ita_desktop.detectors.base import StaticTable
from ita_desktop.detectors.dispatcher import detect
from ita_desktop.detectors.objects import LevelKind
from ita_desktop.detectors.sweeps import Sweeps
from ita_desktop.detectors.swings import Swings
from tests.support.detectors import fields_equal, real_bars

pytestmark = pytest.mark.realdata


def _queued_swings_sweeps(result) -> np.ndarray:
    """The sweeps of the same sources with the swings as a fixed table: every swing a queued level."""
    d = result.detectors
    swings = StaticTable(d["swings"].rows.copy())
    sweeps = Sweeps(result.params.sweeps, {"swings": swings, "equal": d["equal"], "levels": d["session_levels"]},
                    n_hint=result.n_bars)
    assert sweeps._touches is None
    sweeps.run(result._bars.ctx(), 0, result.n_bars)
    return sweeps.rows


def test_sweeps_from_the_touch_log_equal_sweeps_of_queued_swing_levels(eurusd_csv) -> None:
    bars = real_bars(eurusd_csv, "EURUSD")
    result = detect(bars, "all", parallel=False)
    assert result.detectors["sweeps"]._touches is result.detectors["swings"]
    got = result.tables["sweeps"]
    fields_equal(got, _queued_swings_sweeps(result))
    kinds = set(got["sub"].tolist())
    assert {int(LevelKind.SWING_HIGH), int(LevelKind.SWING_LOW), int(LevelKind.EQUAL_HIGHS)} <= kinds
    # the tie order matters here: a swing and another level at the same price raided at the same bar
    key = {(int(r["start"]), float(r["price"]), int(r["direction"])) for r in got
           if r["sub"] not in (LevelKind.SWING_HIGH, LevelKind.SWING_LOW)}
    ties = sum((int(r["start"]), float(r["price"]), int(r["direction"])) in key for r in got
               if r["sub"] in (LevelKind.SWING_HIGH, LevelKind.SWING_LOW))
    assert ties > 10, "the data must hold swings raided with another level at the same price and bar"


def test_the_touch_log_lists_each_touched_swing_once_in_bar_order(eurusd_csv) -> None:
    bars = real_bars(eurusd_csv, "EURUSD")
    n = 20_000
    whole = detect(bars.slice(0, n), ["swings"], parallel=False).detectors["swings"]
    rows, log = whole.rows, whole.touch_rows
    touched = np.flatnonzero(rows["touched_at"] >= 0)
    assert sorted(log.tolist()) == touched.tolist()
    bars_of_log = rows["touched_at"][log]
    assert np.all(np.diff(bars_of_log) >= 0)
    # within a bar: lows from the highest price, then highs from the lowest (the order raids are taken in)
    for b in np.unique(bars_of_log[np.flatnonzero(np.diff(bars_of_log) == 0)]):
        at = log[bars_of_log == b]
        d = rows["direction"][at]
        assert np.all(np.diff(d) >= 0)
        assert np.all(np.diff(rows["price"][at][d < 0]) <= 0) and np.all(np.diff(rows["price"][at][d > 0]) >= 0)
    # runs of a few bars with a 64-row buffer (the log grows with the rows) keep the same log
    from ita_desktop.detectors.base import BarContext

    ctx = BarContext(bars.open, bars.high, bars.low, bars.close, bars.time, n, {})
    pieces = Swings()
    rng = np.random.default_rng(7)
    i0 = 0
    for i1 in np.unique(np.minimum(np.cumsum(rng.choice([1, 2, 5, 60, 700], size=n)), n)):
        pieces.run(ctx, i0, int(i1))
        i0 = int(i1)
    assert np.array_equal(pieces.touch_rows, log)
    fields_equal(pieces.rows, rows)


@pytest.mark.parametrize("break_on", ["close", "wick"])
def test_structure_from_the_swings_life_equals_the_bar_by_bar_scan(eurusd_csv, break_on) -> None:
    """Structure over a Swings reads the breaks from the swings' life; over a fixed table of the same swing rows
    it scans every bar: rows, trend and the change log after each run must be the same, in runs of any length
    with 64-row buffers as in one pass."""
    from ita_desktop.detectors.atr import AtrSeries
    from ita_desktop.detectors.base import BarContext
    from ita_desktop.detectors.structure import Structure, StructureParams

    bars = real_bars(eurusd_csv, "EURUSD")
    n = len(bars)

    def ctx() -> BarContext:
        c = BarContext(bars.open, bars.high, bars.low, bars.close, bars.time, n,
                       {"atr": np.empty(n), "trend": np.zeros(n, np.int8)})
        AtrSeries().run(c, 0, n)
        return c

    swings = Swings(n_hint=n)
    by_life, by_bars = ctx(), ctx()
    swings.run(by_life, 0, n)
    params = StructureParams(break_on=break_on)
    life = Structure(swings, params, n_hint=n)
    scan = Structure(StaticTable(swings.rows.copy()), params, n_hint=n)
    assert life._from_life and not scan._from_life
    life.run(by_life, 0, n)
    scan.run(by_bars, 0, n)
    fields_equal(life.rows, scan.rows)
    assert np.array_equal(by_life.series["trend"], by_bars.series["trend"])
    assert len(life.rows) > 1000

    pieces_ctx = ctx()
    pieces_swings = Swings()
    pieces = Structure(pieces_swings, params)
    rng = np.random.default_rng(11)
    i0 = 0
    for i1 in np.unique(np.minimum(np.cumsum(rng.choice([1, 1, 3, 17, 250, 4000], size=n)), n)):
        pieces_swings.run(pieces_ctx, i0, int(i1))
        pieces.run(pieces_ctx, i0, int(i1))
        logged = np.sort(pieces.changed_index)
        assert np.array_equal(logged, np.flatnonzero(pieces.rows["updated_at"] == int(i1) - 1))
        i0 = int(i1)
    fields_equal(pieces.rows, scan.rows)
    assert np.array_equal(pieces_ctx.series["trend"], by_bars.series["trend"])
