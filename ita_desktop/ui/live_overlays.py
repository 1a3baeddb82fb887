"""The detector overlays of a live or replayed chart, advanced on appended bars off the GUI thread.

When the window's detection of the loaded series arrives (``attach``), its ``DetectionResult`` is
kept. Each chart frame that appended bars calls ``bars_appended``: one worker thread advances the
result over the new bars and redraws only what changed (``LiveLayers``: the detectors' changes,
never the whole series), and the finished layers are handed to the chart's OverlaySet on the GUI
thread. One update runs at a time; bars appended meanwhile go in the next one, so under a fast
replay overlay updates batch themselves (at most one per chart frame, and after a bulk update one
per BULK_UPDATE_MS) and the GUI thread only swaps arrays (never waits on the detectors).
"""

from __future__ import annotations

import gc
import logging
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace

from PySide6.QtCore import QObject, QTimer, Signal

from ita_desktop.detectors.live_ready import make_ready
from ita_desktop.ui.chart.overlays import OverlayData, OverlaySet
from ita_desktop.ui.chart.overlays.live_layers import LiveLayers
from ita_desktop.ui.chart.widget import CandleChart

log = logging.getLogger(__name__)

#: after an update that advanced at least BULK_BARS bars (a replay as fast as it goes), the next waits
#: BULK_UPDATE_MS: each update redraws the open and young rows whatever it advanced, so fewer, larger
#: updates leave the replay thread more of the GIL; a live feed or a slow replay updates at every bar
BULK_BARS = 20
BULK_UPDATE_MS = 250
#: a detection over more bars than this is not kept while no session runs (hundreds of MB at 5,000,000
#: bars); a session started later detects the chart's bars again on the worker first
KEEP_RESULT_BARS = 1_000_000
#: the longest a closed bar waits for its overlays before the chart is painted without them (``hold_paint``)
HOLD_MS = 60
#: a bulk update's layers wait for the chart's next frame (``take_ready``) so that one paint shows both (a paint
#: of its own was a third of a fast replay's paints); at most this long when no frame comes (paused, ended)
READY_MS = 150
CLOSE_WAIT_S = 2.0  # a window closing waits at most this for a running overlay update (seconds)


