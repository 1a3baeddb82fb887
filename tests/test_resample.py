"""resample() against pandas on hand-built data (UTC-aligned intraday, session-aligned H4/D1
across both 2022 DST changes), hand-checked W1/MN1/D1 boundaries, and the real EURUSD file."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ita_desktop.data.csv_import import read_csv
from ita_desktop.domain.resample import bucket_starts, parse_day_start, resample
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.timeframes import Timeframe

NY = "America/New_York"
AGG = dict(open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
           tick_volume=("tick_volume", "sum"), spread=("spread", "max"), ingest_id=("ingest_id", "first"))


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def random_m1(start: str, days: int, seed: int) -> Bars:
    """A random walk of M1 bars with about a tenth of the minutes missing, as real feeds have."""
    rng = np.random.default_rng(seed)
    time = utc(start) + 60 * np.arange(days * 1440)
    time = time[rng.random(len(time)) > 0.1]
    close = 1.1 + np.cumsum(rng.normal(0, 1e-4, len(time)))
    open_ = np.r_[1.1, close[:-1]]
    return Bars.from_columns("EURUSD", Timeframe.M1, {
        "time": time, "open": open_, "close": close,
        "high": np.maximum(open_, close) + rng.random(len(time)) * 1e-4,
        "low": np.minimum(open_, close) - rng.random(len(time)) * 1e-4,
        "tick_volume": rng.integers(1, 50, len(time)), "spread": rng.integers(0, 20, len(time)),
        "ingest_id": np.repeat([1, 2], [len(time) // 2, len(time) - len(time) // 2]),
    })


def assert_same(ours: Bars, reference: pd.DataFrame) -> None:
    assert ours.time.tolist() == [int(t.timestamp()) for t in reference.index]
    for name in ("open", "high", "low", "close", "tick_volume", "spread", "ingest_id"):
        assert np.array_equal(getattr(ours, name), reference[name].to_numpy()), name


def session_reference(bars: Bars, freq: str, day_start: str = "18:00") -> pd.DataFrame:
    """pandas' own tz handling: floor the New York wall time from the day start, back to UTC."""
    frame = bars.to_frame()
    shift = pd.Timedelta(day_start + ":00")
    local = frame.index.tz_convert(NY).tz_localize(None)
    key = ((local - shift).floor(freq) + shift).tz_localize(NY, nonexistent="shift_forward").tz_convert("UTC")
    return frame.groupby(key).agg(**AGG)


@pytest.mark.parametrize("timeframe, freq", [(Timeframe.M5, "5min"), (Timeframe.M15, "15min"),
                                             (Timeframe.M30, "30min"), (Timeframe.H1, "1h")])
def test_intraday_matches_pandas_resample(timeframe: Timeframe, freq: str):
    bars = random_m1("2022-03-10 00:00", 7, seed=1)
    reference = bars.to_frame().resample(freq).agg(**AGG).dropna(subset=["open"])
    assert_same(resample(bars, timeframe), reference.astype(bars.to_frame().dtypes.to_dict()))


@pytest.mark.parametrize("start", ["2022-03-10 00:00", "2022-11-03 00:00"])  # spring forward, fall back
@pytest.mark.parametrize("timeframe, freq", [(Timeframe.H4, "4h"), (Timeframe.D1, "1D")])
def test_session_aligned_buckets_match_pandas_across_dst(start: str, timeframe: Timeframe, freq: str):
    bars = random_m1(start, 7, seed=2)
    assert_same(resample(bars, timeframe), session_reference(bars, freq))


def test_d1_starts_at_18_new_york_through_the_dst_week():
    # Continuous minutes over the week of 2022-03-13 (US clocks go forward that Sunday 02:00).
    bars = random_m1("2022-03-10 00:00", 7, seed=3)
    starts = resample(bars, Timeframe.D1).time
    expected = [utc(t) for t in ("2022-03-09 23:00", "2022-03-10 23:00", "2022-03-11 23:00", "2022-03-12 23:00",
                                 "2022-03-13 22:00", "2022-03-14 22:00", "2022-03-15 22:00", "2022-03-16 22:00")]
    assert starts.tolist() == expected  # 18:00 EST = 23:00 UTC, then 18:00 EDT = 22:00 UTC


