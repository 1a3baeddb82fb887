"""First start: each overlay layer drawn as soon as its detectors' kernels are cached, not after all of them.

On a clean kernel cache the preparation process compiles one detector kind after another
(``cli/prepare_kernels.DETECTOR_ORDER``: the default-visible layers' kinds first) and reports
each (``KernelService.units_done``). While the detectors group is not complete the window shows
its candles alone; this draws every layer whose kinds (``detector_layers.LAYER_KINDS``) are ready,
detecting only those kinds on a worker (one job at a time: the units that finish meanwhile are
drawn by the next). The full detection still runs once the group is ready (``KernelsReady``) and
replaces these layers with the same shapes plus the live state; ``window.ready`` waits for it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ita_desktop.ui.chart.overlays import detector_layers, overlay_options, series_key
from ita_desktop.ui.chart.overlays.detector_layers import LAYER_KINDS

if TYPE_CHECKING:
    from ita_desktop.ui.chart.chart_data import ChartData
    from ita_desktop.ui.main_window import MainWindow

log = logging.getLogger(__name__)


class EarlyLayers:
    """``draw(data)`` after the candles of ``data`` are shown and after each compiled unit; idempotent."""

    def __init__(self, window: MainWindow) -> None:
        self._window = window
        self._key: tuple[str, str, int] | None = None  # the series the layers below belong to
        self._drawn: set[str] = set()  # layers drawn or being detected for that series
        self._counts: dict[str, int] = {}
        self._fine: list = []  # the finest stored bars under that series, read once (levels come from them)
        self._running = False

    def draw(self, data: ChartData) -> None:
        window = self._window
        key = series_key(data.bars)
        if key != self._key:
            self._key, self._drawn, self._counts, self._fine = key, set(), {}, []
        if self._running:
            return  # the job running now draws again when it ends
        kernels = window.core.kernels
        names = tuple(n for n, kinds in LAYER_KINDS.items() if n not in self._drawn and kernels.kinds_ready(kinds))
        if not names:
            return
        self._running = True
        self._drawn.update(names)
        kinds = tuple(dict.fromkeys(k for n in names for k in LAYER_KINDS[n]))
        bars, detection, options, fine = data.bars, window.core.detection, overlay_options(window.settings), self._fine

        def work(_ctx):
            if not fine:  # levels from the finest stored bars, as the full detection reads them
                fine.append(detection.fine_bars_for(bars))
            result = detection.detect(bars, kinds, fine_bars=fine[0])
            return detector_layers(result.tables, len(bars), options, only=names)

        window.runner.start(f"Detect {', '.join(names)}", work, lambda layers: self._done(data, layers),
                            self._failed)

    def _done(self, data: ChartData, layers) -> None:
        self._running = False
        window = self._window
        waiting = window._detect_waiting  # None once the full detection has taken over
        if waiting is data and window.chart.bars is not None and series_key(window.chart.bars) == self._key:
            window.overlays.set_layers(layers)
            for name, layer in layers.items():
                self._counts[name] = layer.objects
                if layer.total is not None:
                    self._counts[f"{name}_total"] = layer.total
            window.legend.set_counts(self._counts)
        if waiting is not None and not window._closed:
            self.draw(waiting)  # units compiled meanwhile, or the series the trader switched to meanwhile

    def _failed(self, message: str) -> None:
        self._running = False  # the full detection reports what fails for good
        log.warning("early overlay layers: %s", message)
