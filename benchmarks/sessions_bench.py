"""Session-clock benchmark: clock precompute + sessions + levels over 1,000,000 M1 bars.

Budget share: at most 25 ms of the 100 ms "all detectors over 1,000,000 M1 bars" (warm cache).

The bars are the real EURUSD file chained to length (benchmarks/chained_series.py).

Run: uv run python benchmarks/sessions_bench.py [--bars N] [--repeat K]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


from ita_desktop.detectors.levels import SessionLevels
from ita_desktop.detectors.session_clock import SessionClock

from chained_series import EURUSD, chained_eurusd, describe

def _best(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return min(times), statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if not EURUSD.exists():
        print(f"real data not found at {EURUSD}", file=sys.stderr)
        return 1
    bars = chained_eurusd(args.bars)
    print(describe(len(bars)))

    clock = SessionClock.build(bars.time)  # warm-up (compiles or loads the numba cache)
    detector = SessionLevels(clock=clock)
    result = detector.run(bars)

    clock_ms = _best(lambda: SessionClock.build(bars.time), args.repeat)
    kernel_ms = _best(lambda: SessionLevels(clock=clock).run(bars), args.repeat)
    total_ms = _best(lambda: SessionLevels(clock=SessionClock.build(bars.time)).run(bars), args.repeat)

    live = SessionLevels(clock=SessionClock.build(bars.time[:-1000]))
    live.run(bars.slice(0, len(bars) - 1000))
    t0 = time.perf_counter()
    for n in range(len(bars) - 999, len(bars) + 1):
        live.update(bars.slice(0, n))
    live_ms = (time.perf_counter() - t0) * 1000 / 1000

    print(f"rows: {len(result.sessions):,} sessions, {len(result.levels):,} levels")
    print(f"session clock precompute      best {clock_ms[0]:6.1f} ms  median {clock_ms[1]:6.1f} ms")
    print(f"sessions + levels kernel      best {kernel_ms[0]:6.1f} ms  median {kernel_ms[1]:6.1f} ms")
    print(f"clock + sessions + levels     best {total_ms[0]:6.1f} ms  median {total_ms[1]:6.1f} ms  (budget 25 ms)")
    print(f"live update, one bar          mean {live_ms:6.3f} ms over the last 1,000 bars")
    return 0


if __name__ == "__main__":
    sys.exit(main())
