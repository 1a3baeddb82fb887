"""Chart frame times with the overlay layers on, over 1,000,000 M1 bars, offscreen.

The bars are the real EURUSD file chained to length (benchmarks/chained_series.py); the layers
come from the real detectors over them. A frame is "change the view, then render the widget"
(QWidget.grab forces a paint of candles, shading, axes and all overlays). Two charts share the
prepared series: one with every overlay layer on (including those off by default), one with
the default set (the layers on when the app starts); both visit the same places at each zoom
level, and each zoom level's median, 95th percentile and worst frame are printed for both, so
the worst case shows where it happens. Budget from DESIGN.md: each pan or zoom frame <= 16 ms,
judged on wall-clock time; the summary adds the GUI thread's CPU time, since on a shared machine
a lone slow frame is often one that waited for a core.
Also prints the GUI-thread cost of handing the finished layers to the chart, and the
worker-side cost of detecting and building them.

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
from ita_desktop.ui.chart.chart_data import ChartData, prepare_chart_data  # noqa: E402
from ita_desktop.core.detection_service import detector_params  # noqa: E402
from ita_desktop.detectors.dispatcher import detect  # noqa: E402
from ita_desktop.ui.chart.overlays import LAYERS, OverlayData, OverlaySet, overlay_data as build_overlays  # noqa: E402

from chained_series import EURUSD, chained_eurusd, describe  # noqa: E402
from chart_bench import frames, ms  # noqa: E402

FRAME_BUDGET_MS = 16.0
SIZE = (1600, 900)
WIDTHS = (100, 300, 1_000, 5_000, 20_000, 100_000, 400_000)  # and the whole series
SEED = 11


def overlay_chart(settings, data: ChartData, overlay_data: OverlayData, on: set[str]) -> tuple[CandleChart, OverlaySet]:
    """A chart showing ``data`` with the overlay layers named in ``on`` switched on."""
    chart = CandleChart(session_clock=settings.sessions.clock, session_windows=dict(settings.sessions.windows))
    chart.resize(*SIZE)
    chart.show()
    overlays = OverlaySet(chart, chart.theme)
    for spec in LAYERS:
        overlays.set_visible(spec.name, spec.name in on)
    chart.set_prepared(data)
    t0 = time.perf_counter()
    overlays.set_layers(overlay_data.layers, overlay_data.key)
    handed = ms(time.perf_counter() - t0)
    chart.grab()
    print(f"GUI thread: hand the layers to the chart {handed:.1f} ms ({len(on)} layers on)")
    return chart, overlays


def summary(values: list[float]) -> tuple[float, float, float]:
    """(median, 95th percentile, worst) of frame times in ms."""
    return statistics.median(values), float(np.percentile(values, 95)), max(values)


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
    warm = bars.slice(0, 5000)
    build_overlays(warm, detect(warm, params=params))  # warm the numba cache
    t0 = time.perf_counter()
    overlay_data = build_overlays(bars, detect(bars, params=params))
    print(f"worker: detect + build layers {ms(time.perf_counter() - t0):.0f} ms; objects per layer: "
          + ", ".join(f"{k} {v:,}" for k, v in overlay_data.counts.items()))

    data = prepare_chart_data(bars, settings.sessions.clock, dict(settings.sessions.windows))
    sets = {
        "all": {spec.name for spec in LAYERS},
        "default": {spec.name for spec in LAYERS if spec.visible},
    }
    charts = {name: overlay_chart(settings, data, overlay_data, on) for name, on in sets.items()}
    rngs = {name: np.random.default_rng(SEED) for name in sets}  # the same places for every set
    frames_of: dict[str, list[float]] = {name: [] for name in sets}
    cpu_of: dict[str, list[float]] = {name: [] for name in sets}  # the same frames' GUI-thread CPU time
    print(f"per zoom level: {args.frames} pans then {args.frames} zooms around a random place; ms; "
          f"'worst in' says whether a pan or a zoom frame was the worst")
    head = "".join(f" | {name + ' layers (' + str(len(on)) + ' on)':^37}" for name, on in sets.items())
    print(f"{'':>12}{head}")
    cols = f" | {'median':>6} {'p95':>6} {'worst':>6} {'in':>5} {'shapes':>6}  "
    print(f"{'bars in view':>12}{cols * len(sets)}")
    for width in (*WIDTHS, len(bars)):
        row = f"{width:>12,}"
        for name in sets:
            chart, overlays = charts[name]
            pans, zooms = frames(chart, width, args.frames, rngs[name], cpu_of[name])
            frames_of[name] += pans + zooms
            median, p95, worst = summary(pans + zooms)
            drawn = sum(item.last_drawn for item in overlays.items.values() if item.isVisible())
            where = "pan" if max(pans) >= max(zooms) else "zoom"
            row += f" | {median:>6.1f} {p95:>6.1f} {worst:>6.1f} {where:>5} {drawn:>6,}  "
        print(row)
    ok = True
    for name, values in frames_of.items():
        median, p95, worst = summary(values)
        cpu = cpu_of[name]
        ok &= worst <= FRAME_BUDGET_MS
        print(f"{name} layers ({len(sets[name])} on): {len(values)} pan/zoom frames, median {median:.1f} ms, "
              f"95th percentile {p95:.1f} ms, worst {worst:.1f} ms, budget {FRAME_BUDGET_MS:.0f} ms  "
              f"{'OK' if worst <= FRAME_BUDGET_MS else 'OVER'}  (the worst frame's CPU time "
              f"{cpu[values.index(worst)]:.1f} ms; most CPU in one frame {max(cpu):.1f} ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
