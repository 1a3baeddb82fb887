"""Similar past setups of the selected signal, under the Signals list: win rate, average R and the k nearest
setups of the same rule on the same symbol (signalled before it), each with its similarity and outcome.

Found by ``core.learning.similar_to_signal`` in a job (the first call on a rule recomputes its dataset,
later ones read the cache); a newer selection drops an older answer. A click on a row emits
``neighbour_chosen(symbol, timeframe, signal_utc)``: the window puts the chart there.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QHeaderView, QLabel, QSizePolicy, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

if TYPE_CHECKING:
    from ita_desktop.core.learning_service import LearningService, SimilarSetups
    from ita_desktop.ui.job_bridge import JobBridge
    from ita_desktop.ui.theme import Theme

COLUMNS = ("Past setup (UTC)", "Similarity", "R", "Outcome")


class SimilarSetupsView(QWidget):
    neighbour_chosen = Signal(str, str, int)  # symbol, timeframe, signal time (UTC seconds)
    shown = Signal(object)  # SimilarSetups, once on screen

    def __init__(self, runner: JobBridge, learning: LearningService, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("similarSetups")
        self.runner, self.learning, self.theme = runner, learning, theme
        self.found: SimilarSetups | None = None
        self._signal: Any = None
        self._asked = 0
        self.title = QLabel("Similar past setups: select a signal")
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.table.cellClicked.connect(lambda row, _c: self.choose(row))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 1)

    def show_for(self, signal: Any) -> None:
        """Find the selected signal's similar past setups (a job); the answer replaces the table."""
        self._asked += 1
        asked, learning = self._asked, self.learning
        self._signal = signal
        self.title.setText(f"Similar past setups of {signal.rule_id} on {signal.symbol}: searching…")
        self.table.setRowCount(0)

        def done(found: SimilarSetups) -> None:
            if asked == self._asked:
                self._show(found)

        def failed(error: str) -> None:
            if asked == self._asked:
                self.title.setText(f"Similar past setups: {error}")

        self.runner.start("Similar setups", lambda _ctx: learning.similar_to_signal(signal), done, failed)

    def _show(self, found: SimilarSetups) -> None:
        self.found = found
        self.title.setText(found.summary() + f" ({found.rule_id} v{found.rule_version}, {found.symbol})")
        self.table.setRowCount(len(found.neighbours))
        for i, n in enumerate(found.neighbours):
            values = [datetime.fromtimestamp(n.signal_time, timezone.utc).strftime("%Y-%m-%d %H:%M"),
                      f"{n.similarity:.0%}", f"{n.outcome_r:+.2f}", "win" if n.win else "loss"]
            for j, text in enumerate(values):
                item = QTableWidgetItem(text)
                if j == 2:
                    item.setForeground(QColor(self.theme.up if n.outcome_r > 0 else self.theme.down))
                self.table.setItem(i, j, item)
        self.shown.emit(found)

    def choose(self, row: int) -> None:
        if self.found is None or not 0 <= row < len(self.found.neighbours) or self._signal is None:
            return
        self.neighbour_chosen.emit(self.found.symbol, self._signal.timeframe, self.found.neighbours[row].signal_time)
