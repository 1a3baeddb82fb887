"""Session clock and sessions against brute-force pandas, across DST, with no look-ahead.

EURUSD_M1.csv's server zone is not stated. Its weeks run Friday 18:29 -> Sunday 18:30 server
time, which is the FX week (Friday 17:00 -> Sunday 17:00 New York) only at UTC-03:30, so it is
read at -03:30 (tests/support/real_bars.py): sessions then fall where a trader sees them. January and February 2022
are all EST. The brute-force checks hold for any server zone; the zone only makes them realistic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ita_desktop.detectors.levels import SessionLevelParams, SessionLevels, detect_session_levels
from ita_desktop.detectors.objects import FIXED_FIELDS, Kind, LevelKind
from ita_desktop.detectors.session_clock import SessionClock
from ita_desktop.detectors.sessions import SessionWindow, session_windows
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.clock import parse_hhmm
from ita_desktop.domain.timeframes import Timeframe
from tests.support.real_bars import eurusd_bars as eurusd
from tests.support.real_bars import xauusd_bars

NY = "America/New_York"


def ny_frame(bars: Bars) -> pd.DataFrame:
    """Bars with their New York wall time, by zoneinfo through pandas (independent of our clock code)."""
    frame = bars.to_frame().reset_index()
    frame["ny"] = frame["time"].dt.tz_convert(NY)
    frame["minute"] = frame["ny"].dt.hour * 60 + frame["ny"].dt.minute
    frame["date"] = frame["ny"].dt.tz_localize(None).dt.normalize()
    frame["bar"] = np.arange(len(frame))
    return frame


def synthetic_fx(start_ny: str, end_ny: str, seed: int = 7) -> Bars:
    """Every minute of the FX week (Sunday 17:00 -> Friday 17:00 New York) in the range, random walk."""
    utc = pd.date_range(pd.Timestamp(start_ny, tz=NY), pd.Timestamp(end_ny, tz=NY), freq="1min", inclusive="left")
    ny = utc.tz_convert(NY)
    wd, hm = ny.day_of_week, ny.hour * 60 + ny.minute
    open_market = ~((wd == 5) | ((wd == 4) & (hm >= 1020)) | ((wd == 6) & (hm < 1020)))
    t = utc[open_market].as_unit("s").asi8
    rng = np.random.default_rng(seed)
    close = 1.10 + np.cumsum(rng.normal(0, 0.0002, len(t)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) + rng.uniform(0, 0.0002, len(t))
    low = np.minimum(open_, close) - rng.uniform(0, 0.0002, len(t))
    return Bars.from_columns("SYN", Timeframe.M1, {"time": t, "open": open_, "high": high, "low": low, "close": close})


def brute_sessions(bars: Bars, window: SessionWindow) -> pd.DataFrame:
    """Completed occurrences of a window by pandas groupby: those the data saw begin and saw end."""
    f = ny_frame(bars)
    s, e = window.start_min, window.end_min
    inside = (f["minute"] >= s) & (f["minute"] < e) if e > s else (f["minute"] >= s) | (f["minute"] < e)
    f = f[inside].copy()
    f["occ"] = f["date"] - pd.to_timedelta(np.where(f["minute"] >= s, 0, 1), unit="D")
    g = f.groupby("occ")
    out = pd.DataFrame({
        "start": g["bar"].first(), "end": g["bar"].last(), "open": g["open"].first(), "close": g["close"].last(),
        "high": g["high"].max(), "low": g["low"].min(),
        "high_bar": f.loc[g["high"].idxmax(), "bar"].to_numpy(), "low_bar": f.loc[g["low"].idxmin(), "bar"].to_numpy(),
    })
    first_minute = f.groupby("occ")["minute"].first()
    seen_begin = ~((out["start"] == 0) & (first_minute != s))  # the series began inside it
    seen_end = out["end"] < len(bars) - 1
    return out[seen_begin & seen_end].reset_index(drop=True)


def our_sessions(result, name: str) -> pd.DataFrame:
    rows = [s for s in result.session_list() if s.name == name]
    return pd.DataFrame([{k: getattr(s, k) for k in ("start", "end", "open", "close", "high", "low", "high_bar",
                                                        "low_bar", "confirmed_at")} for s in rows])


@pytest.fixture(scope="module")
def eur(eurusd_csv: Path) -> Bars:
    return eurusd(eurusd_csv)


@pytest.fixture(scope="module")
def xau(xauusd_csv: Path) -> Bars:
    return xauusd_bars(xauusd_csv)


# --- session clock ---------------------------------------------------------------------------

def test_clock_arrays_match_pandas_on_real_data(eur: Bars):
    clock = SessionClock.build(eur.time, NY, "18:00")
    f = ny_frame(eur)
    assert np.array_equal(clock.minute, f["minute"].to_numpy())
    days = (f["date"] - pd.Timestamp("1970-01-01")).dt.days.to_numpy()
    assert np.array_equal(clock.day, days)
    # Trading day: 18:00 New York starts the next date's day; Saturday/Sunday days fold into Monday.
    label = (f["ny"].dt.tz_localize(None) + pd.Timedelta(hours=6)).dt.normalize()
    label = label + pd.to_timedelta(np.select([label.dt.day_of_week == 5, label.dt.day_of_week == 6], [2, 1], 0), unit="D")
    assert np.array_equal(clock.tday, (label - pd.Timestamp("1970-01-01")).dt.days.to_numpy())
    assert np.array_equal(clock.weekday, label.dt.day_of_week.to_numpy())
    iso = label.dt.isocalendar()
    weeks = pd.Series(list(zip(iso["year"], iso["week"])))
    assert (weeks != weeks.shift()).to_numpy()[1:].sum() == (np.diff(clock.week) != 0).sum()


def test_clock_extend_equals_build_and_refuses_going_back(eur: Bars):
    whole = SessionClock.build(eur.time)
    grown = SessionClock()
    for a, b in [(0, 1), (1, 5000), (5000, 5001), (5001, len(eur))]:
        grown.extend(eur.time[a:b])
    for name in ("minute", "day", "tday", "week"):
        assert np.array_equal(getattr(whole, name), getattr(grown, name))
    with pytest.raises(ValueError):
        grown.extend(eur.time[:1])


def test_dst_week_synthetic_sessions_and_opens_follow_new_york_wall_clock():
    """US DST began 2022-03-13 02:00: London opens 07:00 UTC before and 06:00 UTC after."""
    bars = synthetic_fx("2022-03-06 17:00", "2022-03-18 17:00")
    result = detect_session_levels(bars)
    utc = pd.to_datetime(bars.time, unit="s", utc=True)
    starts = {}
    for s in result.session_list():
        starts.setdefault(s.name, []).append(utc[s.start])
    assert [t.strftime("%m-%d %H:%M") for t in starts["london"]] == (
        [f"03-{d:02d} 07:00" for d in (7, 8, 9, 10, 11)] + [f"03-{d:02d} 06:00" for d in (14, 15, 16, 17, 18)])
    asia = [t.strftime("%m-%d %H:%M") for t in starts["asia"]]
    assert "03-07 01:00" in asia and "03-14 00:00" in asia  # Sunday 20:00 EST / EDT
    daily = [utc[r["bar"]].strftime("%m-%d %H:%M") for r in result.levels_of(LevelKind.DAILY_OPEN)]
    assert daily[:5] == ["03-06 23:00", "03-07 23:00", "03-08 23:00", "03-09 23:00", "03-10 23:00"]
    assert daily[5:] == ["03-13 22:00", "03-14 22:00", "03-15 22:00", "03-16 22:00", "03-17 22:00"]
    weekly = [utc[r["bar"]].strftime("%m-%d %H:%M") for r in result.levels_of(LevelKind.WEEKLY_OPEN)]
    assert weekly == ["03-06 23:00", "03-13 22:00"]
    for w in session_windows():
        ours = our_sessions(result, w.name)
        brute = brute_sessions(bars, w)
        pd.testing.assert_frame_equal(ours.drop(columns="confirmed_at"), brute, check_dtype=False)


@pytest.mark.parametrize("which", ["eur", "xau"])
def test_every_session_equals_brute_force_pandas_on_real_data(which: str, request):
    bars = request.getfixturevalue(which)
    result = detect_session_levels(bars)
    for w in session_windows():
        ours = our_sessions(result, w.name)
        brute = brute_sessions(bars, w)
        assert len(brute) > 0 or which == "xau"
        pd.testing.assert_frame_equal(ours.drop(columns="confirmed_at"), brute, check_dtype=False)
        # Known only at the first bar after the session: the next bar.
        assert (ours["confirmed_at"] == ours["end"] + 1).all() if len(ours) else True


def test_asia_range_levels_come_from_the_asia_sessions_and_live_until_the_next(eur: Bars):
    result = detect_session_levels(eur)
    asia = [s for s in result.session_list() if s.name == "asia"]
    highs = result.levels_of(LevelKind.ASIA_HIGH)
    lows = result.levels_of(LevelKind.ASIA_LOW)
    assert len(asia) == len(highs) == len(lows) > 20
    for s, hi, lo in zip(asia, highs, lows):
        assert (hi["price"], hi["bar"], hi["direction"], hi["start"]) == (s.high, s.high_bar, 1, s.confirmed_at)
        assert (lo["price"], lo["bar"], lo["direction"], lo["start"]) == (s.low, s.low_bar, -1, s.confirmed_at)
        assert hi["confirmed_at"] == hi["start"] and result.sessions[hi["ref"]]["confirmed_at"] == s.confirmed_at
    assert np.array_equal(highs["end"][:-1], highs["start"][1:]) and highs["end"][-1] == -1


def test_custom_window_by_name_crossing_midnight(eur: Bars):
    params = SessionLevelParams(windows=(("late", "22:00", "01:30"),), initial_balance=None)
    result = detect_session_levels(eur, params)
    w = SessionWindow.parse("late", "22:00", "01:30")
    assert w.crosses_midnight and w.contains(parse_hhmm("00:15")) and not w.contains(parse_hhmm("01:30"))
    pd.testing.assert_frame_equal(our_sessions(result, "late").drop(columns="confirmed_at"), brute_sessions(eur, w),
                                  check_dtype=False)
    assert set(result.levels["sub"]) >= {LevelKind.SESSION_HIGH, LevelKind.SESSION_LOW}
    with pytest.raises(ValueError, match="empty"):
        SessionWindow.parse("none", "09:00", "09:00")
    with pytest.raises(ValueError, match="HH:MM"):
        parse_hhmm("9h30")


def test_series_starting_inside_a_session_skips_that_partial_session(eur: Bars):
    f = ny_frame(eur)
    mid_london = int(f.index[f["minute"] == parse_hhmm("03:00")][0])
    result = detect_session_levels(eur.slice(mid_london, len(eur)))
    first = result.session_list()
    assert all(s.start > 0 for s in first if s.name == "london")
    running = SessionLevels().run(eur.slice(0, mid_london + 1)).running
    assert [r.name for r in running] == ["london"] and running[0].last == mid_london


# --- no look-ahead and incremental updates (both tables) --------------------------------------

def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row: does any field differ (NaN equals NaN)?"""
    return ~np.all([(a[f] == b[f]) | (np.isnan(a[f]) & np.isnan(b[f])) if a.dtype[f].kind == "f" else a[f] == b[f]
                    for f in a.dtype.names], axis=0)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return len(a) == len(b) and not _differs(a, b).any()


