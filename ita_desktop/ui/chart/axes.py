"""Axes for an index-based x: time labels on the session clock, prices with the instrument's digits.

The x axis counts bars, not seconds, so weekends and missing minutes take no room. Ticks are
put at round wall-clock times (every 15 min, hour, day, week, month...) on the session
clock: the first bar at or after each boundary gets the tick.
"""

from __future__ import annotations

from datetime import datetime, timezone
from math import ceil, floor

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFontMetrics

MINUTE, HOUR, DAY = 60, 3600, 86_400
WEEK = 7 * DAY
MONTH_STEPS = (1, 3, 6, 12)  # months
FIXED_STEPS = (MINUTE, 5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 4 * HOUR, 6 * HOUR,
               12 * HOUR, DAY, 2 * DAY, WEEK)
MONDAY_OFFSET = 4 * DAY  # the epoch is a Thursday; weeks start on Monday 00:00 wall time
TICK_PIXELS = 110  # aimed distance between labels
MIN_TICK_PIXELS = 60  # closer ticks (a boundary just before a gap) are dropped


def wall_time(seconds: int) -> datetime:
    """Wall-clock seconds (see clock.local_seconds) as a naive-looking datetime for formatting."""
    return datetime.fromtimestamp(int(seconds), timezone.utc)


def _month_boundaries(lo: int, hi: int, months: int) -> np.ndarray:
    first = np.datetime64(int(lo), "s").astype("datetime64[M]")
    last = np.datetime64(int(hi), "s").astype("datetime64[M]")
    start = first.astype(np.int64)
    start = start - start % months + months
    month_index = np.arange(start, last.astype(np.int64) + 1, months)
    return month_index.astype("datetime64[M]").astype("datetime64[s]").astype(np.int64)


class TimeAxis(pg.AxisItem):
    """Bottom axis labelling bar indices with their time on the session clock."""

    def __init__(self, **kwargs) -> None:
        super().__init__("bottom", **kwargs)
        # no SI prefixes on times; with it on, every range change re-set the (hidden) label's HTML (~0.15 ms)
        self.enableAutoSIPrefix(False)
        self._local = np.empty(0, dtype=np.int64)
        self._step = HOUR

    def set_local_times(self, local_seconds: np.ndarray) -> None:
        self._local = np.asarray(local_seconds, dtype=np.int64)
        self.picture = None
        self.update()

    def tickValues(self, minVal: float, maxVal: float, size: float):
        n = len(self._local)
        if n == 0 or size <= 0:
            return []
        i0 = int(min(max(ceil(minVal), 0), n - 1))
        i1 = int(min(max(floor(maxVal), 0), n - 1))
        if i1 <= i0:
            return [(1.0, [float(i0)])]
        t0, t1 = int(self._local[i0]), int(self._local[i1])
        target = (t1 - t0) / max(2.0, size / TICK_PIXELS)
        boundaries = self._boundaries(t0, t1, target)
        idx = np.unique(np.searchsorted(self._local[i0 : i1 + 1], boundaries, side="left")) + i0
        idx = idx[idx <= i1]
        min_gap = (maxVal - minVal) / size * MIN_TICK_PIXELS
        kept: list[float] = []
        for i in idx.tolist():
            if not kept or i - kept[-1] >= min_gap:
                kept.append(float(i))
        return [(float(self._step), kept)]

    def _boundaries(self, t0: int, t1: int, target: float) -> np.ndarray:
        for step in FIXED_STEPS:
            if step >= target:
                self._step = step
                offset = MONDAY_OFFSET if step == WEEK else 0
                first = (t0 - offset) // step * step + step + offset
                return np.arange(first, t1 + 1, step, dtype=np.int64)
        for months in MONTH_STEPS:
            if months * 30 * DAY >= target or months == MONTH_STEPS[-1]:
                self._step = months * 30 * DAY
                return _month_boundaries(t0, t1, months)
        raise AssertionError("unreachable: MONTH_STEPS always yields")

    def tickStrings(self, values, scale, spacing) -> list[str]:
        n = len(self._local)
        labels: list[str] = []
        previous_day = None
        for v in values:
            i = int(round(v))
            if not 0 <= i < n:
                labels.append("")
                continue
            t = int(self._local[i])
            when = wall_time(t)
            if self._step >= 28 * DAY:
                labels.append(when.strftime("%b %Y") if when.month == 1 or self._step >= 360 * DAY else when.strftime("%b"))
            elif self._step >= DAY:
                labels.append(when.strftime("%d %b"))
            elif previous_day is not None and t // DAY != previous_day:
                labels.append(when.strftime("%a %d"))
            else:
                labels.append(when.strftime("%H:%M"))
            previous_day = t // DAY
        return labels


class PriceAxis(pg.AxisItem):
    """Price axis that prints the instrument's number of decimals."""

    def __init__(self, orientation: str = "right", **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)  # prices carry their own digits (set_digits), never "x1e-3"
        self.digits = 5

    def tickValues(self, minVal: float, maxVal: float, size: float):
        """Only the labelled level: every level is also a grid line, and minor ones clutter the chart."""
        levels = super().tickValues(minVal, maxVal, size)
        return levels[:1] if levels and len(levels[0][1]) >= 4 else levels[:2]

    def set_digits(self, digits: int, widest_price: float) -> None:
        """Fix the axis width to fit ``widest_price`` at ``digits`` decimals. pyqtgraph would widen the
        axis only after a frame that hid the labels, and the plot would jump sideways while panning."""
        self.digits = digits
        metrics = QFontMetrics(self.style["tickFont"] or self.font())
        text = f"{widest_price:.{digits}f}"
        self.setWidth(metrics.horizontalAdvance(text) + max(0, self.style["tickLength"]) + 2 * self.style["tickTextOffset"][0] + 6)
        self.picture = None
        self.update()

    def tickStrings(self, values, scale, spacing) -> list[str]:
        return [f"{v * scale:.{self.digits}f}" for v in values]

