"""The main window offscreen on a real store: empty state, stored series, switching, demo, import, layout.

Demo data and imports go through the Add data dialog, opened from the empty state's buttons as a trader would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from ita_desktop.config import load_settings
from ita_desktop.domain.resample import resample
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.storage.bar_reader import BarReader
from ita_desktop.storage.bar_store import BarStore
from ita_desktop.storage.store import Store
from ita_desktop.ui.add_data import AddDataDialog, mt5_available
from ita_desktop.ui.main_window import MainWindow
from ita_desktop.ui.settings_dialog import ERROR_STYLE
from tests.support.real_bars import eurusd_bars, store_bars, xauusd_bars
from tests.support.cores import new_core

WAIT_MS = 30_000


@pytest.fixture
def stored(ita_home, eurusd_csv, xauusd_csv):
    """EURUSD M1 and H1 (resampled) and XAUUSD M1 from the real files, in the test's store."""
    eurusd = eurusd_bars(eurusd_csv)
    store_bars(eurusd)
    store_bars(resample(eurusd, Timeframe.H1))
    store_bars(xauusd_bars(xauusd_csv))
    return ita_home


def open_window(qtbot, **kwargs) -> MainWindow:
    window = MainWindow(new_core(), **kwargs)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    return window


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def import_page(qtbot, window: MainWindow, path: Path) -> AddDataDialog:
    """The empty state's Import CSV… button, then the file typed in (the symbol is guessed from its name)."""
    click(qtbot, window.empty_state.import_button)
    dialog = window.add_data_dialog
    assert dialog.isVisible() and dialog.pages.currentWidget() is dialog.import_page
    qtbot.keyClicks(dialog.csv_path, str(path))
    return dialog


def close_window(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    window.close()


def test_empty_store_shows_the_empty_state(qtbot, ita_home):
    window = open_window(qtbot)
    assert window.pages.currentWidget() is window.empty_state
    empty = window.empty_state
    assert empty.demo_button.isEnabled() and empty.import_button.isEnabled() and empty.mt5_button.isEnabled()
    assert window.symbol_box.count() == 0
    assert window.source_label.text() == f"Store: {ita_home / 'ita.sqlite3'}"
    assert window.numba_label.text().startswith(("numba cache: ", "Preparing "))  # a cold cache: the preparation
    click(qtbot, empty.mt5_button)
    dialog = window.add_data_dialog
    assert dialog.isVisible() and dialog.pages.currentWidget() is (dialog.mt5_page if mt5_available() else dialog.no_mt5)
    close_window(qtbot, window)


def test_stored_bars_are_charted_and_switchable(qtbot, stored, xauusd_csv):
    window = open_window(qtbot)
    assert window.pages.currentWidget() is window.chart
    assert [window.symbol_box.itemData(i) for i in range(window.symbol_box.count())] == ["EURUSD", "XAUUSD"]
    assert window.chart.bars.symbol == "EURUSD" and window.chart.bars.timeframe is Timeframe.M1
    assert window.chart.count == 49_993 and window.chart.digits == 5
    # M1 and H1 are stored; every higher timeframe is offered, built from M1 when it is not stored
    assert [window.timeframe_box.itemText(i) for i in range(window.timeframe_box.count())] == [tf.value for tf in Timeframe]
    assert window.series_table.rowCount() == 3
    assert not window.demo_badge.isVisible()

    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS) as loaded:
        window.timeframe_box.setCurrentIndex(window.timeframe_box.findData("H1"))
    assert loaded.args == ["EURUSD", "H1"] and window.chart.bars.timeframe is Timeframe.H1

    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS) as loaded:
        window.symbol_box.setCurrentIndex(1)
    # the timeframe is kept across symbols: XAUUSD has only M1 stored, so its H1 is built from it
    assert loaded.args == ["XAUUSD", "H1"]
    h1 = len(resample(xauusd_bars(xauusd_csv), Timeframe.H1))
    assert window.chart.count == h1 and window.chart.digits == 2
    first, stop = window.chart.visible_range()
    assert stop == h1 and first < stop
    close_window(qtbot, window)


