"""backtest layer: orders in (ORDER_DTYPE), trades, statistics, stored runs, sweeps and reports out.

Import the module you need (``backtest.simulator``, ``backtest.runs``, ...): nothing is re-exported
here, so the light modules (``stats``, ``reports``) load without numba and the window starts fast.

    orders = make_orders([...])                       # or an ORDER_DTYPE array from the rule side
    trades = simulate(bars, orders, SimSettings(...))
    stats = compute_stats(trades)
    result = run_backtest(bars, orders_for, settings, rule_id=..., rule_version=..., store=store)
    grid = sweep(bars, orders_for_params, ["stop.buffer_points=1,2,3"], settings)
"""
