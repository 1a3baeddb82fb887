"""Panels hidden at start are built on first use (issue 17: the window's build and first show stay short).

The real window on the real EURUSD store: after ``ready`` the Results pictures, the Journal panel and the
Bar Replay and MT5 Live panels do not exist yet; each is built when shown (a tab shown, View > Bar Replay,
View > MT5 Live, View > Journal) with what it would have held had it been built at start: the series
listed before it existed, and its boxes guarded against the wheel like the window's others."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QComboBox

from ita_desktop.ui.main_window import MainWindow
from ita_desktop.ui.panels.result_charts import EquityChart
from tests.support.cores import new_core

WAIT_MS = 180_000
pytestmark = pytest.mark.realdata


def _guarded(box: QComboBox) -> bool:
    """Is the app's wheel guard on ``box``? (a guarded box no longer takes the focus from the wheel)."""
    from PySide6.QtCore import Qt

    return getattr(QApplication.instance(), "_ita_wheel_guard", None) is not None and \
        box.focusPolicy() != Qt.FocusPolicy.WheelFocus


def test_hidden_panels_are_built_when_first_shown_with_what_they_would_hold(qtbot, eurusd_store: Path) -> None:
    window = MainWindow(new_core(), symbol="EURUSD", timeframe="M5")
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    qtbot.waitUntil(lambda: window.core.store_if_open is not None and bool(window.series), timeout=WAIT_MS)
    wb, results = window.workbench, window.workbench.results
    assert wb._replay is None and wb._live is None and window.journal._panel is None
    assert not results._equity.built and not results._histogram.built and not results._heatmap.built
    assert not window.findChildren(EquityChart)

    wb.replay_action.trigger()  # View > Bar Replay: built now, with the series listed before it existed
    panel = wb.replay
    assert wb.replay_dock is not None and wb.replay_dock.widget() is panel
    assert panel.symbol_box.findText("EURUSD") >= 0 and panel.timeframe_box.count() > 0
    assert _guarded(panel.symbol_box)
    wb.live_action.trigger()  # View > MT5 Live
    assert wb.live_dock is not None and wb.live_dock.widget() is wb.live

    wb.results_dock.raise_()  # the Results tab, then its Equity tab: the picture is built when shown
    results.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: results._equity.built, timeout=5000)
    assert isinstance(results.equity, EquityChart) and results.equity.isVisible()

    window.journal.action.trigger()  # View > Journal
    assert window.journal.dock is not None and window.journal.dock.widget() is window.journal.panel
    assert window.journal.panel.tabs.indexOf(window.journal.reliability) >= 0


def test_a_result_shown_before_its_picture_exists_is_drawn_when_the_picture_is_built(qtbot, ita_home) -> None:
    """The run's equity and R distribution reach the pictures built afterwards (the panel keeps the last)."""
    import numpy as np

    from ita_desktop.ui.job_bridge import JobBridge
    from ita_desktop.ui.panels.results_panel import ResultsPanel
    from ita_desktop.ui.theme import get_theme

    core = new_core()
    panel = ResultsPanel(JobBridge(core.jobs), get_theme("dark"))
    qtbot.addWidget(panel)
    panel._draw("equity", "show_stats", None, 0.0)  # what show_outcomes(None) draws, before the picture exists
    panel._draw("histogram", "show_r", [1.0, -1.0, 2.0])
    assert not panel._equity.built and not panel._histogram.built
    assert panel.equity.is_empty()  # built on access, with the last call replayed
    assert int(np.sum(panel.histogram.counts)) == 3
    panel._draw("histogram", "show_r", [0.5])  # once built, drawn at once
    assert int(np.sum(panel.histogram.counts)) == 1
    core.close()
