"""A closed bar on a live chart (real EURUSD M1, offscreen): the candle and the detector overlays advanced over
it are drawn in ONE paint. The chart's viewport holds its paints while the overlay update runs on its
worker (LiveOverlayFeed.hold_paint), so no frame ever shows the new candle with the old overlays, and a
bar close costs one paint of the chart with its overlays, not two; the layers then equal a full detection."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ita_desktop.bus.event_bus import EventBus
from ita_desktop.bus.events import BarClosed, Tick
from ita_desktop.detectors.dispatcher import detect
from ita_desktop.ui.bus_bridge import QtBusBridge
from ita_desktop.ui.chart.chart_data import prepare_chart_data
from ita_desktop.ui.chart.live_series import growable
from ita_desktop.ui.chart.overlays import OverlaySet, overlay_data
from ita_desktop.ui.chart.overlays.detector_layers import detector_layers
from ita_desktop.ui.chart.widget import CandleChart
from ita_desktop.ui.live_chart import LiveChartFeed
from ita_desktop.ui.theme import get_theme
from tests.test_live_overlays import drawn

pytestmark = pytest.mark.realdata
START = 20_000


class _PaintLog(CandleChart):
    """The chart, noting what each paint of its viewport showed: (closed bars, the overlays' ``noted`` field:
    the bars they cover)."""

    feed: LiveChartFeed | None = None
    noted = "n_bars"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.shown: list[tuple[int, int]] = []

    def paintEvent(self, ev) -> None:  # noqa: N802 (Qt's name)
        super().paintEvent(ev)
        if self.feed is not None:
            self.shown.append((self.count, getattr(self.feed.overlays, self.noted)))


@pytest.fixture(scope="module")
def eurusd(eurusd_csv: Path):
    from ita_desktop.data.csv_import import read_csv

    return read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars


def test_a_closed_bar_and_its_overlays_are_drawn_in_one_paint(qtbot, eurusd, monkeypatch) -> None:
    from ita_desktop.ui import live_overlays

    monkeypatch.setattr(live_overlays, "HOLD_MS", 20_000)  # the hold's bound is the next test's: here it never runs out
    chart = _PaintLog()
    bus, bridge, feed, data = _primed_feed(qtbot, chart, eurusd, (1200, 600))
    overlays = feed.overlays.overlays
    chart.feed = feed
    try:
        _close_bars(qtbot, chart, feed, eurusd)
    finally:
        _stop(feed, bridge, bus)
    n = START + 12
    full = detector_layers(detect(eurusd.slice(0, n)).tables, n, data.options)
    for name, layer in full.items():
        assert drawn(overlays.shapes(name)) == drawn(layer), name


def _primed_feed(qtbot, chart: CandleChart, eurusd, size: tuple[int, int] | None = None):
    """``chart`` showing the first START bars with their overlays drawn, and a live feed whose overlay
    layers are built (primed) on its worker: (bus, bridge, feed, the chart's overlay data)."""
    bus = EventBus()
    bridge = QtBusBridge(bus)
    qtbot.addWidget(chart)
    if size is not None:
        chart.resize(*size)
        chart.show()
    history = eurusd.slice(0, START)
    chart.set_prepared(growable(prepare_chart_data(history, chart.session_clock, {})))
    overlays = OverlaySet(chart, get_theme("dark"))
    feed = LiveChartFeed(chart, bridge, overlays=overlays)
    data = overlay_data(history, detect(history))
    overlays.set_layers(data.layers, data.key)
    feed.overlays.attach(data)
    feed.overlays.prime()
    qtbot.waitUntil(lambda: feed.overlays.idle and feed.overlays.updates > 0, timeout=120_000)
    return bus, bridge, feed, data


def _stop(feed: LiveChartFeed, bridge: QtBusBridge, bus: EventBus) -> None:
    feed.overlays.close()
    feed.overlays._executor.shutdown(wait=True)  # no update ends after the test's widgets are gone
    bridge.close()
    bus.shutdown()


def _close_bars(qtbot, chart: _PaintLog, feed: LiveChartFeed, eurusd) -> None:
    for j in range(12):
        i = START + j
        price = float(eurusd.close[i])
        feed.on_tick(Tick(symbol="EURUSD", time_utc=int(eurusd.time[i]) + 30.0, bid=price, ask=price + 1e-5))
        qtbot.waitUntil(lambda: chart.forming.bar is not None and bool(chart.shown), timeout=10_000)
        chart.shown.clear()
        feed.on_bar_closed(BarClosed(symbol="EURUSD", timeframe="M1", time_utc=int(eurusd.time[i]),
                                     open=float(eurusd.open[i]), high=float(eurusd.high[i]),
                                     low=float(eurusd.low[i]), close=price))
        n = i + 1
        qtbot.waitUntil(lambda: feed.overlays.n_bars == n and bool(chart.shown), timeout=30_000)
        qtbot.wait(30)  # any later paint of this bar close would come now
        # no paint showed the new candle with the old overlays, and the bar close took one paint (a paint of the
        # frame before it, pending from the tick, may come first)
        assert all(overlaid == n for closed, overlaid in chart.shown if closed == n), chart.shown
        assert [closed for closed, _ in chart.shown].count(n) == 1, f"bar {j}: {chart.shown}"
        assert chart.viewport().updatesEnabled()


def test_a_held_paint_is_released_when_the_overlays_do_not_come(qtbot, eurusd) -> None:
    """The hold is bounded: with the overlay worker stuck, the closed bar is painted after HOLD_MS anyway,
    and forgetting the series (another one loads) releases it at once."""
    from ita_desktop.ui import live_overlays

    chart = CandleChart()
    bus, bridge, feed, _data = _primed_feed(qtbot, chart, eurusd, (800, 400))
    try:
        _held_then_released(qtbot, chart, feed, eurusd, live_overlays.HOLD_MS)
    finally:
        _stop(feed, bridge, bus)


def _held_then_released(qtbot, chart: CandleChart, feed: LiveChartFeed, eurusd, hold_ms: int) -> None:
    for k, release in enumerate(("timeout", "detach")):
        stuck = threading.Event()
        feed.overlays._executor.submit(stuck.wait)  # the worker is busy elsewhere: the update queues behind it
        try:
            i = START + k
            feed.on_bar_closed(BarClosed(symbol="EURUSD", timeframe="M1", time_utc=int(eurusd.time[i]),
                                         open=float(eurusd.open[i]), high=float(eurusd.high[i]),
                                         low=float(eurusd.low[i]), close=float(eurusd.close[i])))
            qtbot.waitUntil(lambda: chart.count == i + 1, timeout=10_000)
            assert not chart.viewport().updatesEnabled()  # held for the overlays
            if release == "timeout":
                qtbot.waitUntil(lambda: chart.viewport().updatesEnabled(), timeout=hold_ms + 2_000)
                assert feed.overlays.n_bars < chart.count  # painted without them
                stuck.set()
                qtbot.waitUntil(lambda: feed.overlays.idle and feed.overlays.n_bars == chart.count, timeout=30_000)
            else:
                feed.overlays.detach()
                assert chart.viewport().updatesEnabled()
        finally:
            stuck.set()


def test_closing_during_an_overlay_update_waits_for_it_and_drops_its_result(qtbot, eurusd, monkeypatch) -> None:
    """A window closing while the worker advances the layers: close() waits (bounded) for the update and its
    result never reaches the GUI thread (a late emit on a deleted QObject crashed a test run once)."""
    from ita_desktop.ui.chart.overlays.live_layers import LiveLayers

    chart = CandleChart()
    bus, bridge, feed, _data = _primed_feed(qtbot, chart, eurusd)
    entered, release = threading.Event(), threading.Event()
    advance = LiveLayers.advance

    def slow_advance(self, bars):
        entered.set()
        release.wait(10)
        return advance(self, bars)

    monkeypatch.setattr(LiveLayers, "advance", slow_advance)
    delivered: list[int] = []
    feed.overlays._done.connect(lambda generation, _f: delivered.append(generation))
    updates = feed.overlays.updates
    feed.on_bar_closed(BarClosed(symbol="EURUSD", timeframe="M1", time_utc=int(eurusd.time[START]),
                                 open=float(eurusd.open[START]), high=float(eurusd.high[START]),
                                 low=float(eurusd.low[START]), close=float(eurusd.close[START])))
    qtbot.waitUntil(entered.is_set, timeout=30_000)  # the frame timer hands the bar to the worker
    threading.Timer(0.2, release.set).start()
    try:
        feed.overlays.close()
        assert feed.overlays._future is not None and feed.overlays._future.done()  # waited for the running update
        qtbot.wait(100)
        assert delivered == [] and feed.overlays.updates == updates  # its result was dropped
    finally:
        release.set()
        _stop(feed, bridge, bus)


def test_the_worker_plans_a_bar_close_paint_and_it_draws_what_the_paint_would_plan(qtbot, eurusd, monkeypatch) -> None:
    """A held bar close's overlay layers are planned on the overlay worker (LiveOverlayFeed with
    OverlaySet.plan_ahead), for the view the paint will find: that paint plans nothing on the GUI thread, and
    the frame it draws is pixel for pixel the one the layers draw when each plans at its paint."""
    from ita_desktop.ui import live_overlays
    from ita_desktop.ui.chart.overlays.item import OverlayItem

    monkeypatch.setattr(live_overlays, "HOLD_MS", 20_000)
    chart = _PaintLog()
    bus, bridge, feed, _data = _primed_feed(qtbot, chart, eurusd, (1200, 600))
    overlays = feed.overlays.overlays
    chart.feed = feed
    on_gui: list[bool] = []  # per plan made: on the GUI thread?
    planned = OverlayItem._planned
    monkeypatch.setattr(OverlayItem, "_planned", lambda self, *a, **k: on_gui.append(
        threading.current_thread() is threading.main_thread()) or planned(self, *a, **k))
    try:
        qtbot.wait(50)
        for j in range(8):
            i = START + j
            on_gui.clear(), chart.shown.clear()
            taken = feed.overlays.planned_ahead
            feed.on_bar_closed(BarClosed(symbol="EURUSD", timeframe="M1", time_utc=int(eurusd.time[i]),
                                         open=float(eurusd.open[i]), high=float(eurusd.high[i]),
                                         low=float(eurusd.low[i]), close=float(eurusd.close[i])))
            n = i + 1
            qtbot.waitUntil(lambda: feed.overlays.n_bars == n and any(c == n for c, _ in chart.shown), timeout=30_000)
            drawing = [item for item in overlays.items.values() if item.isVisible() and item.shapes.batches]
            assert drawing and feed.overlays.planned_ahead - taken == len(drawing), f"bar {j}"
            assert on_gui and not any(on_gui), f"bar {j}: a layer was planned on the GUI thread"
            ahead = chart.grab().toImage()
            for item in drawing:
                item._plan = None  # each layer plans again at its paint (GUI thread)
            on_gui.clear()
            at_paint = chart.grab().toImage()
            assert on_gui and all(on_gui)
            assert at_paint == ahead, f"bar {j}: the frame planned on the worker differs"
    finally:
        _stop(feed, bridge, bus)


class _UpdateLog(_PaintLog):
    """The chart, noting each paint of its viewport: (closed bars, overlay updates on the chart)."""

    noted = "updates"


def _close_many(feed: LiveChartFeed, eurusd, first: int, k: int) -> None:
    for i in range(first, first + k):
        feed.on_bar_closed(BarClosed(symbol="EURUSD", timeframe="M1", time_utc=int(eurusd.time[i]),
                                     open=float(eurusd.open[i]), high=float(eurusd.high[i]),
                                     low=float(eurusd.low[i]), close=float(eurusd.close[i])))


def test_a_fast_replays_overlay_update_is_painted_with_the_next_frame_not_on_its_own(qtbot, eurusd, monkeypatch) -> None:
    """A bulk overlay update (a replay as fast as it goes) waits for the chart's next frame, so one paint shows
    the new candles and the overlays (a paint of its own was a third of a fast replay's paints); without a
    frame it is shown after READY_MS; the layers shown then equal a full detection of the bars they cover."""
    from ita_desktop.ui import live_overlays

    monkeypatch.setattr(live_overlays, "READY_MS", 20_000)  # here only a frame shows a waiting update
    chart = _UpdateLog()
    bus, bridge, feed, data = _primed_feed(qtbot, chart, eurusd, (1200, 600))
    overlays = feed.overlays
    chart.feed = feed
    try:
        _close_many(feed, eurusd, START, 300)  # a fast replay's frame: 300 bars
        qtbot.waitUntil(lambda: overlays.n_bars == START + 300, timeout=60_000)  # its update done on the worker
        assert overlays._ready is not None and not overlays.idle
        updates = overlays.updates
        qtbot.wait(150)
        assert overlays.updates == updates  # waiting for a frame: not shown, so no paint of its own
        assert all(shown <= updates for _, shown in chart.shown)
        chart.shown.clear()
        _close_many(feed, eurusd, START + 300, 1)  # the next frame: the waiting layers go on the chart with it
        qtbot.waitUntil(lambda: chart.count == START + 301 and bool(chart.shown), timeout=10_000)
        assert overlays.updates == updates + 1
        assert chart.shown[0] == (START + 301, updates + 1)  # one paint: the new candle with the waiting layers
        n = START + 300
        full = detector_layers(detect(eurusd.slice(0, n)).tables, n, data.options)
        for name, layer in full.items():
            assert drawn(overlays.overlays.shapes(name)) == drawn(layer), name
        # without a frame (the replay paused or ended), a waiting update is shown after READY_MS
        monkeypatch.setattr(live_overlays, "READY_MS", 50)
        overlays._ready_timer.setInterval(50)
        qtbot.waitUntil(lambda: overlays.idle, timeout=60_000)
        _close_many(feed, eurusd, START + 301, 200)
        qtbot.waitUntil(lambda: overlays.idle and overlays.n_bars == START + 501, timeout=60_000)
        n = START + 501
        full = detector_layers(detect(eurusd.slice(0, n)).tables, n, data.options)
        for name, layer in full.items():
            assert drawn(overlays.overlays.shapes(name)) == drawn(layer), name
    finally:
        _stop(feed, bridge, bus)
