"""The main window: a face over the core (symbol/timeframe switcher, the chart, docks, status bar, empty state).

``MainWindow(core)``: the store, the job engine, the bus and the use cases are the core's.
Everything that touches the store runs as a job on the core's job engine (through the Qt bridge
in ``ui/job_bridge.py``); bus events arrive through ``ui/bus_bridge.py`` on the GUI thread. The window
only starts jobs and applies their results, and closes the core when it closes. Layout
(geometry, docks) persists in an INI file in the user config folder, so ITA_HOME moves it with everything else.
"""

from __future__ import annotations

import gc
import json
import logging
from datetime import datetime, timezone
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView, QApplication, QComboBox, QDockWidget, QFileDialog, QLabel, QListWidget, QMainWindow,
    QStackedWidget, QTableWidget, QTableWidgetItem, QToolBar, QWidget,
)

from ita_desktop.bus.events import KernelsProgressed, KernelsReady
from ita_desktop.config import Settings, save_user_settings
from ita_desktop.domain.display_clock import DisplayClock
from ita_desktop.domain.errors import ItaError
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.ui.add_data import AddDataDialog, Page
from ita_desktop.ui.bus_bridge import QtBusBridge
from ita_desktop.ui.chart import CandleChart
from ita_desktop.ui.chart.chart_data import ChartData, prepare_chart_data
from ita_desktop.ui.chart.overlays import OverlayData, OverlaySet, overlay_data, overlay_options, series_key
from ita_desktop.ui.early_layers import EarlyLayers
from ita_desktop.ui.empty_state import EmptyState
from ita_desktop.ui.job_bridge import JobBridge
from ita_desktop.ui.legend import LegendPanel
from ita_desktop.ui.panels.journal_desk import JournalDesk
from ita_desktop.ui.panels.review_panel import ReviewDesk
from ita_desktop.ui.panels.rule_editor_dock import RuleEditorDock
from ita_desktop.ui.panels.workbench import Workbench
from ita_desktop.ui.settings_dialog import SettingsDialog
from ita_desktop.ui.theme import Theme, apply_theme, get_theme
from ita_desktop.ui.wheel_guard import guard_wheel

if TYPE_CHECKING:  # the ORM-backed store loads after the first chart is drawn (Core.open_store)
    from ita_desktop.core.app_core import Core
    from ita_desktop.core.series_service import SeriesService
    from ita_desktop.storage.bar_reader import BarReader, SeriesInfo
    from ita_desktop.storage.bar_store import IngestSummary
    from ita_desktop.storage.store import Store

log = logging.getLogger(__name__)

WINDOW_TITLE = "ITA Desktop"
SHUTDOWN_WAIT_MS = 5000


