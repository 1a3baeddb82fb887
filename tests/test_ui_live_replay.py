"""Bar Replay in the real window (offscreen) on the real EURUSD: the chart shows only the bars before
the start, step plays one bar, the forming candle moves with the ticks, play at full speed appends the
rest without a reload at no more than ~60 chart refreshes a second, and the replay signals raised
equal the occurrences ``ita scan`` finds in that stretch, drawn on the chart with entry and stop."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from ita_desktop.ui.main_window import MainWindow
from tests.support.cores import new_core

WAIT_MS = 180_000
RULES = ["asia_sweep", "ib_raid"]
pytestmark = pytest.mark.realdata


def _scan_times(core, start_utc: int) -> list[tuple[str, int, int]]:
    out = []
    for rule in RULES:
        out += [(rule, o.signal_time, o.direction) for o in core.backtests.scan(rule, "EURUSD").occurrences
                if o.signal_time >= start_utc]
    return sorted(out)


def test_bar_replay_in_the_window_steps_plays_and_raises_what_a_scan_finds(qtbot, eurusd_store: Path) -> None:
    window = MainWindow(new_core(), symbol="EURUSD", timeframe="M1")
    qtbot.addWidget(window)
    window.resize(1440, 900)
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    qtbot.waitUntil(lambda: window.core.store_if_open is not None, timeout=WAIT_MS)
    bars = window.core.store.bars.load("EURUSD", "M1")
    start_index = 35_000
    start = int(bars.time[start_index]) // 3600 * 3600
    start_index = int(np.searchsorted(bars.time, start))

    wb = window.workbench
    wb.replay_action.trigger()  # View > Bar Replay
    panel = wb.replay
    qtbot.waitUntil(lambda: panel.timeframe_box.findText("M1") >= 0, timeout=WAIT_MS)
    panel.symbol_box.setCurrentText("EURUSD")
    panel.timeframe_box.setCurrentText("M1")
    panel.rules_edit.setText(",".join(RULES))
    panel.set_start(start)
    panel.speed_box.setCurrentText("1")
    with qtbot.waitSignal(panel.started, timeout=WAIT_MS):
        panel.start_button.click()
    chart = window.chart
    assert chart.count == start_index and chart.bars.last_time < start  # future bars hidden
    assert panel.control.paused

    panel.step_button.click()  # one bar: its ticks, then its close
    qtbot.waitUntil(lambda: chart.count == start_index + 1, timeout=WAIT_MS)
    assert int(chart.bars.time[-1]) == int(bars.time[start_index])
    assert float(chart.bars.close[-1]) == float(bars.close[start_index])
    time.sleep(0.3)
    qtbot.wait(100)
    assert chart.count == start_index + 1  # paused: nothing more plays

    seen: list = []
    chart.forming.bar = None
    panel.play_button.click()  # 1 bar/s: four ticks a bar
    qtbot.waitUntil(lambda: chart.forming.bar is not None, timeout=WAIT_MS)
    seen.append(chart.forming.bar)
    qtbot.waitUntil(lambda: chart.forming.bar is not None and chart.forming.bar != seen[0], timeout=WAIT_MS)
    assert chart.forming.bar.index >= start_index + 1  # drawn right of the closed bars
    panel.pause_button.click()
    qtbot.wait(200)
    paused_at = chart.count
    qtbot.wait(1500)
    assert chart.count == paused_at

    frames_before, t0 = wb.live_chart.frames, time.monotonic()
    panel.speed_box.setCurrentText("max")
    panel.play_button.click()
    qtbot.waitUntil(lambda: panel.control.finished.is_set(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: chart.count == len(bars), timeout=WAIT_MS)
    elapsed = time.monotonic() - t0
    assert wb.live_chart.frames - frames_before <= elapsed * 62 + 5  # at most ~60 refreshes a second
    assert np.array_equal(chart.bars.time, bars.time) and np.array_equal(chart.bars.close, bars.close)

    raised = sorted((r.rule_id, r.signal_time, r.direction) for r in panel.control.total.raised)
    expected = _scan_times(window.core, start)
    assert expected, "no setup in the replayed stretch: the comparison would be empty"
    assert raised == expected
    stored = window.core.store.signals.list(symbol="EURUSD", source="replay")
    assert len(stored) == len(expected)
    qtbot.waitUntil(lambda: len(chart.signal_marks.marks) == len(expected), timeout=WAIT_MS)
    with_entry = [m for m in chart.signal_marks.marks.values() if m.entry is not None]
    assert with_entry and all(m.stop is not None for m in with_entry)
    qtbot.waitUntil(lambda: "finished" in panel.status.text(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    window.close()
