"""Every run shows its funnel (occurrences -> orders -> filled, expired, refused and why) in the CLI,
the HTML report and the Results panel; a run with no trades shows an empty state, not a broken chart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ita_desktop.backtest.funnel import funnel_of, funnel_text, plural
from ita_desktop.cli.main import main

pytestmark = pytest.mark.realdata


def test_funnel_text_names_each_step_and_why() -> None:
    f = funnel_of({"filled": 2, "expired": 3, "invalid_stop": 1}, trades=2, occurrences=6)
    assert f == {"occurrences": 6, "orders": 6, "filled": 2, "trades": 2, "expired": 3, "open_at_end": 0,
                 "not_active": 0, "refused": {"invalid_stop": 1}}
    text = funnel_text(f)
    assert text.startswith("6 occurrences -> 6 orders -> 2 filled")
    assert "3 expired (not filled before" in text and "1 refused: no stop distance" in text
    assert funnel_text(funnel_of({}, 0, 0)).endswith("the setup never occurred in this range")
    assert plural(1, "order") == "1 order" and plural(2, "order") == "2 orders"


def test_frank_raid_zero_trades_says_why_in_cli_json_and_report(eurusd_store, tmp_path, capsys) -> None:
    report = tmp_path / "frank.html"
    assert main(["backtest", "Frank_raid", "--symbol", "EURUSD", "--report", str(report)]) == 0
    out = capsys.readouterr()
    assert "funnel: " in out.out and "2 orders -> 0 filled" in out.out and "2 expired" in out.out
    assert "simulating 2 orders" in out.err
    assert "0 trades" in out.out
    page = report.read_text(encoding="utf-8")
    assert "<h2>Funnel</h2>" in page and "2 expired" in page
    assert 'aria-label="equity curve"' not in page and "No trades in this run" in page
    assert main(["backtest", "Frank_raid", "--symbol", "EURUSD", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    funnel = data["stats"]["funnel"]
    assert funnel["orders"] == 2 and funnel["filled"] == 0 and funnel["expired"] == 2
    assert funnel["occurrences"] >= 2


def test_results_panel_shows_the_funnel_and_an_empty_equity_state(qtbot, eurusd_store) -> None:
    from ita_desktop.workflows.rule_backtest import backtest_rule
    from ita_desktop.storage.store import Store
    from ita_desktop.core.job_engine import JobEngine
    from ita_desktop.ui.job_bridge import JobBridge
    from ita_desktop.core.backtest_service import BacktestOutcome
    from ita_desktop.core.rules_service import RuleChoice
    from ita_desktop.ui.panels.results_panel import ResultsPanel
    from ita_desktop.ui.theme import get_theme

    with Store.open() as store:
        frank = backtest_rule(store, "Frank_raid", "EURUSD")
        asia = backtest_rule(store, "asia_sweep", "EURUSD")
    runner = JobBridge(JobEngine(2))
    panel = ResultsPanel(runner, get_theme("dark"))
    qtbot.addWidget(panel)
    try:
        panel.show_outcome(BacktestOutcome(RuleChoice("Frank_raid", "1.2", Path("x")), "EURUSD", "M5", frank))
        assert "0 filled" in panel.funnel.text() and "expired" in panel.funnel.text()
        assert panel.equity.is_empty()
        panel.show_outcome(BacktestOutcome(RuleChoice("asia_sweep", "1", Path("x")), "EURUSD", "M5", asia))
        assert "2 filled" in panel.funnel.text() and not panel.equity.is_empty()
        assert panel.equity.points() == len(asia.trades) + 1
    finally:
        runner.shutdown(5000)

