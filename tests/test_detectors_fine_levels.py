"""Session and day levels on higher timeframes come from the finest bars (M1), with no look-ahead."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ita_desktop.domain.resample import resample
from ita_desktop.detectors.dispatcher import detect
from ita_desktop.detectors.fine_levels import inexact_levels
from ita_desktop.detectors.levels import detect_session_levels
from ita_desktop.detectors.objects import FIXED_FIELDS, LevelKind
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.timeframes import Timeframe
from tests.support.real_bars import eurusd_bars


@pytest.fixture(scope="module")
def m1(eurusd_csv: Path) -> Bars:
    return eurusd_bars(eurusd_csv)


def _ny(t: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(t, unit="s", utc=True).tz_convert("America/New_York")


def _m1_extreme(m1: Bars, day: str, start: str, end: str, side: str) -> float:
    """High (or low) of the M1 bars between two New York wall-clock times of ``day``."""
    ny = _ny(m1.time)
    a, b = pd.Timestamp(f"{day} {start}", tz="America/New_York"), pd.Timestamp(f"{day} {end}", tz="America/New_York")
    inside = (ny >= a) & (ny < b)
    return float(m1.high[inside].max() if side == "high" else m1.low[inside].min())


@pytest.mark.parametrize("tf", [Timeframe.H1, Timeframe.H4, Timeframe.D1, Timeframe.W1])
def test_every_level_on_a_higher_timeframe_has_the_m1_value(m1: Bars, tf: Timeframe):
    """The issue's H4 London H 1.13667 (M1: 1.13367) and W1 PDH = last week's high cannot recur:
    every level row on ``tf`` carries exactly the price of an M1 level row of the same kind."""
    coarse = resample(m1, tf)
    rows = detect(coarse, "levels", fine_bars=m1).tables["levels"]
    truth = detect_session_levels(m1).levels
    assert len(rows) > 0
    for sub in np.unique(rows["sub"]):
        mine = rows["price"][rows["sub"] == sub]
        fine = truth["price"][truth["sub"] == sub]
        assert np.isin(mine, fine).all(), LevelKind(int(sub)).name


def test_h4_london_and_asia_highs_equal_the_m1_bars(m1: Bars):
    h4 = resample(m1, Timeframe.H4)
    result = detect(h4, "levels", fine_bars=m1)
    rows = result.tables["levels"]
    day = "2022-02-22"
    for sub, start, end, expected in ((LevelKind.LONDON_HIGH, "02:00", "05:00", 1.13367),
                                      (LevelKind.ASIA_HIGH, "20:00", "00:00", 1.1316)):
        if sub == LevelKind.ASIA_HIGH:
            value = max(_m1_extreme(m1, "2022-02-21", "20:00", "23:59:59", "high"),
                        _m1_extreme(m1, day, "00:00", "00:00:01", "high"))
        else:
            value = _m1_extreme(m1, day, start, end, "high")
        assert value == pytest.approx(expected)
        known = _ny(h4.time[rows["confirmed_at"]])
        pick = (rows["sub"] == int(sub)) & (known.date == pd.Timestamp(day).date())
        assert rows["price"][pick][-1] == pytest.approx(expected)


def test_w1_previous_day_high_is_a_day_not_a_week(m1: Bars):
    w1 = resample(m1, Timeframe.W1)
    rows = detect(w1, "levels", fine_bars=m1).tables["levels"]
    pdh = rows[rows["sub"] == int(LevelKind.PDH)]
    week_highs = w1.high
    # a PDH known at a W1 bar is the high of the trading day before it, not the previous week's high
    previous_week_high = {int(k): float(week_highs[k - 1]) for k in range(1, len(w1))}
    assert any(p["price"] != previous_week_high.get(int(p["confirmed_at"])) for p in pdh)
    daily = detect_session_levels(m1).levels
    assert np.isin(pdh["price"], daily["price"][daily["sub"] == int(LevelKind.PDH)]).all()


@pytest.mark.parametrize("tf", [Timeframe.H1, Timeframe.H4])
def test_a_level_is_known_on_the_first_coarse_bar_without_an_m1_bar_before_it(m1: Bars, tf: Timeframe):
    """No look-ahead: run with only the M1 bars up to the end of coarse bar k, every row known by k
    is there with the same fixed fields; no row is known on a coarse bar that began before its M1 bar."""
    coarse = resample(m1, tf)
    full = detect(coarse, "levels", fine_bars=m1).tables["levels"].copy()
    fine_known = detect_session_levels(m1).levels  # same rows, M1 indexes
    assert len(fine_known) >= len(full)
    known_time = m1.time[fine_known["confirmed_at"][: len(full)]]
    # the coarse bar a row is shown at holds no M1 bar from before the row was known: its first M1 bar
    # is at or after that time (it may start earlier on the clock when its first minutes had no trade)
    first_m1 = m1.time[np.searchsorted(m1.time, coarse.time[full["confirmed_at"]], side="left")]
    assert (first_m1 >= known_time).all()
    assert (coarse.time[full["confirmed_at"]] < known_time).any() or tf == Timeframe.H1  # such a gap is in the file
    for k in (40, 77, len(coarse) // 2, len(coarse) - 3):
        end = coarse.time[k] + tf.seconds
        part = detect(coarse.slice(0, k + 1), "levels", fine_bars=m1.between(None, int(end))).tables["levels"]
        early = full[full["confirmed_at"] <= k]
        assert len(part) == len(early)
        for name in FIXED_FIELDS:
            if name in ("bar",):
                continue
            np.testing.assert_array_equal(part[name], early[name], err_msg=name)


def test_sweeps_on_h4_read_the_m1_levels(m1: Bars):
    h4 = resample(m1, Timeframe.H4)
    result = detect(h4, ["sweeps"], {"sweeps": {"sources": ["levels"]}}, fine_bars=m1)
    sweeps = result.tables["sweeps"]
    levels = result.tables["levels"]
    assert len(sweeps) > 0
    # every swept level price is one of the M1-computed levels
    assert np.isin(sweeps["price"], levels["price"]).all()


def test_only_coarse_bars_say_which_levels_cannot_be_known(m1: Bars):
    assert inexact_levels(m1.time, 1) == {}
    h1 = resample(m1, Timeframe.H1)
    inexact = inexact_levels(h1.time, 60)
    assert "NY_OPEN" in inexact and inexact["NY_OPEN"] == ("09:30",)
    assert "NY_PM_HIGH" in inexact and "LONDON_HIGH" not in inexact and "PDH" not in inexact
    w1 = resample(m1, Timeframe.W1)
    assert "PDH" in inexact_levels(w1.time, Timeframe.W1.minutes)


def test_ita_detect_on_h4_prints_the_m1_levels_and_their_source(eurusd_store, capsys):
    from ita_desktop.cli.main import main

    assert main(["detect", "--symbol", "EURUSD", "--timeframe", "H4", "--kinds", "levels", "--json",
                 "--from", "2022-02-22", "--to", "2022-02-23"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["levels_from"] == "M1" and out["inexact_levels"] == {} and out["times"] == "UTC"
    london = [r for r in out["tables"]["levels"] if r["sub"] == int(LevelKind.LONDON_HIGH)]
    assert london and london[-1]["price"] == pytest.approx(1.13367)
    assert main(["detect", "--symbol", "EURUSD", "--timeframe", "H1", "--kinds", "levels",
                 "--from", "2022-02-22", "--to", "2022-02-23"]) == 0
    text = capsys.readouterr().out
    assert "levels and sessions computed from M1 bars (shown on H1)" in text and "UTC" in text


def test_the_chart_legend_says_where_levels_come_from(qtbot, ita_home, m1: Bars):
    """Under H4 with M1 stored: levels from M1; with only H1 stored: the inexact ones named and marked."""
    from ita_desktop.ui.main_window import MainWindow
    from tests.support.cores import new_core
    from tests.support.real_bars import store_bars

    store_bars(resample(m1, Timeframe.H1))
    window = MainWindow(new_core(), symbol="EURUSD", timeframe="H4")
    qtbot.addWidget(window)
    window.offer_first_run = False
    with qtbot.waitSignal(window.ready, timeout=60_000):
        window.show()
    assert window.chart.bars.timeframe == Timeframe.H4
    tip = window.legend.row_of("liquidity").toolTip()
    assert "Levels computed from H1 bars, shown on H4" in tip and "NY_PM_HIGH" in tip and "13:30" in tip
    assert window.legend.row_of("liquidity").text().startswith("≈ ")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=60_000)
    window.close()


def test_a_finer_series_that_does_not_cover_the_chart_is_not_used(ita_home, m1: Bars):
    """All of H1 with a few days of M1 under H4: levels from H1, the finest series that covers the chart
    (M1 would leave the rest without levels)."""
    from ita_desktop.core.series_service import finest_bars
    from ita_desktop.storage.store import Store
    from tests.support.real_bars import store_bars

    h1 = resample(m1, Timeframe.H1)
    store_bars(h1)
    store_bars(m1.slice(len(m1) - 5000, len(m1)))
    with Store.open() as store:
        span = (int(h1.time[0]), int(h1.time[-1]))
        assert finest_bars(store.bars, "EURUSD", Timeframe.H4, covering=span).timeframe == Timeframe.H1
        assert finest_bars(store.bars, "EURUSD", Timeframe.H4).timeframe == Timeframe.M1  # without the check
        assert finest_bars(store.bars, "EURUSD", Timeframe.H1, covering=span) is None  # nothing finer covers
        recent = (int(m1.time[len(m1) - 5000]), span[1])
        assert finest_bars(store.bars, "EURUSD", Timeframe.H4, covering=recent).timeframe == Timeframe.M1
