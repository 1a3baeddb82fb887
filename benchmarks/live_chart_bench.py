"""Live chart benchmark: the window's chart (offscreen) with H M1 bars of history, fed as the bus feeds it.

    QT_QPA_PLATFORM=offscreen uv run python benchmarks/live_chart_bench.py [--history 100000,1000000,5000000]
        [--events 300] [--replay-history 100000,1000000,5000000] [--replay 30000]
        [--rules asia_sweep,ib_raid,fvg_reversal,Frank_raid] [--no-overlays]

Prints, per history size, against the 20 ms budgets, each through the Qt event loop as the window runs:
- tick -> forming candle drawn: a Tick handed to LiveChartFeed (what the QtBusBridge calls on the GUI
  thread), until the chart has painted the frame showing it;
- bar close -> chart updated: a BarClosed likewise, until the chart has painted the frame showing the
  bar (growing columns, aggregation tails, the touched chunks' rows) AND its detector overlays advanced
  from the detectors' changes on their worker (LiveOverlayFeed); the overlay part alone (bars appended
  to layers on the chart) and the worker's own part are printed too, and the time the live layers take
  to build when a session starts (``prime``). The GUI thread's own CPU time per tick and per bar close is
  printed too: on a shared machine the wall times mostly say how long the thread waited for a core. The core's part of a bar close (rules, signals, SQLite) is
  benchmarks/live_session_bench.py's.
Then Bar Replay at full speed with the chart, per replay history size: a replay LiveSession with the
rules on its own thread (ReplayControl), its bus events through a real QtBusBridge to the chart and its
overlays, which refresh at most 60 times a second: bars a second, chart frames and overlay updates a
second, and a year of M1 at that pace (525,600 bars, and a trading year of 372,000) in wall and CPU
seconds, with the load average, and the chart's paints with the GUI thread's CPU (per paint and per bar)
and the overlay worker's CPU. ``--no-overlays`` measures the chart without the overlays.
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


YEAR_ALL = 525_600  # M1 bars in a year, every minute
YEAR_TRADING = 372_000  # M1 bars in a trading year (24 hours, 5 days a week)


class _PaintCount:
    """Counts the paints of a chart's viewport (an event filter; the chart's frames and overlay swaps)."""

    def __init__(self, chart) -> None:
        from PySide6.QtCore import QEvent, QObject

        outer = self
        self.n = 0

        class Filter(QObject):
            def eventFilter(self, obj, event):  # noqa: N802 (Qt's name)
                if event.type() == QEvent.Type.Paint:
                    outer.n += 1
                return False

        self._filter = Filter()
        chart.viewport().installEventFilter(self._filter)


def _pct(a: np.ndarray) -> str:
    return f"p50 {np.median(a) * 1e3:6.2f} ms  p99 {np.percentile(a, 99) * 1e3:6.2f} ms  worst {a.max() * 1e3:6.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", default="100000,1000000,5000000")
    ap.add_argument("--events", type=int, default=300)
    ap.add_argument("--replay-history", default="100000,1000000,5000000")
    ap.add_argument("--replay", type=int, default=30_000)
    ap.add_argument("--rules", default="asia_sweep,ib_raid,fvg_reversal,Frank_raid")
    ap.add_argument("--no-overlays", action="store_true", help="the chart without detector overlays (the old figure)")
    ap.add_argument("--core-too", action="store_true", help="also replay without the chart (same bars, same load)")
    args = ap.parse_args()
    args.replay_histories = [int(h) for h in str(args.replay_history).split(",") if h]  # "" skips the replays
    os.environ["ITA_HOME"] = tempfile.mkdtemp(prefix="ita-livechart-bench-")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtWidgets import QApplication

    from ita_desktop.bus.event_bus import EventBus
    from ita_desktop.bus.events import BarClosed, Tick
    from ita_desktop.ui.bus_bridge import QtBusBridge
    from ita_desktop.ui.chart.chart_data import prepare_chart_data
    from ita_desktop.ui.chart.live_series import growable
    from ita_desktop.ui.job_bridge import GIL_SWITCH_INTERVAL_S

    app = QApplication.instance() or QApplication([])
    # the window's GIL switch interval (its JobBridge sets it at start-up): with Python's default 5 ms the
    # overlay worker waited up to 5 ms for the GIL after each hand-over, which the window never does
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
    timed_chart = _make_timed_chart()
    histories = [int(h) for h in args.history.split(",") if h]  # "" skips the tick and bar-close part
    n_total = max(max(histories, default=0), max(args.replay_histories, default=0) + args.replay) + args.events + 10
    print(f"bars: {describe(n_total)}")
    m1 = chained_eurusd(n_total)
    windows = {"asia": ("20:00", "00:00"), "london": ("02:00", "05:00"), "ny_am": ("09:30", "11:00")}
    bus = EventBus()

    for h in histories:
        chart = timed_chart(session_windows=windows)
        chart.resize(1400, 700)
        chart.show()
        chart.set_prepared(growable(prepare_chart_data(m1.slice(0, h), chart.session_clock, windows)))
        bridge = QtBusBridge(bus)  # one per chart: a feed lives as long as its chart
        feed = _feed(args, chart, bridge, m1.slice(0, h))
        swapped: list[float] = []
        if feed.overlays is not None:
            feed.overlays.advanced.connect(lambda _counts: swapped.append(time.perf_counter()))
        _wait_for(lambda: False, 0.2, 20, check=False)  # settle: the first frames, pending events
        ticks, closes, overlays = np.empty(args.events), np.empty(args.events), np.empty(args.events)
        tick_cpu, close_cpu = np.empty(args.events), np.empty(args.events)  # the GUI thread's own CPU time
        for j in range(args.events):
            i = h + j
            t0, o, hi, lo, c = int(m1.time[i]), *(float(a[i]) for a in (m1.open, m1.high, m1.low, m1.close))
            price = (hi + lo) / 2
            t, cpu = time.perf_counter(), time.thread_time()
            feed.on_tick(Tick(symbol="EURUSD", time_utc=t0 + 30.0, bid=price, ask=price + 1e-5))
            ticks[j] = _until_painted(chart, lambda: chart.forming.bar is not None and chart.forming.bar.close == price) - t
            tick_cpu[j] = time.thread_time() - cpu
            _wait_for(lambda: False, 0.02, 20, check=False)  # the bar closes a little later (a quiet GUI thread)
            n = h + j + 1
            swapped.clear()
            t, cpu = time.perf_counter(), time.thread_time()
            feed.on_bar_closed(BarClosed(symbol="EURUSD", timeframe="M1", time_utc=t0, open=o, high=hi, low=lo,
                                         close=c))
            closes[j] = _until_painted(chart, lambda: chart.count == n and (
                feed.overlays is None or feed.overlays.error is not None or (feed.overlays.n_bars == n and swapped))) - t
            close_cpu[j] = time.thread_time() - cpu
            if feed.overlays is not None:
                if feed.overlays.error:
                    raise RuntimeError(feed.overlays.error)
                overlays[j] = swapped[-1] - t
        assert chart.count == h + args.events
        print(f"history {h:>9,} M1: tick -> forming candle drawn {_pct(ticks)} | bar close -> chart updated "
              f"{'(overlays included) ' if feed.overlays else ''}{_pct(closes)} (budget 20 ms each)", flush=True)
        print(f"{'':19} CPU time of the GUI thread (whatever the machine's load): tick {_pct(tick_cpu)} | bar close "
              f"{_pct(close_cpu)}", flush=True)
        if feed.overlays is not None:
            worker = np.array(list(feed.overlays.worker_s)[-args.events:])
            print(f"{'':19} of which the overlays advanced (bar handed over -> layers on the chart) {_pct(overlays)}; "
                  f"{feed.overlays.updates} updates; the worker's own part {_pct(worker)}; live layers built at "
                  f"session start (prime) in {feed.primed_s:.2f} s", flush=True)
        bridge.close()
        chart.close()
        chart.deleteLater()
        app.processEvents()
    for h in args.replay_histories:
        bridge = QtBusBridge(bus)
        _replay(args, h, m1, bus, bridge, app, windows)
        bridge.close()
    bus.shutdown()


def _make_timed_chart():
    from ita_desktop.ui.chart.widget import CandleChart

    class TimedChart(CandleChart):
        """The window's chart; ``paint_hook()`` runs after each paint of its viewport (the frame is drawn)."""

        paint_hook = None

        def paintEvent(self, ev):  # noqa: N802 (Qt's name)
            super().paintEvent(ev)
            if self.paint_hook is not None:
                self.paint_hook()

    return TimedChart


