"""The first-run dialog on an empty store: demo data, CSV import with a server time zone, and MT5
on a machine without the MetaTrader5 package."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from ita_desktop.config import load_settings
from ita_desktop.storage.store import Store
from ita_desktop.ui.first_run import mt5_available
from ita_desktop.ui.main_window import MainWindow

WAIT_MS = 60_000


@pytest.fixture
def window(qtbot, ita_home):
    window = MainWindow(load_settings())
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    yield window
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    window.close()


def test_first_run_appears_on_an_empty_store_and_demo_fills_it(qtbot, window):
    qtbot.waitUntil(lambda: window.first_run is not None and window.first_run.isVisible(), timeout=5000)
    dialog = window.first_run
    assert not dialog.isModal()
    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS) as loaded:
        qtbot.mouseClick(dialog.demo_button, Qt.MouseButton.LeftButton)
    assert loaded.args[0] == "EURUSD.demo"
    assert not dialog.isVisible()
    assert window.pages.currentWidget() is window.chart and window.chart.bars.demo
    with Store.open() as store:
        assert {s.symbol for s in store.bars.series()} == {"EURUSD.demo"}


def test_first_run_imports_a_csv_with_its_server_time_zone(qtbot, window, eurusd_csv):
    qtbot.waitUntil(lambda: window.first_run is not None, timeout=5000)
    dialog = window.first_run
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert dialog.pages.currentWidget() is dialog.import_page
    dialog.csv_path.setText(str(eurusd_csv))
    dialog.csv_symbol.setText("EURUSD")
    dialog.csv_tz.setText("Not a zone")
    dialog.start_import()
    assert "Server time zone" in dialog.status.text() and dialog.job_id is None
    dialog.csv_tz.setText("-03:30")
    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS) as loaded:
        dialog.start_import()
        assert dialog.cancel_button.isVisible() and dialog.progress.isVisible()
    assert loaded.args == ["EURUSD", "M1"] and window.chart.count == 49_993
    with Store.open() as store:
        (ingest,) = store.ingests.list("EURUSD")
    assert ingest.server_tz == "-03:30"


@pytest.mark.skipif(mt5_available(), reason="the MetaTrader5 package is installed here")
def test_connect_mt5_without_the_package_says_so(qtbot, window):
    qtbot.waitUntil(lambda: window.first_run is not None, timeout=5000)
    dialog = window.first_run
    qtbot.mouseClick(dialog.mt5_button, Qt.MouseButton.LeftButton)
    assert dialog.pages.currentWidget() is dialog.no_mt5
    assert "MetaTrader5 Python package is not installed" in dialog.no_mt5.text()
    assert dialog.demo_button.isEnabled() and dialog.import_button.isEnabled()
