"""The journal in the window: the Journal dock (View > Journal) and the feedback form, opened from the Signals
panel's "Feedback…" button, the Results panel's trades (right-click > Feedback…, or a double-click) and
the Journal's own entries.

Every read and write is a job on the engine (the existing feedback and the tag lists before the form
opens; the save, with the chart picture encoded to PNG off the GUI thread). Saving goes through
``core.journal.save``, which enqueues the signal's Notion page update in the feedback's transaction
(the window's sender sends it) and publishes ``FeedbackSaved``.
A click on an entry puts the chart there: a signal through the Signals' jump, a trade by reopening its run.

It also puts the similar past setups of the selected signal beside the Signals list (``SimilarSetupsView``;
a click on one moves the chart to it).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QDockWidget, QSplitter

from ita_desktop.ui.panels.feedback_dialog import FeedbackDialog
from ita_desktop.ui.panels.journal_panel import JournalPanel
from ita_desktop.ui.panels.reliability_view import ReliabilityView
from ita_desktop.ui.panels.review_panel import encode_png
from ita_desktop.ui.panels.similar_setups import SimilarSetupsView
from ita_desktop.ui.wheel_guard import guard_wheel

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core
    from ita_desktop.core.backtest_service import BacktestOutcome
    from ita_desktop.learning.journal_stats import JournalEntry
    from ita_desktop.storage.feedback_store import Feedback
    from ita_desktop.storage.signal_store import SignalRecord


class JournalDesk(QObject):
    def __init__(self, window: Any, core: Core) -> None:
        super().__init__(window)
        self.window, self.core = window, core
        self.workbench = window.workbench
        self._panel: JournalPanel | None = None  # built on first use (the dock, a test): ~50 ms of the window's build
        self.dock: QDockWidget | None = None  # docked on first use, as the Signals list
        self.dialog: FeedbackDialog | None = None
        self._runs: dict[int, BacktestOutcome] = {}  # reopened runs, by id (a click on a trade entry)
        self.action = window.view_menu.addAction("Journal", self.show)
        self.workbench.signals.feedback_requested.connect(self.edit_signal)
        self.workbench.results.feedback_requested.connect(self.edit_trade)
        self.similar = SimilarSetupsView(window.runner, core.learning, window.theme)
        signals = self.workbench.signals
        split = QSplitter(Qt.Orientation.Horizontal)  # the list, and beside it the selected one's similar setups
        signals.layout().removeWidget(signals.table)
        split.addWidget(signals.table)
        split.addWidget(self.similar)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        signals.layout().addWidget(split, 1)
        signals.signal_chosen.connect(self.similar.show_for)
        self.similar.neighbour_chosen.connect(self.show_past_setup)

    @property
    def panel(self) -> JournalPanel:
        """The Journal's panel with the scorer's tab, built the first time it is needed."""
        if self._panel is None:
            window, core = self.window, self.core
            panel = self._panel = JournalPanel(window.runner, core.journal, window.theme)
            panel.edit_requested.connect(self.edit_entry)
            panel.entry_chosen.connect(self.show_on_chart)
            self._reliability = ReliabilityView(window.runner, core.learning, window.theme)
            panel.tabs.addTab(self._reliability, "Scorer")
            guard_wheel(panel)  # its boxes take the wheel only when focused, as the window's others
        return self._panel

    @property
    def reliability(self) -> ReliabilityView:
        """The scorer's reliability view, a tab of the Journal (built with it)."""
        self.panel  # noqa: B018 - builds it
        return self._reliability

    def show(self) -> None:
        """Dock the Journal (the first time: a bottom tab beside Rules), bring it up and read it afresh."""
        if self.dock is None:
            dock = QDockWidget("Journal", self.window)
            dock.setObjectName("journalDock")
            dock.setWidget(self.panel)
            self.window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
            self.window.tabifyDockWidget(self.workbench.rules_dock, dock)
            self.dock = dock
        self.dock.show()
        self.dock.raise_()
        if self.core.store_if_open is not None:
            self.panel.refresh()
            rules = self.core.rules
            self.window.runner.start("List rules", lambda _ctx: sorted({e.rule_id for e in rules.list() if e.valid}),
                                     self._set_scorer_choices, lambda _error: None)

    def _set_scorer_choices(self, rule_ids: list[str]) -> None:
        symbols = sorted({getattr(s, "symbol", "") for s in self.window.series} - {""})
        self.reliability.set_choices(rule_ids, symbols)

    # -- the form -----------------------------------------------------------------------------
    def edit_signal(self, record: SignalRecord) -> None:
        from ita_desktop.core.journal_service import signal_feedback

        self._open(signal_feedback(record), f"signal {record.rule_id} {record.symbol}")

    def edit_trade(self, outcome: BacktestOutcome, trade: int) -> None:
        from ita_desktop.core.journal_service import trade_feedback

        try:
            blank = trade_feedback(outcome, trade)
        except Exception as exc:  # an unstored run: said in the Results panel's title
            self.workbench.results.title.setText(str(exc))
            return
        if outcome.result.run_id is not None:
            self._runs[outcome.result.run_id] = outcome
        self._open(blank, f"trade {trade + 1} of run {outcome.result.run_id}")

    def edit_entry(self, entry: JournalEntry) -> None:
        self._open(entry.feedback, f"{entry.feedback.target_kind} {entry.feedback.target_key}")

    def _open(self, blank: Feedback, title: str) -> None:
        journal = self.core.journal

        def work(_ctx: Any) -> tuple[Feedback, dict[str, list[str]]]:
            stored = journal.get(blank.target_kind, blank.target_key)
            if stored is not None and blank.outcome_r is not None:
                stored.outcome_r = blank.outcome_r
            return stored or blank, journal.tags()

        self.window.runner.start("Open feedback", work, lambda found: self._show_dialog(*found, title),
                                 lambda error: self.window.statusBar().showMessage(f"Cannot open feedback: {error}", 8000))

    def _show_dialog(self, feedback: Feedback, tags: dict[str, list[str]], title: str) -> None:
        if self.dialog is not None:
            self.dialog.close()
        chart = self.window.chart
        grab = (lambda: chart.grab().toImage()) if chart.bars is not None else None
        self.dialog = FeedbackDialog(feedback, tags, title, grab, self.window)
        self.dialog.saved.connect(self.save)
        self.dialog.show()

    def save(self, feedback: Feedback, image: Any) -> None:
        """Store the form's feedback (and the chart picture) in a job; the Journal reads itself again."""
        journal = self.core.journal

        def work(_ctx: Any) -> Feedback:
            return journal.save(feedback, encode_png(image) if image is not None else None)

        self.window.runner.start("Save feedback", work, self._on_saved,
                                 lambda error: self.window.statusBar().showMessage(f"Feedback not saved: {error}", 8000))

    def _on_saved(self, feedback: Feedback) -> None:
        self.window.statusBar().showMessage(f"Feedback saved on {feedback.target_kind} {feedback.target_key}", 5000)
        if self.dock is not None and self.dock.isVisible():
            self.panel.refresh()

    def show_past_setup(self, symbol: str, timeframe: str, signal_utc: int) -> None:
        """A similar past setup clicked: the chart goes to its signal bar (the Signals' own jump)."""
        self.workbench.show_signal(SimpleNamespace(symbol=symbol, timeframe=timeframe, steps=[], signal_time=signal_utc))

    # -- an entry on the chart ------------------------------------------------------------------
    def show_on_chart(self, entry: JournalEntry) -> None:
        f = entry.feedback
        store = self.core.store_if_open
        if store is None:
            return
        if f.target_kind == "signal":
            self.window.runner.start("Find the signal", lambda _ctx: store.signals.get_many([f.target_key]).get(f.target_key),
                                     lambda record: record is not None and self.workbench.show_signal(record),
                                     lambda _error: None)
            return
        run_text, _, occ_text = f.target_key.partition(":")
        run_id, occ = int(run_text), int(occ_text)
        if run_id in self._runs:
            self._show_trade(self._runs[run_id], occ)
            return
        runs = self.core.runs
        self.window.runner.start(f"Open run {run_id}", lambda _ctx: runs.reopen(run_id),
                                 lambda outcome: self._show_trade(outcome, occ),
                                 lambda error: self.panel.count_label.setText(f"Cannot open run {run_id}: {error}"))

    def _show_trade(self, outcome: BacktestOutcome, occurrence: int) -> None:
        self._runs[outcome.result.run_id] = outcome
        rows = outcome.result.trades.rows
        trade = next((i for i in range(len(rows)) if int(rows[i]["occurrence"]) == occurrence), None)
        if trade is None:
            return
        results = self.workbench.results
        if results.outcome is not outcome:
            results.show_outcomes([outcome])
        if results.selected_trade() == trade:  # selected already: selecting again would not move the chart
            self.workbench.show_trade(outcome, trade)
        else:
            results.choose_trade(trade)  # the Results panel's selection draws it (Workbench.show_trade)
