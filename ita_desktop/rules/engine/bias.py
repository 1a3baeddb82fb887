"""Higher-timeframe bias: the H1/H4 structure trend as known at each setup bar.

A higher-timeframe bar is used only once it is complete: at the setup bar whose close
reaches the bucket's end (the next bucket's start, so a 23- or 25-hour D1 on a DST day ends
where it really ends), or (when the data has a gap) at the first setup bar of a later bucket.
Its trend is the structure detector's trend after that bar. The full pass (array
operations and one detector pass) and the live tracker (one setup bar at a time) build the same
higher-timeframe bars and mark them known at the same setup bar; a test holds them equal.
Buckets never go back in time (as in ``domain.resample``): on the night clocks fall back, the
repeated hour stays in the bucket it started in.
"""

from __future__ import annotations

import numpy as np

from ita_desktop.domain.resample import bucket_starts
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
        self._last_bucket = np.iinfo(np.int64).min
        #: trend known at each setup bar fed so far (``full`` fills it; live mode appends)
        self.trend: np.ndarray = np.zeros(0, np.int8)

    def _buckets(self, time: np.ndarray) -> np.ndarray:
        """Each time's own bucket start (no running maximum: ``full`` and ``update`` apply the same one)."""
        return bucket_starts(time, self.timeframe, clock=self.clock, in_order=False)

    def full(self, time: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
             close: np.ndarray) -> np.ndarray:
        """Trend known at each setup bar (int8) of a fresh tracker, which is left ready for ``update``.

        The same rules as ``update``, on whole arrays: a higher-timeframe bar (a "segment" of setup
        bars) starts at a new bucket or after the bar that completed the previous one; it is known
        at its last bar if that bar's close reaches the bucket's end, else at the next segment's
        first bar (a gap), else not yet (the last one, still building: kept for ``update``).
        """
        n = len(time)
        trend = np.zeros(n, np.int8)
        if n == 0:
            self.trend = trend
            return trend
        time = np.asarray(time, np.int64)
        bucket = np.maximum.accumulate(self._buckets(time))
        reaches_end = np.maximum(self._buckets(time + self.setup_seconds), bucket) > bucket
        new = np.ones(n, bool)
        new[1:] = (bucket[1:] != bucket[:-1]) | reaches_end[:-1]
        starts = np.flatnonzero(new)
        last = np.r_[starts[1:], n] - 1
        known_at = np.where(reaches_end[last], last, np.r_[starts[1:], -1])
        done = known_at >= 0  # all but possibly the last segment
        m = int(done.sum())
        highs, lows = np.maximum.reduceat(high, starts), np.minimum.reduceat(low, starts)
        if m:
            s, e = starts[:m], last[:m]
            bars = Bars("bias", self.timeframe, bucket[s], open_[s], highs[:m], lows[:m], close[e],
                        np.zeros(m, np.int64), np.zeros(m, np.int32))
            self.result = detect(bars, kinds=("structure",), params=self.params, parallel=False)
            htf_trend = self.result.series["trend"][:m]
            segment = np.searchsorted(known_at[:m], np.arange(n), side="right") - 1
            trend = np.where(segment >= 0, htf_trend[np.maximum(segment, 0)], 0).astype(np.int8)
            self._trend_now = int(htf_trend[-1])
        if m < len(starts):  # the last bucket is still being built
            k = starts[-1]
            self._bucket = int(bucket[k])
            self._ohlc = [float(open_[k]), float(highs[-1]), float(lows[-1]), float(close[-1])]
        self._last_bucket = int(bucket[-1])
        self.trend = trend
        return trend

    def update(self, t: int, o: float, h: float, lo: float, c: float) -> int:
        """Feed one setup bar; returns the trend known at its close."""
        b = max(int(self._buckets(np.array([t]))[0]), self._last_bucket)
        self._last_bucket = b
        if self._bucket is not None and b != self._bucket:
            self._complete()  # the previous bucket ended in a gap: known now
        if self._bucket != b:
            self._bucket = b
            self._ohlc = [o, h, lo, c]
        else:
            self._ohlc[1] = max(self._ohlc[1], h)
            self._ohlc[2] = min(self._ohlc[2], lo)
            self._ohlc[3] = c
        if max(int(self._buckets(np.array([t + self.setup_seconds]))[0]), b) > b:  # its close ends the bucket
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
