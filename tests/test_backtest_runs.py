"""Runs on the real EURUSD bars: stored with their trades, identical on re-run, validated; sweeps,
walk-forward and reports on the same order stream (every bullish/bearish FVG from the detectors)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ita_desktop.backtest.costs import SimSettings
from ita_desktop.backtest.orders import empty_orders, make_orders
from ita_desktop.backtest.reports import write_csv, write_html, write_xlsx
from ita_desktop.backtest.runs import BacktestCancelled, grid, run_backtest, run_many
from ita_desktop.backtest.simulator import simulate
from ita_desktop.backtest.sweep import parse_grid, set_path, sweep, variants, walk_forward
from ita_desktop.backtest.validator import validate
from ita_desktop.data.csv_import import read_csv
from ita_desktop.detectors.dispatcher import detect
from ita_desktop.storage.store import Store

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def eurusd(eurusd_csv: Path):
    return read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars.slice(0, 20_000)


def fvg_orders(bars, params=None):
    """A limit order at the near edge of every FVG, stop beyond the far edge, target at ``r`` R."""
    p = {"stop.buffer_points": 20, "target.r": 2.0, "expiry": 30, **(params or {})}
    fvg = detect(bars, kinds=("fvg",)).tables["fvg"]
    fvg = fvg[fvg["confirmed_at"] < len(bars) - 1]
    out = empty_orders(len(fvg))
    d = fvg["direction"].astype(np.int8)
    buf = p["stop.buffer_points"] * 1e-5
    out["occurrence"] = np.arange(len(fvg))
    out["direction"] = d
    out["signal_bar"] = fvg["confirmed_at"]
    out["entry_type"] = 1
    out["entry_price"] = np.where(d > 0, fvg["top"], fvg["bottom"])
    out["stop_price"] = np.where(d > 0, fvg["bottom"] - buf, fvg["top"] + buf)
    out["expiry_bar"] = fvg["confirmed_at"] + p["expiry"]
    out["target_r"][:, 0] = p["target.r"]
    out["target_fraction"][:, 0] = 1.0
    return out[np.argsort(out["signal_bar"], kind="stable")]


def test_a_run_is_stored_with_its_trades_and_a_rerun_is_identical(eurusd, ita_home: Path) -> None:
    settings = SimSettings(spread_points=8, commission_per_lot=7.0)
    with Store.open() as store:
        first = run_backtest(eurusd, fvg_orders, settings, rule_id="fvg_test", rule_version="1", store=store)
        second = run_backtest(eurusd, fvg_orders, settings, rule_id="fvg_test", rule_version="1", store=store)
        assert len(first.trades) > 30
        assert first.inputs_hash == second.inputs_hash and first.run_id != second.run_id
        assert store.runs.trades(first.run_id) == store.runs.trades(second.run_id)
        assert [r.run_id for r in store.runs.with_inputs(first.inputs_hash)] == [first.run_id, second.run_id]
        run = store.runs.get(first.run_id)
        assert run.rule_id == "fvg_test" and run.symbols == "EURUSD" and run.n_trades == len(first.trades)
        assert (run.first_utc, run.last_utc) == (eurusd.first_time, eurusd.last_time)
        assert json.loads(run.settings_json)["commission_per_lot"] == 7.0
        assert json.loads(run.stats_json)["summary"]["trades"] == len(first.trades)
        stored = store.runs.trades(first.run_id)
        assert [t["entry_time"] for t in stored] == first.trades.rows["entry_time"].tolist()
        assert stored[0]["exit_reason"] in {"stop", "target1", "end_of_data", "time"}
    other = run_backtest(eurusd, fvg_orders, SimSettings(spread_points=9, commission_per_lot=7.0))
    assert other.inputs_hash != first.inputs_hash
    assert not [f for f in first.findings if f.level == "error"]


def test_validator_flags_look_ahead_outside_fills_zero_risk_and_few_trades(eurusd) -> None:
    trades = simulate(eurusd, fvg_orders(eurusd), SimSettings(spread_points=0))
    assert {f.code for f in validate(trades, eurusd)} == set()  # clean, and enough trades
    rows = trades.rows
    rows["entry_bar"][0] = rows["signal_bar"][0]
    rows["exit_price"][1] = eurusd.high[rows["exit_bar"][1]] + 0.01
    rows["stop_price"][2] = rows["entry_price"][2]
    found = {f.code: f.trades for f in validate(trades, eurusd)}
    assert found["look_ahead"] == (0,) and 1 in found["fill_outside_bar"] and found["zero_risk"] == (2,)
    few = simulate(eurusd, fvg_orders(eurusd)[:5], SimSettings())
    assert [f.code for f in validate(few, eurusd)] == ["too_few_trades"]


def test_run_many_over_rules_symbols_and_ranges_with_progress_and_cancel(eurusd) -> None:
    mid = int(eurusd.time[10_000])
    specs = grid([("a", "1", fvg_orders), ("b", "2", lambda b: fvg_orders(b, {"target.r": 3.0}))],
                 [(eurusd, SimSettings())], [(None, mid), (mid, None)])
    seen = []
    results = run_many(specs, progress=lambda f, msg: seen.append(f))
    assert [(r.rule_id, r.bars_range[0] == eurusd.first_time) for r in results] == \
        [("a", True), ("a", False), ("b", True), ("b", False)]
    assert all(r.trades.rows["entry_time"].min() >= r.bars_range[0] for r in results)
    assert seen[0] == 0.0 and seen[-1] == 1.0
    with pytest.raises(BacktestCancelled):
        run_many(specs, cancel=lambda: True)


def test_sweep_matches_single_runs_and_walk_forward_sits_side_by_side(eurusd) -> None:
    def orders_for(bars, params):
        return fvg_orders(bars, params)

    result = sweep(eurusd, orders_for, ["target.r=1,2,3", "stop.buffer_points=10,30"], SimSettings(),
                   statistic="expectancy_r", chunk=4)
    assert len(result.rows) == 6
    for row in result.rows:  # the parallel kernel gives what one simulation gives
        single = run_backtest(eurusd, fvg_orders(eurusd, row), SimSettings())
        assert row["expectancy_r"] == pytest.approx(single.stats["expectancy_r"])
        assert row["trades"] == len(single.trades)
    best = result.best()
    assert best["expectancy_r"] == max(r["expectancy_r"] for r in result.rows)
    settings_sweep = sweep(eurusd, orders_for, ["settings.max_positions=1,0"], statistic="trades")
    assert settings_sweep.rows[1]["trades"] >= settings_sweep.rows[0]["trades"]
    ticks = []
    with pytest.raises(BacktestCancelled):
        sweep(eurusd, orders_for, ["target.r=1,2,3"], chunk=1, progress=lambda f, m: ticks.append(f),
              cancel=lambda: len(ticks) >= 2)
    assert ticks == [pytest.approx(1 / 3), pytest.approx(2 / 3)]
    wf = walk_forward(eurusd, orders_for, {"target.r": [1.0, 2.0]}, splits=2, oos_fraction=0.3)
    assert len(wf) == 2
    for row in wf:
        assert row["in_sample"][1] < row["out_of_sample"][0]
        assert set(row) >= {"params", "is_expectancy_r", "oos_expectancy_r", "is_trades", "oos_trades"}


def test_grid_parsing_and_dotted_paths() -> None:
    g = parse_grid(["stop.buffer_points=1,2,3", "entry.at=ce,near_edge", "management.break_even_at_r=none,1.5"])
    assert g == {"stop.buffer_points": [1, 2, 3], "entry.at": ["ce", "near_edge"],
                 "management.break_even_at_r": [None, 1.5]}
    assert len(variants(g)) == 12 and variants(g)[0] == {"stop.buffer_points": 1, "entry.at": "ce",
                                                         "management.break_even_at_r": None}
    rule = {"stop": {"buffer": 1}, "targets": [{"r": 2}, {"r": 3}]}
    changed = set_path(rule, "targets.1.r", 4)
    assert changed["targets"][1]["r"] == 4 and rule["targets"][1]["r"] == 3
    assert set_path(rule, "management.close_at", "11:00")["management"] == {"close_at": "11:00"}
    with pytest.raises(ValueError, match="path=v1"):
        parse_grid(["stop.buffer_points"])


def test_reports_html_csv_xlsx(eurusd, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    result = run_backtest(eurusd, fvg_orders, SimSettings(), rule_id="fvg_test", rule_version="1")
    page = write_html(result, tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 2 and "<polyline" in page
    assert not re.search(r"(src|href)=['\"]https?:", page) and "<script" not in page  # self-contained
    for heading in ("By session", "By weekday", "By month", "By direction", "By symbol", "Expectancy (R)"):
        assert heading in page
    lines = write_csv(result, tmp_path / "t.csv").read_text().splitlines()
    assert len(lines) == len(result.trades) + 1 and lines[0].startswith("symbol,direction")
    wb = load_workbook(write_xlsx(result, tmp_path / "t.xlsx"))
    assert wb["Trades"].max_row == len(result.trades) + 1
    assert wb["Summary"]["A2"].value == "Trades" and wb["Summary"]["B2"].value == len(result.trades)


def test_builder_rows_equal_array_rows(eurusd) -> None:
    """The dict builder and a hand-filled array give the same trades (the rule side may use either)."""
    arr = fvg_orders(eurusd)[:40]
    specs = [{"direction": int(o["direction"]), "signal_bar": int(o["signal_bar"]), "entry": "limit",
              "entry_price": float(o["entry_price"]), "expiry_bar": int(o["expiry_bar"]),
              "stop": float(o["stop_price"]), "targets": [{"r": 2.0}], "occurrence": int(o["occurrence"])}
             for o in arr]
    a = simulate(eurusd, arr, SimSettings()).rows
    b = simulate(eurusd, make_orders(specs), SimSettings()).rows
    assert len(a) > 0 and a.tobytes() == b.tobytes()
