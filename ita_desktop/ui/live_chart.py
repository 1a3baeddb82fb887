"""The live chart's wiring: bus events (BarClosed, Tick, SignalRaised) to the chart, at most 60 frames a second.

Closed bars also advance the detector overlays (``LiveOverlayFeed``: the detectors' changes on a
worker, at most one overlay update per frame). Events arrive on the GUI thread through the QtBusBridge and are only queued; a 16 ms timer applies
what queued since the last frame in one go (every closed bar appended in one batch, the forming
candle set to its latest state), so a replay at thousands of bars a second redraws the chart at
most 60 times a second, and a slow tick stream costs one small repaint per tick.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject, QTimer

from ita_desktop.bus.events import BarClosed, SignalRaised, Tick
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.ui.bus_bridge import QtBusBridge
from ita_desktop.ui.chart.live_items import SignalMark
from ita_desktop.ui.chart.overlays import OverlaySet
from ita_desktop.ui.chart.widget import CandleChart
from ita_desktop.ui.live_overlays import LiveOverlayFeed

FRAME_MS = 16  # at most ~60 chart refreshes a second
#: a frame that appended at least BULK_BARS bars (a replay as fast as it goes, a catch-up) waits BULK_FRAME_MS
#: for the next: each frame costs the GUI thread a paint whatever it appends, and those paints took the
#: GIL from the replay thread; 10 frames a second still show the bars running, and a live feed or a
#: replay at a readable speed (a bar or a few per frame) keeps every frame
BULK_BARS = 20
BULK_FRAME_MS = 100


class LiveChartFeed(QObject):
    """Feeds ``chart`` from the bus for the series it shows; ``signal_lookup(key)`` gives a stored signal."""

    def __init__(self, chart: CandleChart, events: QtBusBridge, signal_lookup=None, parent: QObject | None = None,
                 overlays: OverlaySet | None = None) -> None:
        super().__init__(parent)
        self.chart = chart
        #: the detector overlays advanced on the appended bars (None: the chart has no overlay layers)
        self.overlays = LiveOverlayFeed(chart, overlays, self) if overlays is not None else None
        self.signal_lookup = signal_lookup
        self._bars: list[BarClosed] = []
        self._forming: tuple[int, float, float, float, float] | None = None  # bar time, o, h, l, c
        self._signals: list[SignalRaised] = []
        self.frames = 0  # chart refreshes done (tests and the benchmark read it)
        self._next_frame = 0.0  # time.monotonic() before which no frame is drawn (at most ~60 a second)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.flush)
        events.register(BarClosed, self.on_bar_closed)
        events.register(Tick, self.on_tick)
        events.register(SignalRaised, self.on_signal)

    def _shows(self, symbol: str, timeframe: str | None = None) -> bool:
        bars = self.chart.bars
        return bars is not None and bars.symbol == symbol and (timeframe is None or bars.timeframe.value == timeframe)

    def _wake(self) -> None:
        """Draw what queued at the next frame: at once when the last frame is FRAME_MS (or, after a bulk
        frame, BULK_FRAME_MS) old, so a bar closing on a quiet chart is not held back a frame."""
        if not self._timer.isActive():
            self._timer.start(max(0, round((self._next_frame - time.monotonic()) * 1000)))

    # -- bus slots (GUI thread; they only queue) ------------------------------------------------
    def on_bar_closed(self, event: BarClosed) -> None:
        if self._shows(event.symbol, event.timeframe):
            self._bars.append(event)
            if self._forming is not None and self._forming[0] <= event.time_utc:
                self._forming = None
            self._wake()

    def on_tick(self, event: Tick) -> None:
        if not self._shows(event.symbol):
            return
        tf = self.chart.bars.timeframe.seconds
        start = int(event.time_utc) // tf * tf
        price = event.bid
        f = self._forming
        if f is None or f[0] != start:
            self._forming = (start, price, price, price, price)
        else:
            self._forming = (start, f[1], max(f[2], price), min(f[3], price), price)
        self._wake()

    def on_signal(self, event: SignalRaised) -> None:
        if self._shows(event.symbol):
            self._signals.append(event)
            self._wake()

    # -- one frame ---------------------------------------------------------------------------
    def flush(self) -> None:
        """Apply everything queued since the last frame (called by the timer)."""
        self._timer.stop()
        chart = self.chart
        if chart.bars is None:
            self._bars.clear(), self._signals.clear()
            return
        if self.overlays is not None:
            self.overlays.take_ready()  # a fast replay's overlay update waiting for this frame: one paint for both
        fresh = []
        if self._bars:
            last = chart.bars.last_time
            fresh = [b for b in self._bars if last is None or b.time_utc > last]
            self._bars.clear()
            if fresh:
                if self.overlays is not None:  # a few bars: drawn with their overlays in one paint
                    self.overlays.hold_paint(len(fresh))
                chart.append_bars(_as_bars(fresh, chart.bars))
        f = self._forming
        if f is not None and (chart.bars.last_time is None or f[0] > chart.bars.last_time):
            chart.set_forming(*f[1:])
        for event in self._signals:
            self._mark(event)
        self._signals.clear()
        if fresh and self.overlays is not None:
            # last: the worker then finds the GIL free (the GUI thread goes back to its event loop), and the
            # view it plans the held paint for is final (a forming candle may have moved the price range)
            self.overlays.bars_appended()
        self.frames += 1
        self._next_frame = time.monotonic() + (BULK_FRAME_MS if len(fresh) >= BULK_BARS else FRAME_MS) / 1000

    def _mark(self, event: SignalRaised) -> None:
        chart = self.chart
        index = int(np.searchsorted(chart.bars.time, event.signal_utc, side="right")) - 1
        rec = self.signal_lookup(event.occurrence_key) if self.signal_lookup and event.occurrence_key else None
        targets = _target_prices(rec, event.direction) if rec else ()
        tag = " (replay)" if event.source == "replay" else ""
        chart.add_signal_mark(SignalMark(key=event.occurrence_key or str(event.occurrence_id), index=max(index, 0),
                                         direction=event.direction, entry=rec.entry_price if rec else None,
                                         stop=rec.stop_price if rec else None, targets=targets,
                                         label=f"{event.rule_id}{tag}"))


def _as_bars(events: list[BarClosed], like: Bars) -> Bars:
    n = len(events)
    return Bars.from_columns(like.symbol, Timeframe(like.timeframe), {
        "time": np.array([e.time_utc for e in events], dtype=np.int64),
        "open": np.array([e.open for e in events]), "high": np.array([e.high for e in events]),
        "low": np.array([e.low for e in events]), "close": np.array([e.close for e in events]),
        "tick_volume": np.zeros(n, dtype=np.int64), "spread": np.zeros(n, dtype=np.int32)}, demo=like.demo)


def _target_prices(rec, direction: int) -> tuple[float, ...]:
    """Target prices of a stored signal: given as a price, or as R multiples of the stop distance."""
    out = []
    for t in rec.targets:
        if t.get("price") is not None:
            out.append(float(t["price"]))
        elif t.get("r") is not None and rec.entry_price is not None and rec.stop_distance:
            out.append(rec.entry_price + direction * float(t["r"]) * rec.stop_distance)
    return tuple(out)
