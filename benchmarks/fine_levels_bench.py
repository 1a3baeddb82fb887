"""What session and day levels from the M1 bars cost a rule on a higher timeframe (issue 18).

    uv run python benchmarks/fine_levels_bench.py [--bars 1000000] [--runs 5] [--updates 300]
        [--rules asia_sweep:H4,ib_raid:H1,asia_sweep:M5] [--history 100000,1000000]

Bars: chained_series.chained_eurusd (the real EURUSD M1 file chained end to end), ``--bars`` M1 bars.

1. Backtest: the setup engine (resampling, detectors, matcher, orders: ``run_setup``) and the
   simulation (``simulate`` with the M1 bars inside each bar) of each rule over the M1 bars, with the
   levels from the M1 bars (forced: an M5 rule computes them on its own bars, levels_exact_on) and
   from the rule's own bars (before), median of
   ``--runs`` runs each; the difference is the extra cost. Budget (DESIGN.md): one rule backtested
   over 1,000,000 M1 bars, detectors included, 300 ms.
2. Live: one ``LiveSetup.update`` of the rule's bar after ``--history`` M1 bars of history, fed as a
   LiveSession feeds it (every streamed M1 bar to ``add_fine``, the rule's bars from the
   TimeframeBuilder), with M1 levels and with the rule's own (history given as setup bars); the
   time per rule bar includes the add_fine calls of its M1 bars (not the builder, the same in both).
   Median, p99 and worst of ``--updates`` updates; the two history lengths show whether the cost
   grows with the history (it must not). Budget: one closed bar to signals within 20 ms (p99).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from chained_series import chained_eurusd, describe  # noqa: E402

from ita_desktop.backtest.simulator import simulate  # noqa: E402
from ita_desktop.core.live.bar_builder import TimeframeBuilder  # noqa: E402
from ita_desktop.core.live.live_session import _closed, _split_history  # noqa: E402
from ita_desktop.domain.bars import Bars  # noqa: E402
from ita_desktop.rules.engine import LiveSetup, compile_rule, run_setup  # noqa: E402
from ita_desktop.rules.engine.runner import setup_bars  # noqa: E402
from ita_desktop.workflows.rule_backtest import instrument_settings  # noqa: E402
from ita_desktop.workflows.rule_scan import resolve_rule, with_timeframe  # noqa: E402


def _compiled(spec: str):
    rule_id, tf = spec.split(":")
    return compile_rule(with_timeframe(resolve_rule(rule_id).rule, tf), "EURUSD")


def backtest_ms(compiled, m1: Bars, fine: bool, runs: int) -> tuple[float, float, int]:
    """Median ms of run_setup + simulate over the M1 bars (levels from them, or from the rule's own bars
    built from them: ``fine_levels=False``, what every run did before), spread, trades."""
    settings = instrument_settings(compiled)
    times = []
    trades = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        run = run_setup(compiled, m1, fine_levels=fine)
        trades = len(simulate(run.bars, run.orders, settings, lower=m1))
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), max(times) - min(times), trades


def live_updates(compiled, m1: Bars, history: int, updates: int, fine: bool) -> np.ndarray:
    """Seconds per rule-bar update (with its M1 bars' add_fine calls when ``fine``)."""
    done, tail = _split_history(m1.slice(0, history), compiled, m1.timeframe)
    live = LiveSetup(compiled, done if fine else setup_bars(done, compiled))
    if fine:
        live.add_fine(tail)
    builder = TimeframeBuilder(m1.timeframe, compiled.timeframe, compiled.clock)
    for i in range(len(tail)):
        builder.add(_closed(tail, i))
    out: list[float] = []
    pending = 0.0
    i = history
    while len(out) < updates and i < len(m1):
        bar = _closed(m1, i)
        i += 1
        if fine:
            t0 = time.perf_counter()
            live.add_fine(bar)
            pending += time.perf_counter() - t0
        for sbar in builder.add(bar):
            t0 = time.perf_counter()
            live.update(sbar)
            out.append(time.perf_counter() - t0 + pending)
            pending = 0.0
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--updates", type=int, default=300)
    ap.add_argument("--rules", default="asia_sweep:H4,ib_raid:H1,asia_sweep:M5")
    ap.add_argument("--history", default="100000,1000000")
    args = ap.parse_args()
    m1 = chained_eurusd(args.bars)
    print(f"bars: {describe(len(m1))}")
    specs = args.rules.split(",")
    for spec in specs:  # warm the kernels (compiled or loaded from the cache)
        run_setup(_compiled(spec), m1.slice(0, 20_000))
    print("\n1. backtest over the M1 bars (run_setup + simulate), median of runs, ms")
    print(f"{'rule':<16} {'M1 levels':>16} {'own-bar levels':>16} {'extra':>8}  trades (M1 / own)")
    for spec in specs:
        c = _compiled(spec)
        fine = backtest_ms(c, m1, True, args.runs)
        own = backtest_ms(c, m1, False, args.runs)
        print(f"{spec:<16} {fine[0]:9.1f} ±{fine[1] / 2:5.1f} {own[0]:9.1f} ±{own[1] / 2:5.1f} {fine[0] - own[0]:+8.1f}"
              f"  {fine[2]} / {own[2]}")
    print("\n2. live: one update of the rule's bar (with its M1 bars' add_fine), ms: median / p99 / worst")
    for spec in specs:
        c = _compiled(spec)
        if c.timeframe.minutes <= 1:
            continue
        for history in (int(h) for h in args.history.split(",")):
            history = min(history, len(m1) - args.updates * c.timeframe.minutes * 2)
            row = [f"{spec:<16} history {history:>9,} M1"]
            for fine in (True, False):
                s = live_updates(c, m1, history, args.updates, fine) * 1e3
                row.append(f"{'M1' if fine else 'own'} levels {np.median(s):6.2f} / {np.percentile(s, 99):6.2f} / "
                           f"{s.max():6.2f}")
            print("  ".join(row))


if __name__ == "__main__":
    main()
