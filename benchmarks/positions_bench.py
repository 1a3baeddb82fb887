"""Many open positions: the every-signal FVG strategy with no position limit, beside backtesting.py.

    uv run python benchmarks/positions_bench.py [--bars 1000000] [--bt-bars N] [--runs 5] [--no-bt]

Strategy (the one tests/test_backtest_vs_backtestingpy.py aligns with backtesting.py): at every
bullish FVG confirmed at bar i, buy at the open of i + 1, stop 10 pips below close[i], target
20 pips above; every signal is its own position (ours: max_positions 0 = no limit; theirs:
hedging=False, exclusive_orders=False, long only, so nothing nets). Bars: chained_series
(the real EURUSD M1 returns and time steps chained end to end), spread 0.

Printed: our simulation time (median after a warm-up, numba cache warm) and with the FVG
detector; the peak of open positions; that a bounded run (enough slots) gives identical trades;
and backtesting.py's time for the same strategy on the same bars in this run. backtesting.py
over 1,000,000 bars takes minutes: ``--bt-bars N`` runs it on the first N bars only (and ours
on those N too, for the ratio), saying so. Goal (issue 19): <= 1 s over 1,000,000 bars and
>= 90x faster than backtesting.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from backtest_bench import fvg_table, market_fvg_orders  # noqa: E402
from chained_series import chained_eurusd, describe  # noqa: E402

from ita_desktop.backtest.costs import SimSettings  # noqa: E402
from ita_desktop.backtest.simulator import simulate  # noqa: E402

STOP, TARGET = 0.0010, 0.0020
UNLIMITED = SimSettings(spread_points=0, max_positions=0)


def timed(fn, runs: int):
    fn()  # warm-up (numba cache, allocators)
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def peak_open(rows: np.ndarray) -> int:
    events = np.r_[rows["entry_bar"], rows["exit_bar"]]
    steps = np.r_[np.ones(len(rows), np.int64), -np.ones(len(rows), np.int64)]
    return int(np.cumsum(steps[np.lexsort((steps, events))]).max())


def ours(bars, runs: int):
    fvg = fvg_table(bars)
    orders = market_fvg_orders(bars, fvg)
    t_sim, trades = timed(lambda: simulate(bars, orders, UNLIMITED), runs)
    t_all, _ = timed(lambda: simulate(bars, market_fvg_orders(bars, fvg_table(bars)), UNLIMITED), runs)
    return t_sim, t_all, orders, trades


def theirs(bars) -> tuple[float, int]:
    """backtesting.py on the same strategy (every signal its own bracketed trade)."""
    import pandas as pd
    from backtesting import Backtest, Strategy

    fvg = fvg_table(bars)
    sig = set(np.unique(fvg["confirmed_at"][(fvg["direction"] > 0) & (fvg["confirmed_at"] < len(bars) - 1)]).tolist())
    frame = pd.DataFrame({"Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close,
                          "Volume": bars.tick_volume.astype(float)}, index=pd.to_datetime(bars.time, unit="s"))

    class FvgEverySignal(Strategy):
        def init(self) -> None:
            pass

        def next(self) -> None:
            if len(self.data) - 1 in sig:
                c = self.data.Close[-1]
                self.buy(size=1000, sl=c - STOP, tp=c + TARGET)

    bt = Backtest(frame, FvgEverySignal, cash=1e12, commission=0.0, spread=0.0, margin=1.0, trade_on_close=False,
                  hedging=False, exclusive_orders=False, finalize_trades=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        stats = bt.run()
        dt = time.perf_counter() - t0
    return dt, len(stats._trades)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--bt-bars", type=int, default=None, help="run backtesting.py on the first N bars only")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-bt", action="store_true", help="skip backtesting.py")
    args = ap.parse_args()
    print(f"bars: {describe(args.bars)}")
    bars = chained_eurusd(args.bars)
    t_sim, t_all, orders, trades = ours(bars, args.runs)
    peak = peak_open(trades.rows)
    bounded = simulate(bars, orders, SimSettings(spread_points=0, max_positions=max(256, 2 * peak)))
    same = (np.array_equal(bounded.order_status, trades.order_status)
            and all(np.array_equal(bounded.rows[k], trades.rows[k], equal_nan=True) for k in trades.rows.dtype.names))
    print(f"every-signal FVG strategy, max_positions 0, over {len(bars):,} bars: simulation {t_sim * 1e3:.1f} ms, "
          f"with the FVG detector and orders {t_all * 1e3:.1f} ms (goal <= 1 s) [{len(orders):,} orders, "
          f"{len(trades):,} trades, peak {peak} open at once; a bounded run gives identical trades: "
          f"{'yes' if same else 'NO'}]")
    if args.no_bt:
        return
    n_bt = min(args.bt_bars or len(bars), len(bars))
    bt_bars = bars if n_bt == len(bars) else bars.slice(0, n_bt)
    if n_bt != len(bars):
        t_sim, t_all, _, trades = ours(bt_bars, args.runs)
        print(f"backtesting.py limited to the first {n_bt:,} bars (--bt-bars); ours on those bars: simulation "
              f"{t_sim * 1e3:.1f} ms, with the detector {t_all * 1e3:.1f} ms [{len(trades):,} trades]")
    t_bt, n_their = theirs(bt_bars)
    print(f"backtesting.py, same strategy over {n_bt:,} bars: {t_bt:.2f} s ({n_their:,} trades); ours "
          f"{t_bt / t_all:,.0f}x faster with the detector, {t_bt / t_sim:,.0f}x simulation only (goal >= 90x)")


if __name__ == "__main__":
    main()
