"""`ita backtest` / `ita sweep` and workflows.rule_backtest on the real EURUSD file imported into a fresh store.

asia_sweep runs on M5 built from the stored M1 (which the simulator also reads inside each
M5 bar). Checked: the run is stored with its rule version and ingest, entries come after
their signals, the reports are written and readable, a re-run is identical, a sweep gives
the full grid and its best, a bad path exits 1 naming it, and a sweep that changes only
order fields detects once (the dispatcher is patched to count).
"""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ita_desktop.backtest.runs import BacktestCancelled
from ita_desktop.cli.main import main
from ita_desktop.workflows import rule_backtest as engine_backtest
from ita_desktop.core.job_engine import JobEngine
from ita_desktop.storage.store import Store

pytestmark = pytest.mark.realdata


def _import(eurusd_csv: Path, capsys) -> None:
    assert main(["data", "import", str(eurusd_csv), "--symbol", "EURUSD", "--server-tz=-03:30"]) == 0
    capsys.readouterr()


class _Svg(HTMLParser):
    """Collects the equity curve's polyline points."""

    def __init__(self) -> None:
        super().__init__()
        self.in_equity = False
        self.points: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "svg":
            self.in_equity = a.get("aria-label") == "equity curve"
        elif tag == "polyline" and self.in_equity:
            self.points = (a.get("points") or "").split()


