"""OHLC aggregation for drawing many bars in few pixels.

When zoomed out, several bars share one pixel column. Drawing each of them costs time and
shows nothing more than one merged candle would, so the chart draws groups instead. A group
keeps every extreme (its high is the max high, its low the min low), so no spike vanishes
when zooming out. Groups are aligned to multiples of a power of two so the same groups are
reused while panning, and each level is built from the next finer one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OHLC:
    """Columns of a (possibly aggregated) series; bar ``j`` covers raw indices [j*group, (j+1)*group)."""

    group: int
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray

    def __len__(self) -> int:
        return len(self.open)


def aggregate_ohlc(series: OHLC, factor: int) -> OHLC:
    """Merge every ``factor`` consecutive bars of ``series`` (the last group may be short)."""
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    if factor == 1:
        return series
    n = len(series)
    if n == 0:
        return OHLC(series.group * factor, series.open, series.high, series.low, series.close)
    starts = np.arange(0, n, factor)
    ends = np.minimum(starts + factor, n) - 1
    return OHLC(
        group=series.group * factor,
        open=series.open[starts],
        high=np.maximum.reduceat(series.high, starts),
        low=np.minimum.reduceat(series.low, starts),
        close=series.close[ends],
    )


def level_for(bars_per_pixel: float) -> int:
    """The group size (a power of two) so that one group spans at least one pixel."""
    if bars_per_pixel <= 1.0:
        return 1
    return 1 << int(np.ceil(np.log2(bars_per_pixel)))


class Pyramid:
    """Aggregation levels of one series, built lazily and cached; level 1 is the raw bars."""

    def __init__(self, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> None:
        self._levels: dict[int, OHLC] = {1: OHLC(1, open_, high, low, close)}
        self._room: dict[int, list[np.ndarray]] = {}  # group -> capacity columns (o, h, l, c) once appended to

    def append(self, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> int:
        """Append raw bars (a live chart's closed bars): each cached level recomputes only its last
        groups, from the next finer level, into columns grown by doubling (no copy of the series
        per bar). Returns the first raw index whose drawing changed."""
        raw = self.raw
        old, k = len(raw), len(open_)
        if not k:
            return old
        self._store(1, old, (open_, high, low, close))
        for group in sorted(g for g in self._levels if g > 1):
            finer_group = max(g for g in self._levels if g < group and group % g == 0)
            finer, factor = self._levels[finer_group], group // finer_group
            first = old // group  # the first group the new bars touch
            part = OHLC(finer_group, *(a[first * factor:] for a in (finer.open, finer.high, finer.low, finer.close)))
            tail = aggregate_ohlc(part, factor)
            self._store(group, first, (tail.open, tail.high, tail.low, tail.close))
        return old

    def reserve(self) -> None:
        """Give every cached level room to grow (done on a worker before a live chart's first append,
        which would otherwise copy a million-bar series on the GUI thread)."""
        for group, level in list(self._levels.items()):
            if group not in self._room:
                self._store(group, len(level), (level.open[:0], level.high[:0], level.low[:0], level.close[:0]))

    def _store(self, group: int, at: int, columns: tuple[np.ndarray, ...]) -> None:
        """Write ``columns`` at index ``at`` of level ``group`` (its columns now end there)."""
        level = self._levels[group]
        n = at + len(columns[0])
        room = self._room.get(group)
        if room is None or len(room[0]) < n:
            cap = max(n, 2 * len(level), 64)
            grown = [np.empty(cap, dtype=np.float64) for _ in range(4)]
            for dst, src in zip(grown, (level.open, level.high, level.low, level.close)):
                dst[:min(at, len(src))] = src[:at]
            room = self._room[group] = grown
        for dst, src in zip(room, columns):
            dst[at:n] = src
        self._levels[group] = OHLC(group, *(c[:n] for c in room))

    @property
    def raw(self) -> OHLC:
        return self._levels[1]

    def level(self, group: int) -> OHLC:
        """Bars merged in groups of ``group`` (a power of two), from the finest cached level below it."""
        cached = self._levels.get(group)
        if cached is not None:
            return cached
        finer = max(g for g in self._levels if g < group and group % g == 0)
        built = aggregate_ohlc(self._levels[finer], group // finer)
        self._levels[group] = built
        return built

    def build_all(self) -> None:
        """Every level down to a single group: done once on load (a few ms per million bars) so that
        no zoom frame pays for aggregating the whole series."""
        group = 2
        while group < 2 * len(self.raw):
            self.level(group)
            group *= 2

    def low_high(self, start: int, stop: int) -> tuple[float, float] | None:
        """Exact lowest low and highest high of raw bars [start, stop), cheap for any span.

        Whole groups of a coarse level cover the middle; only the ragged edges read raw bars.
        """
        raw = self.raw
        start, stop = max(0, start), min(len(raw), stop)
        if stop <= start:
            return None
        group = 1
        while (stop - start) // (group * 2) > 1024:
            group *= 2
        lo_parts: list[float] = []
        hi_parts: list[float] = []
        first_full = -(-start // group)
        last_full = stop // group
        if group > 1 and last_full > first_full:
            coarse = self.level(group)
            lo_parts.append(float(coarse.low[first_full:last_full].min()))
            hi_parts.append(float(coarse.high[first_full:last_full].max()))
            edges = [(start, first_full * group), (last_full * group, stop)]
        else:
            edges = [(start, stop)]
        for a, b in edges:
            if b > a:
                lo_parts.append(float(raw.low[a:b].min()))
                hi_parts.append(float(raw.high[a:b].max()))
        return min(lo_parts), max(hi_parts)
