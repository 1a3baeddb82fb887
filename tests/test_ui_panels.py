"""The Rules, Backtest and Results panels driven offscreen on the real EURUSD data.

The store holds EURUSD M1 imported with the file's true server clock (-03:30); backtests and
sweeps run through the real ``workflows.rule_backtest`` as jobs on the window's bridge.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from ita_desktop.rules.loader import repo_rules_dir
from ita_desktop.storage.store import Store
from ita_desktop.core.job_engine import JobEngine
from ita_desktop.ui.job_bridge import JobBridge
from ita_desktop.ui.main_window import MainWindow
from ita_desktop.ui.panels.backtest_panel import BacktestPanel
from ita_desktop.ui.panels.results_panel import ResultsPanel
from ita_desktop.ui.panels.rules_panel import RulesPanel
from ita_desktop.ui.panels.trade_drawing import trade_spans
from ita_desktop.ui.theme import get_theme
from tests.support.cores import new_core

WAIT_MS = 120_000  # the first backtest compiles the rule engine's kernels on a cold numba cache
SEED_RULES = {"Frank_raid": "1.2", "asia_sweep": "1", "fvg_reversal": "2", "ib_raid": "1"}


@pytest.fixture
def bridge(qtbot):
    runner = JobBridge(JobEngine(2))
    yield runner
    qtbot.waitUntil(lambda: not runner.busy, timeout=WAIT_MS)
    runner.shutdown(5000)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """The seed rules plus a broken copy of asia_sweep as its newest version (a typo'd key)."""
    folder = tmp_path / "rules"
    shutil.copytree(repo_rules_dir(), folder)
    text = (folder / "asia_sweep" / "v1.yaml").read_text(encoding="utf-8")
    broken = text.replace("version: 1", "version: 2").replace("  buffer: {pips: 1}", "  bufer: {pips: 1}")
    (folder / "asia_sweep" / "v2.yaml").write_text(broken, encoding="utf-8")
    return folder


def test_rules_panel_lists_versions_and_locates_a_broken_rule(qtbot, bridge, rules_dir, ita_home):
    core = new_core(rules_dir=rules_dir)
    panel = RulesPanel(bridge, core.rules)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.listed, timeout=WAIT_MS) as listed:
        panel.refresh()
    entries = listed.args[0]
    valid = {e.rule_id: e.version for e in entries if e.valid}
    assert valid == SEED_RULES
    assert [panel.tree.topLevelItem(i).text(0) for i in range(panel.tree.topLevelItemCount())] == \
        ["asia_sweep", "Frank_raid", "fvg_reversal", "ib_raid"]
    asia = panel.item_of("asia_sweep")
    assert [asia.child(i).text(0) for i in range(asia.childCount())] == ["v2  (latest)", "v1"]
    assert asia.text(1) == "broken"
    broken = panel.item_of("asia_sweep", "2")
    line = next(n for n, text in enumerate((rules_dir / "asia_sweep" / "v2.yaml").read_text().splitlines(), 1)
                if "bufer" in text)
    assert broken.text(1).startswith(f"{rules_dir / 'asia_sweep' / 'v2.yaml'}:{line}:3: unknown key 'bufer'")
    panel.select("asia_sweep", "2")
    assert "is broken" in panel.details.text() and f":{line}:3: unknown key" in panel.details.text()
    with qtbot.waitSignal(panel.rule_chosen) as chosen:
        panel.select("ib_raid", "1")
    assert (chosen.args[0].rule_id, chosen.args[0].version) == ("ib_raid", "1")
    core.close()


def open_window(qtbot, **kwargs) -> MainWindow:
    window = MainWindow(new_core(), **kwargs)
    qtbot.addWidget(window)
    window.resize(1440, 900)
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    qtbot.waitUntil(lambda: window.workbench.backtest.rules_list.count() > 0, timeout=WAIT_MS)
    return window


