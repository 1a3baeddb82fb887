"""Opening levels, initial balance and previous day/week high/low against brute-force pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ita_desktop.detectors.levels import SessionLevelParams, SessionLevels, detect_session_levels
from ita_desktop.detectors.objects import LevelKind
from ita_desktop.domain.bars import Bars
from tests.support.real_bars import xauusd_bars
from tests.test_detectors_sessions import eurusd, ny_frame, synthetic_fx

EPOCH = pd.Timestamp("1970-01-01")


@pytest.fixture(scope="module")
def eur(eurusd_csv: Path) -> Bars:
    return eurusd(eurusd_csv)


@pytest.fixture(scope="module")
def xau(xauusd_csv: Path) -> Bars:
    return xauusd_bars(xauusd_csv)


def _frame_with_periods(bars: Bars) -> pd.DataFrame:
    """Trading day = the date 18:00 New York leads into, weekends folded into Monday; week = ISO week."""
    f = ny_frame(bars)
    label = (f["ny"].dt.tz_localize(None) + pd.Timedelta(hours=6)).dt.normalize()
    wd = label.dt.day_of_week
    f["tday"] = label + pd.to_timedelta(np.select([wd == 5, wd == 6], [2, 1], 0), unit="D")
    f["week"] = f["tday"] - pd.to_timedelta(f["tday"].dt.day_of_week, unit="D")
    return f


def _brute_previous(bars: Bars, period: str) -> pd.DataFrame:
    """Per period: the previous period's high/low, at its first bar; a first period the series starts
    inside (after its 18:00 New York start) gives none."""
    f = _frame_with_periods(bars)
    first_complete = f["ny"].dt.tz_localize(None).iloc[0] <= f[period].iloc[0] - pd.Timedelta(hours=6)
    if not first_complete:
        f = f[f[period] != f[period].iloc[0]]
    g = f.groupby(period)
    per = pd.DataFrame({"first": g["bar"].first(), "high": g["high"].max(), "low": g["low"].min(),
                        "high_bar": f.loc[g["high"].idxmax(), "bar"].to_numpy(),
                        "low_bar": f.loc[g["low"].idxmin(), "bar"].to_numpy()})
    return pd.DataFrame({"confirmed_at": per["first"].to_numpy()[1:], "high": per["high"].to_numpy()[:-1],
                         "low": per["low"].to_numpy()[:-1], "high_bar": per["high_bar"].to_numpy()[:-1],
                         "low_bar": per["low_bar"].to_numpy()[:-1]})


@pytest.mark.parametrize("which, period, hi_kind, lo_kind", [
    ("eur", "tday", LevelKind.PDH, LevelKind.PDL), ("xau", "tday", LevelKind.PDH, LevelKind.PDL),
    ("eur", "week", LevelKind.PWH, LevelKind.PWL),
])
def test_previous_day_and_week_high_low_equal_pandas_groupby(which, period, hi_kind, lo_kind, request):
    bars = request.getfixturevalue(which)
    result = detect_session_levels(bars)
    hi, lo = result.levels_of(hi_kind), result.levels_of(lo_kind)
    brute = _brute_previous(bars, period)
    assert len(brute) >= (30 if period == "tday" and which == "eur" else 3 if period == "tday" else 6)
    assert np.array_equal(hi["confirmed_at"], brute["confirmed_at"]) and np.array_equal(hi["start"], hi["confirmed_at"])
    assert np.array_equal(hi["price"], brute["high"]) and np.array_equal(hi["bar"], brute["high_bar"])
    assert np.array_equal(lo["price"], brute["low"]) and np.array_equal(lo["bar"], brute["low_bar"])
    assert (hi["direction"] == 1).all() and (lo["direction"] == -1).all()
    # Valid until the next one takes over; the last is still live.
    for rows in (hi, lo):
        assert np.array_equal(rows["end"][:-1], rows["start"][1:]) and rows["end"][-1] == -1


def test_initial_balance_and_extensions_equal_brute_force(eur: Bars):
    mults = (0.5, 1.0, 2.0)
    result = detect_session_levels(eur, SessionLevelParams(ib_multiples=mults))
    f = ny_frame(eur)
    ib = f[(f["minute"] >= 570) & (f["minute"] < 630)]
    g = ib.groupby("date")
    brute = pd.DataFrame({"high": g["high"].max(), "low": g["low"].min(), "last": g["bar"].last()})
    brute = brute[brute["last"] < len(eur) - 1]
    lv = result.levels
    for kind, col in ((LevelKind.IB_HIGH, "high"), (LevelKind.IB_LOW, "low")):
        rows = lv[lv["sub"] == kind]
        assert np.array_equal(rows["price"], brute[col].to_numpy())
        assert np.array_equal(rows["confirmed_at"], brute["last"].to_numpy() + 1)
    mid = lv[lv["sub"] == LevelKind.IB_MID]["price"]
    assert np.allclose(mid, (brute["high"] + brute["low"]).to_numpy() / 2)
    ext = lv[lv["sub"] == LevelKind.IB_EXT]
    rng = (brute["high"] - brute["low"]).to_numpy()
    assert len(ext) == 2 * len(mults) * len(brute)
    for m in mults:
        up = ext[(ext["extra"] == m) & (ext["direction"] == 1)]["price"]
        dn = ext[(ext["extra"] == m) & (ext["direction"] == -1)]["price"]
        assert np.allclose(up, brute["high"].to_numpy() + m * rng) and np.allclose(dn, brute["low"].to_numpy() - m * rng)


@pytest.mark.parametrize("which", ["eur", "xau"])
def test_opening_levels_equal_brute_force(which: str, request):
    bars = request.getfixturevalue(which)
    result = detect_session_levels(bars, SessionLevelParams(ny_open="08:30"))
    f = _frame_with_periods(bars)
    local = (f["ny"].dt.tz_localize(None) - EPOCH) // pd.Timedelta(minutes=1)
    prev = local.shift(fill_value=local.iloc[0] - 1)
    weekday = f["date"].dt.day_of_week < 5

    def first_at_or_after(anchor: pd.Series, keep: pd.Series) -> np.ndarray:
        return f["bar"][(prev < anchor) & (anchor <= local) & keep].to_numpy()

    day_anchor = (f["tday"] - EPOCH).dt.days * 1440 - 1440 + 18 * 60
    week_anchor = (f["week"] - EPOCH).dt.days * 1440 - 1440 + 18 * 60
    expected = {
        LevelKind.MIDNIGHT_OPEN: first_at_or_after((f["date"] - EPOCH).dt.days * 1440, weekday),
        LevelKind.NY_OPEN: first_at_or_after((f["date"] - EPOCH).dt.days * 1440 + 510, weekday),
        LevelKind.DAILY_OPEN: first_at_or_after(day_anchor, weekday | True),
        LevelKind.WEEKLY_OPEN: first_at_or_after(week_anchor, weekday | True),
    }
    for kind, bars_at in expected.items():
        rows = result.levels_of(kind)
        assert len(rows) >= 1
        assert np.array_equal(rows["bar"], bars_at), kind
        assert np.array_equal(rows["confirmed_at"], bars_at) and np.array_equal(rows["price"], bars.open[bars_at])
        assert (rows["direction"] == 0).all() and np.array_equal(rows["end"][:-1], rows["start"][1:])
    assert (result.levels_of(LevelKind.DAILY_OPEN)["extra"] == 0).all()  # both feeds have the 18:00 bar


def test_a_gap_over_midnight_opens_at_the_next_bar_and_says_how_late():
    bars = synthetic_fx("2022-01-09 17:00", "2022-01-14 17:00")
    ny = pd.to_datetime(bars.time, unit="s", utc=True).tz_convert("America/New_York")
    hole = (ny >= pd.Timestamp("2022-01-11 23:50", tz="America/New_York")) & (
        ny < pd.Timestamp("2022-01-12 00:07", tz="America/New_York"))
    gappy = bars.take(~hole)
    rows = detect_session_levels(gappy).levels_of(LevelKind.MIDNIGHT_OPEN)
    ny_gappy = pd.to_datetime(gappy.time[rows["bar"]], unit="s", utc=True).tz_convert("America/New_York")
    assert [t.strftime("%d %H:%M") for t in ny_gappy] == ["10 00:00", "11 00:00", "12 00:07", "13 00:00", "14 00:00"]
    assert rows["extra"].tolist() == [0, 0, 7, 0, 0]
    assert np.array_equal(rows["price"], gappy.open[rows["bar"]])


@pytest.mark.parametrize("which", ["eur", "xau"])
def test_touched_at_is_the_first_bar_after_start_that_reaches_the_level(which: str, request):
    bars = request.getfixturevalue(which)
    levels = detect_session_levels(bars).levels
    prev_close = np.r_[bars.close[0], bars.close[:-1]]
    lo, hi = np.minimum(bars.low, prev_close), np.maximum(bars.high, prev_close)
    for row in levels:
        stop = len(bars) if row["end"] < 0 else int(row["end"])
        span = np.arange(int(row["start"]) + 1, stop)
        hits = span[(lo[span] <= row["price"]) & (row["price"] <= hi[span])]
        assert row["touched_at"] == (hits[0] if len(hits) else -1)
        assert row["state"] == (1 if len(hits) else 0)


def test_without_weekend_folding_sunday_is_its_own_trading_day(eur: Bars):
    folded = SessionLevels().run(eur)
    plain = SessionLevels(fold_weekend=False).run(eur)
    assert len(plain.levels_of(LevelKind.PDH)) > len(folded.levels_of(LevelKind.PDH))
    assert len(plain.levels_of(LevelKind.MIDNIGHT_OPEN)) > len(folded.levels_of(LevelKind.MIDNIGHT_OPEN))
