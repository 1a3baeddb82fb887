"""The trader's backtest workflow in the main window: Rules, Backtest and Results docks, linked to the chart.

Kept out of main_window.py so the window stays about data and the chart: the window creates one
Workbench with the core, which adds its docks (before the window restores its saved layout, so
they persist like the others) and listens to the window's signals (series listed, series loaded).
It knows the window only as a :class:`ChartHost` (what it uses of it), so this module does not
import the window's and there is no import circle.

Earlier runs come back from the Results panel's "Stored runs" and the Rules panel's "Open run":
``core.runs.reopen`` reads them from the store (statistics, trades, setups), nothing is recomputed.

Clicking a trade switches the chart to the run's symbol (and the rule's timeframe when it is
stored; otherwise the chart's own timeframe, the trade placed by time) and jumps to it with the
run's trades and setup steps drawn as the overlay layers "trades" and "setups".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from PySide6.QtCore import QObject, Qt, QTimer, Signal, SignalInstance
from PySide6.QtWidgets import QDockWidget, QFrame, QMenu, QScrollArea

from ita_desktop.bus.events import RunStored, SignalRaised, SignalUpdated
from ita_desktop.core.backtest_service import BacktestOutcome
from ita_desktop.core.rules_service import VersionEntry
from ita_desktop.domain.display_clock import DisplayClock
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.ui.chart.overlays import LayerShapes
from ita_desktop.ui.panels.backtest_panel import BacktestPanel
from ita_desktop.ui.panels.results_panel import ResultsPanel
from ita_desktop.ui.panels.rules_panel import RulesPanel
from ita_desktop.ui.panels.signals_panel import SignalsPanel
from ita_desktop.ui.panels.live_panel import LivePanel
from ita_desktop.ui.panels.replay_panel import ReplayPanel
from ita_desktop.ui.live_chart import LiveChartFeed
from ita_desktop.ui.connection_indicator import ConnectionIndicator
from ita_desktop.ui.wheel_guard import guard_wheel
from ita_desktop.ui.panels.trade_drawing import TradeSpan, setup_shapes, trade_shapes, trade_spans

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core
    from ita_desktop.ui.bus_bridge import QtBusBridge
    from ita_desktop.ui.chart import CandleChart
    from ita_desktop.ui.chart.overlays import OverlaySet
    from ita_desktop.ui.job_bridge import JobBridge
    from ita_desktop.ui.legend import LegendPanel
    from ita_desktop.ui.theme import Theme


class ChartHost(Protocol):
    """What the Workbench uses of the window it lives in (the main window is one)."""

    runner: JobBridge
    events: QtBusBridge
    theme: Theme
    rule: str | None
    series: list
    chart: CandleChart
    overlays: OverlaySet
    legend: LegendPanel
    view_menu: QMenu
    series_dock: QDockWidget
    activity_dock: QDockWidget
    legend_dock: QDockWidget
    series_listed: SignalInstance
    loaded: SignalInstance
    ready: SignalInstance

    def select(self, symbol: str, timeframe: Timeframe | str) -> None: ...

    def addDockWidget(self, area: Qt.DockWidgetArea, dock: QDockWidget) -> None: ...  # noqa: N802 (Qt's name)

    def tabifyDockWidget(self, first: QDockWidget, second: QDockWidget) -> None: ...  # noqa: N802

    def resizeDocks(self, docks: list, sizes: list, orientation: Qt.Orientation) -> None: ...  # noqa: N802

RESULTS_HEIGHT = 300  # px: the results need more room than the Data list they share the bottom with


class Workbench(QObject):
    """``trade_shown(outcome, trade)`` once a clicked trade is on the chart; ``settled`` once the start-up
    rule (``window.rule``) has run and its first trade is drawn, or it failed (the screenshot waits on it)."""

    trade_shown = Signal(object, int)
    settled = Signal()
    reopened = Signal(object)  # a stored run shown again (BacktestOutcome, ``reopened`` True)

    def __init__(self, window: ChartHost, core: Core) -> None:
        super().__init__(window)  # type: ignore[arg-type]  (the host is a QObject: the main window)
        self.window = window
        self.core = core
        self.rules = RulesPanel(window.runner, core.rules)
        self.backtest = BacktestPanel(window.runner, core.backtests)
        self.results = ResultsPanel(window.runner, window.theme, DisplayClock.from_settings(core.settings))
        scroll = QScrollArea()  # the form is tall: scrolling lets the window keep its size on small screens
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.backtest)
        self.backtest_dock = self._dock("Backtest", "backtestDock", scroll, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.results_dock = self._dock("Results", "resultsDock", self.results, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.rules_dock = self._dock("Rules", "rulesDock", self.rules, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.signals = SignalsPanel(window.runner, core.live)
        self.signals_dock: QDockWidget | None = None  # docked on first use (View > Signals, or a raised signal)
        # the bottom tabs, like MT5's toolbox: Backtest settings, Results, Rules (a wide table of versions
        # and their results), then the window's Data and Activity; the chart keeps the full width above
        window.tabifyDockWidget(self.backtest_dock, self.results_dock)
        window.tabifyDockWidget(self.results_dock, self.rules_dock)
        window.tabifyDockWidget(self.rules_dock, window.series_dock)
        window.tabifyDockWidget(window.series_dock, window.activity_dock)
        self.backtest_dock.raise_()
        window.resizeDocks([window.legend_dock], [240], Qt.Orientation.Horizontal)  # else squeezed by the tabs' width
        self._pending: tuple[BacktestOutcome, int] | None = None  # a trade waiting for its series to load
        self._shown: tuple[BacktestOutcome, int] | None = None  # the trade on the chart (redrawn after a reload)
        self._pending_signal = None  # a clicked signal waiting for its series to load
        self._start_rule = window.rule
        self._rules_listed = False
        self._window_ready = False
        self._awaiting_start = False  # the start-up rule's backtest is running
        self._settled = False

        window.series_listed.connect(self._on_series)
        window.loaded.connect(self._on_loaded)
        window.ready.connect(self._on_window_ready)
        self.rules.listed.connect(self._on_rules_listed)
        self.rules.rule_chosen.connect(self.backtest.select_rule)
        self.rules.rule_activated.connect(lambda _choice: self.backtest_dock.raise_())
        self.backtest.backtested.connect(self._on_backtested)
        self.backtest.swept.connect(self._on_swept)
        self.backtest.failed.connect(self._on_failed)
        self.results.trade_chosen.connect(self.show_trade)
        self.results.run_requested.connect(self.reopen_run)
        self.rules.run_requested.connect(self.reopen_run)
        window.events.register(RunStored, lambda _event: self._list_stored_runs())
        self.results.shown.connect(self._on_run_shown)
        from ita_desktop.ui.panels.notification_center import NotificationCenter

        # notifications (issue 13): the sender runs with the window; the tray, its sounds and the list. Made
        # before the Signals panel registers: the tray's message goes first on a raised signal (100 ms budget)
        self.notifications = NotificationCenter(window, core, self.show_signal, lambda: self._replay,
                                                lambda: self.signals_dock or self.rules_dock)
        self.tray = self.notifications.tray
        window.events.register(SignalRaised, self.signals.on_event)
        window.events.register(SignalRaised, lambda _event: self.show_signals())
        self.signals_action = window.view_menu.addAction("Signals", self.show_signals)
        window.events.register(SignalUpdated, self.signals.on_event)
        self.signals.signal_chosen.connect(self.show_signal)
        # live chart and Bar Replay (issue 12): the chart follows the bus; the replay dock is made on first use
        self.live_chart = LiveChartFeed(window.chart, window.events, self._stored_signal, window, window.overlays)
        live_overlays = self.live_chart.overlays
        window.overlays_detected.connect(live_overlays.attach)  # type: ignore[attr-defined]
        window.loaded.connect(lambda *_: live_overlays.detach())
        live_overlays.advanced.connect(window.legend.set_counts)  # type: ignore[attr-defined]
        # Bar Replay and MT5 live sessions (what `ita live --source mt5` runs): each panel is built and docked on
        # first use (``replay``, ``live``); built with the window, their polish fell in the first show's turn
        self._replay: ReplayPanel | None = None
        self._live: LivePanel | None = None
        self._listed: list | None = None  # the last series listed, for a panel built after it
        window.series_listed.connect(self._remember_series)
        self.replay_dock: QDockWidget | None = None
        self.replay_action = window.view_menu.addAction("Bar Replay", self.show_replay)
        self.live_dock: QDockWidget | None = None
        self.live_action = window.view_menu.addAction("MT5 Live", self.show_live)
        self.connection = ConnectionIndicator(core.live.running_feeds, parent=window)
        window.statusBar().addPermanentWidget(self.connection)

    def _dock(self, title: str, name: str, widget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.window.addDockWidget(area, dock)
        self.window.view_menu.addAction(dock.toggleViewAction())
        return dock

    # -- window events ------------------------------------------------------------------
    def _on_series(self, series: list) -> None:
        if self.core.store_if_open is None:
            return  # listed from the start-up reader; the panels follow once the full store is open
        first = not self.backtest.store_open
        self.backtest.set_series(series)
        if first or not self._rules_listed:
            self.rules.refresh()  # now with the stored runs' statistics
            self._list_stored_runs()
            if self.signals_dock is not None and self.signals_dock.isVisible():
                self.signals.refresh()

    def _list_stored_runs(self) -> None:
        runs = self.core.runs
        self.window.runner.start("List runs", lambda _ctx: runs.list(), self.results.set_stored_runs,
                                 lambda message: self.results.title.setText(f"Could not list the runs: {message}"))

    # -- stored runs ------------------------------------------------------------------------
    def reopen_run(self, run_id: int) -> None:
        """Show an earlier run (from the Results or the Rules panel) as it was, read back from the store."""
        runs = self.core.runs
        self.window.runner.start(f"Open run {run_id}", lambda _ctx: runs.reopen(run_id), self._on_reopened,
                                 lambda message: self.results.title.setText(f"Cannot open run {run_id}: {message}"))

    def _on_reopened(self, outcome: BacktestOutcome) -> None:
        self.results.show_outcomes([outcome])
        self.results_dock.raise_()
        self.reopened.emit(outcome)
        if len(outcome.result.trades):
            self.results.choose_trade(0)

    # -- live chart and Bar Replay ----------------------------------------------------------------
    def _stored_signal(self, key: str):
        store = self.core.store_if_open
        return store.signals.get_many([key]).get(key) if store is not None else None

    def _remember_series(self, series: list) -> None:
        self._listed = list(series)

    def _panel_built(self, panel: ReplayPanel | LivePanel) -> None:
        """A Replay or Live panel just built: the stored series, and the live layers primed before its first bar."""
        guard_wheel(panel)  # its boxes take the wheel only when focused, as the window's others
        if self._listed is not None:
            panel.set_series(self._listed)
        self.window.series_listed.connect(panel.set_series)
        panel.started.connect(self.live_chart.overlays.prime)

    @property
    def replay(self) -> ReplayPanel:
        """The Bar Replay panel (built the first time it is asked for)."""
        if self._replay is None:
            self._replay = ReplayPanel(self.window, self.core)
            self._panel_built(self._replay)
        return self._replay

    @property
    def live(self) -> LivePanel:
        """The MT5 Live panel (built the first time it is asked for)."""
        if self._live is None:
            self._live = LivePanel(self.window, self.core)
            self._panel_built(self._live)
        return self._live

    def stop_sessions(self) -> None:
        """On the window's close: a running Bar Replay and MT5 feeds stop (their threads write to the store)."""
        if self._replay is not None:
            self._replay.stop()
        self.live_chart.overlays.close()
        if self._live is not None:
            self._live.stop(join_s=2.0)

    def show_replay(self) -> None:
        """Dock Bar Replay (the first time: on the right, beside the legend) and bring it up."""
        if self.replay_dock is None:
            dock = QDockWidget("Bar Replay", self.window)  # type: ignore[arg-type]
            dock.setObjectName("replayDock")
            dock.setWidget(self.replay)
            self.window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
            self.replay_dock = dock
        self.replay_dock.show()
        self.replay_dock.raise_()

    def show_live(self) -> None:
        """Dock MT5 Live (the first time: on the right, beside the legend) and bring it up."""
        if self.live_dock is None:
            dock = QDockWidget("MT5 Live", self.window)  # type: ignore[arg-type]
            dock.setObjectName("liveDock")
            dock.setWidget(self.live)
            self.window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
            self.live_dock = dock
            # half the right column: its form and a session line per symbol need more than the legend's rest
            self.window.resizeDocks([self.window.legend_dock, dock], [1, 1], Qt.Orientation.Vertical)
        self.live_dock.show()
        self.live_dock.raise_()

    # -- signals ------------------------------------------------------------------------------
    def show_signals(self) -> None:
        """Dock the Signals list (the first time: a tab beside Rules) and bring it up, listed afresh.

        Docked on first use rather than at start-up: one more bottom tab in the saved layout changed
        the restored window's width, and most sessions never raise a signal."""
        if self.signals_dock is None:
            dock = QDockWidget("Signals", self.window)  # type: ignore[arg-type]
            dock.setObjectName("signalsDock")
            dock.setWidget(self.signals)
            self.window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
            self.window.tabifyDockWidget(self.rules_dock, dock)
            self.signals_dock = dock
        self.signals_dock.show()
        self.signals_dock.raise_()
        if self.core.store_if_open is not None:
            self.signals.refresh()
    def show_signal(self, record) -> None:  # SignalRecord
        """Put the chart at a signal (switching to its symbol first if another is shown)."""
        bars = self.window.chart.bars
        if bars is None or bars.symbol != record.symbol:
            self._pending_signal = record
            try:
                self.window.select(record.symbol, record.timeframe)
            except KeyError as exc:
                self._pending_signal = None
                self.signals.count_label.setText(f"Cannot show the signal: {exc}")
            return
        self._jump_to_signal(record)

    def _jump_to_signal(self, record) -> None:
        time = self.window.chart.bars.time
        first = int(np.searchsorted(time, record.steps[0]["time"] if record.steps else record.signal_time))
        last = int(np.searchsorted(time, record.signal_time))
        self.window.chart.show_range(min(first, len(time) - 1), min(last, len(time) - 1))

    def _on_rules_listed(self, entries: list[VersionEntry]) -> None:
        self.backtest.set_rules(entries)
        self._rules_listed = True
        self._maybe_run_start_rule()

    def _on_window_ready(self) -> None:
        self._window_ready = True
        self._maybe_run_start_rule()

    def _maybe_run_start_rule(self) -> None:
        """``--rule RULE``: once the rules are listed and the chart is up, backtest RULE on the chart's symbol."""
        if self._start_rule is None or not (self._rules_listed and self._window_ready):
            return
        rule, self._start_rule = self._start_rule, None
        bars = self.window.chart.bars
        if bars is None or not self.backtest.select_rule(rule):
            self.backtest.say(f"--rule {rule}: no such valid rule, or no data to test it on", error=True)
            self._settle()
            return
        self.rules.select(rule, emit=False)
        self.backtest.select_symbols([bars.symbol])
        self._awaiting_start = self.backtest.run() is not None
        if not self._awaiting_start:
            self._settle()

    # -- results ------------------------------------------------------------------------
    def _on_backtested(self, outcomes: list[BacktestOutcome]) -> None:
        self.clear_trades()  # the chart shows the selected run's trades only: not the previous run's
        self.results.show_outcomes(outcomes)
        self.results_dock.raise_()
        if self.results_dock.height() < RESULTS_HEIGHT:
            self.window.resizeDocks([self.results_dock], [RESULTS_HEIGHT], Qt.Orientation.Vertical)
        self.rules.refresh()  # the versions' latest-run columns
        if self._awaiting_start:
            self._awaiting_start = False
            if outcomes and len(outcomes[0].result.trades):
                self.trade_shown.connect(self._settle_after_paint, Qt.ConnectionType.SingleShotConnection)
                self.results.choose_trade(0)
            else:
                self._settle()

    def _on_run_shown(self, outcome: BacktestOutcome) -> None:
        """Another run picked in the Results panel: the chart must not keep the one before's trades."""
        if self._shown is not None and self._shown[0] is not outcome:
            self.clear_trades()

    def _on_swept(self, outcome) -> None:
        self.results.show_sweep(outcome)
        self.results_dock.raise_()

    def _on_failed(self, _message: str) -> None:
        if self._awaiting_start:
            self._awaiting_start = False
            self._settle()

    # -- trades on the chart --------------------------------------------------------------
    def clear_trades(self) -> None:
        """Take every run's trades and setup steps off the chart."""
        self._shown = None
        self._pending = None
        self.window.overlays.set_layers({"trades": LayerShapes("trades"), "setups": LayerShapes("setups")})

    def _chart_timeframe(self, outcome: BacktestOutcome) -> Timeframe:
        """The rule's timeframe when the chart can show it (stored, or built from finer bars), else the finest."""
        offered = self.core.series.timeframes_of(outcome.symbol, self.window.series)
        rule_tf = Timeframe(outcome.timeframe)
        return rule_tf if rule_tf in offered or not offered else offered[0]

    def show_trade(self, outcome: BacktestOutcome, trade: int) -> None:
        """Put the run's trades and setups on the chart and jump to ``trade`` (loading its series first if needed)."""
        want = (outcome.symbol, self._chart_timeframe(outcome))
        bars = self.window.chart.bars
        if bars is None or (bars.symbol, bars.timeframe) != want:
            self._pending = (outcome, trade)
            try:
                self.window.select(*want)
            except KeyError as exc:
                self._pending = None
                self.results.title.setText(f"Cannot show the trade: {exc}")
            return
        self._draw(outcome, trade)

    def _on_loaded(self, symbol: str, timeframe: str) -> None:
        signal, self._pending_signal = self._pending_signal, None
        if signal is not None and signal.symbol == symbol:
            self._jump_to_signal(signal)
        target = self._pending or self._shown
        if target is not None and target[0].symbol == symbol:
            self._pending = None
            self._draw(*target, jump=target is not self._shown)
        else:
            self._shown = None

    def _draw(self, outcome: BacktestOutcome, trade: int, jump: bool = True) -> None:
        time = self.window.chart.bars.time
        overlays = self.window.overlays
        overlays.set_layers({"trades": trade_shapes(outcome, time), "setups": setup_shapes(outcome, time)})
        for name in ("trades", "setups"):
            self.window.legend.set_checked(name, True)
        self._shown = (outcome, trade)
        if jump:
            span: TradeSpan = trade_spans(outcome, time)[trade]
            self.window.chart.show_range(span.first_bar, span.last_bar)
        self.trade_shown.emit(outcome, trade)

    # -- start-up rule --------------------------------------------------------------------
    def _settle_after_paint(self, *_args) -> None:
        """After the chart has painted the trade (overlays' next ``drawn``), with a fallback for no paint."""
        self.window.overlays.drawn.connect(self._settle, Qt.ConnectionType.SingleShotConnection)
        QTimer.singleShot(2000, self._settle)

    def _settle(self) -> None:
        if not self._settled:
            self._settled = True
            self.settled.emit()
