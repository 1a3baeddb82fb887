"""The Add data dialog, driven as a trader would: the welcome on an empty store, demo data, CSV import
with a server time zone from the welcome and from File > Import CSV…, and MT5 on a machine without
the MetaTrader5 package."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from ita_desktop.config import load_settings
from ita_desktop.storage.store import Store
from ita_desktop.ui.add_data import AddDataDialog, mt5_available, symbol_guess
from ita_desktop.ui.main_window import MainWindow
from tests.support.real_bars import store_bars, xauusd_bars
from tests.support.cores import new_core

WAIT_MS = 60_000


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def opened(qtbot) -> MainWindow:
    window = MainWindow(new_core())
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    qtbot.waitUntil(lambda: window.store is not None, timeout=WAIT_MS)
    return window


@pytest.fixture
def window(qtbot, ita_home):
    window = opened(qtbot)
    yield window
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    window.close()


def welcome(qtbot, window: MainWindow) -> AddDataDialog:
    qtbot.waitUntil(lambda: window.add_data_dialog is not None and window.add_data_dialog.isVisible(), timeout=5000)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)  # start-up jobs (the rules list) done
    return window.add_data_dialog


def test_the_dialog_welcomes_on_an_empty_store_and_demo_fills_it(qtbot, window):
    dialog = welcome(qtbot, window)
    assert not dialog.isModal()
    assert dialog.windowTitle() == "Welcome to ITA Desktop" and "no market data yet" in dialog.title.text()
    assert dialog.pages.currentWidget() is dialog.choices and "labelled DEMO" in dialog.choices.text()
    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS) as loaded:
        click(qtbot, dialog.demo_button)
    assert loaded.args[0] == "EURUSD.demo"
    assert not dialog.isVisible()
    assert window.pages.currentWidget() is window.chart and window.chart.bars.demo
    with Store.open() as store:
        assert {s.symbol for s in store.bars.series()} == {"EURUSD.demo"}


def test_the_welcome_imports_a_csv_with_its_server_time_zone(qtbot, window, eurusd_csv):
    dialog = welcome(qtbot, window)
    click(qtbot, dialog.import_button)
    assert dialog.pages.currentWidget() is dialog.import_page
    qtbot.keyClicks(dialog.csv_path, str(eurusd_csv))
    assert dialog.csv_symbol.text() == "EURUSD"  # guessed from the file name
    qtbot.keyClicks(dialog.csv_tz, "Not a zone")
    click(qtbot, dialog.import_go)
    assert "Server time zone" in dialog.status.text() and not dialog.busy
    dialog.csv_tz.clear()
    qtbot.keyClicks(dialog.csv_tz, "-03:30")
    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS) as loaded:
        click(qtbot, dialog.import_go)
        assert dialog.cancel_button.isVisible() and dialog.progress.isVisible()
        assert not dialog.demo_button.isEnabled()  # one job at a time from the dialog
    assert loaded.args == ["EURUSD", "M1"] and window.chart.count == 49_993
    with Store.open() as store:
        (ingest,) = store.ingests.list("EURUSD")
    assert ingest.server_tz == "-03:30"


def test_a_file_too_short_to_tell_its_timeframe_imports_once_the_timeframe_is_given(qtbot, window, tmp_path):
    one_bar = tmp_path / "GBPUSD_H1.csv"
    one_bar.write_text("time,open,high,low,close\n2024.03.04 10:00,1.2650,1.2660,1.2640,1.2655\n", encoding="utf-8")
    dialog = welcome(qtbot, window)
    click(qtbot, dialog.import_button)
    qtbot.keyClicks(dialog.csv_path, str(one_bar))
    assert dialog.csv_timeframe.currentData() is None  # detect, by default
    with qtbot.waitSignal(dialog.failed, timeout=WAIT_MS):
        click(qtbot, dialog.import_go)
    assert "timeframe" in dialog.status.text()
    dialog.csv_timeframe.setCurrentIndex(dialog.csv_timeframe.findData("H1"))
    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS) as loaded:
        click(qtbot, dialog.import_go)
    assert loaded.args == ["GBPUSD", "H1"]


def test_file_import_csv_offers_the_server_time_zone_and_imports_with_it(qtbot, ita_home, xauusd_csv, eurusd_csv):
    store_bars(xauusd_bars(xauusd_csv))  # data already there: the menu, not the welcome, opens the dialog
    window = opened(qtbot)
    assert window.add_data_dialog is None
    window.import_action.trigger()  # File > Import CSV… (Ctrl+O)
    dialog = window.add_data_dialog
    assert dialog.isVisible() and dialog.pages.currentWidget() is dialog.import_page
    assert dialog.windowTitle() == "Add data" and "no market data" not in dialog.title.text()
    assert dialog.csv_tz.isVisible() and dialog.csv_tz.placeholderText() == f"default {load_settings().data.server_tz}"
    qtbot.keyClicks(dialog.csv_path, str(eurusd_csv))
    qtbot.keyClicks(dialog.csv_tz, "-03:30")
    with qtbot.waitSignal(window.imported, timeout=WAIT_MS) as imported, \
            qtbot.waitSignal(window.loaded, timeout=WAIT_MS) as loaded:
        click(qtbot, dialog.import_go)
    summary = imported.args[0]
    assert (summary.symbol, summary.timeframe.value, summary.rows_stored) == ("EURUSD", "M1", 49_993)
    assert loaded.args == ["EURUSD", "M1"] and not dialog.isVisible()
    assert window.symbol_box.currentData() == "EURUSD" and window.symbol_box.count() == 2
    with Store.open() as store:
        (ingest,) = store.ingests.list("EURUSD")
    assert ingest.server_tz == "-03:30"
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    window.close()


def test_browse_fills_the_file_and_the_symbol_follows_it_until_typed(qtbot, window, xauusd_csv, eurusd_csv):
    dialog = welcome(qtbot, window)
    click(qtbot, dialog.import_button)
    click(qtbot, dialog.browse_button)
    chooser = dialog.file_chooser
    assert chooser.isVisible() and not window.runner.busy  # a window-modal chooser, no nested event loop
    chooser.selectFile(str(xauusd_csv))
    chooser.accept()  # Open
    assert dialog.csv_path.text() == str(xauusd_csv) and dialog.csv_symbol.text() == "XAUUSD"
    dialog.csv_path.setText(str(eurusd_csv))
    assert dialog.csv_symbol.text() == "EURUSD"  # still the guess: it follows the file
    dialog.csv_symbol.setText("EURUSD.raw")
    dialog.csv_path.setText(str(xauusd_csv))
    assert dialog.csv_symbol.text() == "EURUSD.raw"  # typed by the trader: kept


def test_settings_saved_meanwhile_reach_the_dialog(qtbot, window):
    dialog = welcome(qtbot, window)
    settings = window.open_settings()
    settings.data_server_tz.setText("-03:30")
    settings.mt5_server.setText("Broker-Live")
    assert settings.save()
    assert dialog.csv_tz.placeholderText() == "default -03:30"  # what an import with the field empty uses
    assert "server Broker-Live" in dialog.mt5_where.text()


@pytest.mark.skipif(mt5_available(), reason="the MetaTrader5 package is installed here")
def test_connect_mt5_without_the_package_says_so(qtbot, window):
    dialog = welcome(qtbot, window)
    click(qtbot, dialog.mt5_button)
    assert dialog.pages.currentWidget() is dialog.no_mt5
    assert "MetaTrader5 Python package is not installed" in dialog.no_mt5.text()
    assert dialog.demo_button.isEnabled() and dialog.import_button.isEnabled()


def test_symbol_guess_from_file_name():
    assert symbol_guess(Path("/x/EURUSD_M1.csv")) == "EURUSD"
    assert symbol_guess("xauusd.csv") == "XAUUSD"
    assert symbol_guess("GBPUSD M5 export.csv") == "GBPUSD"


def test_the_welcome_has_no_large_empty_area(qtbot, window):
    """The dialog is as tall as the page shown: the choices' text ends near its bottom edge."""
    dialog = welcome(qtbot, window)
    assert dialog.pages.currentWidget() is dialog.choices
    text_bottom = dialog.choices.mapTo(dialog, dialog.choices.rect().topLeft()).y() + \
        dialog.choices.heightForWidth(dialog.choices.width())
    assert dialog.height() - text_bottom < 80, (dialog.height(), text_bottom)
    dialog.open_on("import")
    qtbot.waitUntil(lambda: dialog.pages.currentWidget() is dialog.import_page, timeout=5000)
    assert not dialog.import_go.visibleRegion().isEmpty()  # the taller page still fits
