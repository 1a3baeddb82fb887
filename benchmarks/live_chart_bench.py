"""Live chart benchmark: the window's chart (offscreen) with H M1 bars of history, fed as the bus feeds it.

    QT_QPA_PLATFORM=offscreen uv run python benchmarks/live_chart_bench.py [--history 100000,1000000,5000000]
        [--events 300] [--replay-history 100000] [--replay 30000] [--rules asia_sweep,ib_raid,fvg_reversal,Frank_raid]

Prints, per history size, against the 20 ms budgets:
- tick -> forming candle drawn: a Tick handed to LiveChartFeed (what the QtBusBridge calls on the GUI
  thread), the frame applied (``flush``) and the chart painted synchronously (``repaint``);
- bar close -> chart updated: a BarClosed likewise, the bar appended (growing columns, aggregation
  tails, the touched chunks' rows) and painted. The core's part of a bar close (rules, signals,
  SQLite) is benchmarks/live_session_bench.py's.
Then Bar Replay at full speed with the chart: a replay LiveSession with the rules on its own thread
(ReplayControl), its bus events through a real QtBusBridge to the chart, which refreshes at most 60
times a second: bars a second, chart frames a second, and a year of M1 at that pace.
Bars: chained_series.chained_eurusd (the real EURUSD M1's returns chained end to end).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from chained_series import chained_eurusd, describe  # noqa: E402


def _pct(a: np.ndarray) -> str:
    return f"p50 {np.median(a) * 1e3:6.2f} ms  p99 {np.percentile(a, 99) * 1e3:6.2f} ms  worst {a.max() * 1e3:6.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", default="100000,1000000,5000000")
    ap.add_argument("--events", type=int, default=300)
    ap.add_argument("--replay-history", type=int, default=100_000)
    ap.add_argument("--replay", type=int, default=30_000)
    ap.add_argument("--rules", default="asia_sweep,ib_raid,fvg_reversal,Frank_raid")
    args = ap.parse_args()
    os.environ["ITA_HOME"] = tempfile.mkdtemp(prefix="ita-livechart-bench-")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    from ita_desktop.bus.event_bus import EventBus
    from ita_desktop.bus.events import BarClosed, Tick
    from ita_desktop.ui.bus_bridge import QtBusBridge
    from ita_desktop.ui.chart.chart_data import prepare_chart_data
    from ita_desktop.ui.chart.live_series import growable
    from ita_desktop.ui.chart.widget import CandleChart
    from ita_desktop.ui.live_chart import LiveChartFeed

    app = QApplication.instance() or QApplication([])
    histories = [int(h) for h in args.history.split(",")]
    n_total = max(max(histories), args.replay_history + args.replay) + args.events + 10
    print(f"bars: {describe(n_total)}")
    m1 = chained_eurusd(n_total)
    windows = {"asia": ("20:00", "00:00"), "london": ("02:00", "05:00"), "ny_am": ("09:30", "11:00")}
    bus = EventBus()

    for h in histories:
        chart = CandleChart(session_windows=windows)
        chart.resize(1400, 700)
        chart.show()
        chart.set_prepared(growable(prepare_chart_data(m1.slice(0, h), chart.session_clock, windows)))
        bridge = QtBusBridge(bus)  # one per chart: a feed lives as long as its chart
        feed = LiveChartFeed(chart, bridge)
        for _ in range(5):
            app.processEvents()
        ticks, closes = np.empty(args.events), np.empty(args.events)
        for j in range(args.events):
            i = h + j
            t0, o, hi, lo, c = int(m1.time[i]), *(float(a[i]) for a in (m1.open, m1.high, m1.low, m1.close))
            t = time.perf_counter()
            feed.on_tick(Tick(symbol="EURUSD", time_utc=t0 + 30.0, bid=(hi + lo) / 2, ask=(hi + lo) / 2 + 1e-5))
            feed.flush()
            chart.viewport().repaint()
            ticks[j] = time.perf_counter() - t
            t = time.perf_counter()
            feed.on_bar_closed(BarClosed(symbol="EURUSD", timeframe="M1", time_utc=t0, open=o, high=hi, low=lo,
                                         close=c))
            feed.flush()
            chart.viewport().repaint()
            closes[j] = time.perf_counter() - t
        assert chart.count == h + args.events
        print(f"history {h:>9,} M1: tick -> forming candle drawn {_pct(ticks)} | bar close -> chart updated "
              f"{_pct(closes)} (budget 20 ms each)", flush=True)
        bridge.close()
        chart.close()
        chart.deleteLater()
        app.processEvents()
    bridge = QtBusBridge(bus)
    _replay(args, m1, bus, bridge, app, windows)
    bridge.close()
    bus.shutdown()


def _replay(args, m1, bus, bridge, app, windows) -> None:
    from ita_desktop.core.live.live_service import ReplayPlan
    from ita_desktop.core.live.live_session import LiveSession
    from ita_desktop.core.live.replay_control import ReplayControl
    from ita_desktop.rules.engine import compile_rule
    from ita_desktop.rules.loader import load_rule, repo_rules_dir
    from ita_desktop.storage.store import Store
    from ita_desktop.ui.chart.chart_data import prepare_chart_data
    from ita_desktop.ui.chart.live_series import growable
    from ita_desktop.ui.chart.widget import CandleChart
    from ita_desktop.ui.live_chart import LiveChartFeed

    rules_ids = [r.strip() for r in args.rules.split(",") if r.strip()]
    compiled = [(compile_rule(load_rule(max((repo_rules_dir() / r).glob("v*.yaml"))).rule, "EURUSD"), None)
                for r in rules_ids]
    h, n = args.replay_history, args.replay
    history, to_play = m1.slice(0, h), m1.slice(h, h + n)
    chart = CandleChart(session_windows=windows)
    chart.resize(1400, 700)
    chart.show()
    chart.set_prepared(growable(prepare_chart_data(history, chart.session_clock, windows)))
    feed = LiveChartFeed(chart, bridge)
    with Store.open(Path(os.environ["ITA_HOME"]) / "replay.sqlite3") as store:
        session = LiveSession(store, bus, symbol="EURUSD", stream_timeframe=m1.timeframe, rules=compiled,
                              history=history, source="replay", store_bars=False)
        control = ReplayControl(ReplayPlan(session, to_play), speed=None)
        control.start()
        t = time.perf_counter()
        frames0 = feed.frames
        control.play()
        while not (control.finished.is_set() and chart.count == h + n):
            app.processEvents()
            time.sleep(0.001)
        took = time.perf_counter() - t
        frames = feed.frames - frames0
        year = 370_000
        print(f"replay with the chart ({', '.join(rules_ids)}; {h:,} bars of history): {n:,} M1 bars in {took:.2f} s = "
              f"{n / took:,.0f} bars/s, {frames} chart frames = {frames / took:.1f} frames/s (cap 60); "
              f"a year of M1 in {year / (n / took):.0f} s (goal: under 60 s); {len(control.total.raised)} signals",
              flush=True)
        if control.error is not None:
            raise control.error
    chart.close()


if __name__ == "__main__":
    main()
