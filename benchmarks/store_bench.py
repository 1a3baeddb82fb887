"""Store benchmark: write and load 1,000,000 M1 bars (budget: load in at most 100 ms).

The bars are the real EURUSD file chained to length (benchmarks/chained_series.py).

Run: uv run python benchmarks/store_bench.py [--bars N] [--repeat K]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ita_desktop.domain.ingest import ImportResult
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.storage.store import Store

from chained_series import EURUSD, chained_eurusd, describe

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if not EURUSD.exists():
        print(f"real data not found at {EURUSD}", file=sys.stderr)
        return 1

    bars = chained_eurusd(args.bars)
    print(f"data: {describe(len(bars))}")
    result = ImportResult(str(EURUSD), "bench", "bench", "UTC", bars, rows_read=len(bars))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        with Store.open(path) as store:
            t0 = time.perf_counter()
            summary = store.bars.write(result, symbol="EURUSD", timeframe=Timeframe.M1, source="csv")
            write_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            store.bars.write(result, symbol="EURUSD", timeframe=Timeframe.M1, source="csv")
            rewrite_s = time.perf_counter() - t0
        size = path.stat().st_size

        cold = []
        for _ in range(args.repeat):
            with Store.open(path) as store:  # new engine and connection each time; OS cache stays warm
                t0 = time.perf_counter()
                loaded = store.bars.load("EURUSD", Timeframe.M1)
                cold.append(time.perf_counter() - t0)
        with Store.open(path) as store:
            store.bars.load("EURUSD", Timeframe.M1)
            warm = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                loaded = store.bars.load("EURUSD", Timeframe.M1)
                warm.append(time.perf_counter() - t0)
            mid = int(loaded.time[len(loaded) // 2])
            t0 = time.perf_counter()
            window = store.bars.load("EURUSD", Timeframe.M1, mid, mid + 7 * 86_400)
            window_s = time.perf_counter() - t0

    assert np.array_equal(loaded.close, bars.close) and np.array_equal(loaded.time, bars.time)
    assert summary.new == len(bars)
    print(f"write {summary.new:,} new bars:          {write_s * 1000:8.1f} ms")
    print(f"re-write same bars (all unchanged): {rewrite_s * 1000:8.1f} ms")
    print(f"load, new store each time (median): {statistics.median(cold) * 1000:8.1f} ms")
    print(f"load, warm (median of {args.repeat}):         {statistics.median(warm) * 1000:8.1f} ms   budget 100 ms")
    print(f"load one week ({len(window):,} bars):       {window_s * 1000:8.1f} ms")
    print(f"file size:                          {size / 1e6:8.1f} MB ({size / len(bars):.0f} bytes/bar, raw columns)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
