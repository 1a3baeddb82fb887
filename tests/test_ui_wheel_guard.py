"""The wheel changes a spin box or combo box only when it has the focus; otherwise the panel scrolls
(issue 18: Deposit 10000 -> 9997 and Intrabar worst -> best while scrolling the Backtest panel)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QScrollArea

from ita_desktop.core.job_engine import JobEngine
from ita_desktop.ui.job_bridge import JobBridge
from ita_desktop.ui.panels.backtest_panel import BacktestPanel


def _wheel(widget, steps: int = -1) -> None:
    """A real wheel notch over ``widget``'s centre, delivered as the window system would."""
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_an_unfocused_spin_or_combo_box_ignores_the_wheel_and_the_panel_scrolls(qtbot, ita_home):
    from tests.support.cores import new_core

    runner = JobBridge(JobEngine(2))
    panel = BacktestPanel(runner, new_core().backtests)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(panel)
    qtbot.addWidget(scroll)
    scroll.resize(900, 160)  # much shorter than the panel: it scrolls
    scroll.show()
    qtbot.waitExposed(scroll)
    try:
        bar = scroll.verticalScrollBar()
        assert bar.maximum() > 0
        deposit, intrabar = panel.initial_equity, panel.intrabar_box
        assert deposit.value() == 10_000 and intrabar.currentData() == "worst"
        before = bar.value()
        _wheel(deposit)  # what the spin box receives when the pointer is over it
        _wheel(intrabar)
        assert deposit.value() == 10_000 and intrabar.currentData() == "worst"
        assert bar.value() > before, "the wheel should have scrolled the panel instead"
        deposit.setFocus()
        qtbot.waitUntil(deposit.hasFocus)
        _wheel(deposit, steps=1)
        assert deposit.value() != 10_000  # a focused box still takes the wheel
    finally:
        runner.shutdown(5000)


def test_every_box_of_the_window_and_its_dialogs_is_guarded(qtbot, ita_home):
    from PySide6.QtWidgets import QAbstractSpinBox, QComboBox

    from ita_desktop.ui.main_window import MainWindow
    from ita_desktop.ui.settings_dialog import SettingsDialog
    from tests.support.cores import new_core

    window = MainWindow(new_core())
    qtbot.addWidget(window)
    dialog = SettingsDialog(window.settings, window)
    qtbot.addWidget(dialog)
    guard = getattr(QApplication.instance(), "_ita_wheel_guard")
    for root in (window, dialog):
        boxes = root.findChildren(QAbstractSpinBox) + root.findChildren(QComboBox)
        assert len(boxes) >= 3
        for box in boxes:
            assert box.focusPolicy() == Qt.FocusPolicy.StrongFocus, box.objectName()
    before = dialog.fvg_min_atr.value()
    _wheel(dialog.fvg_min_atr, steps=3)
    assert dialog.fvg_min_atr.value() == before and guard is not None
    panel = window.workbench.backtest
    panel.add_grid_row("stop.buffer.pips", "1, 2")  # a row added later is guarded too
    combo = panel.grid_table.cellWidget(panel.grid_table.rowCount() - 1, 0)
    index = combo.currentIndex()
    _wheel(combo)
    assert combo.currentIndex() == index
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=60_000)
    window.close()


def test_no_display_is_said_in_words_not_a_qt_abort():
    import subprocess
    import sys

    from ita_desktop.app import NO_DISPLAY, display_missing

    assert display_missing({}, "linux") is False  # a QApplication already exists in this process
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY",
                                                                          "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "-m", "ita_desktop.app"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "no display found" in done.stderr and "xvfb-run" in done.stderr and "QT_QPA_PLATFORM=offscreen" in done.stderr
    assert NO_DISPLAY in done.stderr
    env["QT_QPA_PLATFORM"] = "offscreen"
    code = "import ita_desktop.app as a; print(a.display_missing())"
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120).stdout.strip() == "False"