class LiveOverlayFeed(QObject):
    """Keeps ``overlays`` in step with the bars appended to ``chart``; ``advanced(counts)`` after each update."""

    advanced = Signal(dict)  # legend counts of the updated layers
    _done = Signal(int, object)  # (generation, finished Future): emitted on the worker, delivered on the GUI thread

    def __init__(self, chart: CandleChart, overlays: OverlaySet, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.chart, self.overlays = chart, overlays
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-overlays")
        self._data: OverlayData | None = None  # the detection the layers start from
        self._live: LiveLayers | None = None  # built on the worker at the first appended bars
        self._generation = 0
        self._busy = False
        self._closed = False  # set by close(): a worker finishing later must not emit on a deleted object
        self._future: Future | None = None
        self._again = False
        self.updates = 0  # overlay updates applied (tests and the benchmark read it)
        self.planned_ahead = 0  # layer plans made on the worker and taken by the chart (tests and the benchmark)
        self.worker_s: deque[float] = deque(maxlen=10_000)  # each update's time on the worker (the benchmark)
        self.worker_cpu_s = 0.0  # the worker's CPU time over all updates (the benchmark)
        self.n_bars = 0  # bars the shown overlays cover
        self._from = 0  # bars covered when the running update started
        self._recipe: tuple = ()  # how the attached detection was made (kinds, params, symbol, timeframe, bars)
        self.error: str | None = None
        self._eager = False  # build the live layers as soon as a detection is attached (a session runs)
        self._done.connect(self._on_done)
        self._pause = QTimer(self)  # the wait after a bulk update
        self._pause.setSingleShot(True)
        self._pause.setInterval(BULK_UPDATE_MS)
        self._pause.timeout.connect(self._after_pause)
        self._held = False  # the chart's viewport does not paint until this update's layers are on it
        self._hold = QTimer(self)
        self._hold.setSingleShot(True)
        self._hold.setInterval(HOLD_MS)
        self._hold.timeout.connect(self._release)
        self._ready: tuple | None = None  # (layers, key) of a bulk update waiting for the chart's next frame
        self._ready_timer = QTimer(self)
        self._ready_timer.setSingleShot(True)
        self._ready_timer.setInterval(READY_MS)
        self._ready_timer.timeout.connect(self.take_ready)

    def attach(self, data: OverlayData) -> None:
        """The detection of the chart's series (over its first bars); bars already appended are caught up."""
        eager = self._eager  # a session started before its series' detection arrived
        self.detach()
        self._eager = eager
        result = data.result
        if result is None:
            return
        self.n_bars = result.n_bars
        self._recipe = (result.kinds, result.params, result.symbol, result.timeframe, result.n_bars)
        if not self._eager and self.n_bars > KEEP_RESULT_BARS:  # no session yet: detect again if one starts
            data = replace(data, result=None, layers={}, counts={})
        self._data = data
        if self._eager or self.chart.count > self.n_bars:
            self.bars_appended()

    def prime(self) -> None:
        """A live or replay session starts: prepare the live layers now (on the worker), not at the first bar,
        so the first closed bar costs what every other does. Without a detection yet, at its ``attach``."""
        self._eager = True
        self.bars_appended()

    def detach(self) -> None:
        """Forget the series (another one loads); an update still running is ignored when it ends."""
        self._release()
        self._ready = None
        self._ready_timer.stop()
        self._generation += 1
        self._data, self._live = None, None
        self._again = False
        self.error = None
        self._eager = False
        self._pause.stop()

    @property
    def idle(self) -> bool:
        """No update running or waiting (tests wait for it before comparing layers)."""
        return not self._busy and not self._again and not self._pause.isActive() and self._ready is None

    def hold_paint(self, bars: int) -> None:
        """``bars`` closed bars are about to be appended: if their overlay update starts now and is small (a
        live bar, a slow replay), the chart's viewport stops painting until its layers are on the chart (at
        most HOLD_MS), so the candle and its overlays are drawn in one paint, not two (each paint of the
        chart with its overlays is most of a bar close's cost on the GUI thread). A bulk append (fast
        replay) is painted at once: its overlays follow every BULK_UPDATE_MS."""
        if (self._live is None or self._busy or self._pause.isActive() or self._held or bars >= BULK_BARS
                or not self.chart.isVisible()):
            return
        viewport = self.chart.viewport()
        if viewport.updatesEnabled():
            viewport.setUpdatesEnabled(False)
            self._held = True
            self._hold.start()

    def _release(self) -> None:
        """The chart paints again (one paint of everything changed while held)."""
        if self._held:
            self._held = False
            self._hold.stop()
            self.chart.viewport().setUpdatesEnabled(True)

    def bars_appended(self) -> None:
        """Bars were appended to the chart: advance the overlays (now, or after the running update)."""
        if self._data is None:
            return
        if self._busy or self._pause.isActive():
            self._again = True
            return
        self._submit()

    def _after_pause(self) -> None:
        if self._again and self._data is not None and not self._busy:
            self._submit()

    def _submit(self) -> None:
        bars = self.chart.bars
        if bars is None:
            return
        self._busy, self._again = True, False
        self._from = self.n_bars
        generation, data, live, recipe = self._generation, self._data, self._live, self._recipe
        # a held paint waits for this update: the worker also plans that paint's overlay layers (the view is
        # already where the paint will find it), so the GUI thread only swaps them in and replays the plans
        frame = self.overlays.frame_ahead() if self._held and live is not None else None

        def work():
            began, cpu = time.perf_counter(), time.thread_time()
            layers_of = live or _start(data, recipe, bars)
            m, n = layers_of.n_bars, len(bars)
            known = layers_of.result.time
            if m > n or (m and int(known[m - 1]) != int(bars.time[m - 1])):
                raise ValueError(f"the chart's bars no longer extend the detected ones (bar {m - 1})")
            layers = layers_of.advance(bars.slice(m, n)) if n > m else layers_of.layers()
            plans = self.overlays.plan_ahead(frame, layers) if frame else []
            self.worker_s.append(time.perf_counter() - began)
            self.worker_cpu_s += time.thread_time() - cpu
            return layers_of, layers, n, plans

        future = self._future = self._executor.submit(work)
        future.add_done_callback(lambda f: None if self._closed else self._done.emit(generation, f))

    def _on_done(self, generation: int, future: Future) -> None:
        self._busy = False
        if generation != self._generation:
            if self._again and self._data is not None:
                self._submit()  # bars of the new series appended while the old update ran
            return  # another series since
        try:
            live, layers, n, plans = future.result()
        except Exception as exc:  # noqa: BLE001 (shown, and the live overlays stop; the candles go on)
            self._release()
            self.error = f"Overlays stopped following the bars: {exc}"
            log.warning(self.error)
            self._data, self._live = None, None
            return
        built = self._live is None
        self._live, self.n_bars = live, n
        bars = self.chart.bars
        key = (bars.symbol, bars.timeframe.value, int(bars.time[n - 1])) if bars is not None and n else None
        if n - self._from >= BULK_BARS and not built and not plans and not self._held:
            self._ready = (layers, key)  # a fast replay: painted with the chart's next frame (``take_ready``)
            if not self._ready_timer.isActive():  # counted from the first waiting update: shown within READY_MS
                self._ready_timer.start()
        else:
            self._ready = None  # a newer update's layers replace any still waiting
            self._ready_timer.stop()
            self._show(layers, key, plans)
        if built:  # the live layers and their detection live as long as the session: out of the collector's
            gc.freeze()  # walks, as the window's start-up objects are (a full collection walked them all, GIL held)
        more = self._again or (bars is not None and len(bars) > n)
        if n - self._from >= BULK_BARS:
            self._again = more
            self._pause.start()
        elif more:
            self._submit()

    def take_ready(self) -> None:
        """The chart is about to paint a frame (or READY_MS passed): a bulk update's layers go on it now."""
        if self._ready is not None:
            self._ready_timer.stop()
            (layers, key), self._ready = self._ready, None
            self._show(layers, key, [])

    def _show(self, layers: dict, key, plans: list) -> None:
        """An update's layers on the chart (and the paint held for them released)."""
        self.overlays.set_layers(layers, key)
        if plans:
            self.planned_ahead += self.overlays.adopt(plans)
        self._release()
        self.updates += 1
        counts = {name: layer.objects for name, layer in layers.items()}
        counts.update({f"{name}_total": layer.total for name, layer in layers.items() if layer.total is not None})
        self.advanced.emit(counts)

    def close(self) -> None:
        """Stop following; an update still running is given up to CLOSE_WAIT_S to end before the window
        (and this object) goes, and its result is dropped."""
        self._closed = True
        self.detach()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._future is not None:
            wait([self._future], timeout=CLOSE_WAIT_S)


def _start(data: OverlayData, recipe: tuple, bars) -> LiveLayers:
    """LiveLayers from a chart detection (worker). Detected again over the chart's first bars when the
    detection was not kept (a long series with no session then), or when its session levels came from
    finer stored bars: those cannot advance on the chart's own appended bars (levels of its timeframe)."""
    result = data.result
    if result is None or result.fine_bars is not None:
        from ita_desktop.detectors.dispatcher import DetectionResult

        kinds, params, symbol, timeframe, n = recipe
        first = bars.slice(0, n)
        fresh = DetectionResult(kinds, params, symbol, timeframe)
        result = fresh.run(first.time, first.open, first.high, first.low, first.close)
    layers = LiveLayers(result, data.options)
    make_ready(result)  # the first bar close then costs what the others do (room reserved, update path warm)
    return layers
