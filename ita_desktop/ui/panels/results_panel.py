"""The Results panel: a run's statistics, trades, equity, R distribution, breakdowns, and sweeps.

Laid out like MT5's tester report squeezed into a dock: the summary stays on the left while the
tabs on the right switch between the trades (sortable; a click asks the chart to show that
trade), the pictures and the breakdown tables. Exports go through ``backtest.reports`` in a job.
"Stored runs" lists every earlier run in the store; Open shows one again (``run_requested``), read
back by the core without recomputing it.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy, QSplitter,
    QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from ita_desktop.backtest import reports
from ita_desktop.backtest.reports import SUMMARY_LABELS
from ita_desktop.backtest.funnel import funnel_text
from ita_desktop.backtest.stats import format_stat
from ita_desktop.core.backtest_service import BacktestOutcome, SweepOutcome
from ita_desktop.domain.display_clock import DisplayClock
from ita_desktop.ui.job_bridge import JobBridge
from ita_desktop.ui.lazy_widget import LazyWidget
from ita_desktop.ui.panels.result_charts import EquityChart, RHistogram, SweepHeatmap
from ita_desktop.ui.theme import Theme

EXPORTS = {"html": ("HTML report", "*.html", reports.write_html), "csv": ("CSV trades", "*.csv", reports.write_csv),
           "xlsx": ("Excel workbook", "*.xlsx", reports.write_xlsx)}
TRADE_COLUMNS = ("#", "Dir", "Entry", "Entry price", "Exit", "Exit price", "Stop", "Target", "Lots", "R", "P/L",
                 "Exit reason", "MFE R", "MAE R")
BREAKDOWN_COLUMNS = ("Group", "Trades", "Win %", "Exp. R", "PF", "Net P/L", "Total R")
SUMMARY_KEYS = ("trades", "win_rate", "expectancy_r", "profit_factor", "net_pnl", "return_pct", "max_drawdown",
                "max_drawdown_pct", "max_drawdown_r", "avg_win_r", "avg_loss_r", "longest_losing_streak", "sharpe",
                "sortino", "sqn", "exposure", "final_equity")
PERCENT = {"win_rate", "exposure"}
SWEEP_ROWS = 50
W = TypeVar("W", bound=QWidget)  # a lazily built picture


class _Item(QTableWidgetItem):
    """A cell that sorts by its value (numbers as numbers, '–' last), not by its text."""

    def __init__(self, text: str, key: Any = None) -> None:
        super().__init__(text)
        self.key = key if key is not None else text
        self.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        if isinstance(key, (int, float)):
            self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        a, b = self.key, getattr(other, "key", other.text())
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return (math.isnan(a), a) < (math.isnan(b), b)
        return str(a) < str(b)


def fmt(value: Any, digits: int = 2) -> str:
    return format_stat(value, digits=digits)


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _table(columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(22)
    table.setAlternatingRowColors(True)
    return table


class ResultsPanel(QWidget):
    """``trade_chosen(outcome, trade_row)`` when a trade is clicked; ``shown(outcome)`` after a run is displayed."""

    trade_chosen = Signal(object, int)
    shown = Signal(object)
    exported = Signal(str)
    run_requested = Signal(int)  # "Open" on a stored run: its run_id
    feedback_requested = Signal(object, int)  # "Feedback…" on the selected trade: (outcome, trade row)

    def __init__(self, runner: JobBridge, theme: Theme, clock: DisplayClock | str = "America/New_York",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resultsPanel")
        self.runner = runner
        self.theme = theme
        # the display clock (a DisplayClock), or a session clock's zone name as before it existed
        self.clock = clock if isinstance(clock, DisplayClock) else \
            DisplayClock("new_york" if clock == "America/New_York" else "utc" if clock == "UTC" else "local", clock)
        self.outcomes: list[BacktestOutcome] = []
        self.outcome: BacktestOutcome | None = None
        self.sweep: SweepOutcome | None = None
        self._build()

    def _build(self) -> None:
        self.run_box = QComboBox()
        self.run_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.run_box.currentIndexChanged.connect(self._on_run_chosen)
        self.title = QLabel("No results yet: run a backtest.")
        self.title.setMinimumWidth(40)  # long warnings are cut (full text in the tooltip), never widen the window
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.export_buttons: dict[str, QPushButton] = {}
        self.stored_box = QComboBox()
        self.stored_box.setObjectName("storedRuns")
        self.stored_box.setToolTip("earlier runs in the store")
        # never widens the dock: titles are cut (the list pops up at full width)
        self.stored_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.stored_box.setMinimumContentsLength(4)
        self.stored_box.setPlaceholderText("Stored runs")
        self.open_stored_button = QPushButton("Open run")
        self.open_stored_button.setToolTip("show the stored run chosen beside (read back from the store, nothing recomputed)")
        self.open_stored_button.setEnabled(False)
        self.open_stored_button.clicked.connect(self._request_stored)
        # the funnel on the tab bar's free right side, one line (full text in its tooltip): the panel
        # grows neither taller nor wider
        self.funnel = QLabel("")
        self.funnel.setObjectName("funnel")
        self.funnel.setMinimumWidth(0)
        self.funnel.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top = QHBoxLayout()
        top.addWidget(self.run_box)
        top.addWidget(self.title, 1)
        top.addWidget(QLabel("Export"))
        for kind, (label, _pattern, _fn) in EXPORTS.items():
            button = QPushButton(kind.upper())
            button.setToolTip(label)
            button.clicked.connect(lambda _=False, k=kind: self.ask_export(k))
            button.setEnabled(False)
            self.export_buttons[kind] = button
            top.addWidget(button)

        self.summary = _table(("Statistic", "Value"))
        self.summary.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.summary.horizontalHeader().setStretchLastSection(True)
        self.trades = _table(TRADE_COLUMNS)
        self.trades.setHorizontalHeaderLabels(self.trade_headers())
        self.trades.setSortingEnabled(True)
        self.trades.sortItems(0, Qt.SortOrder.AscendingOrder)  # by entry until the trader sorts otherwise
        self.trades.itemSelectionChanged.connect(self._on_trade_selected)
        # the journal's feedback on a trade: right-click > Feedback…, or a double-click (a button would widen
        # or heighten the dock's minimum, and with it the window's)
        self.feedback_action = QAction("Feedback…", self.trades)
        self.feedback_action.setToolTip("the journal's feedback on the selected trade (taken, label, tags, notes, chart)")
        self.feedback_action.setEnabled(False)
        self.feedback_action.triggered.connect(self._request_feedback)
        self.trades.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.trades.addAction(self.feedback_action)
        self.trades.cellDoubleClicked.connect(lambda _row, _col: self._request_feedback())
        self.trades.setToolTip("click: show on the chart; double-click or right-click: the journal's feedback")
        # the pictures are built when their tab is first shown (or a test asks for them): three pyqtgraph plots
        # were two thirds of the window's build and of this hidden tab's polish at the first show
        self._equity = LazyWidget(lambda: self._with_drawn("equity", EquityChart(self.theme)))
        self._histogram = LazyWidget(lambda: self._with_drawn("histogram", RHistogram(self.theme)))
        self._drawn: dict[str, tuple] = {}  # what the unbuilt pictures show once built: name -> (method, args)
        self.sessions = _table(BREAKDOWN_COLUMNS)
        self.weekdays = _table(BREAKDOWN_COLUMNS)
        breakdowns = QSplitter(Qt.Orientation.Horizontal)
        breakdowns.addWidget(self._titled("By session (entry, New York)", self.sessions))
        breakdowns.addWidget(self._titled("By weekday", self.weekdays))
        self._heatmap = LazyWidget(lambda: SweepHeatmap(self.theme))
        self.sweep_table = _table(("Rank",))
        self.sweep_table.setSortingEnabled(True)
        sweep = QSplitter(Qt.Orientation.Horizontal)
        sweep.addWidget(self._heatmap)
        sweep.addWidget(self.sweep_table)
        sweep.setSizes([500, 400])
        self.tabs = QTabWidget()
        self.tabs.addTab(self.trades, "Trades")
        self.tabs.addTab(self._equity, "Equity")
        self.tabs.addTab(self._histogram, "R distribution")
        self.tabs.addTab(breakdowns, "Breakdowns")
        self.tabs.addTab(sweep, "Sweep")
        self.tabs.setCornerWidget(self.funnel, Qt.Corner.TopRightCorner)
        self.sweep_tab = sweep
        left = QWidget()  # the summary, and under it the store's earlier runs to open again
        column = QVBoxLayout(left)  # one control a row: the dock keeps its narrow minimum width
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.summary, 1)
        column.addWidget(self.stored_box)
        column.addWidget(self.open_stored_button)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([250, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(split, 1)

    def _with_drawn(self, name: str, chart: W) -> W:
        """A just-built picture, showing what was drawn on it before it existed (see ``_draw``)."""
        if name in self._drawn:
            method, args = self._drawn.pop(name)
            getattr(chart, method)(*args)
        return chart

    @property
    def equity(self) -> EquityChart:
        return self._equity.get()

    @property
    def histogram(self) -> RHistogram:
        return self._histogram.get()

    @property
    def heatmap(self) -> SweepHeatmap:
        return self._heatmap.get()

    def _draw(self, name: str, method: str, *args: Any) -> None:
        """``method(*args)`` on the picture ``name`` now if it is built, else when its tab is first shown."""
        holder: LazyWidget = getattr(self, f"_{name}")
        if holder.built:
            getattr(holder.get(), method)(*args)
        else:
            self._drawn[name] = (method, args)

    @staticmethod
    def _titled(title: str, widget: QWidget) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel(title))
        layout.addWidget(widget)
        return box

    # -- runs ---------------------------------------------------------------------------
    def show_outcomes(self, outcomes: list[BacktestOutcome]) -> None:
        """Show a batch of runs (one per rule x symbol); the first is displayed, the others a pick away."""
        self.outcomes = list(outcomes)
        self.run_box.blockSignals(True)
        self.run_box.clear()
        for outcome in self.outcomes:
            self.run_box.addItem(outcome.title)
        self.run_box.blockSignals(False)
        self.run_box.setVisible(len(self.outcomes) > 1)
        self.show_outcome(self.outcomes[0] if self.outcomes else None)

    def _on_run_chosen(self, index: int) -> None:
        if 0 <= index < len(self.outcomes):
            self.show_outcome(self.outcomes[index])

    def show_outcome(self, outcome: BacktestOutcome | None) -> None:
        self.outcome = outcome
        for button in self.export_buttons.values():
            button.setEnabled(outcome is not None)
        if outcome is None:
            self.title.setText("No results yet: run a backtest.")
            for table in (self.summary, self.trades, self.sessions, self.weekdays):
                table.setRowCount(0)
            self._draw("equity", "show_stats", None, 0.0)
            self._draw("histogram", "show_r", [])
            self.funnel.setText("")
            return
        result = outcome.result
        # the validator's findings repeat the statistics' own warning (few trades) in other words
        warnings = "; ".join(dict.fromkeys([f.message for f in result.findings] or result.stats.warnings))
        self.title.setText(f"<b>{outcome.title}</b>" + (f" &nbsp; <span style='color:#ffa726'>{warnings}</span>"
                                                        if warnings else ""))
        self.title.setToolTip(warnings)
        self.funnel.setText("Funnel: " + funnel_text(result.stats.funnel))
        self.funnel.setToolTip(self.funnel.text())
        self._fill_summary(result.stats.summary)
        self._fill_trades(outcome)
        self._draw("equity", "show_stats", result.stats, result.trades.settings.initial_equity)
        self._draw("histogram", "show_r", result.stats.r_multiples)
        self._fill_breakdown(self.sessions, result.stats.breakdowns.get("session", []))
        self._fill_breakdown(self.weekdays, result.stats.breakdowns.get("weekday", []))
        if self.tabs.currentWidget() is self.sweep_tab:
            self.tabs.setCurrentWidget(self.trades)
        self.shown.emit(outcome)

    def _fill_summary(self, summary: dict[str, Any]) -> None:
        keys = [k for k in SUMMARY_KEYS if k in summary] + [k for k in summary if k not in SUMMARY_KEYS]
        self.summary.setRowCount(len(keys))
        for row, key in enumerate(keys):
            value = summary[key]
            text = fmt(value * 100, 1) + " %" if key in PERCENT and value is not None and not math.isnan(value) \
                else fmt(value)
            self.summary.setItem(row, 0, _Item(SUMMARY_LABELS.get(key, key)))
            self.summary.setItem(row, 1, _Item(text, _num(value) if not isinstance(value, str) else value))

    def _local(self, t: int) -> str:
        return self.clock.text(int(t))

    def trade_headers(self) -> list[str]:
        """The trades table's headers, the times' clock named (``Entry (NY)``)."""
        return [f"{c} ({self.clock.short})" if c in ("Entry", "Exit") else c for c in TRADE_COLUMNS]

    def set_display_clock(self, clock: DisplayClock) -> None:
        """Show times on another clock (Settings > Chart): the headers and the run shown follow."""
        self.clock = clock
        self.trades.setHorizontalHeaderLabels(self.trade_headers())
        if self.outcome is not None:
            self._fill_trades(self.outcome)

    def _fill_trades(self, outcome: BacktestOutcome) -> None:
        rows, reasons = outcome.result.trades.rows, outcome.result.trades.reasons()
        d = reports.price_digits(outcome.result.trades.settings.point)  # the symbol's digits
        self.trades.setSortingEnabled(False)
        self.trades.clearContents()
        self.trades.setRowCount(len(rows))
        for i, t in enumerate(rows):
            long = t["direction"] > 0
            cells = [
                _Item(str(i + 1), i + 1), _Item("long" if long else "short"),
                _Item(self._local(t["entry_time"]), int(t["entry_time"])), _Item(fmt(t["entry_price"], d), float(t["entry_price"])),
                _Item(self._local(t["exit_time"]), int(t["exit_time"])), _Item(fmt(t["exit_price"], d), float(t["exit_price"])),
                _Item(fmt(t["stop_price"], d), float(t["stop_price"])), _Item(fmt(t["target1"], d), float(t["target1"])),
                _Item(fmt(t["lots"]), float(t["lots"])), _Item(fmt(t["r_multiple"]), float(t["r_multiple"])),
                _Item(fmt(t["pnl_money"]), float(t["pnl_money"])), _Item(reasons[i]),
                _Item(fmt(t["mfe_r"]), float(t["mfe_r"])), _Item(fmt(t["mae_r"]), float(t["mae_r"])),
            ]
            color = "#26a69a" if t["pnl_money"] > 0 else "#ef5350"
            for col, item in enumerate(cells):
                item.setData(Qt.ItemDataRole.UserRole, i)
                if col in (9, 10):
                    item.setForeground(QBrush(QColor(color)))
                self.trades.setItem(i, col, item)
        self.trades.setSortingEnabled(True)
        self.trades.resizeColumnsToContents()

    def _fill_breakdown(self, table: QTableWidget, rows: list[dict[str, Any]]) -> None:
        table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            win = row.get("win_rate")
            values = [_Item(str(row["group"])), _Item(str(row["trades"]), row["trades"]),
                      _Item(fmt(win * 100 if win is not None else None, 1), _num(win)),
                      _Item(fmt(row.get("expectancy_r")), _num(row.get("expectancy_r"))),
                      _Item(fmt(row.get("profit_factor")), _num(row.get("profit_factor"))),
                      _Item(fmt(row.get("net_pnl")), _num(row.get("net_pnl"))),
                      _Item(fmt(row.get("total_r")), _num(row.get("total_r")))]
            for col, item in enumerate(values):
                table.setItem(i, col, item)
        table.resizeColumnsToContents()

    # -- trades -------------------------------------------------------------------------
    def trade_row_at(self, table_row: int) -> int:
        """The run's trade index shown in ``table_row`` (the table may be sorted)."""
        return int(self.trades.item(table_row, 0).data(Qt.ItemDataRole.UserRole))

    def choose_trade(self, trade: int) -> None:
        """Select the row of the run's trade ``trade`` (as a click would)."""
        for row in range(self.trades.rowCount()):
            if self.trade_row_at(row) == trade:
                self.trades.selectRow(row)
                return
        raise IndexError(f"no trade {trade} in the table")

    def selected_trade(self) -> int | None:
        rows = self.trades.selectionModel().selectedRows()
        return self.trade_row_at(rows[0].row()) if rows and self.outcome is not None else None

    def _request_feedback(self) -> None:
        trade = self.selected_trade()
        if trade is not None:
            self.feedback_requested.emit(self.outcome, trade)

    def _on_trade_selected(self) -> None:
        self.feedback_action.setEnabled(self.selected_trade() is not None and self.outcome.result.run_id is not None)
        rows = self.trades.selectionModel().selectedRows()
        if rows and self.outcome is not None:
            self.trade_chosen.emit(self.outcome, self.trade_row_at(rows[0].row()))

    # -- sweeps -------------------------------------------------------------------------
    def show_sweep(self, outcome: SweepOutcome) -> None:
        """The ranked variants in a table and the statistic over the first two swept paths as a heatmap."""
        self.sweep = outcome
        self.funnel.setText("")
        self.title.setText(f"<b>{outcome.title}</b>")  # what is shown is always named: not the last run's title
        self.title.setToolTip("")
        if outcome.result is None:
            self._show_walk_forward(outcome)
            return
        self._heatmap.setVisible(True)
        result, paths = outcome.result, outcome.paths
        ranked = result.ranked()[:SWEEP_ROWS]
        columns = ["Rank", *paths, result.statistic] + [k for k in (ranked[0] if ranked else {})
                                                          if k not in paths and k != result.statistic]
        self.sweep_table.setSortingEnabled(False)
        self.sweep_table.clear()
        self.sweep_table.setColumnCount(len(columns))
        self.sweep_table.setHorizontalHeaderLabels(columns)
        self.sweep_table.setRowCount(len(ranked))
        for i, row in enumerate(ranked):
            self.sweep_table.setItem(i, 0, _Item(str(i + 1), i + 1))
            for j, key in enumerate(columns[1:], start=1):
                value = row.get(key)
                numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
                self.sweep_table.setItem(i, j, _Item(fmt(value) if key not in paths else str(value),
                                                     float(value) if numeric else str(value)))
        self.sweep_table.setSortingEnabled(True)
        self.sweep_table.sortItems(0, Qt.SortOrder.AscendingOrder)  # a new sweep starts in rank order
        self.sweep_table.resizeColumnsToContents()
        self.heatmap.show_sweep(result.rows, paths, result.statistic)
        own = self.heatmap.getPlotItem().titleLabel.text  # "statistic by path x path"
        self.heatmap.setTitle(f"{outcome.title}: {own}" if own else outcome.title, color=self.theme.foreground,
                              size="9pt")
        self.tabs.setCurrentWidget(self.sweep_tab)

    def _show_walk_forward(self, outcome: SweepOutcome) -> None:
        """In-sample and out-of-sample side by side, a row per part, with the stored runs' ids."""
        stat = outcome.request.statistic
        columns = ["Part", "In-sample (UTC)", "Best variant", f"IS {stat}", "IS trades", "IS run",
                   "Out-of-sample (UTC)", f"OOS {stat}", "OOS trades", "OOS run"]
        table = self.sweep_table
        table.setSortingEnabled(False)
        table.clear()
        table.setColumnCount(len(columns))
        table.setHorizontalHeaderLabels(columns)
        table.setRowCount(len(outcome.walk_forward))

        def day(t: int) -> str:
            return datetime.fromtimestamp(int(t), timezone.utc).strftime("%Y-%m-%d")

        for i, part in enumerate(outcome.walk_forward):
            cells = [f"{part['part']}/{part['parts']}", f"{day(part['in_sample'][0])} – {day(part['in_sample'][1])}",
                     ", ".join(f"{k}={v}" for k, v in part["params"].items()), fmt(part["in"][stat]),
                     str(part["in"]["trades"]), str(part["in"]["run_id"]),
                     f"{day(part['out_of_sample'][0])} – {day(part['out_of_sample'][1])}", fmt(part["out"][stat]),
                     str(part["out"]["trades"]), str(part["out"]["run_id"])]
            for j, text in enumerate(cells):
                table.setItem(i, j, _Item(text, i if j == 0 else text))
        table.resizeColumnsToContents()
        self._heatmap.setVisible(False)
        self.tabs.setCurrentWidget(self.sweep_tab)

    # -- export -------------------------------------------------------------------------
    def ask_export(self, kind: str) -> None:
        if self.outcome is None:
            return
        label, pattern, _fn = EXPORTS[kind]
        o = self.outcome
        default = f"{o.rule.rule_id}_v{o.rule.version}_{o.symbol}_run{o.result.run_id or 0}.{kind}"
        path, _ = QFileDialog.getSaveFileName(self, f"Export {label}", default, f"{label} ({pattern})")
        if path:
            self.export(kind, Path(path))

    def export(self, kind: str, path: Path) -> int | None:
        """Write the shown run with ``backtest.reports`` as a job; ``exported(path)`` when written."""
        if self.outcome is None:
            return None
        result, write = self.outcome.result, EXPORTS[kind][2]
        return self.runner.start(f"Export {kind.upper()}", lambda _ctx: str(write(result, path)),
                                 self.exported.emit, lambda message: self.title.setText(f"Export failed: {message}"))

    # -- stored runs ----------------------------------------------------------------------
    def set_stored_runs(self, runs: list) -> None:
        """The store's runs (``core.runs.list()``: StoredRun), newest first; only reopenable ones can be opened."""
        chosen = self.stored_box.currentData()
        self.stored_box.clear()
        for run in sorted(runs, key=lambda r: r.run_id, reverse=True):
            if run.reopenable:
                self.stored_box.addItem(run.title, run.run_id)
        index = self.stored_box.findData(chosen)
        self.stored_box.setCurrentIndex(max(index, 0))
        self.open_stored_button.setEnabled(self.stored_box.count() > 0)

    def _request_stored(self) -> None:
        run_id = self.stored_box.currentData()
        if run_id is not None:
            self.run_requested.emit(int(run_id))
