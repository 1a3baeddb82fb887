"""The first-run dialog: when the store is empty, three ways to get bars in.

Import CSV… (file, symbol, optional server time zone), Connect MT5 (download a symbol,
timeframe and range with the MT5 settings; on a machine without the MetaTrader5 package,
which is every non-Windows one, it says so instead of failing), or Try demo data. Each runs
as a job through the window's JobBridge with progress and Cancel in the dialog itself; the
dialog is not modal, so the window behind stays usable.
"""

from __future__ import annotations

import importlib.util
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QDateEdit, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QProgressBar,
    QPushButton, QStackedWidget, QVBoxLayout, QWidget,
)

from ita_desktop.config import Settings
from ita_desktop.domain.clock import ServerClock
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.engine.jobs import JobAlreadyRunning, JobContext

if TYPE_CHECKING:  # shown only over an open store; the window loads the ORM after its first chart
    from ita_desktop.storage.bar_store import IngestSummary
    from ita_desktop.storage.store import Store

MT5_PACKAGE = "MetaTrader5"


def mt5_available() -> bool:
    """True when the MetaTrader5 package can be imported (Windows with the package installed)."""
    return importlib.util.find_spec(MT5_PACKAGE) is not None


def symbol_guess(path: str | Path) -> str:
    """``EURUSD_M1.csv`` -> ``EURUSD``."""
    return Path(path).stem.split("_")[0].split(" ")[0].upper()


