"""Demo bars: seeded, valid, closed at weekends, session-shaped, labelled demo, and with ICT setups in them."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from ita_desktop.data.demo import demo_symbol, generate_demo_bars, is_demo_symbol
from ita_desktop.domain.clock import local_seconds
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe

# Monday 2024-03-04 00:00 UTC; 21 days span the US daylight-saving change of 2024-03-10.
START = int(datetime(2024, 3, 4, tzinfo=timezone.utc).timestamp())
DAYS = 21


@pytest.fixture(scope="module")
def eurusd():
    return generate_demo_bars("EURUSD", start_utc=START, days=DAYS)


def ny_minute_and_weekday(time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ny = local_seconds(time, "America/New_York")
    return ny // 60 % 1440, (ny // 86_400 + 3) % 7


def test_same_seed_same_bars_other_seed_other_bars(eurusd):
    again = generate_demo_bars("EURUSD", start_utc=START, days=DAYS)
    other = generate_demo_bars("EURUSD", start_utc=START, days=DAYS, seed=8)
    for name in ("time", "open", "high", "low", "close", "tick_volume", "spread"):
        np.testing.assert_array_equal(getattr(again, name), getattr(eurusd, name))
    assert not np.array_equal(other.close, eurusd.close)


def test_demo_is_labelled_in_the_flag_and_the_symbol(eurusd):
    assert eurusd.demo is True
    assert eurusd.symbol == "EURUSD.demo" and is_demo_symbol(eurusd.symbol)
    assert demo_symbol("EURUSD.demo") == "EURUSD.demo" and not is_demo_symbol("EURUSD")
    assert generate_demo_bars("XAUUSD.demo", start_utc=START, days=2).symbol == "XAUUSD.demo"


def test_ohlc_is_always_valid_and_times_are_whole_minutes_in_order(eurusd):
    assert len(eurusd) > 10_000
    assert np.all(eurusd.high >= np.maximum(eurusd.open, eurusd.close))
    assert np.all(eurusd.low <= np.minimum(eurusd.open, eurusd.close))
    assert np.all(eurusd.low > 0)
    assert np.all(np.diff(eurusd.time) > 0) and np.all(eurusd.time % 60 == 0)
    assert np.all(eurusd.spread > 0) and np.all(eurusd.tick_volume > 0)
    np.testing.assert_array_equal(eurusd.close, np.round(eurusd.close, 5))


def test_prices_and_spreads_look_like_eurusd(eurusd):
    assert 0.95 < eurusd.close.min() and eurusd.close.max() < 1.25
    pips = (eurusd.high - eurusd.low) / 1e-4
    assert 0.5 < np.median(pips) < 5
    assert 3 <= np.median(eurusd.spread) <= 15  # points


def test_weekends_are_closed_from_friday_to_sunday_17_new_york(eurusd):
    minute, weekday = ny_minute_and_weekday(eurusd.time)
    assert not np.any(weekday == 5)
    assert not np.any((weekday == 4) & (minute >= 17 * 60))
    assert not np.any((weekday == 6) & (minute < 17 * 60))
    gaps = np.diff(eurusd.time)
    weekend_gaps = gaps[gaps > 3600]
    # last bar Friday 16:59 to first bar Sunday 17:00; the first weekend loses an hour to daylight saving
    assert weekend_gaps.tolist() == [47 * 3600 + 60, 48 * 3600 + 60, 48 * 3600 + 60]
    first_after = eurusd.time[1:][gaps > 3600]
    minute_after, weekday_after = ny_minute_and_weekday(first_after)
    assert np.all(weekday_after == 6) and np.all(minute_after == 17 * 60)


def test_london_and_new_york_ranges_beat_asia_on_average(eurusd):
    minute, _ = ny_minute_and_weekday(eurusd.time)
    spans = eurusd.high - eurusd.low
    asia = spans[minute >= 20 * 60].mean()
    london = spans[(minute >= 2 * 60) & (minute < 5 * 60)].mean()
    new_york = spans[(minute >= 7 * 60) & (minute < 10 * 60)].mean()
    assert london > 1.5 * asia and new_york > 1.5 * asia


def swept(high, low, close, bar: int, side: int) -> bool:
    """Bar wicked beyond the high (side -1) or low (side +1) of the 8..60 bars before it and closed back inside."""
    for lookback in (8, 15, 30, 60):
        if side < 0:
            level = high[bar - lookback:bar].max()
            if high[bar] > level > close[bar]:
                return True
        else:
            level = low[bar - lookback:bar].min()
            if low[bar] < level < close[bar]:
                return True
    return False


def test_killzones_hold_displacements_with_fair_value_gaps_often_after_a_raid(eurusd):
    o, h, l, c = eurusd.open, eurusd.high, eurusd.low, eurusd.close
    minute, _ = ny_minute_and_weekday(eurusd.time)
    in_killzones = ((minute >= 2 * 60) & (minute < 5 * 60)) | ((minute >= 7 * 60) & (minute < 10 * 60))
    prior_atr = np.r_[np.full(20, np.inf), np.convolve(h - l, np.ones(20) / 20, "valid")[:-1]]
    displacement = np.abs(c - o) > 3 * prior_atr
    fvg = np.zeros(len(c), dtype=bool)
    fvg[2:] = ((l[2:] > h[:-2]) | (h[2:] < l[:-2])) & displacement[1:-1]
    assert fvg.sum() >= DAYS  # more than one displacement gap per trading day
    assert in_killzones[fvg].mean() > 0.5  # killzones are about a quarter of the trading minutes

    starts = np.flatnonzero(displacement & ~np.r_[False, displacement[:-1]])
    starts = starts[starts > 61]
    raided_first = np.mean([swept(h, l, c, i - 1, int(np.sign(c[i] - o[i]))) for i in starts])
    any_bar = np.mean([swept(h, l, c, i, 1 if i % 2 else -1) for i in range(61, len(c))])
    assert raided_first > 2 * any_bar


def test_higher_timeframes_are_resampled_from_the_minutes(eurusd):
    h1 = generate_demo_bars("EURUSD", start_utc=START, days=DAYS, timeframe=Timeframe.H1)
    assert h1.timeframe is Timeframe.H1 and h1.demo and h1.symbol == "EURUSD.demo"
    assert np.all(h1.time % 3600 == 0)
    first_hour = eurusd.between(int(h1.time[0]), int(h1.time[0]) + 3600)
    assert h1.high[0] == first_hour.high.max() and h1.low[0] == first_hour.low.min()
    assert h1.open[0] == first_hour.open[0] and h1.close[0] == first_hour.close[-1]


def test_gold_has_gold_prices():
    gold = generate_demo_bars("XAUUSD", start_utc=START, days=5)
    assert 1500 < gold.close.min() and gold.close.max() < 3500
    np.testing.assert_array_equal(gold.close, np.round(gold.close, 2))


def test_unknown_symbol_and_bad_days_are_clear_errors():
    with pytest.raises(InputError, match="no demo profile for 'DOGEUSD'.*EURUSD"):
        generate_demo_bars("DOGEUSD", start_utc=START, days=3)
    with pytest.raises(InputError, match="at least one day"):
        generate_demo_bars("EURUSD", start_utc=START, days=0)


def test_a_weekend_only_span_is_empty_but_still_demo():
    saturday = int(datetime(2024, 3, 9, 12, tzinfo=timezone.utc).timestamp())
    bars = generate_demo_bars("EURUSD", start_utc=saturday, days=1)
    assert len(bars) == 0 and bars.demo and bars.symbol == "EURUSD.demo"