def test_backtest_through_the_panel_then_click_a_trade(qtbot, eurusd_store):
    window = open_window(qtbot, symbol="EURUSD", timeframe="M1")
    bench = window.workbench
    panel, results = bench.backtest, bench.results
    assert panel.select_rule("ib_raid")
    panel.select_symbols(["EURUSD"])
    with qtbot.waitSignal(panel.backtested, timeout=WAIT_MS) as done:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
        assert panel.running and panel.progress.isVisible() and panel.cancel_button.isEnabled()
    outcome = done.args[0][0]
    trades = outcome.result.trades.rows
    assert len(trades) > 5 and outcome.timeframe == "M5"
    assert not panel.running and panel.run_button.isEnabled()

    summary = {results.summary.item(r, 0).text(): results.summary.item(r, 1).text()
               for r in range(results.summary.rowCount())}
    assert summary["Trades"] == str(len(trades))
    assert summary["Net P/L"] == f"{trades['pnl_money'].sum():,.2f}"
    assert results.trades.rowCount() == len(trades)
    assert results.equity.points() == len(trades) + 1
    assert results.histogram.counts.sum() == len(trades)
    assert {results.weekdays.item(r, 0).text() for r in range(results.weekdays.rowCount())} <= \
        {"Mon", "Tue", "Wed", "Thu", "Fri"}
    with Store.open() as store:
        run = store.runs.get(outcome.result.run_id)
    assert run is not None and run.rule_id == "ib_raid" and run.n_trades == len(trades)

    results.trades.sortItems(9, Qt.SortOrder.DescendingOrder)  # by R: the best trade on top
    best = results.trade_row_at(0)
    assert trades["r_multiple"][best] == trades["r_multiple"].max()
    with qtbot.waitSignal(bench.trade_shown, timeout=WAIT_MS) as shown:
        rect = results.trades.visualItemRect(results.trades.item(0, 3))
        qtbot.mouseClick(results.trades.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert shown.args[1] == best
    chart = window.chart
    assert (chart.bars.symbol, chart.bars.timeframe.value) == ("EURUSD", "M5")  # the rule's timeframe, built from M1
    span = trade_spans(outcome, chart.bars.time)[best]
    assert chart.bars.time[span.first_bar] == trades["entry_time"][best]
    first, stop = chart.visible_range()
    assert first <= span.first_bar and span.last_bar < stop
    layer = window.overlays.shapes("trades")
    stops, targets = layer.of_role("stop")[0], layer.of_role("target")[0]
    assert len(stops) == len(targets) == len(trades)
    k = int(np.flatnonzero(stops.x0 == span.first_bar - 0.5)[0])
    assert sorted((stops.y0[k], stops.y1[k])) == sorted((trades["entry_price"][best], trades["stop_price"][best]))
    assert window.overlays.items["trades"].isVisible()
    steps = window.overlays.shapes("setups").of_role("step")
    assert steps and any(len(b) for b in steps)

    qtbot.waitUntil(lambda: bench.rules.item_of("ib_raid", "1").text(2) == str(len(trades)), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    window.close()


@pytest.fixture
def sweep_panel(qtbot, bridge, eurusd_store):
    core = new_core()
    panel = BacktestPanel(bridge, core.backtests)
    qtbot.addWidget(panel)
    panel.set_series(core.store.bars.series())
    panel.set_rules(core.rules.list())
    assert panel.select_rule("ib_raid")
    yield panel
    qtbot.waitUntil(lambda: not bridge.busy, timeout=WAIT_MS)
    core.close()


def test_sweep_shows_a_heatmap_of_the_grid(qtbot, bridge, sweep_panel):
    sweep_panel.set_grid([("stop.buffer.pips", "0.5, 1, 2"), ("management.break_even_at_r", "1, 2")])
    sweep_panel.statistic_box.setCurrentIndex(sweep_panel.statistic_box.findData("net_pnl"))
    with qtbot.waitSignal(sweep_panel.swept, timeout=WAIT_MS) as swept:
        qtbot.mouseClick(sweep_panel.sweep_button, Qt.MouseButton.LeftButton)
    outcome = swept.args[0]
    assert outcome.paths == ["stop.buffer.pips", "management.break_even_at_r"]
    assert len(outcome.result.rows) == 6

    results = ResultsPanel(bridge, get_theme("dark"))
    qtbot.addWidget(results)
    results.show_sweep(outcome)
    matrix = results.heatmap.matrix
    assert matrix.shape == (2, 3)  # rows: break-even values, columns: stop buffers
    row = next(r for r in outcome.result.rows if r["stop.buffer.pips"] == 2 and r["management.break_even_at_r"] == 1)
    assert matrix[0, 2] == pytest.approx(row["net_pnl"])
    assert f"{row['net_pnl']:.2f}" in results.heatmap.cell_texts() or f"{row['net_pnl']:,.0f}" in results.heatmap.cell_texts()
    assert results.sweep_table.rowCount() == 6
    best = outcome.result.best()
    assert results.sweep_table.item(0, 3).text() == f"{best['net_pnl']:,.2f}"

    one = type(outcome)(type(outcome.request)(outcome.request.rule, "EURUSD", ("stop.buffer.pips=0.5,1,2",),
                                              "net_pnl"), outcome.result)
    results.show_sweep(one)  # one swept path: bars, not a grid
    assert results.heatmap.bars is not None and results.heatmap.image is None


def test_a_running_sweep_can_be_cancelled(qtbot, bridge, sweep_panel):
    values = ", ".join(str(v) for v in range(1, 41))
    sweep_panel.set_grid([("stop.buffer.pips", values), ("management.break_even_at_r", "0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3, 4, 5")])
    with qtbot.waitSignal(bridge.progressed, timeout=WAIT_MS):
        qtbot.mouseClick(sweep_panel.sweep_button, Qt.MouseButton.LeftButton)
    assert sweep_panel.running and not sweep_panel.sweep_button.isEnabled()
    with qtbot.waitSignal(bridge.cancelled, timeout=WAIT_MS), \
            qtbot.waitSignal(sweep_panel.failed, timeout=WAIT_MS) as failed:
        qtbot.mouseClick(sweep_panel.cancel_button, Qt.MouseButton.LeftButton)
    assert failed.args[0].endswith("cancelled")
    assert not sweep_panel.running and sweep_panel.sweep_button.isEnabled() and not sweep_panel.progress.isVisible()


def _summary(results) -> dict[str, str]:
    return {results.summary.item(r, 0).text(): results.summary.item(r, 1).text()
            for r in range(results.summary.rowCount())}


def test_an_earlier_run_reopens_after_a_restart_without_recomputing(qtbot, eurusd_store, monkeypatch):
    """Run a backtest, close the window; a new window on the same ITA_HOME shows that run again from the
    Results panel and from the Rules panel: statistics, trades and the chart drawing, nothing recomputed."""
    window = open_window(qtbot, symbol="EURUSD", timeframe="M5")
    panel = window.workbench.backtest
    assert panel.select_rule("ib_raid")
    panel.select_symbols(["EURUSD"])
    with qtbot.waitSignal(panel.backtested, timeout=WAIT_MS) as done:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    made = done.args[0][0]
    shown_then = _summary(window.workbench.results)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    window.close()

    import ita_desktop.backtest.runs as backtest_runs
    import ita_desktop.workflows.rule_backtest as engine_backtest

    def refuse(*_args, **_kwargs):
        raise AssertionError("the stored run was recomputed")

    for module, name in ((engine_backtest, "run_setup"), (engine_backtest, "backtest_rule"),
                         (backtest_runs, "simulate"), (backtest_runs, "compute_stats")):
        monkeypatch.setattr(module, name, refuse)

    again = open_window(qtbot, symbol="EURUSD", timeframe="M5")
    bench, results = again.workbench, again.workbench.results
    qtbot.waitUntil(lambda: results.stored_box.count() == 1, timeout=WAIT_MS)
    assert results.stored_box.currentData() == made.result.run_id and results.open_stored_button.isEnabled()
    with qtbot.waitSignal(bench.reopened, timeout=WAIT_MS) as reopened, \
            qtbot.waitSignal(bench.trade_shown, timeout=WAIT_MS):
        qtbot.mouseClick(results.open_stored_button, Qt.MouseButton.LeftButton)
    outcome = reopened.args[0]
    assert outcome.reopened and outcome.result.run_id == made.result.run_id
    assert _summary(results) == shown_then
    trades = made.result.trades.rows
    assert results.trades.rowCount() == len(trades) and results.equity.points() == len(trades) + 1
    layer = again.overlays.shapes("trades")
    assert len(layer.of_role("stop")[0]) == len(trades)
    steps = again.overlays.shapes("setups").of_role("step")
    assert steps and any(len(b) for b in steps)

    results.show_outcomes([])  # then from the Rules panel: the version's latest run
    qtbot.waitUntil(lambda: bench.rules.item_of("ib_raid", "1") is not None
                    and bench.rules.item_of("ib_raid", "1").text(2) == str(len(trades)), timeout=WAIT_MS)
    bench.rules.select("ib_raid", "1")
    assert bench.rules.open_run_button.isEnabled()
    with qtbot.waitSignal(bench.reopened, timeout=WAIT_MS) as reopened:
        qtbot.mouseClick(bench.rules.open_run_button, Qt.MouseButton.LeftButton)
    assert reopened.args[0].result.run_id == made.result.run_id
    assert _summary(results) == shown_then
    qtbot.waitUntil(lambda: not again.runner.busy, timeout=WAIT_MS)
    again.close()
