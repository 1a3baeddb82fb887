"""Detectors that read the swings' life instead of watching the prices again (issue 19): sweeps take a swing
level's raid from the swings' touch log, structure its breaks from the swings' touched_at / filled_at, equal
highs/lows their touch and fill from their lead swing. A fixed table of swing rows (StaticTable, no life of
its own) still takes the old ways (queued levels, a bar-by-bar scan), so the two are compared on the real
EURUSD M1, with equal highs/lows and session levels at the same prices (the tie order between the sources)."""

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


def test_equal_rows_change_with_their_lead_swing_and_log_in_the_life_queues_order(eurusd_csv) -> None:
    """Equal highs/lows take their touch and fill from the cluster's extreme swing. Run in pieces beside the
    swings, ending at every bar where several rows change life, each run's change log must list that bar's
    life changes first, in the order the life queues popped them (lows touched from the highest, lows closed
    through, highs touched from the lowest, highs closed through; ties by row), then the rows the bar's swings
    created or superseded; and the rows must equal one pass."""
    from ita_desktop.detectors.atr import AtrSeries
    from ita_desktop.detectors.base import BarContext
    from ita_desktop.detectors.liquidity import EqualHighsLows, EqualParams

    bars = real_bars(eurusd_csv, "EURUSD")
    n = len(bars)
    params = EqualParams(tolerance_atr=1.0)  # wide: many clusters, so bars where several change at once
    ctx = BarContext(bars.open, bars.high, bars.low, bars.close, bars.time, n, {"atr": np.empty(n)})
    AtrSeries().run(ctx, 0, n)
    whole_swings = Swings(n_hint=n)
    whole_swings.run(ctx, 0, n)
    whole = EqualHighsLows(whole_swings, params, n_hint=n)
    whole.run(ctx, 0, n)
    events = np.concatenate([whole.rows["touched_at"], whole.rows["filled_at"]])
    busy = np.unique(events[events >= 0])
    busy = busy[np.bincount(events[events >= 0])[busy] >= 2]
    rng = np.random.default_rng(5)
    cuts = np.unique(np.concatenate([busy + 1, np.cumsum(rng.choice([1, 7, 300], size=n // 50)), [n]]))
    cuts = cuts[(cuts > 0) & (cuts <= n)]

    swings = Swings()
    equal = EqualHighsLows(swings, params)
    i0 = 0
    checked = 0
    for i1 in cuts:
        swings.run(ctx, i0, int(i1))
        equal.run(ctx, i0, int(i1))
        e = int(i1) - 1
        rows = equal.rows
        log = [int(r) for r in equal.changed_index]
        life = [r for r in log if rows["touched_at"][r] == e or rows["filled_at"][r] == e]
        rank = [((0 if rows["touched_at"][r] == e else 1) if rows["direction"][r] < 0
                 else (2 if rows["touched_at"][r] == e else 3),
                 -rows["price"][r] if rows["direction"][r] < 0 else rows["price"][r], r) for r in life]
        assert rank == sorted(rank), f"bar {e}: life changes {rank}"
        assert log[: len(life)] == life, f"bar {e}: the life changes come before the rows of the bar's swings"
        checked += len(life) >= 2
        i0 = int(i1)
    assert checked > 10, "bars where several rows change life at once must be checked"
    fields_equal(equal.rows, whole.rows)
