"""Store benchmark: write and load 1,000,000 M1 bars (budget: load in at most 100 ms).

The bars are built from the real EURUSD M1 file in ../shared/data: its bar-to-bar ratios
(open, high, low, close relative to the previous close) are chained again and again onto a
continuing price path, on continuing minute timestamps that skip Saturdays and Sundays.
The file is read with pandas here, not with the app's importer, so the benchmark measures
the store alone.

Run: uv run python benchmarks/store_bench.py [--bars N] [--repeat K]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.ingest import ImportResult
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.storage import Store

EURUSD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "EURUSD_M1.csv"
START = 1_483_315_200  # 2017-01-02 00:00 UTC, a Monday


def weekday_minutes(n: int, start: int = START) -> np.ndarray:
    """The first n minute stamps from ``start`` that fall Monday to Friday (UTC)."""
    days_needed = n // 1440 * 7 // 5 + 14
    minutes = start + 60 * np.arange(days_needed * 1440, dtype=np.int64)
    weekday = (minutes // 86_400 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return minutes[weekday < 5][:n]


def chained_bars(n: int) -> Bars:
    text = EURUSD.read_text().replace('"', "")  # every line of the file is wrapped in quotes
    frame = pd.read_csv(io.StringIO(text), sep="\t")
    prev_close = frame["Close"].to_numpy()[:-1]
    ratios = {c: frame[c.capitalize()].to_numpy()[1:] / prev_close for c in ("open", "high", "low", "close")}
    volume = frame["Volume"].to_numpy()[1:]
    reps = -(-n // len(prev_close))
    growth = np.cumprod(np.tile(ratios["close"], reps)[:n])
    prev = 1.10 * np.r_[1.0, growth[:-1]]
    cols = {c: np.round(prev * np.tile(r, reps)[:n], 5) for c, r in ratios.items()}
    cols["high"] = np.maximum.reduce([cols["high"], cols["open"], cols["close"]])
    cols["low"] = np.minimum.reduce([cols["low"], cols["open"], cols["close"]])
    cols["time"] = weekday_minutes(n)
    cols["tick_volume"] = np.tile(volume, reps)[:n]
    return Bars.from_columns("EURUSD", Timeframe.M1, cols)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if not EURUSD.exists():
        print(f"real data not found at {EURUSD}", file=sys.stderr)
        return 1

    bars = chained_bars(args.bars)
    print(f"data: {len(bars):,} M1 bars chained from the returns of {EURUSD.name} (real EURUSD 2022),")
    print("      continuing prices and minute timestamps, weekends skipped; spread 0 (the file has none)")
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
