"""Screenshots of the main views, saved to screenshots/ (gitignored) for a person to look at.

Each test also checks that the picture is the window's size and not a blank frame, so a
broken paint fails here rather than only looking wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from ita_desktop.domain.resample import resample
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.ui.main_window import MainWindow
from tests.conftest import PROJECT_ROOT
from tests.support.real_bars import eurusd_bars, store_bars, xauusd_bars
from tests.support.cores import new_core

SHOTS = PROJECT_ROOT / "screenshots"
SIZE = (1440, 900)
WAIT_MS = 30_000


@pytest.fixture
def window_on(qtbot, ita_home):
    def make(**kwargs) -> MainWindow:
        window = MainWindow(new_core(), **kwargs)
        qtbot.addWidget(window)
        window.resize(*SIZE)
        with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
            window.show()
        return window

    yield make


def save(widget, name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / name
    assert widget.grab().save(str(path), "PNG")
    image = QImage(str(path))
    ratio = widget.devicePixelRatioF()
    assert (image.width(), image.height()) == (round(widget.width() * ratio), round(widget.height() * ratio))
    colours = {image.pixel(x, y) for x in range(0, image.width(), 9) for y in range(0, image.height(), 9)}
    assert len(colours) > 8, f"{name} looks blank"
    return path


def test_screenshot_empty_state(qtbot, window_on):
    window = window_on()
    assert window.pages.currentWidget() is window.empty_state
    save(window, "window_empty_state.png")
    qtbot.waitUntil(lambda: window.add_data_dialog is not None and window.add_data_dialog.isVisible(), timeout=WAIT_MS)
    save(window.add_data_dialog, "add_data_welcome.png")  # a window of its own: not in the window's picture
    window.import_action.trigger()
    save(window.add_data_dialog, "add_data_import.png")


def test_screenshot_eurusd_chart_views(qtbot, window_on, eurusd_csv, xauusd_csv):
    eurusd = eurusd_bars(eurusd_csv)
    store_bars(eurusd)
    store_bars(resample(eurusd, Timeframe.H1))
    store_bars(xauusd_bars(xauusd_csv))
    window = window_on(symbol="EURUSD", timeframe="M1")
    chart = window.chart
    save(window, "window_eurusd_m1_latest.png")
    chart.set_x_window(1_300, 4_300)  # two days with all four sessions
    chart.scene().sigMouseMoved.emit(chart.view.sceneBoundingRect().center())  # crosshair and readout
    save(window, "window_eurusd_m1_two_days_crosshair.png")
    chart.set_x_window(-0.5, chart.count - 0.5)
    save(window, "window_eurusd_m1_all.png")
    chart.export_png(SHOTS / "chart_export_eurusd_m1_all.png")
    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS):
        window.select("EURUSD", "H1")
    save(window, "window_eurusd_h1.png")
    window.dark_action.setChecked(False)
    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS):
        window.select("XAUUSD", "M1")
    save(window, "window_xauusd_m1_light.png")
    window.dark_action.setChecked(True)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)


def test_screenshot_demo(qtbot, window_on):
    window = window_on()
    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS):
        qtbot.mouseClick(window.empty_state.demo_button, Qt.MouseButton.LeftButton)
    window.chart.zoom(4.0)
    save(window, "window_demo_eurusd_m1.png")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)


def test_screenshot_overlays(qtbot, window_on, eurusd_csv):
    from ita_desktop.data.csv_import import read_csv
    from ita_desktop.ui.chart.overlays import series_key

    store_bars(read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars)  # the file's true server clock
    window = window_on(symbol="EURUSD", timeframe="M1")
    assert window.overlays.key == series_key(window.chart.bars)  # ready waited for the overlays
    save(window, "window_eurusd_m1_overlays.png")
    window.chart.set_x_window(20_000, 21_400)  # about one trading day
    save(window, "window_eurusd_m1_overlays_day.png")
    for name in ("ib_ext", "swing_sweeps"):
        window.legend.set_checked(name, True)
    window.chart.set_x_window(20_500, 20_800)
    save(window, "window_eurusd_m1_overlays_all_layers.png")
    for name in ("ib_ext", "swing_sweeps"):
        window.legend.set_checked(name, False)
    # issue 18: the defaults must stay readable on the higher timeframes too (looked at by eye)
    for tf in ("M15", "M30", "H1"):
        with qtbot.waitSignal(window.overlays.drawn, timeout=WAIT_MS):
            window.select("EURUSD", tf)
        assert window.overlays.key == series_key(window.chart.bars)
        save(window, f"window_eurusd_{tf.lower()}_overlays_defaults.png")
        window.chart.set_x_window(-0.5, window.chart.count - 0.5)
        save(window, f"window_eurusd_{tf.lower()}_overlays_zoomed_out.png")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)


def test_screenshot_backtest_results(qtbot, window_on, eurusd_csv):
    """The trader's workflow: backtest settings, then results with a clicked trade, equity and a sweep."""
    from ita_desktop.data.csv_import import read_csv

    store_bars(read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars)
    window = window_on(symbol="EURUSD", timeframe="M1")
    bench = window.workbench
    qtbot.waitUntil(lambda: bench.backtest.rules_list.count() > 0, timeout=WAIT_MS)
    assert bench.backtest.select_rule("ib_raid")
    save(window, "window_backtest_settings.png")
    with qtbot.waitSignal(bench.backtest.backtested, timeout=WAIT_MS):
        qtbot.mouseClick(bench.backtest.run_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(bench.trade_shown, timeout=WAIT_MS):
        bench.results.choose_trade(3)
    with qtbot.waitSignal(window.overlays.drawn, timeout=WAIT_MS):
        window.chart.update()
    save(window, "window_results_trade.png")
    bench.results.tabs.setCurrentWidget(bench.results.equity)
    save(window, "window_results_equity.png")
    bench.backtest.set_grid([("stop.buffer.pips", "0.5, 1, 2, 3"), ("management.break_even_at_r", "0.5, 1, 2")])
    with qtbot.waitSignal(bench.backtest.swept, timeout=WAIT_MS):
        qtbot.mouseClick(bench.backtest.sweep_button, Qt.MouseButton.LeftButton)
    assert bench.results.heatmap.matrix.shape == (3, 4)
    save(window, "window_results_sweep.png")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)


