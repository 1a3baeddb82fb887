"""The Signals list: live, replay and missed signals with their paper-trade status and outcome.

Read through ``core.live.signals`` in a job (the table grows with every session); refreshed when
the bus says a signal was raised or updated, at most once per REFRESH_MS. Filters by source and by
open/closed status. A click emits ``signal_chosen(record)``: the Workbench puts the chart there.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from ita_desktop.ui.job_bridge import JobBridge

if TYPE_CHECKING:
    from ita_desktop.core.live.live_service import LiveService
    from ita_desktop.storage.signal_store import SignalRecord

COLUMNS = ("Signal (UTC)", "Rule", "Symbol", "TF", "Side", "Order", "Entry", "Stop", "Source", "Status", "R")
SOURCES = ("all sources", "live", "replay", "missed")
STATUS = ("any status", "open", "closed")
OPEN = ("pending", "filled")
REFRESH_MS = 250


def _price(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.6g}"


def row_values(r: SignalRecord) -> list[str]:
    """One table row's texts for a stored signal."""
    r_mult = r.outcome.get("r_multiple") if r.outcome else None
    return [datetime.fromtimestamp(r.signal_time, timezone.utc).strftime("%Y-%m-%d %H:%M"), f"{r.rule_id} v{r.rule_version}",
            r.symbol, r.timeframe, "long" if r.direction > 0 else "short", r.order_type or "skipped",
            _price(r.entry_price), _price(r.stop_price), r.source, r.status,
            "–" if r_mult is None else f"{r_mult:+.2f}"]


class SignalsPanel(QWidget):
    signal_chosen = Signal(object)  # SignalRecord
    listed = Signal(int)  # rows shown after a refresh
    feedback_requested = Signal(object)  # SignalRecord: "Feedback…" on the selected signal (the journal's form)

    def __init__(self, runner: JobBridge, live: LiveService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("signalsPanel")
        self.runner, self.live = runner, live
        self.records: list[SignalRecord] = []
        self._asked = 0  # refreshes asked for: only the latest one's result is shown (jobs may finish out of order)
        self.source_box, self.status_box = QComboBox(), QComboBox()
        self.source_box.addItems(SOURCES)
        self.status_box.addItems(STATUS)
        for box in (self.source_box, self.status_box):
            box.currentIndexChanged.connect(self.refresh)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.feedback_button = QPushButton("Feedback…")
        self.feedback_button.setToolTip("taken or skipped, label, grade, tags, notes and the chart for the selected signal")
        self.feedback_button.setEnabled(False)
        self.feedback_button.clicked.connect(self._request_feedback)
        self.count_label = QLabel("")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # a wide table scrolls inside its dock: it must not widen the window's minimum (docks share the bottom)
        self.table.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.count_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.table.cellClicked.connect(lambda row, _col: self._choose(row))
        top = QHBoxLayout()
        for w in (self.source_box, self.status_box, self.refresh_button, self.feedback_button):
            top.addWidget(w)
        top.addWidget(self.count_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self._timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._timer.timeout.connect(self.refresh)

    def on_event(self, _event: Any) -> None:
        """A signal was raised or updated: refresh soon (a replay at full speed sends many); hidden: when shown."""
        if not self._timer.isActive():
            self._timer.start()

    def cancel_pending(self) -> None:
        """The window closes: a refresh still due would start a job on the shut-down engine."""
        self._timer.stop()

    def filters(self) -> dict[str, Any]:
        source = self.source_box.currentText()
        status = self.status_box.currentText()
        return {"source": None if source == SOURCES[0] else source,
                "status": None if status == STATUS[0] else status}

    def refresh(self) -> None:
        wanted = self.filters()
        self._asked += 1
        asked = self._asked

        def done(records: list[SignalRecord]) -> None:
            if asked == self._asked:  # a later refresh (other filters, newer rows) is on its way: this one is stale
                self._show(records)

        self.runner.start("List signals", lambda _ctx: self.live.signals(**wanted), done,
                          lambda error: self.count_label.setText(f"Cannot list signals: {error}"))

    def _show(self, records: list[SignalRecord]) -> None:
        self.records = list(reversed(records))  # newest first
        self.table.setRowCount(len(self.records))
        for i, r in enumerate(self.records):
            for j, text in enumerate(row_values(r)):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.count_label.setText(f"{len(self.records)} signal(s)")
        self.listed.emit(len(self.records))

    def _choose(self, row: int) -> None:
        if 0 <= row < len(self.records):
            self.feedback_button.setEnabled(True)
            self.signal_chosen.emit(self.records[row])

    def selected(self) -> SignalRecord | None:
        row = self.table.currentRow()
        return self.records[row] if 0 <= row < len(self.records) else None

    def _request_feedback(self) -> None:
        record = self.selected()
        if record is not None:
            self.feedback_requested.emit(record)