def test_sunday_evening_belongs_to_mondays_bar():
    times = np.array([utc("2022-01-09 22:30"), utc("2022-01-09 23:30"), utc("2022-01-10 15:00")])
    # Sunday 17:30 NY falls in the day that started Saturday 18:00; 18:30 on is Monday's trading day.
    assert bucket_starts(times, Timeframe.D1).tolist() == [utc("2022-01-08 23:00")] + [utc("2022-01-09 23:00")] * 2


def test_week_starts_sunday_18_new_york():
    times = np.array([utc("2022-03-13 21:59"), utc("2022-03-13 22:00"), utc("2022-03-18 20:59")])
    assert bucket_starts(times, Timeframe.W1).tolist() == [utc("2022-03-06 23:00"), utc("2022-03-13 22:00"),
                                                            utc("2022-03-13 22:00")]


def test_month_is_the_calendar_month_of_the_trading_day():
    times = np.array([utc("2022-01-31 22:59"), utc("2022-01-31 23:00"), utc("2022-02-28 22:00")])
    # 2022-01-31 18:00 NY starts the trading day of Feb 1, so February's bar starts there.
    assert bucket_starts(times, Timeframe.MN1).tolist() == [utc("2021-12-31 23:00"), utc("2022-01-31 23:00"),
                                                             utc("2022-01-31 23:00")]


def test_h4_splits_the_trading_day_in_six():
    times = utc("2022-01-10 23:00") + 3600 * np.arange(24)
    starts = np.unique(bucket_starts(times, Timeframe.H4))
    hours_ny = [datetime.fromtimestamp(int(s) - 5 * 3600, timezone.utc).hour for s in starts]
    assert hours_ny == [18, 22, 2, 6, 10, 14]


def test_aggregation_rules_on_a_hand_example():
    bars = Bars.from_columns("EURUSD", Timeframe.M1, {
        "time": utc("2024-01-02 10:00") + 60 * np.array([0, 1, 4, 5]),
        "open": [1.0, 1.1, 1.2, 1.3], "high": [1.5, 1.2, 1.6, 1.4], "low": [0.9, 1.0, 0.8, 1.2],
        "close": [1.1, 1.2, 1.3, 1.35], "tick_volume": [3, 4, 5, 6], "spread": [2, 9, 4, 1], "ingest_id": [7, 8, 8, 9],
    })
    m5 = resample(bars, Timeframe.M5)
    assert m5.time.tolist() == [utc("2024-01-02 10:00"), utc("2024-01-02 10:05")]
    assert (m5.open.tolist(), m5.high.tolist(), m5.low.tolist(), m5.close.tolist()) == (
        [1.0, 1.3], [1.6, 1.4], [0.8, 1.2], [1.3, 1.35])
    assert (m5.tick_volume.tolist(), m5.spread.tolist(), m5.ingest_id.tolist()) == ([12, 6], [9, 1], [7, 9])


def test_resample_refuses_to_go_finer_and_keeps_the_same_timeframe():
    bars = random_m1("2022-03-10 00:00", 1, seed=4)
    h1 = resample(bars, Timeframe.H1)
    assert resample(h1, Timeframe.H1) is h1
    with pytest.raises(ValueError, match="cannot resample H1 bars down to M5"):
        resample(h1, Timeframe.M5)
    assert resample(h1, Timeframe.D1).time.tolist() == resample(bars, Timeframe.D1).time.tolist()


def test_empty_bars_resample_to_empty():
    assert len(resample(Bars.empty("EURUSD", Timeframe.M1), Timeframe.D1)) == 0