def test_backtest_stores_the_run_writes_reports_and_reruns_identically(ita_home, eurusd_csv, tmp_path, capsys) -> None:
    _import(eurusd_csv, capsys)
    html, csv_path, xlsx = tmp_path / "r.html", tmp_path / "t.csv", tmp_path / "t.xlsx"
    args = ["backtest", "asia_sweep", "--symbol", "EURUSD", "--json"]
    assert main(args + ["--report", str(html), "--csv", str(csv_path), "--xlsx", str(xlsx)]) == 0
    out = capsys.readouterr()
    first = json.loads(out.out)
    assert "detectors and setup" in out.err  # progress on stderr
    assert (first["rule_id"], first["rule_version"]) == ("asia_sweep", "1")
    trades = first["trades"]
    assert len(trades) >= 2 and first["stats"]["summary"]["trades"] == len(trades)
    assert all(t["entry_bar"] > t["signal_bar"] for t in trades)  # no look-ahead
    assert all(t["rule_version"] == first["rule_version_id"] for t in trades)
    assert any(t["exit_time"] % 300 for t in trades)  # exits at M1 times inside M5 bars: the lower timeframe was read
    assert {f["code"] for f in first["findings"]} <= {"too_few_trades"}
    with Store.open() as store:
        run = store.runs.get(first["run_id"])
        assert run is not None and run.rule_id == "asia_sweep" and run.timeframe == "M5" and run.n_trades == len(trades)
        assert run.rule_version_id == first["rule_version_id"]
        assert json.loads(run.ingest_ids_json) == first["ingest_ids"] and first["ingest_ids"]
        assert [v.version for v in store.rule_versions.list("asia_sweep")] == ["1"]
        assert len(store.runs.trades(first["run_id"])) == len(trades)
        assert json.loads(run.settings_json)["contract_size"] == pytest.approx(100_000.0)  # point_value / point

    parser = _Svg()
    parser.feed(html.read_text(encoding="utf-8"))
    assert len(parser.points) == len(trades) + 1  # the start plus one point per closed trade
    with csv_path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["entry_price"]) for r in rows] == pytest.approx([t["entry_price"] for t in trades])
    from openpyxl import load_workbook

    wb = load_workbook(xlsx)
    assert wb["Trades"].max_row == len(trades) + 1
    summary = {row[0]: row[1] for row in wb["Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["Expectancy (R)"] == pytest.approx(first["stats"]["summary"]["expectancy_r"], abs=5e-5)  # rounded

    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["run_id"] != first["run_id"]
    assert second["stats"] == first["stats"] and second["trades"] == first["trades"]

    assert main(["backtest", "asia_sweep", "--symbol", "EURUSD"]) == 0  # the terminal table
    table = capsys.readouterr().out
    assert table.startswith(f"asia_sweep v1 (version id {first['rule_version_id']}) on EURUSD: run ")
    assert "expectancy_r" in table and "reason" in table


def test_sweep_gives_the_full_grid_and_its_best_and_matches_a_single_backtest(ita_home, eurusd_csv, capsys) -> None:
    _import(eurusd_csv, capsys)
    assert main(["backtest", "asia_sweep", "--symbol", "EURUSD", "--json"]) == 0
    single = json.loads(capsys.readouterr().out)["stats"]["summary"]
    args = ["sweep", "asia_sweep", "--symbol", "EURUSD", "--set", "targets.0.first_of.1.r=1,2,3",
            "--set", "stop.buffer.pips=0,1", "--json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    rows = result["rows"]
    assert [(r["targets.0.first_of.1.r"], r["stop.buffer.pips"]) for r in rows] == \
        [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)]
    assert result["detector_runs"] == 1 and result["statistic"] == "expectancy_r"
    seed = next(r for r in rows if (r["targets.0.first_of.1.r"], r["stop.buffer.pips"]) == (2, 1))  # the rule as written
    assert seed["trades"] == single["trades"] and seed["expectancy_r"] == pytest.approx(single["expectancy_r"])
    assert seed["net_pnl"] == pytest.approx(single["net_pnl"])
    assert result["best"]["expectancy_r"] == max(r["expectancy_r"] for r in rows if r["expectancy_r"] is not None)
    assert main(args[:-1] + ["--statistic", "max_drawdown_pct"]) == 0  # the terminal grid
    table = capsys.readouterr().out
    assert table.count("\n") >= 6 + 2 and "best max_drawdown_pct" in table


@pytest.mark.parametrize(("item", "named"), [
    ("stop.bufer.pips=1", "stop.bufer.pips"),
    ("targets.5.r=1", "targets.5.r"),
    ("steps.1.within.bars=soon", "steps.1.within.bars"),
    ("settings.spred_points=1", "settings.spred_points"),
])
def test_a_bad_path_or_value_exits_1_naming_it(ita_home, eurusd_csv, capsys, item, named) -> None:
    _import(eurusd_csv, capsys)
    assert main(["sweep", "asia_sweep", "--symbol", "EURUSD", "--set", item]) == 1
    err = capsys.readouterr().err
    assert f"--set {named}" in err


def test_only_detector_params_recompute_the_detectors(ita_home, eurusd_csv, capsys, monkeypatch) -> None:
    _import(eurusd_csv, capsys)
    calls = []
    real = engine_backtest.detect

    def counting(*args, **kwargs):
        calls.append(kwargs.get("params"))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_backtest, "detect", counting)
    with Store.open() as store:
        targets_only = engine_backtest.sweep_rule(store, "asia_sweep", "EURUSD",
                                                  ["targets.0.first_of.1.r=1,1.5,2,3", "management.break_even_at_r=none,1"])
        assert len(targets_only.rows) == 8 and len(calls) == 1
        calls.clear()
        mixed = engine_backtest.sweep_rule(store, "asia_sweep", "EURUSD",
                                           ["detectors.swings.length=2,3", "targets.0.first_of.1.r=1,2"])
        assert len(mixed.rows) == 4 and len(calls) == 2 and mixed.meta["detector_runs"] == 2
        assert calls[0].swings.length != calls[1].swings.length
        # swings.length 3 is the rule as written: its rows equal the targets-only sweep's
        same = [r for r in mixed.rows if r["detectors.swings.length"] == 3]
        ref = {r["targets.0.first_of.1.r"]: r for r in targets_only.rows if r["management.break_even_at_r"] is None}
        assert [r["expectancy_r"] for r in same] == pytest.approx([ref[1]["expectancy_r"], ref[2]["expectancy_r"]])


def test_backtest_and_sweep_run_as_jobs_with_progress_and_cancel(ita_home, eurusd_csv, capsys) -> None:
    _import(eurusd_csv, capsys)
    seen: list[float] = []
    with Store.open() as store:
        with pytest.raises(BacktestCancelled):
            engine_backtest.backtest_rule(store, "asia_sweep", "EURUSD", progress=lambda f, m: seen.append(f),
                                          cancel=lambda: len(seen) >= 2)
        assert store.runs.list() == []  # nothing half-done is stored
        engine = JobEngine(workers=1)
        try:
            ticks: list[float] = []
            result = engine.run_inline("backtest", engine_backtest.backtest_job, store=store, rule_ref="asia_sweep",
                                       symbol="EURUSD", spread_points=5)
            assert result.run_id is not None and result.trades.settings.spread_points == 5
            swept = engine.run_inline("sweep", engine_backtest.sweep_job, store=store, rule_ref="asia_sweep",
                                      symbol="EURUSD", grid=["settings.spread_points=0,5"])
            assert [r["settings.spread_points"] for r in swept.rows] == [0, 5]
            assert swept.rows[1]["net_pnl"] == pytest.approx(result.stats["net_pnl"])
            with pytest.raises(BacktestCancelled):
                engine_backtest.sweep_rule(store, "asia_sweep", "EURUSD", ["targets.0.first_of.1.r=1,2,3"], chunk=1,
                                           progress=lambda f, m: ticks.append(f), cancel=lambda: len(ticks) >= 3)
        finally:
            engine.shutdown()


def test_max_positions_from_the_rule_and_the_flag_reach_the_simulation(ita_home, eurusd_csv, tmp_path, capsys) -> None:
    """risk.max_positions in the rule file sets the run's limit; --max-positions N overrides it."""
    _import(eurusd_csv, capsys)
    text = (Path(__file__).resolve().parents[1] / "rules" / "asia_sweep" / "v1.yaml").read_text(encoding="utf-8")
    assert "risk:\n  percent: 0.5\n" in text
    rule = tmp_path / "rules" / "asia_sweep" / "v2.yaml"
    rule.parent.mkdir(parents=True)
    rule.write_text(text.replace("version: 1", "version: 2").replace(
        "risk:\n  percent: 0.5\n", "risk:\n  percent: 0.5\n  max_positions: 0\n"), encoding="utf-8")

    def limit_of(args: list[str]) -> tuple[int, list]:
        assert main(["backtest", *args, "--symbol", "EURUSD", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        with Store.open() as store:
            settings = json.loads(store.runs.get(out["run_id"]).settings_json)
        return settings["max_positions"], [(t["entry_time"], t["exit_time"], t["exit_price"]) for t in out["trades"]]

    default, seed_trades = limit_of(["asia_sweep"])
    from_rule, rule_trades = limit_of([str(rule)])
    from_flag, flag_trades = limit_of(["asia_sweep", "--max-positions", "0"])
    overridden, _ = limit_of([str(rule), "--max-positions", "3"])
    assert (default, from_rule, from_flag, overridden) == (1, 0, 0, 3)
    assert rule_trades == flag_trades == seed_trades  # its positions never overlap on this data: same trades
    assert main(["backtest", "asia_sweep", "--symbol", "EURUSD", "--max-positions", "-1"]) == 1
    assert "max_positions must be >= 0" in capsys.readouterr().err