def _life_as_of(full: np.ndarray, t: int) -> dict[str, np.ndarray]:
    """What the life fields of the full run's rows looked like after bar t - 1."""
    end = np.where((full["end"] >= 0) & (full["end"] < t), full["end"], -1)
    touched = np.where((full["touched_at"] >= 0) & (full["touched_at"] < t), full["touched_at"], -1)
    return {"end": end, "touched_at": touched, "state": (touched >= 0).astype(np.int8)}


@pytest.mark.parametrize("which", ["eur", "xau"])
def test_truncated_runs_never_see_the_future(which: str, request):
    bars = request.getfixturevalue(which)
    full = detect_session_levels(bars)
    rng = np.random.default_rng(3)
    # Random cuts plus the edges of the first rows: just before and just after each became known.
    edges = np.r_[full.sessions["confirmed_at"][:12], full.levels["confirmed_at"][:40], full.levels["touched_at"][:40]]
    cuts = np.unique(np.r_[rng.integers(1, len(bars), 40), edges, edges + 1])
    clock = SessionClock.build(bars.time)
    for t in cuts[(cuts > 0) & (cuts <= len(bars))]:
        part = SessionLevels(clock=clock).run(bars.slice(0, int(t)))
        for name in ("sessions", "levels"):
            got, want = part.tables[name], full.tables[name]
            assert (got["confirmed_at"] < t).all() and (got["updated_at"] < t).all()
            known = want[want["confirmed_at"] < t]
            assert len(got) == len(known), (name, t)
            assert _same(got[list(FIXED_FIELDS)], known[list(FIXED_FIELDS)]), (name, t)
            for field, values in _life_as_of(known, int(t)).items():
                assert np.array_equal(got[field], values), (name, t, field)


