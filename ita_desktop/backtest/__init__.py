"""backtest layer: orders in (ORDER_DTYPE), trades, statistics, stored runs, sweeps and reports out.

    orders = make_orders([...])                       # or an ORDER_DTYPE array from the rule side
    trades = simulate(bars, orders, SimSettings(...))
    stats = compute_stats(trades)
    result = run_backtest(bars, orders_for, settings, rule_id=..., rule_version=..., store=store)
    grid = sweep(bars, orders_for_params, ["stop.buffer_points=1,2,3"], settings)
"""

from ita_desktop.backtest.costs import SimSettings
from ita_desktop.backtest.orders import ORDER_DTYPE, empty_orders, make_orders
from ita_desktop.backtest.runs import BacktestCancelled, RunResult, run_backtest, run_many
from ita_desktop.backtest.simulator import TRADE_DTYPE, Trades, simulate
from ita_desktop.backtest.stats import Stats, compute_stats
from ita_desktop.backtest.sweep import sweep, walk_forward

__all__ = ["ORDER_DTYPE", "TRADE_DTYPE", "BacktestCancelled", "RunResult", "SimSettings", "Stats", "Trades",
           "compute_stats", "empty_orders", "make_orders", "run_backtest", "run_many", "simulate", "sweep",
           "walk_forward"]
