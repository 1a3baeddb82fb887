"""The scorer's walk-forward report in the window: a reliability diagram (out-of-sample predicted probability vs
the observed win rate per bin, the diagonal and the base rate) with Brier score and log loss against the
base rate. When the scorer does not beat the base rate out of sample it says so and shows no score.

The report comes from ``core.learning.score`` in a job (Journal dock, "Scorer" tab): pick a rule and a
symbol, press Run walk-forward.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from ita_desktop.ui.panels.result_charts import _Plot

if TYPE_CHECKING:
    from ita_desktop.core.learning_service import LearningService
    from ita_desktop.learning.scorer import ScoreReport
    from ita_desktop.ui.job_bridge import JobBridge
    from ita_desktop.ui.theme import Theme

NO_SCORE = "does not beat the base rate: no score shown"


def report_text(report: ScoreReport) -> str:
    """The figures under the diagram, in words."""
    head = f"{report.rule_id} on {report.symbol}: {report.n_rows} occurrence(s) with an outcome"
    if report.brier is None:
        return f"{head}. {report.message}"
    figures = (f"walk-forward n_train {report.n_train}, n_test {report.n_test}; Brier {report.brier:.4f} vs base rate "
               f"{report.base_rate_brier:.4f}; log loss {report.log_loss:.4f} vs base rate {report.base_rate_log_loss:.4f}")
    verdict = "beats the base rate out of sample" if report.beats_base_rate else NO_SCORE
    latest = ""
    if report.beats_base_rate and report.latest_probability is not None:
        latest = f"; latest signal {report.latest_signal_utc}: P(first target before the stop) = {report.latest_probability:.2f}"
    return f"{head}; {figures}. {verdict}{latest}"


class ReliabilityChart(_Plot):
    def __init__(self, theme: Theme) -> None:
        super().__init__(theme, "Observed win rate", "Predicted probability (out of sample)")
        self.setXRange(0, 1)
        self.setYRange(0, 1)
        self.diagonal = self.plot([0, 1], [0, 1], pen=pg.mkPen(theme.axis, width=1, style=pg.QtCore.Qt.PenStyle.DashLine))
        self.base = self.plot([], [], pen=pg.mkPen(theme.down, width=1))
        self.points = self.plot([], [], pen=pg.mkPen(theme.highlight, width=2), symbol="o", symbolSize=8,
                                symbolBrush=theme.highlight)

    def show_report(self, report: ScoreReport | None) -> None:
        bins = report.reliability if report is not None else []
        self.points.setData([b["predicted"] for b in bins], [b["observed"] for b in bins])
        rate = report.base_rate if report is not None else None
        self.base.setData([0, 1], [rate, rate]) if rate is not None else self.base.setData([], [])


class ReliabilityView(QWidget):
    shown = Signal(object)  # ScoreReport

    def __init__(self, runner: JobBridge, learning: LearningService, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reliabilityView")
        self.runner, self.learning = runner, learning
        self.report: ScoreReport | None = None
        self.rule_box, self.symbol_box = QComboBox(), QComboBox()
        for box in (self.rule_box, self.symbol_box):
            box.setEditable(True)
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.run_button = QPushButton("Run walk-forward")
        self.run_button.clicked.connect(self.run)
        self.chart = ReliabilityChart(theme)
        self.text = QLabel("The scorer's walk-forward report: pick a rule and a symbol.")
        self.text.setWordWrap(True)
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top = QHBoxLayout()
        top.addWidget(QLabel("Rule"))
        top.addWidget(self.rule_box)
        top.addWidget(QLabel("Symbol"))
        top.addWidget(self.symbol_box)
        top.addWidget(self.run_button)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.text)

    def set_choices(self, rules: list[str], symbols: list[str]) -> None:
        for box, values in ((self.rule_box, rules), (self.symbol_box, symbols)):
            current = box.currentText()
            box.clear()
            box.addItems(values)
            if current:
                box.setCurrentText(current)

    def run(self) -> None:
        rule, symbol, learning = self.rule_box.currentText().strip(), self.symbol_box.currentText().strip(), self.learning
        if not rule or not symbol:
            self.text.setText("Pick a rule and a symbol first.")
            return
        self.run_button.setEnabled(False)
        self.text.setText(f"Walk-forward of {rule} on {symbol}…")

        def failed(error: str) -> None:
            self.run_button.setEnabled(True)
            self.text.setText(f"Cannot score {rule}: {error}")

        self.runner.start(f"Score {rule}", lambda _ctx: learning.score(rule, symbol)[1], self.show_report, failed)

    def show_report(self, report: ScoreReport) -> None:
        self.report = report
        self.run_button.setEnabled(True)
        self.chart.show_report(report)
        self.text.setText(report_text(report))
        self.shown.emit(report)

    def say(self, message: Any) -> None:
        self.text.setText(str(message))
