"""Chart frame times with every overlay layer on, over 1,000,000 M1 bars, offscreen.

The bars are the real EURUSD file chained to length (benchmarks/chained_series.py); the layers
come from the real detectors over them. A frame is "change the view, then render the widget"
(QWidget.grab forces a paint of candles, shading, axes and all overlays). Budget from
DESIGN.md: each pan or zoom frame <= 16 ms. Also prints the GUI-thread cost of handing the
finished layers to the chart, and the worker-side cost of detecting and building them.

    uv run python benchmarks/overlay_bench.py [--bars 1000000] [--frames 40]
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
from ita_desktop.ui.chart import CandleChart  # noqa: E402
from ita_desktop.ui.chart.overlays import LAYERS, OverlaySet, compute_overlays, detector_params  # noqa: E402

from chained_series import EURUSD, chained_eurusd, describe  # noqa: E402
from chart_bench import frames, ms  # noqa: E402

FRAME_BUDGET_MS = 16.0
SIZE = (1600, 900)


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
    bars = chained_eurusd(args.bars)
    print(f"{describe(len(bars))}; widget {SIZE[0]}x{SIZE[1]}, platform {app.platformName()}")
    params = detector_params(settings)
    compute_overlays(bars.slice(0, 5000), params)  # warm the numba cache
    t0 = time.perf_counter()
    data = compute_overlays(bars, params)
    print(f"worker: detect + build layers {ms(time.perf_counter() - t0):.0f} ms; objects per layer: "
          + ", ".join(f"{k} {v:,}" for k, v in data.counts.items()))

    chart = CandleChart(session_clock=settings.sessions.clock, session_windows=dict(settings.sessions.windows))
    chart.resize(*SIZE)
    chart.show()
    overlays = OverlaySet(chart, chart.theme)
    for spec in LAYERS:
        overlays.set_visible(spec.name, True)
    chart.set_data(bars)
    t0 = time.perf_counter()
    overlays.set_layers(data.layers, data.key)
    print(f"GUI thread: hand the layers to the chart {ms(time.perf_counter() - t0):.1f} ms")
    chart.grab()
    rng = np.random.default_rng(11)
    all_frames: list[float] = []
    print(f"{'bars in view':>12} {'pan median':>11} {'pan worst':>10} {'zoom median':>12} {'zoom worst':>11} "
          f"{'shapes drawn':>13}")
    for width in (100, 300, 1_000, 5_000, 20_000, 100_000, 400_000, len(bars)):
        pans, zooms = frames(chart, width, args.frames, rng)
        all_frames += pans + zooms
        drawn = sum(item.last_drawn for item in overlays.items.values())
        print(f"{width:>12,} {statistics.median(pans):>8.1f} ms {max(pans):>7.1f} ms "
              f"{statistics.median(zooms):>9.1f} ms {max(zooms):>8.1f} ms {drawn:>13,}")
    worst = max(all_frames)
    p95 = float(np.percentile(all_frames, 95))
    ok = worst <= FRAME_BUDGET_MS
    print(f"pan/zoom frames with all overlays: {len(all_frames)}, median {statistics.median(all_frames):.1f} ms, "
          f"95th percentile {p95:.1f} ms, worst {worst:.1f} ms, budget {FRAME_BUDGET_MS:.0f} ms  "
          f"{'OK' if ok else 'OVER'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
