"""Statistics that divide stay finite or say "not a number" in the degenerate cases (issue 18: an SQN
of 6,479,998,718,538.59 when every trade had the same R)."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pytest

from ita_desktop.backtest.costs import SimSettings
from ita_desktop.backtest.simulator import TRADE_DTYPE, Trades
from ita_desktop.backtest.stats import compute_stats, guard_kernel_summary, profit_factor, safe_ratio, sqn_of


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


def trades_with(r: list[float], pnl_per_r: float = 100.0) -> Trades:
    """Trades one weekday apart from Mon 3 Jan 2022, each 1 h long, with the given R."""
    rows = np.zeros(len(r), TRADE_DTYPE)
    day = 0
    for i, x in enumerate(r):
        while (3 + day) % 7 in (1, 2):  # 1 Jan 2022 was a Saturday: skip weekends
            day += 1
        t = utc(2022, 1, 3, 14) + 86_400 * day
        day += 1
        rows[i]["entry_time"], rows[i]["exit_time"] = t, t + 3600
        rows[i]["r_multiple"], rows[i]["pnl_money"], rows[i]["direction"] = x, pnl_per_r * x, 1
        rows[i]["entry_bar"], rows[i]["exit_bar"] = 10 * i, 10 * i + 4
    bar_times = utc(2022, 1, 3) + 60 * np.arange(max(10 * len(r) + 10, 10))
    return Trades(rows, np.ones(len(rows), np.int8), "EURUSD", SimSettings(), bar_times, np.zeros(0))


def _finite_or_nan_or_inf(value: float) -> bool:
    return math.isnan(value) or math.isinf(value) or abs(value) < 1e6


@pytest.mark.parametrize("r", [
    [1.0] * 12,                                     # every trade the same R
    [1.0 + k * 1e-15 for k in range(12)],           # the same R up to float noise (the issue's case)
    [2.0],                                          # one trade
    [1.5, 2.0, 0.5],                                # no losses
    [-1.0, -1.0, -1.0],                             # only (equal) losses
    [],                                             # no trades
])
def test_ratios_are_nan_not_huge_in_degenerate_cases(r: list[float]) -> None:
    s = compute_stats(trades_with(r)).summary
    for name in ("sqn", "sharpe", "sortino", "profit_factor"):
        assert _finite_or_nan_or_inf(s[name]), (name, s[name])
    if len(set(np.round(r, 9))) <= 1:
        assert math.isnan(s["sqn"])
    if r and min(r) > 0:
        assert s["profit_factor"] == math.inf and math.isnan(s["sortino"])
    if not r:
        assert s["trades"] == 0 and math.isnan(s["profit_factor"]) and math.isnan(s["sharpe"])


def test_same_r_every_day_has_no_sharpe() -> None:
    s = compute_stats(trades_with([1.0] * 5 + [1.0 + 1e-14] * 5)).summary
    # every weekday returns the same (tiny differences from compounding aside): std is no spread
    assert math.isnan(s["sqn"])


def test_the_guard_leaves_real_spreads_alone() -> None:
    r = np.array([2.0, -1.0, -1.0, 1.5, -0.5])
    assert sqn_of(r) == pytest.approx(math.sqrt(5) * r.mean() / r.std(ddof=1))
    assert profit_factor(350.0, 250.0) == pytest.approx(1.4)
    assert profit_factor(350.0, 1e-10) == math.inf
    assert math.isnan(profit_factor(0.0, 0.0))
    assert math.isnan(safe_ratio(1.0, 1e-12)) and safe_ratio(1.0, 0.5, 2.0) == 4.0


def test_kernel_summaries_get_the_same_guard() -> None:
    n = 12
    mean, std = 1.0, 1e-15
    huge = {"trades": n, "sqn": math.sqrt(n) * mean / std, "profit_factor": 1e12}
    out = guard_kernel_summary(dict(huge))
    assert math.isnan(out["sqn"]) and out["profit_factor"] == math.inf
    fine = guard_kernel_summary({"trades": n, "sqn": 2.5, "profit_factor": 1.8})
    assert fine == {"trades": n, "sqn": 2.5, "profit_factor": 1.8}
    assert math.isnan(guard_kernel_summary({"trades": 1, "sqn": 3.0})["sqn"])


def test_the_issue_sweep_prints_no_exploding_sqn(eurusd_store, capsys) -> None:
    """`ita sweep asia_sweep ... --set targets.0.first_of.1.r=1,1.5,2,3 --set stop.buffer.pips=0,1,2`."""
    from ita_desktop.cli.main import main

    code = main(["sweep", "asia_sweep", "--symbol", "EURUSD", "--set", "targets.0.first_of.1.r=1,1.5,2,3",
                 "--set", "stop.buffer.pips=0,1,2", "--json"])
    assert code == 0
    import json

    out = json.loads(capsys.readouterr().out)
    rows = out["rows"] if "rows" in out else out["variants"]
    assert len(rows) == 12
    for row in rows:
        sqn = row.get("sqn")
        assert sqn is None or abs(sqn) < 1e6, row
