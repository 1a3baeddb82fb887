"""The higher-timeframe bias: the full (array) pass equals feeding setup bars one at a time, across
both 2022 DST changes, weekend gaps and missing bars, and it never uses a bar before it is complete."""

from __future__ import annotations

import numpy as np
import pytest

from ita_desktop.domain.resample import bucket_starts
from ita_desktop.detectors.dispatcher import DetectorParams
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.rules.engine.bias import BiasTracker

CLOCK = "America/New_York"
M5 = Timeframe.M5.seconds


def m5_bars(start: str, days: int, seed: int) -> dict[str, np.ndarray]:
    """A random walk of M5 bars, FX hours (no Saturday, no Sunday before 17:00 NY), 3 % of bars missing."""
    rng = np.random.default_rng(seed)
    t0 = int(np.datetime64(start, "s").astype(np.int64))
    time = t0 + M5 * np.arange(days * 288, dtype=np.int64)
    weekday = (time // 86_400 + 3) % 7  # Monday = 0, on UTC days (close enough for gaps)
    keep = (weekday != 5) & ~((weekday == 6) & (time % 86_400 < 21 * 3600)) & (rng.random(len(time)) > 0.03)
    time = time[keep]
    close = 1.1 + np.cumsum(rng.normal(0, 3e-4, len(time)))
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0, 2e-4, len(time)))
    return {"time": time, "open": open_, "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread, "close": close}


@pytest.fixture(scope="module")
def bars() -> dict[str, np.ndarray]:
    """Three weeks around each 2022 DST change (13 March, 6 November), with a gap between them."""
    spring, autumn = m5_bars("2022-03-01T00:00", 21, seed=1), m5_bars("2022-10-24T00:00", 21, seed=2)
    return {c: np.concatenate([spring[c], autumn[c]]) for c in spring}


def tracker(timeframe: Timeframe) -> BiasTracker:
    return BiasTracker(timeframe, Timeframe.M5, DetectorParams(), CLOCK)


def one_at_a_time(timeframe: Timeframe, bars: dict[str, np.ndarray], upto: int | None = None) -> tuple[BiasTracker, np.ndarray]:
    live = tracker(timeframe)
    n = len(bars["time"]) if upto is None else upto
    trend = np.array([live.update(int(bars["time"][i]), float(bars["open"][i]), float(bars["high"][i]),
                                  float(bars["low"][i]), float(bars["close"][i])) for i in range(n)], np.int8)
    return live, trend


@pytest.mark.parametrize("timeframe", [Timeframe.H1, Timeframe.H4, Timeframe.D1])
def test_the_full_pass_equals_one_bar_at_a_time_across_dst_and_gaps(bars, timeframe):
    full = tracker(timeframe)
    trend = full.full(bars["time"], bars["open"], bars["high"], bars["low"], bars["close"])
    live, live_trend = one_at_a_time(timeframe, bars)
    np.testing.assert_array_equal(trend, live_trend)
    assert (trend != 0).mean() > 0.5 and set(np.unique(trend)) == {-1, 0, 1}  # a real trend, both ways
    assert full.result.n_bars == live.result.n_bars
    np.testing.assert_array_equal(full.result.series["trend"], live.result.series["trend"])
    full_tables, live_tables = full.result.tables, live.result.tables
    assert full_tables.keys() == live_tables.keys() and len(full_tables["structure"]) >= 2
    for name, table in full_tables.items():  # the same swings and breaks, at the same higher-timeframe bars
        for field in table.dtype.names:
            np.testing.assert_array_equal(table[field], live_tables[name][field], err_msg=f"{name}.{field}")
    # both left in the same state: the next bars give the same trend either way
    extra = m5_bars("2022-11-14T00:00", 3, seed=3)
    for i in range(len(extra["time"])):
        row = (int(extra["time"][i]), float(extra["open"][i]), float(extra["high"][i]), float(extra["low"][i]),
               float(extra["close"][i]))
        assert full.update(*row) == live.update(*row)


@pytest.mark.parametrize("timeframe", [Timeframe.H4, Timeframe.D1])
def test_a_market_open_through_both_dst_nights_gets_one_higher_timeframe_bar_per_bucket(timeframe):
    """Crypto hours through 13 March and 6 November 2022: the D1 holding each night lasts 23 or 25 hours."""
    rng = np.random.default_rng(4)
    days = [int(np.datetime64(day, "s").astype(np.int64)) + M5 * np.arange(3 * 288, dtype=np.int64)
            for day in ("2022-03-11T12:00", "2022-11-04T12:00")]
    time = np.concatenate(days)
    close = 20_000 + np.cumsum(rng.normal(0, 20, len(time)))
    open_ = np.r_[close[0], close[:-1]]
    bars = {"time": time, "open": open_, "high": np.maximum(open_, close) + 5, "low": np.minimum(open_, close) - 5,
            "close": close}
    live, live_trend = one_at_a_time(timeframe, bars)
    full = tracker(timeframe)
    np.testing.assert_array_equal(full.full(*(bars[c] for c in ("time", "open", "high", "low", "close"))), live_trend)
    buckets = np.unique(bucket_starts(bars["time"], timeframe, clock=CLOCK))
    lengths = set(np.diff(buckets).tolist())
    assert {23 * 3600, 25 * 3600} <= lengths if timeframe is Timeframe.D1 else 5 * 3600 in lengths
    assert full.result.n_bars == live.result.n_bars == len(buckets) - 1  # each complete bucket once; the last builds


@pytest.mark.parametrize("cut", [1, 700, 3001, 5000, 9000])
def test_no_look_ahead_the_trend_at_a_bar_is_the_same_without_the_bars_after_it(bars, cut):
    whole = tracker(Timeframe.H1).full(bars["time"], bars["open"], bars["high"], bars["low"], bars["close"])
    part = tracker(Timeframe.H1).full(*(bars[c][:cut] for c in ("time", "open", "high", "low", "close")))
    np.testing.assert_array_equal(part, whole[:cut])
