"""The Backtest and Results panels as a new user met them (issue 18): a sweep that runs with its own
defaults and speaks the panel's words, progress while it runs, Run visible at 1600x1000, a new run
clearing the last one's trades, titles that name what is shown, toggles and grids kept across a
restart, and walk-forward (CLI and panel) storing each part as a run."""

from __future__ import annotations

import json
import shutil

import pytest
from PySide6.QtCore import Qt

from ita_desktop.cli.main import main
from ita_desktop.rules.loader import repo_rules_dir
from ita_desktop.rules.sweep_paths import default_grid, sweep_paths
from ita_desktop.storage.store import Store
from ita_desktop.core.job_engine import JobEngine, JobListener
from ita_desktop.ui.job_bridge import JobBridge
from ita_desktop.ui.main_window import MainWindow
from tests.support.cores import new_core
from ita_desktop.ui.panels.backtest_panel import BacktestPanel
from ita_desktop.ui.panels.results_panel import ResultsPanel
from ita_desktop.ui.theme import get_theme

pytestmark = pytest.mark.realdata
WAIT_MS = 120_000


@pytest.mark.parametrize("rule_id", ["asia_sweep", "Frank_raid", "fvg_reversal", "ib_raid"])
def test_every_seed_rules_default_grid_is_made_of_its_own_paths(rule_id):
    path = next((repo_rules_dir() / rule_id).glob("v*.yaml"))
    text = path.read_text(encoding="utf-8")
    grid = default_grid(text, str(path))
    paths = sweep_paths(text, str(path))
    assert len(grid) == 2 and all(p in paths for p, _ in grid)
    if rule_id == "asia_sweep":
        assert "targets.0.r" not in paths and paths[0] == "targets.0.first_of.1.r"


@pytest.fixture
def panel(qtbot, eurusd_store):
    runner = JobBridge(JobEngine(2))
    core = new_core()
    panel = BacktestPanel(runner, core.backtests)
    qtbot.addWidget(panel)
    panel.set_series(core.store.bars.series())
    panel.set_rules(core.rules.list())
    yield panel
    qtbot.waitUntil(lambda: not runner.busy, timeout=WAIT_MS)
    runner.shutdown(5000)
    core.close()


def test_the_default_sweep_runs_reports_progress_and_errors_speak_the_panels_words(qtbot, panel):
    assert panel.select_rule("asia_sweep")
    assert [p for p, _ in panel.grid_rows()] == ["targets.0.first_of.1.r", "stop.buffer.pips"]
    assert "targets.0.r" not in panel.offered_paths()
    reported: list[float] = []  # every report of the job (the bridge passes at most 25 a second on to the GUI)
    panel.runner.engine.add_listener(JobListener(progressed=lambda _job, fraction, _stage: reported.append(fraction)))
    shown: list[float] = []
    panel.runner.progressed.connect(lambda _job, fraction, _stage: shown.append(fraction))
    with qtbot.waitSignal(panel.swept, timeout=WAIT_MS) as swept:
        qtbot.mouseClick(panel.sweep_button, Qt.MouseButton.LeftButton)
    assert len(swept.args[0].result.rows) == 12
    assert any(0 < f < 1 for f in reported), "no progress between 0 % and 100 %"
    assert shown and set(shown) <= set(reported)  # a fast sweep's middle reports may all fall in one 40 ms

    panel.set_grid([("targets.0.r", "1, 2")])  # the old default: asia_sweep has no such field
    with qtbot.waitSignal(panel.failed, timeout=WAIT_MS) as failed:
        qtbot.mouseClick(panel.sweep_button, Qt.MouseButton.LeftButton)
    message = failed.args[0]
    assert "--set" not in message and "Sweep grid, parameter targets.0.r" in message
    assert "Sweep grid" in panel.status.text()


def test_the_heatmap_is_titled_with_its_rule_and_a_run_with_its_own(qtbot, panel):
    assert panel.select_rule("ib_raid")
    with qtbot.waitSignal(panel.swept, timeout=WAIT_MS) as swept:
        panel.sweep()
    results = ResultsPanel(panel.runner, get_theme("dark"))
    qtbot.addWidget(results)
    results.show_sweep(swept.args[0])
    assert "ib_raid v1" in results.title.text() and "sweep of" in results.title.text()
    heat_title = results.heatmap.getPlotItem().titleLabel.text
    assert "ib_raid v1" in heat_title and "EURUSD" in heat_title


