"""Backtest benchmark: one rule over 1,000,000 M1 bars (detectors included), 1,000-variant sweeps
over 100,000 bars, and backtesting.py on the same simple FVG strategy over 100,000 bars.

    uv run python benchmarks/backtest_bench.py [--bars 1000000] [--runs 5] [--no-bt] [--no-rule-sweep]

Bars: chained_series.chained_eurusd (the real EURUSD M1 file's returns and time steps chained
end to end, spread 2 points). "One rule" is measured twice: the "every FVG" order stream (a
limit at each gap) and REAL seed rules (fvg_reversal and asia_sweep run on M1: detectors,
setup engine, orders, simulation, statistics). Sweeps: the every-FVG stream built as
ORDER_DTYPE rows per variant and as shared order columns, and a real rule (asia_sweep on M5
built from M1, M1 inside each bar) over 1,000 rule-field variants.
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from chained_series import chained_eurusd, describe  # noqa: E402

from ita_desktop.backtest.costs import SimSettings  # noqa: E402
from ita_desktop.backtest.orders import empty_orders  # noqa: E402
from ita_desktop.backtest.simulator import simulate  # noqa: E402
from ita_desktop.backtest.stats import compute_stats  # noqa: E402
from ita_desktop.backtest.sweep import sweep  # noqa: E402
from ita_desktop.domain.bars import Bars  # noqa: E402
from ita_desktop.domain.timeframes import Timeframe  # noqa: E402


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


def fvg_columns(bars: Bars, fvg: np.ndarray):
    """fvg_orders as shared order COLUMNS: a function (r, buffer, expiry) -> columns that builds
    only the columns a parameter changes and hands back the same arrays for the rest."""
    fvg = fvg[fvg["confirmed_at"] < len(bars) - 1]
    d = fvg["direction"].astype(np.int64)
    sig = fvg["confirmed_at"].astype(np.int64)
    top, bottom = fvg["top"].astype(np.float64), fvg["bottom"].astype(np.float64)
    m = len(fvg)
    base = {"occurrence": np.arange(m), "direction": d, "signal_bar": sig, "entry_type": np.ones(m, np.int64),
            "entry_price": np.where(d > 0, top, bottom), "target_fraction": np.tile([1.0, np.nan, np.nan], (m, 1))}
    by_r, by_buffer, by_expiry = {}, {}, {}

    def columns(r: float, buffer: float, expiry: int) -> dict[str, np.ndarray]:
        if r not in by_r:
            by_r[r] = np.tile([r, np.nan, np.nan], (m, 1))
        if buffer not in by_buffer:
            by_buffer[buffer] = np.where(d > 0, bottom - buffer, top + buffer)
        if expiry not in by_expiry:
            by_expiry[expiry] = sig + expiry
        return {**base, "target_r": by_r[r], "stop_price": by_buffer[buffer], "expiry_bar": by_expiry[expiry]}

    return columns


def timed(fn, runs: int):
    fn()  # warm-up (numba cache, allocators)
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def rule_on_m1(rule_id: str, bias: Timeframe | None = None):
    """A seed rule run on M1, optionally with a higher-timeframe bias (trade with its trend)."""
    from ita_desktop.workflows.rule_backtest import with_timeframe
    from ita_desktop.workflows.rule_scan import resolve_rule
    from ita_desktop.rules.engine import compile_rule
    from ita_desktop.rules.schema import Bias

    rule = with_timeframe(resolve_rule(rule_id).rule, Timeframe.M1)
    if bias is not None:
        rule = rule.model_copy(update={"market": rule.market.model_copy(update={"bias": Bias(timeframe=bias)})})
    return compile_rule(rule, "EURUSD")


def backtest_seed_rule(bars: Bars, compiled, settings: SimSettings):
    """What ``ita backtest`` computes (without the store): setup engine with detectors, simulation, statistics."""
    from ita_desktop.rules.engine import run_setup

    run = run_setup(compiled, bars)
    trades = simulate(run.bars, run.orders, settings)
    return trades, compute_stats(trades)


def rule_sweep(bars: Bars, progress=None):
    """asia_sweep (M5 from M1, M1 inside each bar) over 1,000 variants of three rule fields."""
    from ita_desktop.workflows.rule_backtest import RuleSweeper, instrument_settings, sweep_variants
    from ita_desktop.workflows.rule_scan import resolve_rule

    loaded = resolve_rule("asia_sweep")
    sweeper = RuleSweeper(loaded, "EURUSD", bars)
    grid = {"targets.0.first_of.1.r": [1.0 + 0.25 * i for i in range(10)],
            "stop.buffer.pips": [0.5 * i for i in range(10)],
            "management.break_even_at_r": [None] + [0.5 + 0.25 * i for i in range(9)]}
    settings = instrument_settings(sweeper.compiled_for({}))
    t0 = time.perf_counter()
    result = sweep_variants(sweeper, grid, settings, lower=bars, chunk=100, progress=progress)
    return time.perf_counter() - t0, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-bt", action="store_true", help="skip backtesting.py")
    ap.add_argument("--no-rule-sweep", action="store_true", help="skip the 1,000-variant real-rule sweep")
    args = ap.parse_args()
    settings = SimSettings(spread_points=0)
    print(f"bars: {describe(args.bars)}")
    big = chained_eurusd(args.bars)

    t_det, fvg = timed(lambda: fvg_table(big), args.runs)
    t_ord, orders = timed(lambda: fvg_orders(big, fvg), args.runs)
    t_sim, trades = timed(lambda: simulate(big, orders, settings), args.runs)
    t_all, _ = timed(lambda: simulate(big, fvg_orders(big, fvg_table(big)), settings), args.runs)
    print(f"every-FVG stream over {len(big):,} bars: detectors {t_det * 1e3:.1f} ms + orders {t_ord * 1e3:.1f} ms "
          f"+ simulation {t_sim * 1e3:.1f} ms; end to end {t_all * 1e3:.1f} ms (budget 300 ms) "
          f"[{len(orders):,} orders, {len(trades):,} trades]")
    for rule_id, bias in (("fvg_reversal", None), ("asia_sweep", None), ("asia_sweep", Timeframe.H4)):
        compiled = rule_on_m1(rule_id, bias)
        eur = SimSettings(point=compiled.point, contract_size=compiled.point_value / compiled.point)
        t_rule, (rule_trades, _) = timed(lambda: backtest_seed_rule(big, compiled, eur), args.runs)
        label = f"{rule_id} with an {bias.value} bias" if bias else rule_id
        print(f"seed rule {label} on M1 over {len(big):,} bars (detectors, setup, orders, simulation, stats): "
              f"{t_rule * 1e3:.1f} ms (budget 300 ms) [{len(rule_trades):,} trades]")

    small = chained_eurusd(100_000)
    fvg_small = fvg_table(small)
    grid = {"r": [1.0 + 0.25 * i for i in range(10)], "buffer": [0.00005 * i for i in range(10)],
            "expiry": [5 * (i + 1) for i in range(10)]}
    columns = fvg_columns(small, fvg_small)
    for label, orders_for in (
            ("ORDER_DTYPE rows", lambda bars, p: fvg_orders(bars, fvg_small, p["r"], p["buffer"], p["expiry"])),
            ("shared columns", lambda bars, p: columns(p["r"], p["buffer"], p["expiry"]))):
        sweep(small, orders_for, {"r": [2.0], "buffer": [0.0], "expiry": [5]}, settings)  # warm the parallel kernel
        t0 = time.perf_counter()
        result = sweep(small, orders_for, grid, settings, statistic="expectancy_r", chunk=100)
        t_sweep = time.perf_counter() - t0
        best = result.best()
        print(f"every-FVG sweep ({label}) of {len(result.rows):,} variants over {len(small):,} bars: {t_sweep:.2f} s "
              f"(budget 20 s); best expectancy {best['expectancy_r']:.3f} R at r={best['r']}, "
              f"buffer={best['buffer']:.5f}, expiry={best['expiry']}")
    if not args.no_rule_sweep:
        t_rs, rs = rule_sweep(small)
        best = rs.best()
        print(f"asia_sweep rule sweep of {len(rs.rows):,} variants over {len(small):,} M1 bars: {t_rs:.2f} s "
              f"(budget 20 s; detectors run {rs.meta['detector_runs']}x); best expectancy "
              f"{best['expectancy_r']:.3f} R over {best['trades']} trades")

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
