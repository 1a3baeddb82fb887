"""Series: which bars are stored, which timeframes can be shown or run, and loading them.

The one place that decides which timeframes can be built: a stored timeframe, or any higher
one whose length is a whole multiple of a finer stored series' (M1 -> M5 ... MN1), resampled
on the session clock with ``domain.resample``'s alignment. The chart's timeframe box, the
Workbench, ``ita detect`` and the rules all ask here, so they never disagree. (The bare rule,
``domain.timeframes.build_sources``, sits at the bottom so the workflows' setup loading, which may
not import the core, applies it too.) Also where a higher timeframe's session levels are read from:
the finest stored series that covers the chart (:func:`finest_bars`, detectors.fine_levels).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.timeframes import Timeframe, build_sources

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core
    from ita_desktop.storage.bar_reader import SeriesInfo


class BarSource(Protocol):
    """What loading needs: a store's ``store.bars`` or the plain start-up BarReader."""

    def load(self, symbol: str, timeframe: Timeframe, start_utc: int | None = None,
             end_utc: int | None = None) -> Bars: ...

    def series(self) -> list[SeriesInfo]: ...


def buildable_timeframes(series: Iterable[SeriesInfo], symbol: str) -> list[Timeframe]:
    """Stored timeframes of ``symbol`` and every higher one a finer stored series divides evenly, shortest first."""
    stored = {s.timeframe for s in series if s.symbol == symbol}
    return [tf for tf in Timeframe if tf in stored or build_sources(stored, tf)]


def load_bars(reader: BarSource, symbol: str, timeframe: Timeframe, start_utc: int | None = None,
              end_utc: int | None = None, *, clock: str = "America/New_York") -> Bars:
    """Bars with start_utc <= time < end_utc; empty Bars when neither the timeframe nor a finer one is stored.

    Built from the finest stored series that divides ``timeframe`` (the same choice as
    :func:`buildable_timeframes`)."""
    bars = reader.load(symbol, timeframe, start_utc, end_utc)
    if len(bars):
        return bars
    for source in build_sources((s.timeframe for s in reader.series() if s.symbol == symbol), timeframe):
        base = reader.load(symbol, source, start_utc, end_utc)
        if len(base):
            from ita_desktop.domain.resample import resample

            return resample(base, timeframe, clock=clock)
    return bars


def finest_bars(reader: BarSource, symbol: str, timeframe: Timeframe, start_utc: int | None = None,
                end_utc: int | None = None, *, covering: tuple[int, int] | None = None) -> Bars | None:
    """The finest stored series of ``symbol`` finer than ``timeframe`` over [start_utc, end_utc), or None.

    What session and day levels of a ``timeframe`` chart are computed from (detectors.fine_levels):
    a level is a fact about time, so it is read from the smallest bars there are. With ``covering``
    (the first and last coarse bar times) only a series that spans them (within one coarse bar) is
    taken: a month of M1 under years of stored H1 would leave the years without levels.
    """
    slack = timeframe.seconds
    infos = {s.timeframe: s for s in reader.series() if s.symbol == symbol}
    usable = [tf for tf in build_sources(infos, timeframe, dividing=False)
              if covering is None or (infos[tf].first_utc <= covering[0] + slack
                                      and infos[tf].last_utc >= covering[1] - slack)]
    for tf in usable:
        bars = reader.load(symbol, tf, start_utc, end_utc)
        if len(bars):
            return bars
    return None


def finest_stored(reader: BarSource, symbol: str) -> Timeframe | None:
    """The smallest timeframe stored for ``symbol`` (None when nothing is)."""
    stored = [s.timeframe for s in reader.series() if s.symbol == symbol]
    return min(stored, key=lambda tf: tf.minutes) if stored else None


class SeriesService:
    """The core's series: listed from whatever reader is open now (start-up reader, then the full store)."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def list(self) -> list[SeriesInfo]:
        return self._core.reader.series()

    def timeframes_of(self, symbol: str, series: Iterable[SeriesInfo] | None = None) -> list[Timeframe]:
        """What the chart and the runs may use for ``symbol`` (``series``: a listing already at hand)."""
        return buildable_timeframes(self.list() if series is None else series, symbol)

    def load(self, symbol: str, timeframe: Timeframe, start_utc: int | None = None, end_utc: int | None = None) -> Bars:
        """Stored or built bars; empty Bars when nothing to build them from (callers word their own error)."""
        return load_bars(self._core.reader, symbol, timeframe, start_utc, end_utc,
                         clock=self._core.settings.sessions.clock)

    def finest(self, symbol: str, timeframe: Timeframe, start_utc: int | None = None, end_utc: int | None = None,
               *, covering: tuple[int, int] | None = None) -> Bars | None:
        """The finest stored series under ``timeframe`` (what its levels are read from), or None."""
        return finest_bars(self._core.reader, symbol, timeframe, start_utc, end_utc, covering=covering)

    def digits(self, symbol: str) -> int | None:
        return self._core.reader.digits(symbol)
