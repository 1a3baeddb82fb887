"""A rule's timeframe built from the streamed bars, one closed bar at a time.

Buckets are ``domain.resample.bucket_starts``'s (the same the full pass resamples with, on the
rule's clock), aggregated the same way (open first, high max, low min, close last, volume sum,
spread max). A bucket closes as soon as it is known complete: when the streamed bar just added
ends where the next bucket begins, or when a bar of a later bucket arrives (a bucket with bars
missing at its end: a weekend, a quiet market). ``flush`` closes the last one (a replay at the
end of the stored bars: the full pass has that bucket as it stands).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ita_desktop.domain.resample import UTC_ALIGNED, bucket_starts
from ita_desktop.domain.timeframes import Timeframe

#: How far ahead of a streamed bar a zoned builder computes its bucket starts at once (a day).
TABLE_SECONDS = 86_400


@dataclass(frozen=True)
class ClosedBar:
    """One closed bar's values (``time`` its open, UTC seconds)."""

    time: int
    open: float
    high: float
    low: float
    close: float
    tick_volume: int = 0
    spread: float = 0.0

    def __getitem__(self, key: str) -> float | int:  # LiveSetup.update reads bars as mappings
        return getattr(self, key)

    def get(self, key: str, default: float = 0.0) -> float | int:
        return getattr(self, key, default)


class TimeframeBuilder:
    """Streamed bars of ``source`` -> closed bars of ``target`` (same timeframe: passed through)."""

    def __init__(self, source: Timeframe, target: Timeframe, clock: str) -> None:
        if list(Timeframe).index(target) < list(Timeframe).index(source):
            raise ValueError(f"a {target.value} rule cannot run on streamed {source.value} bars: stream a finer timeframe")
        self.source, self.target, self.clock = source, target, clock
        self._bucket: int | None = None
        self._bar: list[float] = []
        # looked up once: Timeframe.seconds and the enum membership test cost more than the arithmetic per bar
        self._same = source == target
        self._step = source.seconds
        self._aligned = target.seconds if target in UTC_ALIGNED else 0
        #: zoned targets (H4 and up): bucket starts of a day of stream-step times from ``_base`` (one
        #: vectorised bucket_starts call per day instead of a time-zone conversion per bar and call)
        self._base = 0
        self._table: list[int] = []

    def _start(self, t: int) -> int:
        if self._aligned:  # what bucket_starts computes for these, without a numpy call per bar
            return t - t % self._aligned
        k, off = divmod(t - self._base, self._step)
        if off or not 0 <= k < len(self._table):
            if off:  # off the stream's grid (not a streamed bar time): this one time alone
                return int(bucket_starts(np.array([t], np.int64), self.target, clock=self.clock, in_order=False)[0])
            self._base, k = t, 0
            grid = t + self._step * np.arange(TABLE_SECONDS // self._step + 1, dtype=np.int64)
            self._table = bucket_starts(grid, self.target, clock=self.clock, in_order=False).tolist()
        return self._table[k]

    def add(self, bar: ClosedBar) -> list[ClosedBar]:
        """Take one closed streamed bar; the target bars it closes (0, 1 or 2), oldest first."""
        if self._same:
            return [bar]
        out: list[ClosedBar] = []
        start = self._start(bar.time)
        if self._bucket is not None and start < self._bucket:
            start = self._bucket  # a repeated wall hour (clocks fall back): stays in the bucket, as resample's running max
        if self._bucket is not None and start != self._bucket:
            out.append(self._close())
        if self._bucket is None:
            self._bucket = start
            self._bar = [bar.open, bar.high, bar.low, bar.close, bar.tick_volume, bar.spread]
        else:
            b = self._bar
            b[1], b[2], b[3] = max(b[1], bar.high), min(b[2], bar.low), bar.close
            b[4] += bar.tick_volume
            b[5] = max(b[5], bar.spread)
        if self._start(bar.time + self._step) > self._bucket:
            out.append(self._close())
        return out

    def flush(self) -> list[ClosedBar]:
        """Close the bucket in progress, if any."""
        return [self._close()] if self._bucket is not None else []

    def _close(self) -> ClosedBar:
        assert self._bucket is not None
        o, h, lo, c, v, s = self._bar
        closed = ClosedBar(self._bucket, o, h, lo, c, int(v), s)
        self._bucket, self._bar = None, []
        return closed
