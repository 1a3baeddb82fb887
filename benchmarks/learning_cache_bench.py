"""The learning dataset cache on the real EURUSD (../shared/data): what `ita learn similar/score` paid per call
before (the recomputation: a miss) against a hit read back from <cache>/learning by a fresh core (a new process's
case), and a similar-setups query of a stored signal on a warm core (the Signals panel's case).

Imports the file into a throwaway ITA_HOME, then per seed rule: miss, hit (new core), in-memory hit. Prints
the figures; asserts nothing.

    uv run python benchmarks/learning_cache_bench.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = ("asia_sweep", "ib_raid", "fvg_reversal")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from tests.support.real_bars import real_eurusd_home

    real_eurusd_home("ita-cache-bench-")
    from tests.support.cores import new_core

    print(f"load: {os.getloadavg()[0]:.1f} (1-min average) on {os.cpu_count()} cores")
    for rule in RULES:
        with new_core() as core:
            t = time.perf_counter()
            ds = core.learning.dataset(rule, "EURUSD")
            miss = time.perf_counter() - t
        hits = []
        for _ in range(3):
            with new_core() as core:
                t = time.perf_counter()
                core.learning.dataset(rule, "EURUSD")
                hits.append(time.perf_counter() - t)
                t = time.perf_counter()
                core.learning.dataset(rule, "EURUSD")
                memory = time.perf_counter() - t
        print(f"{rule}: {len(ds)} rows; recompute (before, every call) {miss:.2f} s; from the file "
              f"median {statistics.median(hits) * 1000:.0f} ms (max {max(hits) * 1000:.0f}); in memory {memory * 1e6:.0f} us")


if __name__ == "__main__":
    main()
