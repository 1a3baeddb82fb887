"""The Add data dialog: the window's one way to get bars in, from the empty state and the File menu.

Import CSV… (file, symbol, optional server time zone), Connect MT5 (download a symbol,
timeframe and range with the MT5 settings; on a machine without the MetaTrader5 package,
which is every non-Windows one, it says so instead of failing), or Try demo data. Each runs
as a job through the window's JobBridge with progress and Cancel in the dialog itself; the
dialog is not modal, so the window behind stays usable. Over an empty store it welcomes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QDateEdit, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QProgressBar,
    QPushButton, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget,
)

from ita_desktop.config import Settings
from ita_desktop.domain.clock import ServerClock
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.core.job_engine import JobAlreadyRunning, JobContext
from ita_desktop.ui.dates import utc_day_range
from ita_desktop.ui.settings_dialog import ERROR_STYLE
from ita_desktop.ui.wheel_guard import guard_wheel

if TYPE_CHECKING:  # shown only over an open store; the window loads the ORM after its first chart
    from ita_desktop.core.app_core import Core
    from ita_desktop.storage.bar_store import IngestSummary

MT5_PACKAGE = "MetaTrader5"
CSV_FILTER = "CSV files (*.csv *.txt);;All files (*)"

Page = Literal["choose", "import", "mt5", "demo"]  # "demo" is no page: it starts demo data at once

WELCOME = ("Welcome to ITA Desktop", "<h2>Welcome to ITA Desktop</h2>There is no market data yet: choose how to bring bars in.")
MORE = ("Add data", "<h3>Add data</h3>Bring in more bars; the chart then shows what was added.")
CHOICES = (
    "<p><b>Import CSV…</b> reads a bar file exported from MetaTrader 5, or any OHLC CSV, with the broker's "
    "server time zone its times are in.</p>"
    "<p><b>Connect MT5</b> downloads a symbol, timeframe and range from a MetaTrader 5 terminal "
    "(on Windows, with the MetaTrader5 package).</p>"
    "<p><b>Try demo data</b> stores 30 days of made-up EURUSD bars (M1, M15, H1). Demo data is labelled "
    "DEMO everywhere, so it is never mistaken for a feed.</p>"
)


def mt5_available() -> bool:
    """True when the MetaTrader5 package can be imported (Windows with the package installed)."""
    return importlib.util.find_spec(MT5_PACKAGE) is not None


def symbol_guess(path: str | Path) -> str:
    """``EURUSD_M1.csv`` -> ``EURUSD``."""
    return Path(path).stem.split("_")[0].split(" ")[0].upper()


class AddDataDialog(QDialog):
    """Runs one job at a time; ``added`` carries what it stored, ``failed`` why it stored nothing.

    ``added(list[IngestSummary])`` fires once bars are stored (the dialog then closes);
    ``failed(message)`` with the importer's or the terminal's message (or "...: cancelled"),
    which the dialog shows too.
    """

    added = Signal(object)
    failed = Signal(str)

    def __init__(self, core: Core, runner, parent: QWidget | None = None,
                 mt5_check: Callable[[], bool] = mt5_available) -> None:
        super().__init__(parent)
        self.setObjectName("addDataDialog")
        self.setModal(False)
        self.core, self.runner, self.settings = core, runner, core.settings
        self.mt5_check = mt5_check
        self.job_id: int | None = None
        self.file_chooser: QFileDialog | None = None
        self._guessed = ""  # the symbol last guessed from the file name, replaced while the trader keeps it

        self.title = QLabel()
        self.title.setWordWrap(True)
        self.import_button = QPushButton("Import CSV…")
        self.mt5_button = QPushButton("Connect MT5")
        self.demo_button = QPushButton("Try demo data")
        for button in (self.import_button, self.mt5_button, self.demo_button):
            button.setMinimumHeight(44)
            button.setAutoDefault(False)  # Enter belongs to the page's Import or Download, never to a choice
        self.import_button.clicked.connect(lambda: self.open_on("import"))
        self.mt5_button.clicked.connect(lambda: self.open_on("mt5"))
        self.demo_button.clicked.connect(self.start_demo)
        choices = QHBoxLayout()
        for button in (self.import_button, self.mt5_button, self.demo_button):
            choices.addWidget(button)

        self.pages = QStackedWidget()
        self.choices = QLabel(CHOICES)
        self.choices.setObjectName("addDataChoices")
        self.choices.setWordWrap(True)
        self.choices.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.import_page = self._import_page()
        self.mt5_page = self._mt5_page()
        self.no_mt5 = QLabel()
        self.no_mt5.setObjectName("noMt5")
        self.no_mt5.setWordWrap(True)
        self.no_mt5.setAlignment(Qt.AlignmentFlag.AlignTop)
        for page in (self.choices, self.import_page, self.mt5_page, self.no_mt5):
            self.pages.addWidget(page)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setObjectName("addDataStatus")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # messages quote file contents
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress, 1)
        bottom.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(choices)
        layout.addWidget(self.pages)
        layout.addLayout(bottom)
        layout.addWidget(self.status)
        self.pages.currentChanged.connect(lambda _i: self._fit_to_page())
        self.set_welcome(False)
        self._fit_to_page()
        guard_wheel(self)

    def _fit_to_page(self) -> None:
        """The dialog as tall as the page shown (a stack is as tall as its tallest page: the welcome
        choices sat over a large empty area), 640 px wide: wider than the empty state it covers."""
        current = self.pages.currentWidget()
        for i in range(self.pages.count()):
            page = self.pages.widget(i)
            policy = QSizePolicy.Policy.Preferred if page is current else QSizePolicy.Policy.Ignored
            page.setSizePolicy(policy, policy)
        self.pages.adjustSize()
        self.layout().activate()
        width = max(640, self.width())
        self.resize(width, self.layout().heightForWidth(width) if self.layout().hasHeightForWidth()
                    else self.sizeHint().height())

    @property
    def busy(self) -> bool:
        return self.job_id is not None

    def set_welcome(self, welcome: bool) -> None:
        """Welcome the trader over an empty store; otherwise the plain "Add data" wording."""
        title, text = WELCOME if welcome else MORE
        self.setWindowTitle(title)
        self.title.setText(text)

    def set_settings(self, settings: Settings) -> None:
        """Settings saved while the dialog exists: the next import or download uses them."""
        self.settings = settings
        self.csv_tz.setPlaceholderText(f"default {settings.data.server_tz}")
        self.mt5_where.setText(self._mt5_where())

    def open_on(self, page: Page) -> None:
        """Show the dialog on ``page``; while a job runs it only comes forward, showing that job."""
        if not self.busy:
            self._say("")
            if page == "import":
                self._show_page(self.import_page, self.import_go)
                self.csv_path.setFocus()
            elif page == "mt5":
                self._show_mt5()
            elif page == "demo":
                self.start_demo()
            else:
                self._show_page(self.choices, None)
        self.show()
        self.raise_()
        self.activateWindow()

    # -- pages ----------------------------------------------------------------------------
    def _import_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.csv_path = QLineEdit()
        self.csv_path.setPlaceholderText("a bar CSV, e.g. an MT5 export")
        self.csv_path.textChanged.connect(self._guess_symbol)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setAutoDefault(False)
        self.browse_button.clicked.connect(self._browse_csv)
        row = QHBoxLayout()
        row.addWidget(self.csv_path, 1)
        row.addWidget(self.browse_button)
        self.csv_symbol = QLineEdit()
        self.csv_tz = QLineEdit()
        self.csv_tz.setPlaceholderText(f"default {self.settings.data.server_tz}")
        self.csv_tz.setToolTip("The broker's server clock the file's times are in, e.g. -03:30, +02:00 or Europe/Athens")
        self.csv_timeframe = QComboBox()
        self.csv_timeframe.addItem("Detect from the bar spacing", None)
        for tf in Timeframe:
            self.csv_timeframe.addItem(tf.value, tf.value)
        self.csv_timeframe.setToolTip("Say it when the file has too few bars to tell (or gaps that mislead)")
        self.import_go = QPushButton("Import")
        self.import_go.clicked.connect(self.start_import)
        form.addRow("File", row)
        form.addRow("Symbol", self.csv_symbol)
        form.addRow("Server time zone", self.csv_tz)
        form.addRow("Timeframe", self.csv_timeframe)
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
        self.mt5_where = QLabel(self._mt5_where())
        self.mt5_where.setWordWrap(True)
        self.mt5_go = QPushButton("Download")
        self.mt5_go.clicked.connect(self.start_mt5)
        form.addRow(self.mt5_where)
        form.addRow("Symbol", self.mt5_symbol)
        form.addRow("Timeframe", self.mt5_timeframe)
        form.addRow("From (UTC)", self.mt5_from)
        form.addRow("To (UTC)", self.mt5_to)
        form.addRow("", self.mt5_go)
        return page

    def _mt5_where(self) -> str:
        m = self.settings.mt5
        return (f"Terminal: {m.terminal_path or 'the running terminal'}; login {m.login or 'as logged in'}; "
                f"server {m.server or '—'} (File > Settings… to change)")

    def _show_page(self, page: QWidget, go: QPushButton | None) -> None:
        """``go`` becomes the button Enter presses, so Enter in a field starts that page's job."""
        self.pages.setCurrentWidget(page)
        for button in (self.import_go, self.mt5_go):
            button.setDefault(button is go)

    def _show_mt5(self) -> None:
        if self.mt5_check():
            self._show_page(self.mt5_page, self.mt5_go)
            return
        self.no_mt5.setText(
            "The MetaTrader5 Python package is not installed, so the app cannot talk to an MT5 terminal "
            "here. It exists for Windows only: on the Windows machine that runs MetaTrader 5, install it "
            "with  pip install MetaTrader5  and restart. Meanwhile import a CSV exported from MT5, or try "
            "the demo data.")
        self._show_page(self.no_mt5, None)

    def _browse_csv(self) -> None:
        if self.file_chooser is None:
            self.file_chooser = QFileDialog(self, "Import bars from CSV", "", CSV_FILTER)
            self.file_chooser.setFileMode(QFileDialog.FileMode.ExistingFile)
            self.file_chooser.fileSelected.connect(self.csv_path.setText)
        self.file_chooser.open()  # not exec(): no nested event loop while the trader browses

    def _guess_symbol(self, path: str) -> None:
        """The symbol follows the file name (``EURUSD_M1.csv`` -> EURUSD) until the trader types their own."""
        guess = symbol_guess(path.strip()) if path.strip() else ""
        if self.csv_symbol.text() in ("", self._guessed):
            self.csv_symbol.setText(guess)
        self._guessed = guess

    # -- jobs -----------------------------------------------------------------------------
    def start_demo(self) -> None:
        ingest = self.core.ingest
        self._run("Demo data", lambda ctx: ingest.store_demo(progress=ctx.progress), key="demo-data")

    def start_import(self) -> None:
        path, symbol, tz = self.csv_path.text().strip(), self.csv_symbol.text().strip(), self.csv_tz.text().strip()
        if not path or not Path(path).is_file():
            self._say(f"Choose a CSV file to import{f' ({path} does not exist)' if path else ''}.", error=True)
            return
        if not symbol:
            self._say("Enter the symbol the bars are for, e.g. EURUSD.", error=True)
            return
        if tz:
            try:
                ServerClock.parse(tz)
            except Exception as exc:
                self._say(f"Server time zone: {exc}", error=True)
                return
        ingest = self.core.ingest
        chosen = self.csv_timeframe.currentData()
        timeframe = Timeframe(chosen) if chosen else None
        self._run(f"Import {Path(path).name}",
                  lambda ctx: ingest.import_file(path, symbol=symbol, timeframe=timeframe, server_tz=tz or None,
                                                 progress=ctx.progress),
                  key=f"import:{symbol}")

    def start_mt5(self) -> None:
        symbol = self.mt5_symbol.text().strip()
        timeframe = Timeframe(self.mt5_timeframe.currentData())
        start, end = utc_day_range(self.mt5_from.date(), self.mt5_to.date())
        if not symbol or end <= start:
            self._say("Enter a symbol and a range whose end is after its start.", error=True)
            return
        ingest = self.core.ingest

        def job(ctx: JobContext) -> IngestSummary:
            return ingest.download_mt5(symbol, timeframe, start, end,
                                       progress=lambda done, total: ctx.progress(done / max(total, 1), "downloading"),
                                       cancel=lambda: ctx.cancelled)

        self._run(f"Download {symbol} {timeframe.value}", job, key=f"import:{symbol}")

    def _run(self, name: str, fn: Callable[[JobContext], Any], key: str) -> None:
        try:
            self.job_id = self.runner.start(name, fn, self._on_done, self._on_failed, self._on_progress, key=key)
        except JobAlreadyRunning as exc:
            self._say(str(exc), error=True)
            return
        self._set_busy(True, f"{name}…")

    def cancel(self) -> None:
        if self.job_id is not None:
            self.runner.cancel(self.job_id)
            self._say("Cancelling…")

    def _on_progress(self, fraction: float, stage: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        if stage:
            self._say(f"{stage}…")

    def _on_done(self, result: IngestSummary | list[IngestSummary]) -> None:
        summaries = result if isinstance(result, list) else [result]
        self._set_busy(False, "Stored " + ", ".join(f"{s.symbol} {s.timeframe.value}: {s.rows_stored:,} bars"
                                                    for s in summaries))
        self.added.emit(summaries)
        self.accept()

    def _on_failed(self, message: str) -> None:
        """Shown here even if the trader closed the dialog while the job ran: nothing was stored, and why."""
        self._set_busy(False, message, error=True)
        self.show()
        self.failed.emit(message)

    def _say(self, message: str, error: bool = False) -> None:
        self.status.setStyleSheet(ERROR_STYLE if error else "")
        self.status.setText(message)

    def _set_busy(self, busy: bool, message: str, error: bool = False) -> None:
        if not busy:
            self.job_id = None
        for button in (self.import_button, self.mt5_button, self.demo_button, self.import_go, self.mt5_go):
            button.setEnabled(not busy)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setValue(0)
        self._say(message, error)


__all__ = ["AddDataDialog", "Page", "mt5_available", "symbol_guess"]