def test_day_start_must_be_a_time_of_day():
    assert parse_day_start("17:00") == 61_200
    with pytest.raises(ValueError, match="'25:00' is not a time of day"):
        parse_day_start("25:00")


@pytest.mark.realdata
@pytest.mark.parametrize("timeframe, freq", [(Timeframe.H1, None), (Timeframe.H4, "4h"), (Timeframe.D1, "1D")])
def test_real_eurusd_matches_pandas(eurusd_csv: Path, timeframe: Timeframe, freq: str | None):
    bars = read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars
    if freq is None:
        reference = bars.to_frame().resample("1h").agg(**AGG).dropna(subset=["open"])
        reference = reference.astype(bars.to_frame().dtypes.to_dict())
    else:
        reference = session_reference(bars, freq)
    assert_same(resample(bars, timeframe), reference)


@pytest.mark.realdata
def test_real_eurusd_daily_bars_start_18_new_york_and_sunday_hour_stands_alone(eurusd_csv: Path):
    m1 = read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars
    d1 = resample(m1, Timeframe.D1)
    starts = pd.to_datetime(d1.time, unit="s", utc=True).tz_convert(NY)
    assert set(starts.strftime("%H:%M")) == {"18:00"}
    # 36 trading days (Tue 2022-01-04 .. Tue 2022-02-22) plus, each of the 7 weekends, the hour the
    # feed trades Sunday 17:00-18:00 NY before the 18:00 day start: a short bar dated Saturday 18:00.
    assert len(d1) == 36 + 7
    assert (starts.day_name() == "Saturday").sum() == 7 and "Friday" not in set(starts.day_name())
    in_saturday_bucket = np.isin(bucket_starts(m1.time, Timeframe.D1), d1.time[starts.day_name() == "Saturday"])
    wall = pd.to_datetime(m1.time[in_saturday_bucket], unit="s", utc=True).tz_convert(NY)
    assert set(wall.day_name()) == {"Sunday"} and set(wall.hour) == {17}


@pytest.mark.parametrize("timeframe, freq", [(Timeframe.M1, "1min"), (Timeframe.M15, "15min")])
def test_ticks_to_bars_match_pandas_ohlc(tmp_path: Path, timeframe: Timeframe, freq: str):
    rng = np.random.default_rng(5)
    n = 5_000
    ms = utc("2024-01-02 00:00") * 1000 + np.sort(rng.integers(0, 3 * 3600 * 1000, n))
    bid = np.round(1.1 + np.cumsum(rng.normal(0, 2e-5, n)), 5)
    ask = np.round(bid + rng.integers(0, 30, n) * 1e-5, 5)
    stamps = pd.to_datetime(ms, unit="ms")
    lines = [f"{t:%Y.%m.%d}\t{t:%H:%M:%S}.{t.microsecond // 1000:03d}\t{b:.5f}\t{a:.5f}\t\t\t6\n"
             for t, b, a in zip(stamps, bid, ask)]
    path = tmp_path / "ticks.csv"
    path.write_text("<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>\n" + "".join(lines))
    bars = read_csv(path, symbol="EURUSD", server_tz="UTC", timeframe=timeframe).bars

    frame = pd.DataFrame({"bid": bid, "points": np.rint((ask - bid) / 1e-5)}, index=stamps.tz_localize("UTC"))
    grouped = frame.resample(freq)
    reference = grouped["bid"].ohlc().assign(ticks=grouped["bid"].count(), spread=grouped["points"].max())
    reference = reference[reference["ticks"] > 0]
    assert bars.time.tolist() == [int(t.timestamp()) for t in reference.index]
    for ours, theirs in (("open", "open"), ("high", "high"), ("low", "low"), ("close", "close"),
                         ("tick_volume", "ticks"), ("spread", "spread")):
        assert np.array_equal(getattr(bars, ours), reference[theirs].to_numpy()), ours