def open_window(qtbot, size=(1440, 900), **kwargs) -> MainWindow:
    window = MainWindow(new_core(), **kwargs)
    qtbot.addWidget(window)
    window.resize(*size)
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    qtbot.waitUntil(lambda: window.workbench.backtest.rules_list.count() > 0, timeout=WAIT_MS)
    return window


def test_run_is_visible_at_1600x1000_and_a_new_run_clears_the_old_trades(qtbot, eurusd_store):
    window = open_window(qtbot, (1600, 1000), symbol="EURUSD", timeframe="M5")
    bench = window.workbench
    bench.backtest_dock.raise_()
    qtbot.wait(50)
    button = bench.backtest.run_button
    assert button.isVisible() and not button.visibleRegion().isEmpty(), "Run is below the fold"
    assert button.visibleRegion().boundingRect().height() >= button.height() - 1

    panel = bench.backtest
    assert panel.select_rule("ib_raid")
    panel.select_symbols(["EURUSD"])
    with qtbot.waitSignal(panel.backtested, timeout=WAIT_MS) as done:
        panel.run()
    with qtbot.waitSignal(bench.trade_shown, timeout=WAIT_MS):
        bench.results.choose_trade(0)
    assert window.overlays.shapes("trades").objects == len(done.args[0][0].result.trades)
    assert panel.select_rule("Frank_raid")
    with qtbot.waitSignal(panel.backtested, timeout=WAIT_MS):
        panel.run()
    shapes = window.overlays.shapes("trades")
    assert shapes is None or shapes.objects == 0, "the previous run's trades are still drawn"
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    window.close()


def test_overlay_toggles_and_sweep_grids_survive_a_restart(qtbot, eurusd_store):
    window = open_window(qtbot, symbol="EURUSD", timeframe="M5")
    window.legend.set_checked("fvg", False)
    window.legend.set_checked("ib_ext", True)
    panel = window.workbench.backtest
    assert panel.select_rule("ib_raid")
    panel.set_grid([("stop.buffer.pips", "1, 4"), ("risk.percent", "0.25, 0.5")])
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    window.close()

    again = open_window(qtbot, symbol="EURUSD", timeframe="M5")
    assert not again.overlays.visible["fvg"] and again.overlays.visible["ib_ext"]
    assert not again.legend.is_checked("fvg") and again.legend.is_checked("ib_ext")
    panel = again.workbench.backtest
    assert panel.select_rule("ib_raid")
    assert panel.grid_rows() == [("stop.buffer.pips", "1, 4"), ("risk.percent", "0.25, 0.5")]
    qtbot.waitUntil(lambda: not again.runner.busy, timeout=WAIT_MS)
    again.close()


def test_walk_forward_from_the_cli_stores_each_part_as_a_run(eurusd_store, capsys):
    assert main(["sweep", "asia_sweep", "--symbol", "EURUSD", "--set", "targets.0.first_of.1.r=1,2,3",
                 "--walk-forward", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["parts"]) == 2
    with Store.open() as store:
        for part in out["parts"]:
            assert part["in_sample"][1] == part["out_of_sample"][0]
            assert part["in_sample"][0] < part["in_sample"][1] < part["out_of_sample"][1]
            for side, name in (("in", "in-sample"), ("out", "out-of-sample")):
                run = store.runs.get(part[side]["run_id"])
                assert run is not None and run.rule_id == "asia_sweep"
                assert f"walk-forward {part['part']}/2 {name}" in run.label
                assert part[side]["trades"] == run.n_trades
    assert main(["sweep", "asia_sweep", "--symbol", "EURUSD", "--set", "targets.0.first_of.1.r=1,2",
                 "--walk-forward", "2"]) == 0
    text = capsys.readouterr().out
    assert "walk-forward in 2 part(s)" in text and "IS expectancy_r" in text and "OOS expectancy_r" in text


def test_walk_forward_from_the_panel_shows_in_and_out_of_sample_side_by_side(qtbot, panel):
    assert panel.select_rule("asia_sweep")
    panel.walk_forward.setChecked(True)
    panel.walk_parts.setValue(2)
    with qtbot.waitSignal(panel.swept, timeout=WAIT_MS) as swept:
        panel.sweep()
    outcome = swept.args[0]
    assert len(outcome.walk_forward) == 2
    results = ResultsPanel(panel.runner, get_theme("dark"))
    qtbot.addWidget(results)
    results.show_sweep(outcome)
    headers = [results.sweep_table.horizontalHeaderItem(c).text() for c in range(results.sweep_table.columnCount())]
    assert "IS expectancy_r" in headers and "OOS expectancy_r" in headers and "OOS run" in headers
    assert results.sweep_table.rowCount() == 2 and "walk-forward in 2 parts" in results.title.text()
