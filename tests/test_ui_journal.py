"""The journal in the real window (offscreen, real EURUSD store): feedback entered from the Results panel's
trade and the Signals panel's signal (with the chart picture), the Journal dock's list and filters, the
calendar's R per day, statistics by tag, the selected entry's picture and notes, a click moves the chart."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from ita_desktop.core.journal_service import trade_feedback
from ita_desktop.learning.journal_stats import trading_day
from ita_desktop.storage.signal_store import SignalRecord
from ita_desktop.ui.main_window import MainWindow
from tests.support.cores import new_core

WAIT_MS = 120_000
pytestmark = pytest.mark.realdata


def _signal(key: str, t: int, r: float) -> SignalRecord:
    return SignalRecord(occurrence_key=key, rule_id="ib_raid", rule_version="1", symbol="EURUSD", timeframe="M1",
                        signal_time=t, direction=-1, source="replay", status="target" if r > 0 else "stop",
                        steps=[{"name": "raid", "time": t - 600}], occurrence={}, outcome={"r_multiple": r})


@pytest.fixture
def window(qtbot, eurusd_store: Path):
    core = new_core()
    result = core.backtests.backtest("ib_raid", "EURUSD")
    assert result.run_id is not None and len(result.trades) >= 5
    w = MainWindow(core, symbol="EURUSD", timeframe="M1")
    qtbot.addWidget(w)
    w.resize(1440, 900)
    with qtbot.waitSignal(w.ready, timeout=WAIT_MS):
        w.show()
    qtbot.waitUntil(lambda: w.core.store_if_open is not None, timeout=WAIT_MS)
    w.test_run_id = result.run_id
    return w


def test_feedback_from_results_and_signals_then_the_journal_lists_filters_and_counts(qtbot, window) -> None:
    core, wb = window.core, window.workbench
    # -- a trade's feedback from the Results panel
    with qtbot.waitSignal(wb.reopened, timeout=WAIT_MS):
        wb.reopen_run(window.test_run_id)
    results = wb.results
    qtbot.waitUntil(lambda: results.feedback_action.isEnabled(), timeout=WAIT_MS)
    trade = results.selected_trade()
    results.feedback_action.trigger()  # right-click > Feedback…
    qtbot.waitUntil(lambda: window.journal.dialog is not None and window.journal.dialog.isVisible(), timeout=WAIT_MS)
    dialog = window.journal.dialog
    dialog.taken.setCurrentText("taken")
    dialog.label.setCurrentText("valid")
    dialog.grade.setCurrentText("A")
    dialog.tags.new.setText("ib raid")
    dialog.tags.add_typed()
    dialog.mistakes.new.setText("early entry")
    dialog.mistakes.add_typed()
    dialog.notes.setPlainText("entered before the close of the raid bar")
    assert dialog.attach.isChecked()
    dialog.save_button.click()
    key = trade_feedback(results.outcome, trade).target_key
    qtbot.waitUntil(lambda: core.journal.get("trade", key) is not None, timeout=WAIT_MS)
    saved = core.journal.get("trade", key)
    assert saved.tags == ["ib raid"] and saved.mistakes == ["early entry"] and saved.taken and saved.label == "valid"
    assert Path(saved.picture_path).read_bytes().startswith(b"\x89PNG")
    # two more trades from the core, tagged differently
    outcome = results.outcome
    for i in (1, 2):
        if i != trade:
            core.journal.save(trade_feedback(outcome, i, tags=["ib raid", "london"]))

    # -- a signal's feedback from the Signals panel
    bars = window.chart.bars
    t_sig = int(bars.time[len(bars.time) * 2 // 3])
    core.store.signals.store([_signal("sig-1", t_sig, 1.5)])
    wb.show_signals()
    panel = wb.signals
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=WAIT_MS)
    panel.table.setCurrentCell(0, 0)
    panel.table.cellClicked.emit(0, 0)
    assert panel.feedback_button.isEnabled()
    panel.feedback_button.click()
    qtbot.waitUntil(lambda: window.journal.dialog is not dialog and window.journal.dialog.isVisible(), timeout=WAIT_MS)
    window.journal.dialog.taken.setCurrentText("skipped")
    window.journal.dialog.skip_reason.setText("news")
    window.journal.dialog.tags.list.findItems("ib raid", Qt.MatchFlag.MatchExactly)[0].setCheckState(Qt.CheckState.Checked)
    window.journal.dialog.save_button.click()
    qtbot.waitUntil(lambda: core.journal.get("signal", "sig-1") is not None, timeout=WAIT_MS)
    assert core.journal.get("signal", "sig-1").skip_reason == "news"

    # -- the Journal dock
    journal = window.journal.panel
    window.journal.action.trigger()
    assert window.journal.dock.isVisible()
    entries = core.journal.entries()
    qtbot.waitUntil(lambda: journal.table.rowCount() == len(entries), timeout=WAIT_MS)
    # filters: tag, outcome, symbol
    journal.tag_box.setCurrentText("london")
    qtbot.waitUntil(lambda: journal.table.rowCount() == sum("london" in e.feedback.tags for e in entries), timeout=WAIT_MS)
    journal.tag_box.setCurrentIndex(0)
    journal.outcome_box.setCurrentText("win")
    wins = [e for e in entries if e.outcome == "win"]
    qtbot.waitUntil(lambda: journal.table.rowCount() == len(wins), timeout=WAIT_MS)
    with qtbot.waitSignal(journal.listed, timeout=WAIT_MS):
        journal.outcome_box.setCurrentIndex(0)
    qtbot.waitUntil(lambda: journal.table.rowCount() == len(entries), timeout=WAIT_MS)
    qtbot.wait(200)  # no refresh still on its way
    # the calendar: each day's cell shows the sum of that day's R
    for e in entries:
        day = trading_day(e.feedback.signal_time)
        journal.show_month(day)
        want = sum(x.r for x in entries if x.r is not None and trading_day(x.feedback.signal_time) == day)
        assert f"{want:+.2f}R" in journal.day_cell(day).text()
    # statistics by tag
    by_tag = {journal.tag_stats.item(i, 0).text(): i for i in range(journal.tag_stats.rowCount())}
    ib = [e for e in entries if "ib raid" in e.feedback.tags]
    assert journal.tag_stats.item(by_tag["ib raid"], 1).text() == str(len(ib))
    ib_r = [e.r for e in ib if e.r is not None]
    assert journal.tag_stats.item(by_tag["ib raid"], 4).text() == f"{sum(ib_r) / len(ib_r):+.2f}"
    assert journal.mistake_stats.item(0, 0).text() == "early entry"
    # the selected entry: picture and notes; the chart moves to it
    row = next(i for i, e in enumerate(journal.entries) if e.feedback.target_key == key)
    journal.table.selectRow(next(i for i, e in enumerate(journal.entries) if e.feedback.target_key == "sig-1"))
    qtbot.waitUntil(lambda: _visible_times(window)[0] <= t_sig <= _visible_times(window)[1], timeout=WAIT_MS)
    journal.table.selectRow(row)
    assert journal.picture.pixmap() is not None and not journal.picture.pixmap().isNull()
    assert "entered before the close" in journal.notes.toPlainText()
    qtbot.waitUntil(lambda: results.selected_trade() == trade, timeout=WAIT_MS)
    span_first = int(outcome.result.trades.rows[trade]["entry_time"])
    qtbot.waitUntil(lambda: _visible_times(window)[0] <= span_first <= _visible_times(window)[1], timeout=WAIT_MS)
    # the tag lists are editable from the panel
    journal.add_tag("mistake", "moved stop")
    qtbot.waitUntil(lambda: journal.tag_lists["mistake"].count() == 2, timeout=WAIT_MS)
    journal.remove_tag("mistake", "moved stop")
    qtbot.waitUntil(lambda: journal.tag_lists["mistake"].count() == 1, timeout=WAIT_MS)


def _visible_times(window) -> tuple[int, int]:
    first, stop = window.chart.visible_range()
    time = window.chart.bars.time
    return int(time[min(first, len(time) - 1)]), int(time[max(0, stop - 1)])


def test_similar_setups_beside_the_signals_list_and_a_click_moves_the_chart(qtbot, window) -> None:
    from tests.test_learning_cache import _signal_of

    core = window.core
    ds = core.learning.dataset("ib_raid", "EURUSD")
    i = len(ds.all_time) - 2
    core.store.signals.store([_signal_of(ds, i)])
    wb = window.workbench
    wb.show_signals()
    panel, view = wb.signals, window.journal.similar
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=WAIT_MS)
    with qtbot.waitSignal(view.shown, timeout=WAIT_MS):
        panel.table.cellClicked.emit(0, 0)
    found = view.found
    assert view.table.rowCount() == len(found.neighbours) > 0
    assert view.title.text().startswith(found.summary())
    assert view.table.item(0, 1).text() == f"{found.neighbours[0].similarity:.0%}"
    target = found.neighbours[-1].signal_time
    assert window.chart.bars is not None
    window.chart.show_range(len(window.chart.bars) - 50, len(window.chart.bars) - 1)
    assert not _visible_times(window)[0] <= target <= _visible_times(window)[1]
    view.table.cellClicked.emit(len(found.neighbours) - 1, 0)
    qtbot.waitUntil(lambda: _visible_times(window)[0] <= target <= _visible_times(window)[1], timeout=WAIT_MS)


def test_reliability_diagram_shows_the_walk_forward_and_no_score_when_it_does_not_beat_the_base_rate(qtbot, window) -> None:
    import numpy as np

    from ita_desktop.learning.scorer import walk_forward
    from ita_desktop.ui.panels.reliability_view import NO_SCORE

    window.journal.show()
    view = window.journal.reliability
    qtbot.waitUntil(lambda: view.rule_box.findText("ib_raid") >= 0 and view.symbol_box.count() > 0, timeout=WAIT_MS)
    view.rule_box.setCurrentText("ib_raid")
    view.symbol_box.setCurrentText("EURUSD")
    with qtbot.waitSignal(view.shown, timeout=WAIT_MS):
        view.run_button.click()
    assert view.report.brier is None and "not enough occurrences" in view.text.text()  # 7 weeks: too few rows
    assert len(view.chart.points.getData()[0] or []) == 0
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 6))
    good = walk_forward(X, X[:, 0] + 0.5 * rng.normal(size=300) > 0, "synthetic", "EURUSD")
    assert sum(b["n"] for b in good.reliability) == good.n_test
    view.show_report(good)
    xs, ys = view.chart.points.getData()
    assert len(xs) == len(good.reliability) >= 3 and "beats the base rate" in view.text.text()
    assert list(ys) == [b["observed"] for b in good.reliability]
    flat = walk_forward(np.zeros((300, 6)), rng.random(300) < 0.4, "flat", "EURUSD")
    view.show_report(flat)
    assert NO_SCORE in view.text.text() and "P(first target" not in view.text.text()
    assert f"{flat.base_rate_brier:.4f}" in view.text.text()