@pytest.mark.parametrize("which", ["eur", "xau"])
def test_bar_by_bar_updates_equal_the_full_pass(which: str, request):
    bars = request.getfixturevalue(which)
    full = detect_session_levels(bars)
    live = SessionLevels()
    start = min(len(bars) - 2000, 3000)
    live.run(bars.slice(0, start))
    before = {k: v.copy() for k, v in live.result().tables.items()}
    for n in range(start + 1, len(bars) + 1):
        changed = live.update(bars.slice(0, n))
        if n < start + 1500:  # "what changed" is exactly the rows that differ from the previous bar
            for name, table in (("sessions", live.sessions), ("levels", live.levels)):
                old = before[name]
                differs = np.r_[np.flatnonzero(_differs(table[: len(old)], old)), np.arange(len(old), len(table))]
                assert np.array_equal(np.sort(changed[name]), differs), (name, n)
                assert np.array_equal(changed[name], live.changed(n - 1)[name])
                before[name] = table.copy()
    assert live.n_bars == len(bars)
    for name in ("sessions", "levels"):
        assert _same(live.result().tables[name], full.tables[name])


def test_tables_decode_to_objects_with_iso_times(eur: Bars):
    result = detect_session_levels(eur.slice(0, 4000))
    d = result.to_dict(eur.time)
    assert d["sessions"][0]["kind"] == "SESSION" and d["sessions"][0]["name"] == "asia"
    assert d["levels"][0]["sub_name"] in {k.name for k in LevelKind} and d["levels"][0]["time"].endswith("Z")
    assert all(o.kind == Kind.LEVEL for o in result.level_objects())


def test_detector_default_windows_are_the_shipped_config_defaults():
    """The detectors keep their own literal (no YAML read in the numba layer); it must not drift from defaults.yaml."""
    from ita_desktop.config import defaults_dict
    from ita_desktop.detectors.sessions import DEFAULT_INITIAL_BALANCE, DEFAULT_WINDOWS

    shipped = defaults_dict()["sessions"]
    assert {k: tuple(v) for k, v in shipped["windows"].items()} == DEFAULT_WINDOWS
    assert tuple(shipped["initial_balance"]) == DEFAULT_INITIAL_BALANCE
