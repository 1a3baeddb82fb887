"""Statistics against hand-computed values on five trades with known times, R and P/L."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pytest

from ita_desktop.backtest.costs import SimSettings
from ita_desktop.backtest.simulator import TRADE_DTYPE, Trades
from ita_desktop.backtest.stats import compute_stats, exposure, r_histogram


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


# January 2022: New York = UTC-5. (entry UTC, exit UTC, R, direction); P/L = 100 x R
TRADES = [
    (utc(2022, 1, 3, 13), utc(2022, 1, 3, 15), 2.0, 1),     # Mon 08:00 NY: NY AM
    (utc(2022, 1, 4, 8), utc(2022, 1, 4, 9), -1.0, 1),      # Tue 03:00 NY: London
    (utc(2022, 1, 5, 2), utc(2022, 1, 5, 3), -1.0, -1),     # Tue 21:00 NY: Asia (closes Tue 22:00 NY)
    (utc(2022, 1, 5, 19), utc(2022, 1, 5, 20), 1.5, 1),     # Wed 14:00 NY: NY PM
    (utc(2022, 1, 6, 16), utc(2022, 1, 6, 17), -0.5, -1),   # Thu 11:00 NY: other
]


def make_trades() -> Trades:
    rows = np.zeros(len(TRADES), TRADE_DTYPE)
    for i, (t_in, t_out, r, d) in enumerate(TRADES):
        rows[i]["entry_time"], rows[i]["exit_time"] = t_in, t_out
        rows[i]["r_multiple"], rows[i]["pnl_money"], rows[i]["direction"] = r, 100 * r, d
        rows[i]["entry_bar"], rows[i]["exit_bar"] = 10 * i, 10 * i + 4
    bar_times = utc(2022, 1, 3) + 60 * np.arange(100)
    return Trades(rows, np.ones(len(rows), np.int8), "EURUSD", SimSettings(), bar_times, np.zeros(0))


def test_summary_matches_hand_computed_values() -> None:
    s = compute_stats(make_trades()).summary
    assert s["trades"] == 5
    assert s["win_rate"] == pytest.approx(0.4)
    assert s["expectancy_r"] == pytest.approx(0.2)
    assert s["avg_win_r"] == pytest.approx(1.75)
    assert s["avg_loss_r"] == pytest.approx(-2.5 / 3)
    assert s["profit_factor"] == pytest.approx(350 / 250)
    assert s["net_pnl"] == pytest.approx(100.0)
    # equity 10200, 10100, 10000, 10150, 10100: the fall from 10200 to 10000
    assert s["max_drawdown"] == pytest.approx(200.0)
    assert s["max_drawdown_pct"] == pytest.approx(200 / 10200 * 100)
    assert s["max_drawdown_r"] == pytest.approx(2.0)  # cumulative R 2, 1, 0, 1.5, 1
    assert s["longest_losing_streak"] == 2
    # SQN: mean 0.2, sample variance (1.8² + 1.2² + 1.2² + 1.3² + 0.7²) / 4 = 2.075
    assert s["sqn"] == pytest.approx(math.sqrt(5) * 0.2 / math.sqrt(2.075))
    assert s["exposure"] == pytest.approx(25 / 100)  # 5 trades x 5 bars of 100


def test_daily_sharpe_and_sortino_on_the_new_york_clock() -> None:
    # closes per NY day: Mon +200, Tue -100 -100, Wed +150, Thu -50, on equity 10000, 10200, 10000, 10150
    ret = np.array([200 / 10000, -200 / 10200, 150 / 10000, -50 / 10150])
    sharpe = ret.mean() / ret.std(ddof=1) * math.sqrt(252)
    sortino = ret.mean() / math.sqrt(np.mean(np.minimum(ret, 0) ** 2)) * math.sqrt(252)
    s = compute_stats(make_trades()).summary
    assert s["sharpe"] == pytest.approx(sharpe)
    assert s["sortino"] == pytest.approx(sortino)


def test_breakdowns_by_session_weekday_month_direction_symbol() -> None:
    b = compute_stats(make_trades()).breakdowns
    sessions = {row["group"]: (row["trades"], row["total_r"]) for row in b["session"]}
    assert sessions == {"Asia": (1, -1.0), "London": (1, -1.0), "NY AM": (1, 2.0), "NY PM": (1, 1.5),
                        "other": (1, -0.5)}
    days = {row["group"]: row["trades"] for row in b["weekday"]}
    assert days == {"Mon": 1, "Tue": 2, "Wed": 1, "Thu": 1}  # the Asia trade is Tuesday evening in New York
    assert [(r["group"], r["trades"]) for r in b["month"]] == [("2022-01", 5)]
    dirs = {row["group"]: row for row in b["direction"]}
    assert dirs["long"]["trades"] == 3 and dirs["long"]["expectancy_r"] == pytest.approx(2.5 / 3)
    assert dirs["short"]["win_rate"] == 0.0 and dirs["short"]["profit_factor"] is not None
    assert b["symbol"][0]["group"] == "EURUSD" and b["symbol"][0]["trades"] == 5


def test_chart_arrays_and_warning_on_few_trades() -> None:
    stats = compute_stats(make_trades())
    assert list(stats.equity) == [10200, 10100, 10000, 10150, 10100]
    assert list(stats.r_multiples) == [2.0, -1.0, -1.0, 1.5, -0.5]
    assert any("fewer than 30" in w for w in stats.warnings)
    counts, edges = r_histogram(stats.r_multiples, 0.5)
    assert edges[0] == -1.0 and edges[-1] == 2.5 and counts.sum() == 5 and counts[0] == 2
    d = stats.to_dict()
    assert d["summary"]["trades"] == 5 and len(d["equity_curve"]["equity"]) == 5


def test_exposure_counts_overlapping_trades_once() -> None:
    assert exposure(np.array([0, 2]), np.array([4, 5]), 10) == pytest.approx(0.6)


def test_no_trades_gives_empty_but_valid_stats() -> None:
    empty = Trades(np.zeros(0, TRADE_DTYPE), np.zeros(0, np.int8), "X", SimSettings(), np.arange(10), np.zeros(0))
    s = compute_stats(empty).summary
    assert s["trades"] == 0 and s["net_pnl"] == 0 and math.isnan(s["expectancy_r"]) and s["max_drawdown"] == 0
