"""The Backtest panel, in the spirit of MT5's Strategy Tester: what to test, on what, at what cost.

Rules (each valid version), symbols (the store's series), a date range, a timeframe override,
costs and the intrabar policy; Run starts one job over every checked rule x symbol, Sweep one
job over a grid of dotted paths for the first checked rule and symbol. Both show a progress bar
and share one Cancel button; the GUI thread only builds the request and receives the result.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDateEdit, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout,
    QHeaderView, QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QSizePolicy, QSpinBox, QTableWidget,
    QTableWidgetItem, QVBoxLayout, QWidget,
)

from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.core.job_engine import JobAlreadyRunning
from ita_desktop.ui.dates import utc_day_range
from ita_desktop.ui.job_bridge import JobBridge
from ita_desktop.ui.wheel_guard import guard_wheel
from ita_desktop.core.backtest_service import (
    COMMON_SWEEP_PATHS, RANK_STATISTICS, BacktestOutcome, BacktestRequest, Costs, SweepOutcome, SweepRequest,
    default_grid, sweep_paths,
)
from ita_desktop.core.rules_service import RuleChoice, VersionEntry

if TYPE_CHECKING:
    from ita_desktop.core.backtest_service import BacktestService

RULE_TIMEFRAME = "Rule's own"
INTRABAR = {"worst": "Worst case (stop first)", "best": "Best case (target first)",
            "open_distance": "Nearest extreme to the open first"}
DEFAULT_GRID = (("targets.0.r", "1, 1.5, 2, 3"), ("stop.buffer.pips", "0, 1, 2"))


def _checked(widget: QListWidget) -> list:
    return [widget.item(i).data(Qt.ItemDataRole.UserRole) for i in range(widget.count())
            if widget.item(i).checkState() == Qt.CheckState.Checked]


class BacktestPanel(QWidget):
    """``backtested(list[BacktestOutcome])`` and ``swept(SweepOutcome)`` on success; ``failed(str)``."""

    backtested = Signal(list)
    swept = Signal(object)
    failed = Signal(str)
    job_started = Signal(int)

    def __init__(self, runner: JobBridge, backtests: BacktestService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("backtestPanel")
        self.runner = runner
        self.backtests = backtests
        self.store_open = False  # runs need the full store: set_series is called once it is open
        self.job_id: int | None = None
        self._build()
        self._set_running(None)
        guard_wheel(self)

    # -- building -----------------------------------------------------------------------
    def _build(self) -> None:
        self.rules_list = QListWidget()
        self.rules_list.itemChanged.connect(lambda _item: self._follow_rule())
        self.symbols_list = QListWidget()
        for lst in (self.rules_list, self.symbols_list):
            lst.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
            lst.setMaximumHeight(72)
        self.all_data = QCheckBox("All stored data")
        self.all_data.setChecked(True)
        self.start_date, self.end_date = QDateEdit(), QDateEdit()
        for edit in (self.start_date, self.end_date):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.all_data.toggled.connect(lambda on: [e.setEnabled(not on) for e in (self.start_date, self.end_date)])
        range_row = QHBoxLayout()
        for w in (self.all_data, self.start_date, QLabel("to"), self.end_date):
            range_row.addWidget(w)
        self.timeframe_box = QComboBox()
        self.timeframe_box.addItem(RULE_TIMEFRAME, None)
        for tf in Timeframe:
            if tf.is_intraday:
                self.timeframe_box.addItem(tf.value, tf.value)

        self.spread_mode = QComboBox()
        self.spread_mode.addItems(["From data", "Fixed"])
        self.spread_points = self._spin(0, 10_000, 1, 10, " pts")
        self.spread_mode.currentIndexChanged.connect(lambda i: self.spread_points.setEnabled(i == 1))
        self.spread_points.setEnabled(False)
        spread_row = QHBoxLayout()
        spread_row.addWidget(self.spread_mode)
        spread_row.addWidget(self.spread_points)
        self.commission = self._spin(0, 1_000, 2, 0, " /lot")
        self.slippage = self._spin(0, 10_000, 1, 0, " pts")
        self.initial_equity = self._spin(100, 1e9, 0, 10_000, "")
        self.intrabar_box = QComboBox()
        for key, title in INTRABAR.items():
            self.intrabar_box.addItem(title, key)

        what = QFormLayout()
        what.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        what.addRow("Rules", self.rules_list)
        what.addRow("Symbols", self.symbols_list)
        what.addRow("Range", range_row)
        what.addRow("Timeframe", self.timeframe_box)
        costs = QFormLayout()
        costs.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        costs.addRow("Spread", spread_row)
        costs.addRow("Commission", self.commission)
        costs.addRow("Slippage", self.slippage)
        costs.addRow("Deposit", self.initial_equity)
        costs.addRow("Intrabar", self.intrabar_box)

        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("runButton")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        run_row = QHBoxLayout()
        for button in (self.run_button, self.cancel_button):
            button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            button.setMinimumWidth(110)
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress, 1)
        run_row.addStretch(0)

        # Three columns, like MT5's tester settings: what to test | costs | sweep grid. Run, Cancel,
        # the progress and the status sit above them: the main actions never scroll out of sight.
        columns = QHBoxLayout()
        columns.addWidget(self._group("Test", what), 4)
        columns.addWidget(self._group("Costs and fills", costs), 3)
        columns.addWidget(self._build_sweep(), 4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(run_row)
        layout.addWidget(self.status)
        layout.addLayout(columns)
        layout.addStretch(1)

    @staticmethod
    def _group(title: str, inner: QFormLayout) -> QGroupBox:
        box = QGroupBox(title)
        box.setLayout(inner)
        return box

    def _spin(self, lo: float, hi: float, decimals: int, value: float, suffix: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(lo, hi)
        spin.setDecimals(decimals)
        spin.setValue(value)
        spin.setSuffix(suffix)
        return spin

    def _build_sweep(self) -> QGroupBox:
        box = QGroupBox("Sweep (first checked rule and symbol)")
        self.grid_table = QTableWidget(0, 2)
        self.grid_table.setHorizontalHeaderLabels(["Parameter (dotted path)", "Values (comma-separated)"])
        self.grid_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.grid_table.verticalHeader().setVisible(False)
        self.grid_table.setMinimumHeight(80)
        self._paths: list[str] = list(COMMON_SWEEP_PATHS)  # the chosen rule's own, once one is chosen
        self._grid_rule: str | None = None  # rule_id whose grid the table shows
        self._saved_grids: dict[str, list[tuple[str, str]]] = {}
        for path, values in DEFAULT_GRID:
            self.add_grid_row(path, values)
        add, remove = QPushButton("+ Row"), QPushButton("− Row")
        add.clicked.connect(lambda: self.add_grid_row())
        remove.clicked.connect(self.remove_grid_row)
        self.statistic_box = QComboBox()
        for stat in RANK_STATISTICS:
            self.statistic_box.addItem(stat, stat)
        self.sweep_button = QPushButton("Sweep")
        self.sweep_button.setObjectName("sweepButton")
        self.sweep_button.clicked.connect(self.sweep)
        self.walk_forward = QCheckBox("Walk-forward")
        self.walk_forward.setToolTip("Cut the range into parts; in each, sweep the first 75 % (in-sample), run the best "
                                     "variant on the rest (out-of-sample) and store both as runs, shown side by side")
        self.walk_parts = QSpinBox()
        self.walk_parts.setRange(2, 20)
        self.walk_parts.setValue(4)
        self.walk_parts.setSuffix(" parts")
        self.walk_parts.setEnabled(False)
        self.walk_forward.toggled.connect(self.walk_parts.setEnabled)
        row = QHBoxLayout()
        for w in (add, remove, QLabel("Rank by"), self.statistic_box):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.walk_forward)
        row.addWidget(self.walk_parts)
        row.addWidget(self.sweep_button)
        layout = QVBoxLayout(box)
        layout.addWidget(self.grid_table)
        layout.addLayout(row)
        return box

    def add_grid_row(self, path: str = "", values: str = "") -> None:
        """A grid row: an editable combo offering the common paths, and the values as text."""
        row = self.grid_table.rowCount()
        self.grid_table.insertRow(row)
        combo = QComboBox()
        combo.setEditable(True)
        combo.addItems(self._paths)
        combo.setCurrentText(path)
        guard_wheel(combo)  # rows added later are guarded like the rest
        self.grid_table.setCellWidget(row, 0, combo)
        self.grid_table.setItem(row, 1, QTableWidgetItem(values))

    def remove_grid_row(self) -> None:
        row = self.grid_table.currentRow()
        self.grid_table.removeRow(row if row >= 0 else self.grid_table.rowCount() - 1)

    def set_grid(self, rows: list[tuple[str, str]]) -> None:
        self.grid_table.setRowCount(0)
        for path, values in rows:
            self.add_grid_row(path, values)

    def grid_rows(self) -> list[tuple[str, str]]:
        rows = []
        for row in range(self.grid_table.rowCount()):
            cell = self.grid_table.item(row, 1)
            rows.append((self.grid_table.cellWidget(row, 0).currentText().strip(), cell.text() if cell else ""))
        return rows

    def offered_paths(self) -> list[str]:
        """The paths the grid editor offers: the chosen rule's own numeric fields, then settings.*."""
        return list(self._paths)

    def _follow_rule(self) -> None:
        """The first checked rule decides the grid: its own paths offered, its saved grid or a default that runs."""
        rules = _checked(self.rules_list)
        if not rules:
            return
        choice: RuleChoice = rules[0]
        if choice.rule_id == self._grid_rule:
            return
        if self._grid_rule is not None:
            self._saved_grids[self._grid_rule] = self.grid_rows()
        try:
            text = choice.path.read_text(encoding="utf-8")
        except OSError:
            return
        self._paths = sweep_paths(text, str(choice.path))
        self._grid_rule = choice.rule_id
        self.set_grid(self._saved_grids.get(choice.rule_id) or default_grid(text, str(choice.path)))

    def saved_grids(self) -> dict[str, list[tuple[str, str]]]:
        """Every rule's last grid (the one shown included), kept with the window layout."""
        grids = dict(self._saved_grids)
        if self._grid_rule is not None:
            grids[self._grid_rule] = self.grid_rows()
        return grids

    def restore_grids(self, grids: dict[str, list[tuple[str, str]]]) -> None:
        self._saved_grids.update({k: [tuple(r) for r in v] for k, v in grids.items()})
        current, self._grid_rule = self._grid_rule, None
        if current is not None and current in grids:
            self._follow_rule()
        else:
            self._grid_rule = current

    def grid_items(self) -> list[str]:
        """The grid as ``path=v1,v2`` items (rows with an empty path or no values are skipped)."""
        items = []
        for row in range(self.grid_table.rowCount()):
            path = self.grid_table.cellWidget(row, 0).currentText().strip()
            cell = self.grid_table.item(row, 1)
            values = ",".join(v.strip() for v in (cell.text() if cell else "").split(",") if v.strip())
            if path and values:
                items.append(f"{path}={values}")
        return items

    # -- inputs from the window ---------------------------------------------------------
    def set_series(self, series: list) -> None:
        """The open store's series (SeriesInfo): symbols to choose and the date range they cover."""
        self.store_open = True
        checked = set(_checked(self.symbols_list))
        self.symbols_list.clear()
        symbols = list(dict.fromkeys(s.symbol for s in series))
        for symbol in symbols:
            item = QListWidgetItem(symbol)
            item.setData(Qt.ItemDataRole.UserRole, symbol)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            on = symbol in checked or (not checked and symbol == symbols[0])
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            self.symbols_list.addItem(item)
        if series:
            first = min(s.first_utc for s in series)
            last = max(s.last_utc for s in series)
            for edit, t in ((self.start_date, first), (self.end_date, last)):
                day = datetime.fromtimestamp(t, timezone.utc).date()
                edit.setDate(QDate(day.year, day.month, day.day))
        self._set_running(self.job_id)

    def set_rules(self, entries: list[VersionEntry]) -> None:
        """Valid rule versions from the Rules list; the latest version of each rule checked by default."""
        checked = {(c.rule_id, c.version) for c in _checked(self.rules_list)}
        self.rules_list.clear()
        for entry in entries:
            if not entry.valid:
                continue
            item = QListWidgetItem(f"{entry.rule_id} v{entry.version}" + ("" if entry.latest else "  (old)"))
            item.setData(Qt.ItemDataRole.UserRole, entry.choice)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            on = (entry.rule_id, entry.version) in checked
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            self.rules_list.addItem(item)
        if not _checked(self.rules_list) and self.rules_list.count():
            self.rules_list.item(0).setCheckState(Qt.CheckState.Checked)
        self._follow_rule()

    def select_rule(self, choice: RuleChoice | str, *, only: bool = True) -> bool:
        """Check a rule version (or a rule_id's first listed version); with ``only`` uncheck the others."""
        found = False
        for i in range(self.rules_list.count()):
            item = self.rules_list.item(i)
            c: RuleChoice = item.data(Qt.ItemDataRole.UserRole)
            match = (c.rule_id == choice and not found) if isinstance(choice, str) else \
                (c.rule_id, c.version) == (choice.rule_id, choice.version)
            if match:
                item.setCheckState(Qt.CheckState.Checked)
                self.rules_list.scrollToItem(item)
                found = True
            elif only:
                item.setCheckState(Qt.CheckState.Unchecked)
        return found

    def select_symbols(self, symbols: list[str]) -> None:
        for i in range(self.symbols_list.count()):
            item = self.symbols_list.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in symbols
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    # -- requests -----------------------------------------------------------------------
    def costs(self) -> Costs:
        fixed = self.spread_mode.currentIndex() == 1
        return Costs(spread_points=self.spread_points.value() if fixed else None,
                     commission_per_lot=self.commission.value(), slippage_points=self.slippage.value(),
                     intrabar=self.intrabar_box.currentData(), initial_equity=self.initial_equity.value())

    def _range(self) -> tuple[int | None, int | None]:
        if self.all_data.isChecked():
            return None, None
        return utc_day_range(self.start_date.date(), self.end_date.date())

    def request(self) -> BacktestRequest:
        start, end = self._range()
        return BacktestRequest(tuple(_checked(self.rules_list)), tuple(_checked(self.symbols_list)),
                               self.timeframe_box.currentData(), start, end, self.costs())

    def sweep_request(self) -> SweepRequest:
        rules, symbols = _checked(self.rules_list), _checked(self.symbols_list)
        if not rules or not symbols:
            raise ValueError("check a rule and a symbol to sweep")
        start, end = self._range()
        return SweepRequest(rules[0], symbols[0], tuple(self.grid_items()), self.statistic_box.currentData(),
                            self.timeframe_box.currentData(), start, end, self.costs(),
                            self.walk_parts.value() if self.walk_forward.isChecked() else 0)

    # -- running ------------------------------------------------------------------------
    def run(self) -> int | None:
        """Start the backtest job; returns its id (None when nothing could start, said in the status)."""
        request = self.request()
        if not request.rules or not request.symbols:
            self.say("Check at least one rule and one symbol.", error=True)
            return None
        names = ", ".join(r.title for r in request.rules)
        backtests = self.backtests
        return self._start(f"Backtest {names}", lambda ctx: backtests.run(request, ctx),
                           self._on_backtested)

    def sweep(self) -> int | None:
        """Start the sweep job over the grid."""
        try:
            request = self.sweep_request()
        except ValueError as exc:
            self.say(str(exc), error=True)
            return None
        if not request.grid:
            self.say("Fill at least one grid row: a path and its values.", error=True)
            return None
        backtests = self.backtests
        return self._start(f"Sweep {request.rule.title} on {request.symbol}",
                           lambda ctx: backtests.sweep(request, ctx), self._on_swept)

    def _start(self, name: str, fn, on_done) -> int | None:
        if not self.store_open:
            self.say("The store is not open yet.", error=True)
            return None
        try:
            job_id = self.runner.start(name, fn, on_done, self._on_failed, self._on_progress, key="backtest-panel")
        except JobAlreadyRunning as exc:
            self.say(str(exc), error=True)
            return None
        self._set_running(job_id)
        self.say(f"{name}…")
        self.job_started.emit(job_id)
        return job_id

    def cancel(self) -> None:
        if self.job_id is not None:
            self.runner.cancel(self.job_id)
            self.say("Cancelling…")

    def _on_progress(self, fraction: float, stage: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.progress.setFormat(f"{fraction:.0%}")
        if stage:
            self.status.setText(stage)

    def _on_backtested(self, outcomes: list[BacktestOutcome]) -> None:
        self._set_running(None)
        trades = sum(len(o.result.trades) for o in outcomes)
        self.say(f"Done: {len(outcomes)} run(s), {trades} trade(s).")
        self.backtested.emit(outcomes)

    def _on_swept(self, outcome: SweepOutcome) -> None:
        self._set_running(None)
        if outcome.walk_forward:
            self.say(f"Walk-forward done: {len(outcome.walk_forward)} parts, each stored as an in-sample and an "
                     "out-of-sample run.")
        else:
            self.say(f"Sweep done: {len(outcome.result.rows)} variants ranked by {outcome.result.statistic}.")
        self.swept.emit(outcome)

    def _on_failed(self, message: str) -> None:
        self._set_running(None)
        self.say(message, error=not message.endswith("cancelled"))
        self.failed.emit(message)

    def _set_running(self, job_id: int | None) -> None:
        self.job_id = job_id
        running = job_id is not None
        self.run_button.setEnabled(not running and self.store_open)
        self.sweep_button.setEnabled(not running and self.store_open)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        if running:
            self.progress.setValue(0)
            self.progress.setFormat("0%")

    @property
    def running(self) -> bool:
        return self.job_id is not None

    def say(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color:#ef5350;" if error else "")
        self.status.setText(text)
