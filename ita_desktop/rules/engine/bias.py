"""Higher-timeframe bias: the H1/H4 structure trend as known at each setup bar.

A higher-timeframe bar is used only once it is complete: at the setup bar whose close
reaches the bucket's end, or (when the data has a gap) at the first setup bar of a later
bucket. Its trend is the structure detector's trend after that bar. The full pass and the
live tracker build the same higher-timeframe bars and mark them known at the same setup bar.
"""

from __future__ import annotations

import numpy as np

from ita_desktop.data.resample import bucket_starts
from ita_desktop.detectors.dispatcher import DetectionResult, DetectorParams, detect
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.timeframes import Timeframe


class BiasTracker:
    """Trend of ``timeframe`` per setup bar; ``full`` for history, ``update`` one setup bar at a time."""

    def __init__(self, timeframe: Timeframe, setup_tf: Timeframe, params: DetectorParams, clock: str) -> None:
        self.timeframe = timeframe
        self.setup_seconds = setup_tf.seconds
        self.params = DetectorParams(swings=params.swings, structure=params.structure)
        self.clock = clock
        self.result: DetectionResult | None = None
        self._bucket: int | None = None  # start of the bucket being built
        self._ohlc: list[float] = []
        self._trend_now = 0
        #: trend known at each setup bar fed so far (``full`` fills it; live mode appends)
        self.trend: np.ndarray = np.zeros(0, np.int8)

    def _end(self, start: int) -> int:
        return start + self.timeframe.seconds  # nominal length (a DST night's H4 ends at the next bucket)

    def full(self, time: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
             close: np.ndarray) -> np.ndarray:
        """Trend known at each setup bar (int8), and the tracker left ready for ``update``."""
        trend = np.zeros(len(time), np.int8)
        for i in range(len(time)):  # one shared code path with live: identical by construction
            trend[i] = self.update(int(time[i]), float(open_[i]), float(high[i]), float(low[i]), float(close[i]))
        self.trend = trend
        return trend

    def update(self, t: int, o: float, h: float, lo: float, c: float) -> int:
        """Feed one setup bar; returns the trend known at its close."""
        b = int(bucket_starts(np.array([t]), self.timeframe, clock=self.clock)[0])
        if self._bucket is not None and b != self._bucket:
            self._complete()  # the previous bucket ended in a gap: known now
        if self._bucket != b:
            self._bucket = b
            self._ohlc = [o, h, lo, c]
        else:
            self._ohlc[1] = max(self._ohlc[1], h)
            self._ohlc[2] = min(self._ohlc[2], lo)
            self._ohlc[3] = c
        if t + self.setup_seconds >= self._end(b):
            self._complete()
        return self._trend_now

    def _complete(self) -> None:
        if self._bucket is None or not self._ohlc:
            return
        o, h, lo, c = self._ohlc
        bar = {"time": np.array([self._bucket], np.int64), "open": np.array([o]), "high": np.array([h]),
               "low": np.array([lo]), "close": np.array([c])}
        if self.result is None:
            bars = Bars("bias", self.timeframe, bar["time"], bar["open"], bar["high"], bar["low"], bar["close"],
                        np.zeros(1, np.int64), np.zeros(1, np.int32))
            self.result = detect(bars, kinds=("structure",), params=self.params, parallel=False)
        else:
            self.result.update(bar)
        self._trend_now = int(self.result.series["trend"][-1])
        self._ohlc = []
        self._bucket = None