def _until_painted(chart, shown, timeout: float = 30.0) -> float:
    """Run the event loop until a paint of ``chart`` ends with ``shown()`` true; the time that paint ended."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop, ended = QEventLoop(), []

    def hook():
        if not ended and shown():
            ended.append(time.perf_counter())
            loop.quit()

    chart.paint_hook = hook
    QTimer.singleShot(int(timeout * 1000), loop.quit)
    loop.exec()
    chart.paint_hook = None
    if not ended:
        raise RuntimeError("timed out waiting for the chart to paint")
    return ended[0]


def _feed(args, chart, bridge, history):
    """The chart's LiveChartFeed, with its detector overlays attached (the window's load detection)."""
    from ita_desktop.detectors.dispatcher import detect
    from ita_desktop.ui.chart.overlays import OverlaySet, overlay_data
    from ita_desktop.ui.live_chart import LiveChartFeed
    from ita_desktop.ui.theme import get_theme

    if args.no_overlays:
        return LiveChartFeed(chart, bridge)
    overlays = OverlaySet(chart, get_theme("dark"))
    feed = LiveChartFeed(chart, bridge, overlays=overlays)
    data = overlay_data(history, detect(history))
    overlays.set_layers(data.layers, data.key)
    feed.overlays.attach(data)
    t = time.perf_counter()
    feed.overlays.prime()  # what the Bar Replay and MT5 Live docks do when their session starts
    _overlays_caught_up(feed, _app(), chart.count)
    feed.primed_s = time.perf_counter() - t  # over 1M bars the detection is not kept: detected again first
    return feed


def _app():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance()


def _overlays_caught_up(feed, app, n: int, timeout: float = 120.0) -> None:
    if feed.overlays is not None:
        _wait_for(lambda: feed.overlays.error or (feed.overlays.idle and feed.overlays.n_bars == n), timeout, 1)
        if feed.overlays.error:
            raise RuntimeError(feed.overlays.error)


def _wait_for(done, timeout: float, check_ms: int, check: bool = True) -> None:
    """Run the Qt event loop (as the window's app.exec does: the GUI thread idles without the GIL) until
    ``done()``, checked every ``check_ms``."""
    from PySide6.QtCore import QEventLoop, QTimer

    if done():
        return
    loop, timer = QEventLoop(), QTimer()
    end = time.perf_counter() + timeout
    timer.setInterval(check_ms)
    timer.timeout.connect(lambda: (done() or time.perf_counter() > end) and loop.quit())
    timer.start()
    loop.exec()
    timer.stop()
    if check and not done():
        raise RuntimeError("timed out")


def _replay(args, h, m1, bus, bridge, app, windows) -> None:
    from ita_desktop.core.live.live_service import ReplayPlan
    from ita_desktop.core.live.live_session import LiveSession
    from ita_desktop.core.live.replay_control import ReplayControl
    from ita_desktop.rules.engine import compile_rule
    from ita_desktop.rules.loader import load_rule, repo_rules_dir
    from ita_desktop.storage.store import Store
    from ita_desktop.ui.chart.chart_data import prepare_chart_data
    from ita_desktop.ui.chart.live_series import growable
    from ita_desktop.ui.chart.widget import CandleChart

    rules_ids = [r.strip() for r in args.rules.split(",") if r.strip()]
    compiled = [(compile_rule(load_rule(max((repo_rules_dir() / r).glob("v*.yaml"))).rule, "EURUSD"), None)
                for r in rules_ids]
    n = args.replay
    history, to_play = m1.slice(0, h), m1.slice(h, h + n)
    chart = CandleChart(session_windows=windows)
    chart.resize(1400, 700)
    chart.show()
    chart.set_prepared(growable(prepare_chart_data(history, chart.session_clock, windows)))
    feed = _feed(args, chart, bridge, history)
    if args.core_too:
        with Store.open(Path(os.environ["ITA_HOME"]) / f"core-{h}.sqlite3") as store:
            session = LiveSession(store, None, symbol="EURUSD", stream_timeframe=m1.timeframe, rules=compiled,
                                  history=history, source="replay", store_bars=False)
            control = ReplayControl(ReplayPlan(session, to_play), speed=None)
            control.start()
            t, cpu = time.perf_counter(), time.process_time()
            control.play()
            control.finished.wait()
            took, cpu = time.perf_counter() - t, time.process_time() - cpu
        print(f"replay without the chart ({h:,} bars of history): {n / took:,.0f} bars/s ({n / cpu:,.0f} per CPU "
              f"second); a year ({YEAR_ALL:,} bars) in {YEAR_ALL * took / n:.0f} s wall, {YEAR_ALL * cpu / n:.0f} s CPU",
              flush=True)
    with Store.open(Path(os.environ["ITA_HOME"]) / "replay.sqlite3") as store:
        session = LiveSession(store, bus, symbol="EURUSD", stream_timeframe=m1.timeframe, rules=compiled,
                              history=history, source="replay", store_bars=False)
        control = ReplayControl(ReplayPlan(session, to_play), speed=None)
        control.start()
        paints = _PaintCount(chart)
        t, cpu, gui_cpu = time.perf_counter(), time.process_time(), time.thread_time()
        frames0 = feed.frames
        updates0 = feed.overlays.updates if feed.overlays else 0
        worker0 = getattr(feed.overlays, "worker_cpu_s", 0.0)
        control.play()
        _wait_for(lambda: control.finished.is_set() and chart.count == h + n, 600.0, 20)
        _overlays_caught_up(feed, app, h + n)
        took, cpu, gui_cpu = time.perf_counter() - t, time.process_time() - cpu, time.thread_time() - gui_cpu
        frames = feed.frames - frames0
        updates = (feed.overlays.updates - updates0) if feed.overlays else 0
        what = "the chart and its overlays" if feed.overlays else "the chart (no overlays)"
        print(f"replay with {what} ({', '.join(rules_ids)}; {h:,} bars of history): {n:,} M1 bars in {took:.2f} s = "
              f"{n / took:,.0f} bars/s ({n / cpu:,.0f} per CPU second of the process: replay thread, GUI thread and "
              f"overlay worker), {frames} chart frames = {frames / took:.1f} frames/s (cap 60), {updates} "
              f"overlay updates; {len(control.total.raised)} signals; load average {os.getloadavg()[0]:.1f}", flush=True)
        print(f"{'':19} the GUI thread: {paints.n} paints of the chart, {gui_cpu:.2f} s CPU ({gui_cpu / max(paints.n, 1) * 1e3:.1f} ms "
              f"a paint, {gui_cpu / n * 1e6:.1f} us a bar); the overlay worker: "
              f"{getattr(feed.overlays, 'worker_cpu_s', 0.0) - worker0:.2f} s CPU", flush=True)
        print(f"{'':19} a year of M1 at that pace (goal: under 60 s): {YEAR_ALL:,} bars (every minute) in "
              f"{YEAR_ALL * took / n:.0f} s wall, {YEAR_ALL * cpu / n:.0f} s CPU; a trading year ({YEAR_TRADING:,} bars: "
              f"24 h, 5 days a week) in {YEAR_TRADING * took / n:.0f} s wall, {YEAR_TRADING * cpu / n:.0f} s CPU", flush=True)
        if control.error is not None:
            raise control.error
    chart.close()


if __name__ == "__main__":
    main()