def test_the_first_chart_is_read_without_the_store_which_opens_once_the_window_is_ready(qtbot, stored):
    """Start-up: the chart comes from the plain-SQL reader; the writable store (ORM) opens after it."""
    window = MainWindow(new_core())
    qtbot.addWidget(window)
    store_when_drawn = []
    window.chart.drawn.connect(lambda: store_when_drawn.append(window.store))
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    assert store_when_drawn[0] is None
    assert type(window.reader) is BarReader or window.store is not None
    qtbot.waitUntil(lambda: window.store is not None, timeout=WAIT_MS)
    assert isinstance(window.reader, BarStore) and window.reader is window.store.bars
    assert all(action.isEnabled() for action in window.store_actions)
    assert window.workbench.backtest.store_open and window.core.store is window.store  # the panels got the store without a reload
    assert window.chart.bars.symbol == "EURUSD" and window.chart.count == 49_993
    close_window(qtbot, window)


def test_garbage_collection_waits_until_the_window_is_ready(qtbot, stored):
    """Start-up objects are frozen before collection resumes (full collections of them stalled the GUI)."""
    import gc

    assert gc.isenabled()
    window = MainWindow(new_core())
    qtbot.addWidget(window)
    assert not gc.isenabled()
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    assert gc.isenabled() and gc.get_freeze_count() > 0
    close_window(qtbot, window)
    early = MainWindow(new_core())
    qtbot.addWidget(early)
    early.close()  # closed before it was ready: collection is back on all the same
    assert gc.isenabled()


def test_import_and_demo_wait_for_the_store(qtbot, stored):
    window = MainWindow(new_core())
    qtbot.addWidget(window)
    assert [action.text() for action in window.store_actions] == ["Import CSV…", "Download from MT5…", "Try demo data"]
    assert not any(action.isEnabled() for action in window.store_actions)
    window.add_data("import")  # what the empty state's buttons call: nothing before the store is open
    assert window.add_data_dialog is None
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    qtbot.waitUntil(window.import_action.isEnabled, timeout=WAIT_MS)
    assert window.mt5_action.isEnabled() and window.demo_action.isEnabled()
    close_window(qtbot, window)


def test_requested_symbol_and_timeframe_open_first(qtbot, stored):
    window = open_window(qtbot, symbol="EURUSD", timeframe="H1", rule="asia_sweep")
    assert (window.chart.bars.symbol, window.chart.bars.timeframe) == ("EURUSD", Timeframe.H1)
    assert window.rule_label.text() == "Rule: asia_sweep"
    close_window(qtbot, window)


def test_try_demo_data_stores_and_labels_demo_bars(qtbot, ita_home):
    window = open_window(qtbot)
    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS) as loaded:
        click(qtbot, window.empty_state.demo_button)
        assert window.add_data_dialog.progress.isVisible()  # its progress and Cancel are in the dialog
    assert loaded.args == ["EURUSD.demo", "M1"]
    assert window.chart.bars.demo and window.chart.count > 10_000
    assert window.demo_badge.isVisible() and "DEMO" in window.windowTitle()
    assert "DEMO" in window.chart.readout_text()
    assert "(DEMO)" in window.symbol_box.currentText()
    with Store.open() as store:
        assert {(s.symbol, s.timeframe.value, s.is_demo) for s in store.bars.series()} == {
            ("EURUSD.demo", "M1", True), ("EURUSD.demo", "M15", True), ("EURUSD.demo", "H1", True)}
    close_window(qtbot, window)


def test_import_csv_then_chart_it(qtbot, ita_home, xauusd_csv):
    window = open_window(qtbot)
    dialog = import_page(qtbot, window, xauusd_csv)
    assert dialog.csv_symbol.text() == "XAUUSD"
    with qtbot.waitSignal(window.imported, timeout=WAIT_MS) as imported, \
            qtbot.waitSignal(window.loaded, timeout=WAIT_MS) as loaded:
        click(qtbot, dialog.import_go)
    assert imported.args[0].symbol == "XAUUSD" and imported.args[0].rows_stored == 4_676
    assert loaded.args == ["XAUUSD", "M1"]
    assert window.chart.count == 4_676 and not dialog.isVisible()
    notes = [window.activity_list.item(i).text() for i in range(window.activity_list.count())]
    assert any(f"Added 4,676 bars of XAUUSD M1 from {xauusd_csv}" in note for note in notes)
    close_window(qtbot, window)


