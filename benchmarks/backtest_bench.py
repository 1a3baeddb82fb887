"""Backtest benchmark: one rule over 1,000,000 M1 bars (detectors included), a 1,000-variant sweep
over 100,000 bars, and backtesting.py on the same simple FVG strategy over 100,000 bars.

    uv run python benchmarks/backtest_bench.py [--bars 1000000] [--runs 5] [--no-bt]

The bars are SYNTHETIC-FROM-REAL: the real EURUSD M1 file (../shared/data, read with its
-03:30 server clock) chained end to end, each copy rescaled to open where the previous one
closed (real returns and candle shapes, repeated) on consecutive minutes, spread 0.
Figures are wall-clock medians on this machine after a warm-up run (numba cache warm).
Budgets (docs): one rule over 1M bars <= 300 ms with detectors; 1,000 variants over 100k
bars <= 20 s on 2 cores.
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
DATA = ROOT.parent / "shared" / "data" / "EURUSD_M1.csv"

from ita_desktop.backtest.costs import SimSettings  # noqa: E402
from ita_desktop.backtest.orders import empty_orders  # noqa: E402
from ita_desktop.backtest.simulator import simulate  # noqa: E402
from ita_desktop.backtest.sweep import sweep  # noqa: E402
from ita_desktop.domain.bars import Bars  # noqa: E402


def chained_bars(n: int) -> Bars:
    from ita_desktop.data.csv_import import read_csv

    src = read_csv(DATA, symbol="EURUSD", server_tz="-03:30").bars
    m = len(src)
    reps = -(-n // m)
    o, h, lo, c = (np.empty(reps * m) for _ in range(4))
    level = float(src.open[0])
    for r in range(reps):
        f = level / src.open[0]
        s = slice(r * m, (r + 1) * m)
        o[s], h[s], lo[s], c[s] = src.open * f, src.high * f, src.low * f, src.close * f
        level = c[s][-1]
    t = int(src.time[0]) + 60 * np.arange(n, dtype=np.int64)
    return Bars.from_columns("EURUSD-CHAINED", src.timeframe, {
        "time": t, "open": o[:n], "high": h[:n], "low": lo[:n], "close": c[:n],
        "tick_volume": np.tile(src.tick_volume, reps)[:n]})


def fvg_table(bars: Bars) -> np.ndarray:
    from ita_desktop.detectors.dispatcher import detect

    return detect(bars, kinds=("fvg",)).tables["fvg"]


def fvg_orders(bars: Bars, fvg: np.ndarray, r: float = 2.0, buffer: float = 0.0002, expiry: int = 30) -> np.ndarray:
    """A limit at the near edge of every FVG, stop beyond the far edge plus a buffer, one target at r R."""
    fvg = fvg[fvg["confirmed_at"] < len(bars) - 1]
    out = empty_orders(len(fvg))
    d = fvg["direction"].astype(np.int8)
    out["occurrence"] = np.arange(len(fvg))
    out["direction"] = d
    out["signal_bar"] = fvg["confirmed_at"]
    out["entry_type"] = 1
    out["entry_price"] = np.where(d > 0, fvg["top"], fvg["bottom"])
    out["stop_price"] = np.where(d > 0, fvg["bottom"] - buffer, fvg["top"] + buffer)
    out["expiry_bar"] = fvg["confirmed_at"] + expiry
    out["target_r"][:, 0] = r
    out["target_fraction"][:, 0] = 1.0
    return out  # the FVG table is in confirmation order already (sort_orders checks, and would sort)


def timed(fn, runs: int):
    fn()  # warm-up (numba cache, allocators)
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-bt", action="store_true", help="skip backtesting.py")
    args = ap.parse_args()
    settings = SimSettings(spread_points=0)
    print(f"bars: {args.bars:,} M1, SYNTHETIC-FROM-REAL (real EURUSD M1 returns chained end to end)")
    big = chained_bars(args.bars)

    t_det, fvg = timed(lambda: fvg_table(big), args.runs)
    t_ord, orders = timed(lambda: fvg_orders(big, fvg), args.runs)
    t_sim, trades = timed(lambda: simulate(big, orders, settings), args.runs)
    t_all, _ = timed(lambda: simulate(big, fvg_orders(big, fvg_table(big)), settings), args.runs)
    print(f"one rule over {len(big):,} bars: detectors {t_det * 1e3:.1f} ms + orders {t_ord * 1e3:.1f} ms "
          f"+ simulation {t_sim * 1e3:.1f} ms; end to end {t_all * 1e3:.1f} ms (budget 300 ms) "
          f"[{len(orders):,} orders, {len(trades):,} trades]")

    small = big.slice(0, 100_000)
    fvg_small = fvg_table(small)
    grid = {"r": [1.0 + 0.25 * i for i in range(10)], "buffer": [0.00005 * i for i in range(10)],
            "expiry": [5 * (i + 1) for i in range(10)]}

    def orders_for(bars, p):
        return fvg_orders(bars, fvg_small, p["r"], p["buffer"], p["expiry"])

    sweep(small, orders_for, {"r": [2.0], "buffer": [0.0], "expiry": [5]}, settings)  # warm the parallel kernel
    t0 = time.perf_counter()
    result = sweep(small, orders_for, grid, settings, statistic="expectancy_r", chunk=100)
    t_sweep = time.perf_counter() - t0
    best = result.best()
    print(f"sweep of {len(result.rows):,} variants over {len(small):,} bars: {t_sweep:.2f} s (budget 20 s); "
          f"best expectancy {best['expectancy_r']:.3f} R at r={best['r']}, buffer={best['buffer']:.5f}, "
          f"expiry={best['expiry']}")

    if args.no_bt:
        return
    t_ours, ours = timed(lambda: simulate(small, market_fvg_orders(small, fvg_small), SimSettings(
        spread_points=0, max_positions=1)), args.runs)
    t_ours_det, _ = timed(lambda: simulate(small, market_fvg_orders(small, fvg_table(small)), SimSettings(
        spread_points=0, max_positions=1)), args.runs)
    t_bt, n_bt = run_backtesting_py(small, fvg_small)
    print(f"simple FVG strategy over {len(small):,} bars: ours {t_ours * 1e3:.1f} ms (with detectors "
          f"{t_ours_det * 1e3:.1f} ms, {len(ours):,} trades) vs backtesting.py {t_bt:.2f} s ({n_bt:,} trades): "
          f"{t_bt / t_ours_det:,.0f}x faster with detectors, {t_bt / t_ours:,.0f}x simulation only")


def market_fvg_orders(bars: Bars, fvg: np.ndarray) -> np.ndarray:
    """Buy at the next open after every bullish FVG, stop 10 pips below the signal close, target 20 above."""
    sig = np.unique(fvg["confirmed_at"][(fvg["direction"] > 0) & (fvg["confirmed_at"] < len(bars) - 1)])
    out = empty_orders(len(sig))
    out["occurrence"] = np.arange(len(sig))
    out["direction"] = 1
    out["signal_bar"] = sig
    out["stop_price"] = bars.close[sig] - 0.0010
    out["target_price"][:, 0] = bars.close[sig] + 0.0020
    out["target_fraction"][:, 0] = 1.0
    out["lots"] = 0.01
    return out


def run_backtesting_py(bars: Bars, fvg: np.ndarray) -> tuple[float, int]:
    import pandas as pd
    from backtesting import Backtest, Strategy

    frame = pd.DataFrame({"Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close,
                          "Volume": bars.tick_volume.astype(float)}, index=pd.to_datetime(bars.time, unit="s"))
    sig = set(np.unique(fvg["confirmed_at"][fvg["direction"] > 0]).tolist())

    class FvgLong(Strategy):
        def init(self) -> None:
            pass

        def next(self) -> None:
            if not self.position and len(self.data) - 1 in sig:
                c = self.data.Close[-1]
                self.buy(size=1000, sl=c - 0.0010, tp=c + 0.0020)

    bt = Backtest(frame, FvgLong, cash=1e9, commission=0.0, spread=0.0, trade_on_close=False, hedging=False,
                  exclusive_orders=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        stats = bt.run()
        dt = time.perf_counter() - t0
    return dt, len(stats._trades)


if __name__ == "__main__":
    main()