def _utc_text(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M")


def load_chart_data(series: SeriesService, symbol: str, timeframe: Timeframe, clock: str,
                    windows: dict[str, tuple[str, str]], display: DisplayClock | None = None) -> ChartData:
    """Load a series through the core (stored, or built from a finer stored one) and prepare it for the chart
    (``display``: the DisplayClock its times are shown on).

    Also imports ``numpy.ma`` here, on the worker: ``np.unique`` (the time axis' ticks) imports it on
    first use, which took 25-35 ms of the GUI thread's first chart paint."""
    import numpy.ma  # noqa: F401

    bars = series.load(symbol, timeframe)
    if not len(bars):
        raise ItaError(f"no {symbol} {timeframe.value} bars are stored, nor finer ones to build them from")
    return prepare_chart_data(bars, clock, windows, series.digits(symbol), display)


def _extends(bars, key: tuple[str, str, int]) -> bool:
    """Is ``bars`` the series ``key`` names, possibly with bars appended since (live, Bar Replay)?"""
    if key == series_key(bars):
        return True
    if (bars.symbol, bars.timeframe.value) != key[:2] or not len(bars):
        return False
    i = int(np.searchsorted(bars.time, key[2]))
    return i < len(bars) and int(bars.time[i]) == key[2]


def _freeze_startup_objects() -> None:
    """Move every object alive now out of the garbage collector's reach.

    Start-up objects (Qt wrappers, numba's type system, SQLAlchemy, pandas) live for the whole
    session: frozen, a full collection no longer walks them. Unfrozen, one such collection took
    100-280 ms with the GIL held, on whichever thread allocated, the GUI's included.
    """
    gc.freeze()


class MainWindow(QMainWindow):
    """The app's one window. ``ready`` fires once its first real state is on screen."""

    ready = Signal()  # chart drawn, or the empty state / an error shown
    series_listed = Signal(list)  # list[SeriesInfo] after each refresh
    loaded = Signal(str, str)  # symbol, timeframe now on the chart
    imported = Signal(object)  # IngestSummary of a finished CSV import (from the Add data dialog)
    job_failed = Signal(str)
    overlays_detected = Signal(object)  # OverlayData of the series on the chart (a live chart advances it)

    def __init__(
        self,
        core: Core,
        theme: Theme | None = None,
        symbol: str | None = None,
        timeframe: str | None = None,
        rule: str | None = None,
    ) -> None:
        super().__init__()
        # No cyclic garbage collection until the window is ready: numba's import on the detect job
        # made full collections of 35-50 ms with the GIL held (nothing to collect: start-up objects
        # all live on), stalling the chart the trader can already use. ``_send_ready`` freezes them
        # and turns collection back on (as it was); so does closing before then.
        self._gc_held = gc.isenabled()
        gc.disable()
        self.core = core
        settings = self.settings = core.settings
        self.theme = theme or get_theme(settings.ui.theme)
        self.store: Store | None = None  # the core's full, writable store, once it has opened (after the first chart)
        self.reader: BarReader | None = None  # set once the start-up reader (or the store) can serve the chart
        self._store_opening = False
        self.rule = rule
        self.series: list[SeriesInfo] = []
        self._prefer = (symbol, Timeframe.parse(timeframe) if timeframe else None)
        self._pending: tuple[str, Timeframe] | None = None
        self._ready_sent = False
        self._closed = False
        self.layout_file = core.paths.ensure().config / "window.ini"
        self.runner = JobBridge(core.jobs, self)
        self.events = QtBusBridge(core.bus, self)

        self.setWindowTitle(WINDOW_TITLE)
        self.setObjectName("mainWindow")
        self._apply_app_theme(self.theme)
        self.chart = CandleChart(self.theme, settings.sessions.clock, dict(settings.sessions.windows))
        self.overlays = OverlaySet(self.chart, self.theme, self)
        self.add_data_dialog: AddDataDialog | None = None  # made once the store is open, then kept
        self._overlay_error_key: tuple[str, str, int] | None = None
        self.offer_first_run = True  # False: an empty store shows the empty state without the welcome dialog
        self.empty_state = EmptyState()
        self.opening = QLabel("Opening the store…")
        self.opening.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages = QStackedWidget()
        for page in (self.opening, self.empty_state, self.chart):
            self.pages.addWidget(page)
        self.setCentralWidget(self.pages)
        self._build_actions()
        for action in self.store_actions:
            action.setEnabled(False)  # they write to the store: enabled once it is open
        self._build_toolbar()
        self._build_docks()
        self.workbench = Workbench(self, core)  # Rules, Backtest and Results docks: before restore_layout
        self.review_desk = ReviewDesk(self, core)  # the vision review: button, dock, overlay layer
        self.rule_editor = RuleEditorDock(self, core)  # the rule editor's dock (hidden until Edit or the View menu)
        self.journal = JournalDesk(self, core)  # feedback form (Signals/Results "Feedback…") and the Journal dock
        self._build_status_bar()

        self.chart.drawn.connect(self._on_chart_drawn)
        self.overlays.drawn.connect(self._on_chart_drawn)
        self.empty_state.requested.connect(self.add_data)
        self.runner.activity.connect(self.activity_label.setText)
        self._detect_waiting: ChartData | None = None  # a chart whose overlays wait for their kernels
        self.early_layers = EarlyLayers(self)  # meanwhile: each layer as soon as its own kernels are ready
        self.events.register(KernelsProgressed, self._on_kernels_progressed)
        self.events.register(KernelsReady, self._on_kernels_ready)
        if core.kernels.start():  # cache missing or stale: compile in a separate process, never in this one
            self.numba_label.setText("Preparing detectors…")
        self.restore_layout()
        guard_wheel(self)  # spin and combo boxes take the wheel only when focused (ui/wheel_guard.py)
        self.runner.start("Read store", lambda _ctx: core.read_store(), self._on_store_read, self._on_store_failed)

    # -- building -----------------------------------------------------------------------
    def _build_actions(self) -> None:
        self.import_action = QAction("Import CSV…", self, shortcut=QKeySequence("Ctrl+O"),
                                     triggered=lambda: self.add_data("import"))
        self.mt5_action = QAction("Download from MT5…", self, triggered=lambda: self.add_data("mt5"))
        self.demo_action = QAction("Try demo data", self, triggered=lambda: self.add_data("demo"))
        self.store_actions = (self.import_action, self.mt5_action, self.demo_action)
        self.export_action = QAction("Export chart as PNG…", self, shortcut=QKeySequence("Ctrl+E"),
                                     triggered=self.ask_export_png)
        self.quit_action = QAction("Quit", self, shortcut=QKeySequence.StandardKey.Quit, triggered=self.close)
        self.settings_action = QAction("Settings…", self, shortcut=QKeySequence("Ctrl+,"), triggered=self.open_settings)
        self.reset_action = QAction("Reset chart view", self, shortcut=QKeySequence("Ctrl+0"),
                                    triggered=self.chart.reset_view)
        self.sessions_action = QAction("Session shading", self)
        self.sessions_action.setCheckable(True)
        self.sessions_action.setChecked(True)
        self.sessions_action.toggled.connect(lambda on: self.legend.set_checked("sessions", on))
        self.dark_action = QAction("Dark theme", self)
        self.dark_action.setCheckable(True)
        self.dark_action.setChecked(self.theme.name == "dark")
        self.dark_action.toggled.connect(lambda dark: self.set_theme(get_theme("dark" if dark else "light")))
        file_menu = self.menuBar().addMenu("&File")
        for action in (*self.store_actions, self.export_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self.view_menu = self.menuBar().addMenu("&View")
        for action in (self.reset_action, self.sessions_action, self.dark_action):
            self.view_menu.addAction(action)
        self.view_menu.addSeparator()

    def _build_toolbar(self) -> None:
        bar = QToolBar("Chart")
        bar.setObjectName("chartToolbar")
        bar.setMovable(False)
        self.symbol_box = QComboBox()
        self.symbol_box.setObjectName("symbolBox")
        self.symbol_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.symbol_box.setMinimumContentsLength(10)
        self.timeframe_box = QComboBox()
        self.timeframe_box.setObjectName("timeframeBox")
        self.symbol_box.currentIndexChanged.connect(self._on_symbol_chosen)
        self.timeframe_box.currentIndexChanged.connect(self._on_timeframe_chosen)
        bar.addWidget(QLabel(" Symbol "))
        bar.addWidget(self.symbol_box)
        bar.addWidget(QLabel("  Timeframe "))
        bar.addWidget(self.timeframe_box)
        bar.addSeparator()
        for action in (self.reset_action, self.sessions_action, self.import_action, self.demo_action):
            bar.addAction(action)
        self.chart_toolbar = bar  # the Review desk adds its button here
        self.addToolBar(bar)

    def _build_docks(self) -> None:
        self.series_table = QTableWidget(0, 6)
        self.series_table.setHorizontalHeaderLabels(["Symbol", "TF", "Bars", "From (UTC)", "To (UTC)", "Source"])
        self.series_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.series_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.series_table.verticalHeader().setVisible(False)
        self.series_table.cellDoubleClicked.connect(self._on_series_row_chosen)
        self.activity_list = QListWidget()
        self.series_dock = self._dock("Data", "seriesDock", self.series_table, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.activity_dock = self._dock("Activity", "activityDock", self.activity_list,
                                        Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.series_dock, self.activity_dock)
        self.series_dock.raise_()
        self.legend = LegendPanel(self.overlays)
        self._set_fvg_filter_text()
        self.legend_dock = self._dock("Overlays", "overlaysDock", self.legend, Qt.DockWidgetArea.RightDockWidgetArea)
        self.legend.toggled.connect(self._on_legend_toggled)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState keys docks by object name
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.view_menu.addAction(dock.toggleViewAction())
        return dock

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.demo_badge = QLabel(" DEMO ")
        self.demo_badge.setObjectName("demoBadge")
        self.demo_badge.setStyleSheet(self._badge_style())
        self.demo_badge.setVisible(False)
        self.source_label = QLabel("Store: opening…")
        self.activity_label = QLabel("Idle")
        self.numba_label = QLabel("numba cache: …")
        for widget in (self.demo_badge, self.source_label, self.activity_label, self.numba_label):
            status.addPermanentWidget(widget)
        if self.rule:
            self.rule_label = QLabel(f"Rule: {self.rule}")
            status.addPermanentWidget(self.rule_label)

    def _badge_style(self) -> str:
        return f"background:{self.theme.demo}; color:white; font-weight:bold; border-radius:3px;"

    # -- layout persistence -------------------------------------------------------------
    def _qsettings(self) -> QSettings:
        return QSettings(str(self.layout_file), QSettings.Format.IniFormat)

    def restore_layout(self) -> None:
        stored = self._qsettings()
        geometry, state = stored.value("geometry"), stored.value("windowState")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 860)
        if state is not None:
            self.restoreState(state)
        else:
            self.resizeDocks([self.series_dock], [300], Qt.Orientation.Vertical)  # shared with Backtest/Results
        self._restore_overlay_state(stored)
        if self._prefer == (None, None):
            last_symbol, last_tf = stored.value("symbol"), stored.value("timeframe")
            if last_symbol and last_tf:
                self._prefer = (str(last_symbol), Timeframe.parse(str(last_tf)))

    def _restore_overlay_state(self, stored: QSettings) -> None:
        """Overlay toggles and sweep grids as the trader left them (kept with the layout)."""
        try:
            visible = json.loads(stored.value("overlays") or "{}")
            grids = json.loads(stored.value("sweepGrids") or "{}")
        except (TypeError, ValueError):
            return  # an older or hand-edited layout file: the defaults stand
        for name, on in visible.items():
            if name == "sessions":
                self.legend.set_checked("sessions", bool(on))
            elif name in self.overlays.visible:
                self.overlays.set_visible(name, bool(on))
        workbench = getattr(self, "workbench", None)
        if workbench is not None and isinstance(grids, dict):
            workbench.backtest.restore_grids(grids)

    def save_layout(self) -> None:
        stored = self._qsettings()
        stored.setValue("geometry", self.saveGeometry())
        stored.setValue("windowState", self.saveState())
        stored.setValue("overlays", json.dumps({**self.overlays.visible,
                                                 "sessions": self.chart.layer("sessions").isVisible()}))
        workbench = getattr(self, "workbench", None)
        if workbench is not None:
            stored.setValue("sweepGrids", json.dumps(workbench.backtest.saved_grids()))
        if self.chart.bars is not None:
            stored.setValue("symbol", self.chart.bars.symbol)
            stored.setValue("timeframe", self.chart.bars.timeframe.value)
        stored.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed and not self.rule_editor.may_close():  # unsaved rule edits: the trader chose Cancel
            event.ignore()
            return
        self._closed = True
        workbench = getattr(self, "workbench", None)
        if workbench is not None:
            workbench.stop_sessions()  # Bar Replay's thread and MT5 feeds write to the store the core closes below
            workbench.signals.cancel_pending()
        self._release_gc()
        self.save_layout()
        self.events.close()
        self.core.close(SHUTDOWN_WAIT_MS / 1000)  # cancels running jobs (an import stores nothing), closes the store
        self.runner.detach()
        self.store = None
        super().closeEvent(event)

    # -- store and series ---------------------------------------------------------------
    def _on_store_read(self, result: tuple[BarReader | None, list[SeriesInfo]]) -> None:
        reader, series = result
        if self._closed:  # closed while the store was being read: start nothing more
            return
        if reader is None:  # a new, empty or older store: only the full store can create or migrate it
            self._open_store()
            return
        self.reader = reader
        self.source_label.setText(f"Store: {reader.path}")
        self._apply_series(series)  # the chart loads now; the full store opens once it and its overlays are drawn

    def _open_store(self) -> None:
        if self.store is not None or self._store_opening or self._closed:
            return
        self._store_opening = True
        core = self.core
        self.runner.start("Open store", lambda _ctx: (core.open_store(), core.numba_cache_state()),
                          self._on_store_opened, self._on_store_failed)

    def _on_store_opened(self, result: tuple[tuple[Store, list[SeriesInfo]], str]) -> None:
        (store, series), numba_state = result
        self._store_opening = False
        if self._closed:  # the window went away while the store was opening (the core closes it)
            return
        self.store, self.reader = store, store.bars
        _freeze_startup_objects()  # the ORM's and pandas' own, loaded with the store
        for action in self.store_actions:
            action.setEnabled(True)
        self.source_label.setText(f"Store: {store.path}")
        if not self.core.kernels.running:  # else it shows the preparation's progress
            self.numba_label.setText(f"numba cache: {numba_state}")
        self._note(f"Opened {store.path}")
        if series and series == self.series:
            self.series_listed.emit(series)  # already on the chart: the panels only needed the store
        else:
            self._apply_series(series)

    def _on_store_failed(self, message: str) -> None:
        self.source_label.setText("Store: unavailable")
        self.empty_state.set_unavailable(f"Could not open the store: {message}")
        self._show_page(self.empty_state)
        self._fail(message)

    def refresh_series(self, prefer: tuple[str | None, Timeframe | None] = (None, None)) -> None:
        """List the stored series again (after an import) and show ``prefer`` if it is there."""
        if self.store is None:
            return
        self._prefer = prefer
        store = self.store
        self.runner.start("List series", lambda _ctx: store.bars.series(), self._apply_series, self._fail)

    def _apply_series(self, series: list[SeriesInfo]) -> None:
        self.series = series
        self._fill_series_table(series)
        symbols = list(dict.fromkeys(s.symbol for s in series))
        want_symbol, _ = self._prefer
        self.symbol_box.blockSignals(True)
        self.symbol_box.clear()
        for symbol in symbols:
            demo = any(s.is_demo for s in series if s.symbol == symbol)
            self.symbol_box.addItem(f"{symbol}  (DEMO)" if demo else symbol, symbol)
        self.symbol_box.blockSignals(False)
        self.series_listed.emit(series)
        if not series:
            self.chart.set_data(None)
            self._set_demo(False)
            self._show_page(self.empty_state)
            self._offer_first_run()
            return
        index = symbols.index(want_symbol) if want_symbol in symbols else 0
        if self.symbol_box.currentIndex() == index:
            self._on_symbol_chosen(index)
        else:
            self.symbol_box.setCurrentIndex(index)  # fills the timeframes and loads

    def _fill_series_table(self, series: list[SeriesInfo]) -> None:
        self.series_table.setRowCount(len(series))
        for row, s in enumerate(series):
            cells = (s.symbol, s.timeframe.value, f"{s.bars:,}", _utc_text(s.first_utc), _utc_text(s.last_utc),
                     "DEMO" if s.is_demo else "store")
            for col, text in enumerate(cells):
                self.series_table.setItem(row, col, QTableWidgetItem(text))
        self.series_table.resizeColumnsToContents()

    def timeframes_of(self, symbol: str) -> list[Timeframe]:
        """What the timeframe box offers: the core's one rule (stored, or buildable from finer stored bars)."""
        return self.core.series.timeframes_of(symbol, self.series)

    def _on_symbol_chosen(self, index: int) -> None:
        symbol = self.symbol_box.itemData(index)
        if symbol is None:
            return
        timeframes = self.timeframes_of(symbol)
        _, want_tf = self._prefer
        current = Timeframe(self.timeframe_box.currentData()) if self.timeframe_box.count() else None
        choice = want_tf if want_tf in timeframes else current if current in timeframes else timeframes[0]
        self.timeframe_box.blockSignals(True)
        self.timeframe_box.clear()
        for tf in timeframes:
            self.timeframe_box.addItem(tf.value, tf.value)  # Qt would turn the str-enum into a plain str
        self.timeframe_box.setCurrentIndex(timeframes.index(choice))
        self.timeframe_box.blockSignals(False)
        self._prefer = (None, None)
        self.load(symbol, choice)

    def _on_timeframe_chosen(self, index: int) -> None:
        symbol, timeframe = self.symbol_box.currentData(), self.timeframe_box.itemData(index)
        if symbol is not None and timeframe is not None:
            self.load(symbol, Timeframe(timeframe))

    def _on_series_row_chosen(self, row: int, _col: int) -> None:
        info = self.series[row]
        self.select(info.symbol, info.timeframe)

    def select(self, symbol: str, timeframe: Timeframe | str) -> None:
        """Switch the chart to a stored series, as the toolbar does."""
        timeframe = Timeframe.parse(timeframe) if isinstance(timeframe, str) else timeframe
        self._prefer = (symbol, timeframe)
        index = self.symbol_box.findData(symbol)
        if index < 0:
            raise KeyError(f"no stored series for {symbol}")
        if index == self.symbol_box.currentIndex():
            self._on_symbol_chosen(index)
        else:
            self.symbol_box.setCurrentIndex(index)

    def load(self, symbol: str, timeframe: Timeframe) -> None:
        """Load a series off the GUI thread; the newest request wins if several overlap."""
        if self.reader is None:
            return
        self._pending = (symbol, timeframe)
        series, clock, windows = self.core.series, self.chart.session_clock, dict(self.chart.session_windows)
        display = DisplayClock.from_settings(self.settings)
        self.runner.start(f"Load {symbol} {timeframe.value}",
                          lambda _ctx: load_chart_data(series, symbol, timeframe, clock, windows, display),
                          self._on_loaded, self._fail)

    def show_prepared(self, data: ChartData) -> None:
        """Show a series prepared elsewhere (Bar Replay's history) as if it had been loaded."""
        self._pending = (data.bars.symbol, data.bars.timeframe)
        self._on_loaded(data)

    def _on_loaded(self, data: ChartData) -> None:
        bars = data.bars
        if self._closed or self._pending != (bars.symbol, bars.timeframe):
            return  # the window closed, or the trader has already asked for something else
        self.chart.set_prepared(data)
        self.overlays.clear()
        self.legend.set_counts({})
        self._detect(data)
        self._set_demo(bars.demo)
        self._show_page(self.chart)
        self.setWindowTitle(f"{bars.symbol} {bars.timeframe.value}{' DEMO' if bars.demo else ''} — {WINDOW_TITLE}")
        self._note(f"Loaded {bars.symbol} {bars.timeframe.value}: {len(bars):,} bars")
        self.loaded.emit(bars.symbol, bars.timeframe.value)

    # -- overlays ------------------------------------------------------------------------
    def _detect(self, data: ChartData) -> None:
        """Run the detectors over the loaded series on a worker; the overlays follow by signal.
        While their kernels are being prepared (first start), each layer is drawn as soon as its own kernels are
        ready (ui/early_layers.py) and this full detection runs on KernelsReady."""
        if not self.core.kernels.ready("detectors"):
            self._detect_waiting = data
            self.early_layers.draw(data)
            return
        self._detect_waiting = None
        bars, detection, options = data.bars, self.core.detection, overlay_options(self.settings)
        key = series_key(bars)

        def work(_ctx) -> OverlayData:
            found = detection.detect_chart(bars)  # levels from the finest stored series covering the chart
            return overlay_data(bars, found.result, options, levels_from=found.levels_from,
                                inexact_levels=found.inexact_levels)

        self.runner.start(f"Detect {bars.symbol} {bars.timeframe.value}", work,
                          self._on_detected, lambda message: self._on_detect_failed(key, message))

    def _on_detected(self, data: OverlayData) -> None:
        if self.chart.bars is None or not _extends(self.chart.bars, data.key):
            return  # the chart has moved on to another series
        self.overlays.set_layers(data.layers, data.key)
        self.legend.set_levels_source(data.levels_from, data.key[1], data.inexact_levels)
        self.legend.set_counts(data.counts)
        self.overlays_detected.emit(data)  # bars appended since (live, Bar Replay) are caught up from here
        if data.inexact_levels:
            self._note(f"Only {data.levels_from} bars are stored: {', '.join(sorted(data.inexact_levels))} cannot be "
                       "known exactly (see the legend)")

    def _on_detect_failed(self, key: tuple[str, str, int], message: str) -> None:
        self._overlay_error_key = key
        self._fail(f"Detectors: {message}")
        self._on_chart_drawn()

    def _on_kernels_progressed(self, event: KernelsProgressed) -> None:
        if event.group == "detectors" or self.core.kernels.ready("detectors"):  # what the trader waits for first
            self.numba_label.setText(f"Preparing {event.group}: {event.done} of {event.total}")
        waiting = self._detect_waiting
        if waiting is not None and not self._closed and self.chart.bars is not None \
                and series_key(waiting.bars) == series_key(self.chart.bars):
            self.early_layers.draw(waiting)  # a detector kind's kernels are ready: its layers can be drawn

    def _on_kernels_ready(self, event: KernelsReady) -> None:
        if event.error:
            self._note(f"Kernel preparation: {event.error} (they compile on first use)")
        if event.group == "sweep" or event.error:
            self.numba_label.setText(f"numba cache: {self.core.numba_cache_state()}")
        waiting = self._detect_waiting
        if event.group == "detectors" and waiting is not None and not self._closed:
            if self.chart.bars is not None and series_key(waiting.bars) == series_key(self.chart.bars):
                self._detect(waiting)

    def _on_legend_toggled(self, name: str, on: bool) -> None:
        if name == "sessions":
            self.sessions_action.setChecked(on)

    # -- settings -----------------------------------------------------------------------
    def open_settings(self) -> SettingsDialog:
        self.settings_dialog = SettingsDialog(self.settings, self, send_test=self._send_test)
        self.settings_dialog.saved.connect(self._on_settings_saved)
        self.settings_dialog.open()
        return self.settings_dialog

    def _send_test(self, channel: str, settings: Settings, done: Callable[[Any], None]) -> None:
        """Settings' Send test, as a job: ``done`` gets the far side's answer (or the error's words)."""
        outputs = self.core.outputs
        self.runner.start(f"Send test ({channel})", lambda _ctx: outputs.send_test(channel, settings), done,
                          lambda message: done(message))

    def _set_fvg_filter_text(self) -> None:
        size = self.settings.chart.fvg_min_atr
        self.legend.set_filter_text("fvg", f"≥ {size:g} ATR" if size > 0 else "")

    def _on_settings_saved(self, settings: Settings) -> None:
        redetect = settings.chart != self.settings.chart
        reclock = (settings.ui.display_clock, settings.data.server_tz) != \
            (self.settings.ui.display_clock, self.settings.data.server_tz)
        renotify = settings.outputs != self.settings.outputs  # channels, chat ids, api roots
        self.settings = self.core.settings = settings
        if reclock:
            self.workbench.results.set_display_clock(DisplayClock.from_settings(settings))
            if self.chart.bars is not None:
                self.load(self.chart.bars.symbol, self.chart.bars.timeframe)  # times on the new clock
        self._set_fvg_filter_text()
        if redetect and self.chart.data is not None:
            self._detect(self.chart.data)  # the FVG size filter: redraw with the new one
        self.dark_action.setChecked(settings.ui.theme == "dark")
        if self.add_data_dialog is not None:
            self.add_data_dialog.set_settings(settings)
        dialog = getattr(self, "settings_dialog", None)
        if renotify or (dialog is not None and dialog.channel_tokens_changed):
            self.workbench.notifications.restart_sender()
        self._note("Settings saved (session clock and windows apply from the next start)")

    def _set_demo(self, demo: bool) -> None:
        self.demo_badge.setVisible(demo)

    # -- adding data ---------------------------------------------------------------------
    def add_data(self, page: Page = "choose") -> None:
        """The Add data dialog on ``page`` ("demo" starts demo data in it); nothing until the store is open.

        One dialog serves the empty state, the File menu and the first-run welcome, so a job
        started from any of them shows its progress, Cancel and errors in the same place.
        """
        if self.store is None:
            return
        if self.add_data_dialog is None:
            self.add_data_dialog = AddDataDialog(self.core, self.runner, self)
            self.add_data_dialog.added.connect(self._on_data_added)
            self.add_data_dialog.failed.connect(self._fail)
            self._place_over_content(self.add_data_dialog)  # once: where the trader moves it, it stays
        self.add_data_dialog.set_welcome(not self.series)
        self.add_data_dialog.open_on(page)

    def _place_over_content(self, dialog: QWidget) -> None:
        """Centred on the empty state's words and buttons, so it covers them whole rather than cutting
        through them (it offers the same choices); centred on the chart otherwise."""
        shown = self.pages.currentWidget()
        area = shown.childrenRect() if shown is self.empty_state else shown.rect()
        dialog.move(shown.mapToGlobal(area.center()) - dialog.rect().center())

    def _offer_first_run(self) -> None:
        """The Add data dialog, welcoming, over the empty state (not modal: the empty state stays usable)."""
        if self.offer_first_run and not (self.add_data_dialog is not None and self.add_data_dialog.isVisible()):
            self.add_data("choose")

    def _on_data_added(self, summaries: list[IngestSummary]) -> None:
        for s in summaries:
            self._note(f"Added {s.rows_stored:,} bars of {s.symbol} {s.timeframe.value} from {s.path} "
                       f"({s.new:,} new, {s.rejected:,} rows rejected)")
            if s.source == "csv":
                self.imported.emit(s)
        first = summaries[0]
        self.refresh_series((first.symbol, first.timeframe))

    # -- look and export ----------------------------------------------------------------
    def _apply_app_theme(self, theme: Theme) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, theme)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self._apply_app_theme(theme)
        self.chart.set_theme(theme)
        self.overlays.set_theme(theme)
        self.demo_badge.setStyleSheet(self._badge_style())
        paths = self.core.paths
        self.runner.start("Save theme", lambda _ctx: save_user_settings({"ui": {"theme": theme.name}}, paths),
                          lambda _path: None, self._fail)

    def ask_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export chart", "chart.png", "PNG images (*.png)")
        if path:
            width, height = self.chart.export_png(path)
            self._note(f"Exported the chart to {path} ({width}x{height})")

    # -- status -------------------------------------------------------------------------
    def _show_page(self, page: QWidget) -> None:
        self.pages.setCurrentWidget(page)
        if page is not self.chart and not self._ready_sent:
            QTimer.singleShot(0, self._send_ready)

    def _on_chart_drawn(self) -> None:
        """Ready once the chart AND the overlays of the series on it are painted (or detection failed)."""
        bars = self.chart.bars
        if self._detect_waiting is not None and bars is not None and self.pages.currentWidget() is self.chart:
            self._open_store()  # the overlays wait for their kernels (first start); the store need not
            return
        key = None if bars is None else series_key(bars)
        # the overlays' key is set before their paint: a candle paint in between must not count as drawn
        settled = key is None or key == self._overlay_error_key or (key == self.overlays.key and self.overlays.painted)
        if self.pages.currentWidget() is self.chart and settled:
            self._send_ready()

    def _send_ready(self) -> None:
        if not self._ready_sent:
            self._ready_sent = True
            self._open_store()  # after the chart's start-up reader: now the full store (ORM, pandas) may load
            _freeze_startup_objects()
            self._release_gc()
            self.ready.emit()

    def _release_gc(self) -> None:
        if self._gc_held:
            self._gc_held = False
            gc.enable()

    def _note(self, message: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        self.activity_list.addItem(f"{stamp}  {message}")
        self.activity_list.scrollToBottom()
        self.statusBar().showMessage(message, 8000)

    def _fail(self, message: str) -> None:
        self._note(f"Error: {message}")
        self.job_failed.emit(message)
