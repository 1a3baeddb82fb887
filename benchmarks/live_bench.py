"""Live setup benchmark: the cost of one ``LiveSetup.update`` (one new setup-timeframe bar) after
40,000 / 200,000 / 1,000,000 setup bars of history, for the seed rules whose steps do not all have
``within`` (asia_sweep, fvg_reversal, Frank_raid).

    uv run python benchmarks/live_bench.py [--rules asia_sweep,fvg_reversal,Frank_raid]
        [--history 40000,200000,1000000] [--updates 200] [--runs 3] [--max-m1 16000000]

Bars: chained_series.chained_eurusd (the real EURUSD M1 file's returns and time steps chained end
to end), resampled to each rule's timeframe as the engine does; the first H setup bars are the
history (one full pass, timed apart), the next ``--updates`` bars are fed one at a time. A history
needing more than ``--max-m1`` M1 bars is skipped (M15 x 1,000,000 needs ~15.8M). Each run
builds a fresh LiveSetup; per run the median, 99th percentile and worst update are taken, and the
line shows the best and the worst run of each, for the whole update and for the setup engine's
part of it ("engine": the update minus the detectors' own ``DetectionResult.update``, timed
apart). Budget (DESIGN.md): one new tick to updated zones, signals and chart within 20 ms, so the
setup update must stay a small part of it.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from chained_series import chained_eurusd, describe  # noqa: E402

from ita_desktop.domain.bars import Bars  # noqa: E402
from ita_desktop.rules.engine import LiveSetup, compile_rule  # noqa: E402
from ita_desktop.rules.engine.runner import setup_bars  # noqa: E402
from ita_desktop.rules.loader import load_rule, repo_rules_dir  # noqa: E402

SEEDS = {"asia_sweep": "1", "fvg_reversal": "2", "Frank_raid": "1.2", "ib_raid": "1"}
#: M1 bars per M5 bar in the chained series is ~4.9 (thin overnight minutes are missing): a margin.
M1_PER_MINUTE = 1.05


def one_run(compiled, sbars: Bars, history: int, updates: int) -> tuple[float, np.ndarray, np.ndarray, int]:
    """(full pass seconds, per-update seconds, the detectors' part of each, occurrences signalled)."""
    t0 = time.perf_counter()
    live = LiveSetup(compiled, sbars.slice(0, history))
    init = time.perf_counter() - t0
    detectors_update = live.det.update
    in_detectors = []

    def timed_detectors(bar):  # the detectors' own update (detectors/dispatcher.py), inside live.update
        t = time.perf_counter()
        out = detectors_update(bar)
        in_detectors.append(time.perf_counter() - t)
        return out

    live.det.update = timed_detectors
    cols = {c: getattr(sbars, c) for c in ("time", "open", "high", "low", "close", "spread")}
    out = np.empty(updates)
    signalled = 0
    for j in range(updates):
        i = history + j
        bar = {c: a[i] for c, a in cols.items()}
        t = time.perf_counter()
        signalled += len(live.update(bar))
        out[j] = time.perf_counter() - t
    return init, out, np.array(in_detectors), signalled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default="asia_sweep,fvg_reversal,Frank_raid")
    ap.add_argument("--history", default="40000,200000,1000000")
    ap.add_argument("--updates", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-m1", type=int, default=16_000_000)
    args = ap.parse_args()
    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    histories = [int(h) for h in args.history.split(",")]
    compiled = {r: compile_rule(load_rule(repo_rules_dir() / r / f"v{SEEDS[r]}.yaml").rule, "EURUSD") for r in rules}
    need = max(math.ceil(M1_PER_MINUTE * (h + args.updates) * c.timeframe.seconds / 60)
               for h in histories for c in compiled.values())
    n_m1 = min(need, args.max_m1)
    print(f"bars: {describe(n_m1)}")
    m1 = chained_eurusd(n_m1)
    warm = chained_eurusd(20_000)
    print(f"{'rule':<13} {'tf':<4} {'history':>9} {'full pass':>10} {'median ms':>17} {'p99 ms':>17} "
          f"{'worst ms':>17} {'engine median':>17} {'engine p99':>17} {'engine worst':>17} {'signals':>8}")
    for rule_id, c in compiled.items():
        sbars = setup_bars(m1, c)
        one_run(c, setup_bars(warm, c), min(2_000, len(setup_bars(warm, c)) - 50), 20)  # numba cache, imports
        for h in histories:
            if h + args.updates > len(sbars):
                print(f"{rule_id:<13} {c.timeframe.value:<4} {h:>9,} skipped: {len(sbars):,} {c.timeframe.value} bars "
                      f"from {n_m1:,} M1 (--max-m1)")
                continue
            stats = []
            for _ in range(args.runs):
                init, per, det, signalled = one_run(c, sbars, h, args.updates)
                engine = per - det
                stats.append((init, np.median(per), np.percentile(per, 99), per.max(), np.median(engine),
                              np.percentile(engine, 99), engine.max(), signalled))
            a = np.array([s[:7] for s in stats]) * 1e3
            span = [f"{a[:, k].min():7.3f}..{a[:, k].max():<7.3f}" for k in range(1, 7)]
            print(f"{rule_id:<13} {c.timeframe.value:<4} {h:>9,} {a[:, 0].min() / 1e3:>8.2f} s "
                  + " ".join(f"{x:>17}" for x in span) + f" {stats[0][7]:>8}", flush=True)
    print(f"(each figure: best..worst of {args.runs} runs of {args.updates} updates; full pass: best; "
          "engine: the update minus the detectors' own update, i.e. bias, streams, matcher, orders)")


if __name__ == "__main__":
    main()
