"""Full pass over n+k bars == full pass over n bars + k live updates, for every detector, on real data.

Also: the change list returned by each update is exactly the rows whose updated_at is that bar.
"""

from __future__ import annotations

import numpy as np
import pytest

from ita_desktop.detectors.dispatcher import MY_KINDS, detect
from tests.support.detectors import fields_equal, real_bars

pytestmark = pytest.mark.realdata

PARAM_SETS = {
    "defaults-own-levels": {"sweeps": {"sources": ["swings", "equal"]}},
    "wick-extreme-filters": {
        "swings": {"length": 3, "ties": "all"},
        "structure": {"break_on": "wick"},
        "fvg": {"min_atr": 0.3, "middle_confirms": True},
        "order_blocks": {"candle": "extreme"},
        "equal": {"tolerance_atr": 0.25, "max_swings": 4},
        "displacement": {"k": 1.0, "min_body_ratio": 0.5},
        "sweeps": {"max_bars": 0, "sources": ["swings", "equal"]},
    },
}


def _bars(request, which):
    path = request.getfixturevalue(f"{which}_csv")
    return real_bars(path, which.upper())


def _assert_same(a, b):
    ta, tb = a.tables, b.tables
    assert set(ta) == set(tb)
    for name in ta:
        try:
            fields_equal(ta[name], tb[name])
        except AssertionError as exc:
            raise AssertionError(f"table {name}: {exc}") from None
    for name, s in a.series.items():
        np.testing.assert_array_equal(s, b.series[name], err_msg=f"series {name}")


@pytest.mark.parametrize("which", ["eurusd", "xauusd"])
@pytest.mark.parametrize("pset", sorted(PARAM_SETS))
def test_full_pass_equals_live_updates(request, which, pset):
    bars = _bars(request, which)
    params = PARAM_SETS[pset]
    n_all = len(bars)
    # a few single updates at spread-out points, then a run of consecutive updates
    for n in sorted({30, n_all // 5, n_all // 2, n_all - 400, n_all - 1}):
        steps = 400 if n == n_all - 400 else 1
        live = detect(bars.slice(0, n), MY_KINDS, params)
        for k in range(steps):
            i = n + k
            ch = live.update((bars.time[i], bars.open[i], bars.high[i], bars.low[i], bars.close[i]))
            for name, rows in live.tables.items():
                expect = np.flatnonzero(rows["updated_at"] == i)
                np.testing.assert_array_equal(np.sort(ch.index[name]), expect, err_msg=f"changes of {name} at {i}")
        full = detect(bars.slice(0, n + steps), MY_KINDS, params)
        _assert_same(full, live)


def test_multi_bar_update_and_buffer_growth(eurusd_csv):
    bars = real_bars(eurusd_csv, "EURUSD")
    own = PARAM_SETS["defaults-own-levels"]
    live = detect(bars.slice(0, 100), MY_KINDS, own)  # tiny buffers: every table must grow many times
    ch = live.update(bars.slice(100, 20_000))
    assert ch.first_bar == 100 and ch.last_bar == 19_999 and ch.count() > 0
    _assert_same(detect(bars.slice(0, 20_000), MY_KINDS, own), live)


def test_with_session_levels_as_sweep_source(eurusd_csv):
    """Sweeps fed by the session-clock levels (levels.py) stay identical live and in a full pass."""
    bars = real_bars(eurusd_csv, "EURUSD")
    n = 30_000
    live = detect(bars.slice(0, n), ("sweeps", "levels"))
    for i in range(n, n + 300):
        live.update((bars.time[i], bars.open[i], bars.high[i], bars.low[i], bars.close[i]))
    full = detect(bars.slice(0, n + 300), ("sweeps", "levels"))
    _assert_same(full, live)
    swept = live.tables["sweeps"]["sub"]
    from ita_desktop.detectors.objects import LevelKind

    assert np.any(~np.isin(swept, [LevelKind.SWING_HIGH, LevelKind.SWING_LOW, LevelKind.EQUAL_HIGHS,
                                   LevelKind.EQUAL_LOWS])), "no session-clock level was ever swept"


def test_threaded_pass_equals_single_thread(eurusd_csv, monkeypatch):
    """Long passes run independent detectors on worker threads; the tables are the same."""
    import ita_desktop.detectors.dispatcher as dispatcher

    bars = real_bars(eurusd_csv, "EURUSD")
    monkeypatch.setattr(dispatcher, "PARALLEL_MIN_BARS", 1000)
    threaded = detect(bars, "all")
    single = detect(bars, "all", parallel=False)
    _assert_same(threaded, single)


@pytest.mark.parametrize("bad", [1, 4095, 4096, 4097, 9000, 9999])
def test_a_bar_time_not_after_the_previous_is_named(bad):
    """The pass refuses times that do not increase, naming the first bad bar (block edges included)."""
    from ita_desktop.detectors.dispatcher import _first_not_increasing

    t = np.arange(10_000, dtype=np.int64) * 60
    assert _first_not_increasing(t, len(t)) == -1
    t[bad] = t[bad - 1]
    t[min(bad + 300, 9999)] = 0  # a later bad bar is not the one named
    assert _first_not_increasing(t, len(t)) == bad
    assert _first_not_increasing(t, bad) == -1  # only the first n are looked at
    cols = {c: np.full(len(t), 1.1) for c in ("open", "high", "low", "close")}
    with pytest.raises(ValueError, match=f"bar {bad} is not after bar {bad - 1}"):
        detect(type("B", (), {"time": t, **cols})(), ("fvg",))