def test_screenshot_rule_editor_try_draws_the_scan_occurrences(qtbot, window_on, eurusd_csv):
    """The rule editor open on asia_sweep beside the chart; Try draws on the chart what `ita scan` finds."""
    from ita_desktop.data.csv_import import read_csv

    bars = read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars
    store_bars(bars)
    store_bars(resample(bars, Timeframe.M5))
    window = window_on(symbol="EURUSD", timeframe="M5")
    panel = window.rule_editor.panel
    panel.ask = lambda _message: "discard"
    with qtbot.waitSignal(panel.validated, timeout=WAIT_MS):
        window.rule_editor.edit("asia_sweep")
    assert window.rule_editor.dock.isVisible()
    with qtbot.waitSignal(panel.tried, timeout=WAIT_MS * 2) as tried:
        panel.try_rule()
    scope = window.rule_editor.chart_scope()
    scan = window.core.backtests.scan("asia_sweep", "EURUSD", timeframe="M5", start_utc=scope.start_utc,
                                      end_utc=scope.end_utc)
    assert scan.occurrences
    assert [o.key() for o in tried.args[0].occurrences] == [o.key() for o in scan.occurrences]
    drawn = window.overlays.shapes("setups")
    assert drawn is not None and drawn.objects == len(scan.occurrences)
    first = scan.occurrences[0]
    chart_bar = int(np.searchsorted(window.chart.bars.time, first.steps[0].time, side="right") - 1)
    window.chart.show_range(max(chart_bar - 40, 0), chart_bar + 80)
    qtbot.wait(200)
    save(window, "window_rule_editor_try.png")
    row = next(i for i, line in enumerate(panel.text.split("\n")) if "zone: fvg" in line)
    with qtbot.waitSignal(panel.validated, timeout=WAIT_MS):
        panel.editor.setPlainText(panel.text.replace("zone: fvg", "zone: fvgg").replace("  at: near_edge",
                                                                                       "  att: near_edge"))
    assert any(p.line == row for p in panel.editor.problems)
    panel.editor.go_to(row, 0)
    save(window, "window_rule_editor_problems.png")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
