"""Bar Replay in the real window (offscreen) on the real EURUSD: the detector overlays advance with the
replayed bars. After stepping and playing N bars from a start, every detector layer on the chart draws
what a full detection over the same bars draws (same shapes at the same bars, so the same times), and
after each step nothing is drawn that was not known by the last bar shown (no look-ahead)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ita_desktop.ui.chart.overlays import overlay_data, overlay_options
from ita_desktop.ui.chart.overlays.live_layers import LAYER_TABLES
from ita_desktop.ui.main_window import MainWindow
from tests.support.cores import new_core
from tests.test_live_overlays import drawn

WAIT_MS = 180_000
pytestmark = pytest.mark.realdata


def _full_layers(window):
    bars = window.chart.bars
    found = window.core.detection.detect_chart(bars)
    return overlay_data(bars, found.result, overlay_options(window.settings)).layers, found.result


def _caught_up(window) -> bool:
    feed = window.workbench.live_chart.overlays
    return feed.idle and feed.n_bars == window.chart.count and feed.updates > 0


def test_replay_overlays_advance_and_equal_a_full_detection(qtbot, eurusd_store: Path) -> None:
    window = MainWindow(new_core(), symbol="EURUSD", timeframe="M1")
    qtbot.addWidget(window)
    window.resize(1440, 900)
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    qtbot.waitUntil(lambda: window.core.store_if_open is not None, timeout=WAIT_MS)
    stored = window.core.store.bars.load("EURUSD", "M1")
    start = int(stored.time[30_000]) // 3600 * 3600
    start_index = int(np.searchsorted(stored.time, start))

    wb = window.workbench
    wb.replay_action.trigger()
    panel = wb.replay
    qtbot.waitUntil(lambda: panel.timeframe_box.findText("M1") >= 0, timeout=WAIT_MS)
    panel.symbol_box.setCurrentText("EURUSD")
    panel.timeframe_box.setCurrentText("M1")
    panel.rules_edit.setText("ib_raid")
    panel.set_start(start)
    with qtbot.waitSignal(panel.started, timeout=WAIT_MS):
        panel.start_button.click()
    chart, feed = window.chart, wb.live_chart.overlays
    qtbot.waitUntil(lambda: feed._data is not None, timeout=WAIT_MS)  # the history's detection arrived
    before = {name: drawn(window.overlays.shapes(name)) for name in LAYER_TABLES}

    for step in range(1, 4):  # one bar at a time: each step's overlays know that bar and nothing later
        panel.step_button.click()
        qtbot.waitUntil(lambda s=step: chart.count == start_index + s and _caught_up(window), timeout=WAIT_MS)
        full, result = _full_layers(window)
        for name in LAYER_TABLES:
            assert drawn(window.overlays.shapes(name)) == drawn(full[name]), (step, name)
        later = result.tables["fvg"]["confirmed_at"] > chart.count - 1
        assert not later.any()  # a detection over the shown bars cannot know a later gap

    panel.speed_box.setCurrentText("max")
    panel.play_button.click()
    qtbot.waitUntil(lambda: chart.count > start_index + 3000, timeout=WAIT_MS)
    panel.pause_button.click()
    qtbot.wait(300)
    qtbot.waitUntil(lambda: _caught_up(window), timeout=WAIT_MS)
    full, _ = _full_layers(window)
    after = {}
    for name in LAYER_TABLES:
        after[name] = drawn(window.overlays.shapes(name))
        assert after[name] == drawn(full[name]), name
    # the layers moved with the bars: new gaps, structure and levels beyond the start
    for name in ("fvg", "structure", "liquidity"):
        assert after[name] != before[name], name
    x_max = max(x for key in after["structure"] for x in (key[2], key[3]) if key[0] == "s")
    assert x_max > start_index  # a BOS/CHoCH drawn over the replayed bars
    panel.stop()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    window.close()


def test_a_long_series_detection_not_kept_is_detected_again_when_bars_append(qtbot, eurusd_csv: Path, monkeypatch) -> None:
    """Without a session, a detection over more than KEEP_RESULT_BARS bars is not kept (memory); when bars
    append later, the worker detects the chart's bars again and the layers still equal a full detection."""
    from ita_desktop.data.csv_import import read_csv
    from ita_desktop.detectors.dispatcher import detect
    from ita_desktop.ui import live_overlays
    from ita_desktop.ui.chart.chart_data import prepare_chart_data
    from ita_desktop.ui.chart.live_series import growable
    from ita_desktop.ui.chart.overlays import OverlaySet
    from ita_desktop.ui.chart.widget import CandleChart
    from ita_desktop.ui.theme import get_theme

    monkeypatch.setattr(live_overlays, "KEEP_RESULT_BARS", 1000)
    bars = read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars.slice(0, 12_000)
    chart = CandleChart()
    qtbot.addWidget(chart)
    chart.set_prepared(growable(prepare_chart_data(bars.slice(0, 10_000), chart.session_clock, {})))
    overlays = OverlaySet(chart, get_theme("dark"))
    feed = live_overlays.LiveOverlayFeed(chart, overlays)
    feed.attach(overlay_data(chart.bars, detect(chart.bars)))
    assert feed._data.result is None and feed.n_bars == 10_000  # not kept: no session runs
    for a, b in ((10_000, 10_001), (10_001, 10_500), (10_500, 12_000)):
        chart.append_bars(bars.slice(a, b))
        feed.bars_appended()
        qtbot.waitUntil(lambda b=b: feed.idle and feed.n_bars == b, timeout=WAIT_MS)
        full = overlay_data(chart.bars, detect(chart.bars)).layers
        for name in LAYER_TABLES:
            assert drawn(overlays.shapes(name)) == drawn(full[name]), (b, name)
    feed.close()
