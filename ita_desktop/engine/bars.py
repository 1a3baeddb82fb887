"""Bars of any timeframe for a symbol: stored ones, else resampled from a finer stored series.

A trader imports M1 and asks for M5, H1 or D1 everywhere (CLI, chart, scans): resampling on
the session clock here keeps every caller consistent with ``data.resample``'s alignment.
"""

from __future__ import annotations

from ita_desktop.data.resample import resample
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.storage.bar_reader import BarReader


def load_bars(reader: BarReader, symbol: str, timeframe: Timeframe, start_utc: int | None = None,
              end_utc: int | None = None, *, clock: str = "America/New_York") -> Bars:
    """Bars with start_utc <= time < end_utc; empty Bars when neither the timeframe nor a finer one is stored.

    ``reader`` is a store's ``store.bars``, or a plain BarReader (the window's start-up path).
    """
    bars = reader.load(symbol, timeframe, start_utc, end_utc)
    if len(bars):
        return bars
    finer = sorted((s.timeframe for s in reader.series()
                    if s.symbol == symbol and s.timeframe.minutes < timeframe.minutes
                    and timeframe.minutes % s.timeframe.minutes == 0), key=lambda tf: tf.minutes)
    for source in finer:
        base = reader.load(symbol, source, start_utc, end_utc)
        if len(base):
            return resample(base, timeframe, clock=clock)
    return bars


def finest_bars(reader: BarReader, symbol: str, timeframe: Timeframe, start_utc: int | None = None,
                end_utc: int | None = None, *, covering: tuple[int, int] | None = None) -> Bars | None:
    """The finest stored series of ``symbol`` finer than ``timeframe`` over [start_utc, end_utc), or None.

    What session and day levels of a ``timeframe`` chart are computed from (detectors.fine_levels):
    a level is a fact about time, so it is read from the smallest bars there are. With ``covering``
    (the first and last coarse bar times) only a series that spans them (within one coarse bar) is
    taken: a month of M1 under years of stored H1 would leave the years without levels.
    """
    slack = timeframe.seconds
    finer = sorted((s for s in reader.series()
                    if s.symbol == symbol and s.timeframe.minutes < timeframe.minutes
                    and (covering is None or (s.first_utc <= covering[0] + slack
                                              and s.last_utc >= covering[1] - slack))),
                   key=lambda s: s.timeframe.minutes)
    for info in finer:
        bars = reader.load(symbol, info.timeframe, start_utc, end_utc)
        if len(bars):
            return bars
    return None


def finest_stored(reader: BarReader, symbol: str) -> Timeframe | None:
    """The smallest timeframe stored for ``symbol`` (None when nothing is)."""
    stored = [s.timeframe for s in reader.series() if s.symbol == symbol]
    return min(stored, key=lambda tf: tf.minutes) if stored else None
