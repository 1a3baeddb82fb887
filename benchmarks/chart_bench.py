"""Chart speed on 1,000,000 M1 bars, offscreen: first paint and per-frame pan/zoom times.

The bars are the real EURUSD file chained to length (benchmarks/chained_series.py). A frame is "change the view, then render the widget" (QWidget.grab forces a real
paint of candles, shading, axes and grid). Budgets from DESIGN.md: first paint <= 300 ms,
each pan or zoom frame <= 16 ms.

    uv run python benchmarks/chart_bench.py [--bars 1000000] [--frames 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ita_desktop.config import load_settings  # noqa: E402
from ita_desktop.domain.bars import Bars  # noqa: E402
from ita_desktop.ui.chart import CandleChart  # noqa: E402
from ita_desktop.ui.chart.chart_data import prepare_chart_data  # noqa: E402

from chained_series import EURUSD, chained_eurusd, describe  # noqa: E402

FIRST_PAINT_BUDGET_MS = 300.0
FRAME_BUDGET_MS = 16.0
SIZE = (1600, 900)


def ms(seconds: float) -> float:
    return seconds * 1000.0


def new_chart(settings) -> CandleChart:
    chart = CandleChart(session_clock=settings.sessions.clock, session_windows=dict(settings.sessions.windows))
    chart.resize(*SIZE)
    chart.show()
    QApplication.processEvents()
    return chart


def first_paint(settings, bars: Bars, full_view: bool) -> tuple[float, float]:
    """(set data .. first frame rendered, the GUI thread's share of it). The app prepares the
    series (aggregation levels, session-clock times, session runs) on a worker thread."""
    chart = new_chart(settings)
    t0 = time.perf_counter()
    data = prepare_chart_data(bars, chart.session_clock, chart.session_windows)
    t1 = time.perf_counter()
    chart.set_prepared(data)
    if full_view:
        chart.set_x_window(-0.5, len(bars) - 0.5)
    chart.grab()
    t2 = time.perf_counter()
    chart.close()
    chart.deleteLater()
    return ms(t2 - t0), ms(t2 - t1)


def frames(chart: CandleChart, width: int, count: int, rng: np.random.Generator,
           cpu: list[float] | None = None) -> tuple[list[float], list[float]]:
    """Pan and zoom frames (wall-clock ms) around a random place at ``width`` bars wide.

    ``cpu``, if given, gets each frame's GUI-thread CPU time in the same order (pans, then zooms):
    a frame far longer in wall time than in CPU time waited for a core the machine gave elsewhere."""
    n = chart.count
    left = float(rng.integers(0, max(1, n - width)))
    chart.set_x_window(left - 0.5, left + width - 0.5)
    chart.grab()
    pans, zooms = [], []

    def frame(change, out: list[float]) -> None:
        t0, c0 = time.perf_counter(), time.thread_time()
        change()
        chart.grab()
        out.append(ms(time.perf_counter() - t0))
        if cpu is not None:
            cpu.append(ms(time.thread_time() - c0))

    for i in range(count):
        direction = -1 if (i // 10) % 2 else 1
        frame(lambda: chart.pan(0.05 * direction), pans)
    for i in range(count):
        factor = 1.25 if (i // 5) % 2 else 0.8  # five steps in, five out: crosses aggregation levels
        frame(lambda: chart.zoom(factor), zooms)
    return pans, zooms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--frames", type=int, default=40)
    args = parser.parse_args()
    if not EURUSD.is_file():
        print(f"real data not found at {EURUSD}; cannot build the benchmark series", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication([])
    settings = load_settings()
    t0 = time.perf_counter()
    bars = chained_eurusd(args.bars)
    print(f"{describe(len(bars))}; built in {ms(time.perf_counter() - t0):.0f} ms; widget {SIZE[0]}x{SIZE[1]}, "
          f"platform {app.platformName()}")

    first_paint(settings, bars.slice(0, 1000), False)  # warm-up: imports, fonts, first QPainter
    ok = True
    for full in (False, True):
        runs = [first_paint(settings, bars, full) for _ in range(3)]
        totals, gui = [r[0] for r in runs], [r[1] for r in runs]
        worst = max(totals)
        ok &= worst <= FIRST_PAINT_BUDGET_MS
        label = "all 1M bars in view" if full else "default view (latest 300 bars)"
        print(f"first paint, {label:32}: median {statistics.median(totals):6.1f} ms  worst {worst:6.1f} ms  "
              f"budget {FIRST_PAINT_BUDGET_MS:.0f} ms  {'OK' if worst <= FIRST_PAINT_BUDGET_MS else 'OVER'}  "
              f"(GUI thread part: median {statistics.median(gui):.1f} ms, worst {max(gui):.1f} ms)")

    chart = new_chart(settings)
    chart.set_data(bars)
    chart.grab()
    rng = np.random.default_rng(7)
    all_frames: list[float] = []
    print(f"{'bars in view':>12} {'pan median':>11} {'pan worst':>10} {'zoom median':>12} {'zoom worst':>11}")
    for width in (100, 300, 1_000, 5_000, 20_000, 100_000, 400_000, len(bars)):
        pans, zooms = frames(chart, width, args.frames, rng)
        all_frames += pans + zooms
        print(f"{width:>12,} {statistics.median(pans):>8.1f} ms {max(pans):>7.1f} ms "
              f"{statistics.median(zooms):>9.1f} ms {max(zooms):>8.1f} ms")
    worst = max(all_frames)
    ok &= worst <= FRAME_BUDGET_MS
    p95 = float(np.percentile(all_frames, 95))
    print(f"pan/zoom frames: {len(all_frames)}, median {statistics.median(all_frames):.1f} ms, "
          f"95th percentile {p95:.1f} ms, worst {worst:.1f} ms, budget {FRAME_BUDGET_MS:.0f} ms  {'OK' if worst <= FRAME_BUDGET_MS else 'OVER'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