def test_bad_csv_shows_file_and_row_and_stores_nothing(qtbot, ita_home, tmp_path):
    bad = tmp_path / "BROKEN_M1.csv"
    bad.write_text("time,open,high,low,close\nnot a time,1.1,1.2,1.0,1.15\n", encoding="utf-8")
    window = open_window(qtbot)
    dialog = import_page(qtbot, window, bad)
    with qtbot.waitSignal(window.job_failed, timeout=WAIT_MS) as failed:
        click(qtbot, dialog.import_go)
    message = failed.args[0]
    assert message.startswith(f"{bad}:2:1: ") and "not a time" in message  # file:row:column
    assert dialog.isVisible() and dialog.status.text() == message and dialog.status.styleSheet() == ERROR_STYLE
    assert not dialog.progress.isVisible() and dialog.import_go.isEnabled()  # fix the file, import again
    assert window.pages.currentWidget() is window.empty_state
    with Store.open() as store:
        assert store.bars.series() == []
    close_window(qtbot, window)


def test_import_can_be_cancelled_and_stores_nothing(qtbot, ita_home, eurusd_csv):
    window = open_window(qtbot)
    dialog = import_page(qtbot, window, eurusd_csv)
    with qtbot.waitSignal(window.job_failed, timeout=WAIT_MS) as failed:
        click(qtbot, dialog.import_go)
        click(qtbot, dialog.cancel_button)
    assert "cancelled" in failed.args[0] and dialog.status.text() == failed.args[0]
    with Store.open() as store:
        assert store.bars.series() == []
    close_window(qtbot, window)


def test_file_menu_adds_data_through_the_same_dialog(qtbot, stored):
    window = open_window(qtbot)
    qtbot.waitUntil(window.demo_action.isEnabled, timeout=WAIT_MS)
    file_menu = window.menuBar().actions()[0].menu()
    assert file_menu.actions()[:3] == list(window.store_actions)
    assert window.import_action.shortcut().toString() == "Ctrl+O"
    window.mt5_action.trigger()  # File > Download from MT5…
    dialog = window.add_data_dialog
    assert dialog.isVisible() and dialog.windowTitle() == "Add data"  # data is stored: no welcome
    assert dialog.pages.currentWidget() is (dialog.mt5_page if mt5_available() else dialog.no_mt5)
    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS) as loaded:
        window.demo_action.trigger()  # File > Try demo data: runs in the dialog
        assert dialog.busy and dialog.progress.isVisible() and dialog.cancel_button.isVisible()
        window.import_action.trigger()  # while a job runs, the dialog only comes forward
        assert dialog.busy and dialog.pages.currentWidget() is not dialog.import_page
    assert loaded.args == ["EURUSD.demo", "M1"] and window.demo_badge.isVisible() and not dialog.isVisible()
    assert [window.symbol_box.itemData(i) for i in range(window.symbol_box.count())] == ["EURUSD", "EURUSD.demo", "XAUUSD"]
    close_window(qtbot, window)


def test_layout_persists_between_sessions(qtbot, ita_home):
    window = open_window(qtbot)
    window.resize(700, 520)  # inside the offscreen screen (800x800): restoreGeometry clamps to it
    window.activity_dock.hide()
    close_window(qtbot, window)
    assert (ita_home / "config" / "window.ini").is_file()

    again = open_window(qtbot)
    assert (again.width(), again.height()) == (700, 520)
    assert not again.activity_dock.isVisible() and again.series_dock.isVisible()
    close_window(qtbot, again)


def test_last_series_is_reopened(qtbot, stored):
    window = open_window(qtbot)
    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS):
        window.select("XAUUSD", "M1")
    close_window(qtbot, window)
    again = open_window(qtbot)
    assert again.chart.bars.symbol == "XAUUSD"
    close_window(qtbot, again)


def test_sessions_toggle_and_theme_switch(qtbot, stored):
    window = open_window(qtbot)
    window.sessions_action.setChecked(False)
    assert not window.chart.layer("sessions").isVisible()
    window.dark_action.setChecked(False)
    assert window.chart.theme.name == "light"
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    assert load_settings().ui.theme == "light"
    close_window(qtbot, window)


def test_higher_timeframes_are_offered_and_built_from_stored_m1(qtbot, ita_home, xauusd_csv):
    from ita_desktop.workflows.bar_ingest import import_file
    from ita_desktop.domain.resample import resample

    with Store.open() as store:
        import_file(store, xauusd_csv, symbol="XAUUSD")
        m1 = store.bars.load("XAUUSD", Timeframe.M1)
    window = MainWindow(new_core(), symbol="XAUUSD", timeframe="M15")
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.loaded, timeout=30_000):
        window.show()
    offered = [window.timeframe_box.itemData(i) for i in range(window.timeframe_box.count())]
    assert offered == [tf.value for tf in Timeframe]
    assert window.timeframe_box.currentData() == "M15"
    assert len(window.chart.bars) == len(resample(m1, Timeframe.M15))