class FirstRunDialog(QDialog):
    """``data_added(symbol, timeframe)`` fires once bars are stored; the dialog then closes."""

    data_added = Signal(str, str)

    def __init__(self, store: Store, runner, settings: Settings, parent: QWidget | None = None,
                 mt5_check: Callable[[], bool] = mt5_available) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunDialog")
        self.setWindowTitle("Welcome to ITA Desktop")
        self.setModal(False)
        self.store, self.runner, self.settings = store, runner, settings
        self.mt5_check = mt5_check
        self.job_id: int | None = None

        title = QLabel("<h2>No market data yet</h2>Choose how to bring bars in. Demo data is labelled DEMO "
                       "everywhere, so it is never mistaken for a feed.")
        title.setWordWrap(True)
        self.import_button = QPushButton("Import CSV…")
        self.mt5_button = QPushButton("Connect MT5")
        self.demo_button = QPushButton("Try demo data")
        for button in (self.import_button, self.mt5_button, self.demo_button):
            button.setMinimumHeight(44)
        self.import_button.clicked.connect(lambda: self.pages.setCurrentWidget(self.import_page))
        self.mt5_button.clicked.connect(self.show_mt5)
        self.demo_button.clicked.connect(self.start_demo)
        choices = QHBoxLayout()
        for button in (self.import_button, self.mt5_button, self.demo_button):
            choices.addWidget(button)

        self.pages = QStackedWidget()
        self.blank = QWidget()
        self.import_page = self._import_page()
        self.mt5_page = self._mt5_page()
        self.no_mt5 = QLabel()
        self.no_mt5.setObjectName("noMt5")
        self.no_mt5.setWordWrap(True)
        for page in (self.blank, self.import_page, self.mt5_page, self.no_mt5):
            self.pages.addWidget(page)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setObjectName("firstRunStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress, 1)
        bottom.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(choices)
        layout.addWidget(self.pages)
        layout.addLayout(bottom)
        layout.addWidget(self.status)
        self.resize(560, 360)

    # -- pages ----------------------------------------------------------------------------
    def _import_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.csv_path = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_csv)
        row = QHBoxLayout()
        row.addWidget(self.csv_path, 1)
        row.addWidget(browse)
        self.csv_symbol = QLineEdit()
        self.csv_tz = QLineEdit()
        self.csv_tz.setPlaceholderText(f"default {self.settings.data.server_tz}")
        self.import_go = QPushButton("Import")
        self.import_go.clicked.connect(self.start_import)
        form.addRow("File", row)
        form.addRow("Symbol", self.csv_symbol)
        form.addRow("Server time zone", self.csv_tz)
        form.addRow("", self.import_go)
        return page

    def _mt5_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.mt5_symbol = QLineEdit("EURUSD")
        self.mt5_timeframe = QComboBox()
        for tf in Timeframe:
            self.mt5_timeframe.addItem(tf.value, tf.value)
        self.mt5_from, self.mt5_to = QDateEdit(), QDateEdit()
        today = QDate.currentDate()
        self.mt5_from.setDate(today.addDays(-30))
        self.mt5_to.setDate(today)
        for edit in (self.mt5_from, self.mt5_to):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        m = self.settings.mt5
        where = QLabel(f"Terminal: {m.terminal_path or 'the running terminal'}; login {m.login or 'as logged in'}; "
                       f"server {m.server or '—'} (File > Settings… to change)")
        where.setWordWrap(True)
        self.mt5_go = QPushButton("Download")
        self.mt5_go.clicked.connect(self.start_mt5)
        form.addRow(where)
        form.addRow("Symbol", self.mt5_symbol)
        form.addRow("Timeframe", self.mt5_timeframe)
        form.addRow("From (UTC)", self.mt5_from)
        form.addRow("To (UTC)", self.mt5_to)
        form.addRow("", self.mt5_go)
        return page

    def _browse_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import bars from CSV", "", "CSV files (*.csv *.txt);;All files (*)")
        if path:
            self.csv_path.setText(path)
            if not self.csv_symbol.text():
                self.csv_symbol.setText(symbol_guess(path))

    def show_mt5(self) -> None:
        if self.mt5_check():
            self.pages.setCurrentWidget(self.mt5_page)
            return
        self.no_mt5.setText(
            "The MetaTrader5 Python package is not installed, so the app cannot talk to an MT5 terminal "
            "here. It exists for Windows only: on the Windows machine that runs MetaTrader 5, install it "
            "with  pip install MetaTrader5  and restart. Meanwhile import a CSV exported from MT5, or try "
            "the demo data.")
        self.pages.setCurrentWidget(self.no_mt5)

    # -- jobs -----------------------------------------------------------------------------
    def start_demo(self) -> None:
        from ita_desktop.engine.ingest import store_demo

        store = self.store
        self._run("Demo data", lambda ctx: store_demo(store, progress=ctx.progress), key="demo-data")

    def start_import(self) -> None:
        from ita_desktop.engine.ingest import import_file

        path, symbol, tz = self.csv_path.text().strip(), self.csv_symbol.text().strip(), self.csv_tz.text().strip()
        if not path or not Path(path).is_file():
            self.status.setText(f"Choose a CSV file to import{f' ({path} does not exist)' if path else ''}.")
            return
        if not symbol:
            self.status.setText("Enter the symbol the bars are for, e.g. EURUSD.")
            return
        if tz:
            try:
                ServerClock.parse(tz)
            except Exception as exc:
                self.status.setText(f"Server time zone: {exc}")
                return
        store = self.store
        self._run(f"Import {Path(path).name}",
                  lambda ctx: import_file(store, path, symbol=symbol, server_tz=tz or None, progress=ctx.progress),
                  key=f"import:{symbol}")

    def start_mt5(self) -> None:
        from ita_desktop.engine.ingest import download_mt5

        symbol = self.mt5_symbol.text().strip()
        timeframe = Timeframe(self.mt5_timeframe.currentData())
        start = _utc_seconds(self.mt5_from.date())
        end = _utc_seconds(self.mt5_to.date()) + 86_400
        if not symbol or end <= start:
            self.status.setText("Enter a symbol and a range whose end is after its start.")
            return
        store, settings = self.store, self.settings.mt5

        def job(ctx: JobContext) -> IngestSummary:
            return download_mt5(store, symbol, timeframe, start, end, settings=settings,
                                progress=lambda done, total: ctx.progress(done / max(total, 1), "downloading"),
                                cancel=lambda: ctx.cancelled)

        self._run(f"Download {symbol} {timeframe.value}", job, key=f"import:{symbol}")

    def _run(self, name: str, fn: Callable[[JobContext], Any], key: str) -> None:
        try:
            self.job_id = self.runner.start(name, fn, self._on_done, self._on_failed, self._on_progress, key=key)
        except JobAlreadyRunning as exc:
            self.status.setText(str(exc))
            return
        self._set_busy(True, f"{name}…")

    def cancel(self) -> None:
        if self.job_id is not None:
            self.runner.cancel(self.job_id)
            self.status.setText("Cancelling…")

    def _on_progress(self, fraction: float, stage: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        if stage:
            self.status.setText(f"{stage}…")

    def _on_done(self, result: IngestSummary | list[IngestSummary]) -> None:
        summaries = result if isinstance(result, list) else [result]
        first = summaries[0]
        self._set_busy(False, "Stored " + ", ".join(f"{s.symbol} {s.timeframe.value}: {s.rows_stored:,} bars"
                                                    for s in summaries))
        self.data_added.emit(first.symbol, first.timeframe.value)
        self.accept()

    def _on_failed(self, message: str) -> None:
        self._set_busy(False, message)

    def _set_busy(self, busy: bool, message: str) -> None:
        if not busy:
            self.job_id = None
        for button in (self.import_button, self.mt5_button, self.demo_button, self.import_go, self.mt5_go):
            button.setEnabled(not busy)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setValue(0)
        self.status.setText(message)


def _utc_seconds(date: QDate) -> int:
    return int(datetime(date.year(), date.month(), date.day(), tzinfo=timezone.utc).timestamp())


__all__ = ["FirstRunDialog", "mt5_available", "symbol_guess"]
