"""A session's first closed bar costs what the others do (detectors/live_ready.py): when a session
starts, its detections get room for the bars to come and their update path is run once, so the
first live bar neither copies the history's columns nor loads a kernel (real EURUSD)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from numba.core.dispatcher import Dispatcher

from ita_desktop.config import load_settings
from ita_desktop.core.app_core import Core
from ita_desktop.core.live.bar_builder import ClosedBar
from ita_desktop.core.live.paper_trades import Followed
from ita_desktop.detectors.dispatcher import detect
from ita_desktop.detectors.live_ready import make_ready
from ita_desktop.paths import app_paths
from tests.support.detectors import fields_equal
from tests.support.real_bars import eurusd_bars

pytestmark = pytest.mark.realdata
ROOT = Path(__file__).resolve().parents[1]


def _arrays(result) -> dict[str, np.ndarray]:
    """The arrays a first append would replace if it had to grow them."""
    clock = result.detectors["session_levels"].clock
    return {**{f"bars.{c}": a for c, a in result._bars.cols.items()},
            **{f"series.{c}": a for c, a in result._bars.series.items()},
            **{f"clock.{c}": getattr(clock, f"_{c}") for c in ("minute", "day")}}


def _bar(bars, i: int) -> dict:
    return {c: getattr(bars, c)[i] for c in ("time", "open", "high", "low", "close")}


def test_a_ready_detection_takes_its_first_bars_without_copying_and_equals_a_full_pass(eurusd_csv: Path) -> None:
    bars = eurusd_bars(eurusd_csv)
    n = len(bars) - 50
    plain = detect(bars.slice(0, n))
    before = _arrays(plain)
    plain.update(_bar(bars, n))
    grown = [k for k, a in _arrays(plain).items() if a is not before[k]]
    assert grown, "without make_ready the first bar grows the arrays: the check below would say nothing"

    ready = detect(bars.slice(0, n))
    make_ready(ready)
    before = _arrays(ready)
    for i in range(n, len(bars)):
        ready.update(_bar(bars, i))
        assert all(a is before[k] for k, a in _arrays(ready).items()), f"bar {i} copied the arrays"
    full = detect(bars)
    assert ready.n_bars == full.n_bars == len(bars)
    assert set(ready.tables) == set(full.tables)
    for name, table in full.tables.items():
        fields_equal(ready.tables[name], table)
    for name, series in full.series.items():
        np.testing.assert_array_equal(ready.series[name], series, err_msg=name)


def _signatures() -> dict[str, int]:
    """Compiled signatures of every numba kernel of the app loaded so far (a kernel's first call adds one)."""
    return {f"{m}.{k}": len(v.signatures) for m in list(sys.modules) if m.startswith("ita_desktop.")
            for k, v in list(vars(sys.modules[m]).items()) if isinstance(v, Dispatcher)}


def test_a_started_session_takes_its_first_rule_bars_in_place_with_its_kernels_loaded(eurusd_store: Path) -> None:
    """LiveSession's start makes its (shared) detections ready: the first closed M5 bars append in place
    and no kernel is compiled or loaded for them (the live bar's values reach the kernels with the types
    the full pass and the warm-up used)."""
    with Core(load_settings(), app_paths().ensure()) as core:
        bars = core.store.bars.load("EURUSD", "M1")
        start = int(bars.time[len(bars) - 200])
        plan = core.live.replay("EURUSD", ["asia_sweep", "ib_raid", "fvg_reversal"], start_utc=start, publish=False)
        dets = [a.setup.det for a in plan.session.rules]
        before = [_arrays(d) for d in dets]
        n0 = [d.n_bars for d in dets]
        kernels = _signatures()
        played = plan.to_play
        for i in range(40):  # eight M5 bars, two M15 bars at least
            plan.session.process([ClosedBar(int(played.time[i]), float(played.open[i]), float(played.high[i]),
                                            float(played.low[i]), float(played.close[i]))])
        assert all(d.n_bars >= n + 2 for d, n in zip(dets, n0)), "the check needs closed rule bars"
        for d, arrays in zip(dets, before):
            assert all(a is arrays[k] for k, a in _arrays(d).items())
        loaded = {k: v for k, v in _signatures().items() if v != kernels.get(k, 0)}
        assert not loaded, f"kernels compiled or loaded at the first bars: {sorted(loaded)}"
        # the first signal's paper trade: the tracker's simulator was warmed at the start too
        for active in plan.session.rules:
            signal = next(o for o in reversed(active.setup.occurrences) if o.order is not None)
            active.tracker._simulate(Followed("first", signal, signal.signal_bar))
        loaded = {k: v for k, v in _signatures().items() if v != kernels.get(k, 0)}
        assert not loaded, f"kernels compiled or loaded at the first signal's paper trade: {sorted(loaded)}"


def test_the_chart_live_layers_built_at_session_start_are_ready(eurusd_csv: Path) -> None:
    """The overlay worker's build (ui.live_overlays._start, run by ``prime``) makes the result ready too,
    also when it detects again (a long series whose detection was not kept)."""
    from ita_desktop.ui.chart.overlays import overlay_data
    from ita_desktop.ui.live_overlays import _start

    bars = eurusd_bars(eurusd_csv)
    n = len(bars) - 10
    result = detect(bars.slice(0, n))
    data = overlay_data(bars.slice(0, n), result)
    recipe = (result.kinds, result.params, result.symbol, result.timeframe, n)
    for given in (data, replace(data, result=None)):
        live = _start(given, recipe, bars)
        before = _arrays(live.result)
        live.advance(bars.slice(n, n + 1))
        assert live.result.n_bars == n + 1
        assert all(a is before[k] for k, a in _arrays(live.result).items())


def test_a_ready_detections_live_bars_never_fill_in_the_historys_calendar(eurusd_csv: Path, monkeypatch) -> None:
    """The clock fills in bar calendars in batches of live bars; after make_ready no batch holds the history
    (without it the first batch computed every history bar's calendar on a live bar: 115 ms at 5M bars)."""
    from ita_desktop.detectors import session_clock

    bars = eurusd_bars(eurusd_csv)
    n = len(bars) - session_clock.PENDING_MAX - 50
    ready = detect(bars.slice(0, n))
    make_ready(ready)
    filled: list[int] = []
    kernel = session_clock._fill_kernel
    monkeypatch.setattr(session_clock, "_fill_kernel", lambda utc, *a: filled.append(len(utc)) or kernel(utc, *a))
    for i in range(n, len(bars)):
        ready.update(_bar(bars, i))
    assert filled and max(filled) <= session_clock.PENDING_MAX
    clock = ready.detectors["session_levels"].clock
    full = detect(bars).detectors["session_levels"].clock
    np.testing.assert_array_equal(clock.minute, full.minute)
    np.testing.assert_array_equal(clock.day, full.day)
