"""Resample bars (or ticks) into higher timeframes, vectorized over bucket boundaries.

Bucket rules (bar time = the bucket's start, in UTC):
- M1..H1: UTC-aligned (every session clock we support is a whole number of hours from UTC,
  so these boundaries are the same on the session clock).
- H4 and D1: aligned to ``day_start`` on the session clock, so D1 is the FX trading day
  (18:00 New York by default: Sunday evening trading belongs to Monday's bar) and H4 splits
  that day in six, following daylight saving.
- W1: starts Sunday at ``day_start`` on the session clock.
- MN1: the calendar month of the trading day (a day that starts in the evening is named
  for the next calendar date, as the FX convention has it).

Aggregation: open first, close last, high max, low min, tick_volume sum, ingest_id of the
first bar, and spread the MAXIMUM of the bucket: a backtest that charges the bar's spread
should never assume a tighter market than the one seen inside the bar.
"""

from __future__ import annotations

import numpy as np

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.clock import DAY, local_seconds, local_to_utc
from ita_desktop.domain.timeframes import Timeframe

UTC_ALIGNED = (Timeframe.M1, Timeframe.M5, Timeframe.M15, Timeframe.M30, Timeframe.H1)
_ORDER = list(Timeframe)


def parse_day_start(text: str) -> int:
    """``"18:00"`` -> seconds after local midnight; ValueError for anything else."""
    try:
        hours, minutes = (int(part) for part in text.strip().split(":"))
    except ValueError:
        raise ValueError(f"day start {text!r} is not HH:MM") from None
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(f"day start {text!r} is not a time of day")
    return hours * 3600 + minutes * 60


def bucket_starts(
    time: np.ndarray, timeframe: Timeframe, *, clock: str = "America/New_York", day_start: str = "18:00",
    in_order: bool = True,
) -> np.ndarray:
    """UTC start of the bucket holding each time (int64 seconds, sorted input -> non-decreasing output).

    ``in_order=False`` gives each time's own bucket, with no running maximum across the array: what
    one time alone gives, so a caller fed one bar at a time can keep the same maximum itself.
    """
    t = np.asarray(time, dtype=np.int64)
    if timeframe in UTC_ALIGNED:
        return t - t % timeframe.seconds
    ds = parse_day_start(day_start)
    shifted = local_seconds(t, clock) - ds  # session wall time, with the trading day starting at 0
    if timeframe in (Timeframe.H4, Timeframe.D1):
        local_start = shifted - shifted % timeframe.seconds + ds
    elif timeframe is Timeframe.W1:
        day = shifted // DAY
        local_start = (day - (day + 4) % 7) * DAY + ds  # 1970-01-04 (day 3) was a Sunday
    else:  # MN1
        evening = 1 if ds >= 12 * 3600 else 0  # an evening start names the day after the calendar date
        trading_day = (shifted // DAY + evening).astype("datetime64[D]")
        month_first = trading_day.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        local_start = (month_first - evening) * DAY + ds
    starts = local_to_utc(local_start, clock)
    # On the night clocks fall back an hour repeats; keep buckets in time order regardless.
    return np.maximum.accumulate(starts) if in_order and len(starts) else starts


def aggregate(starts: np.ndarray, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """OHLC columns reduced over runs of equal ``starts`` (which must be non-decreasing)."""
    n = len(starts)
    if n == 0:
        return {name: values[:0] for name, values in columns.items()} | {"time": starts[:0]}
    first = np.flatnonzero(np.r_[True, starts[1:] != starts[:-1]])
    last = np.r_[first[1:] - 1, n - 1]
    return {
        "time": starts[first],
        "open": columns["open"][first],
        "high": np.maximum.reduceat(columns["high"], first),
        "low": np.minimum.reduceat(columns["low"], first),
        "close": columns["close"][last],
        "tick_volume": np.add.reduceat(columns["tick_volume"], first),
        "spread": np.maximum.reduceat(columns["spread"], first),
        "ingest_id": columns["ingest_id"][first],
    }


def resample(
    bars: Bars, timeframe: Timeframe, *, clock: str = "America/New_York", day_start: str = "18:00"
) -> Bars:
    """Bars of ``timeframe`` built from finer bars; the same timeframe comes back unchanged."""
    return resample_with_starts(bars, timeframe, clock=clock, day_start=day_start)[0]


def resample_with_starts(
    bars: Bars, timeframe: Timeframe, *, clock: str = "America/New_York", day_start: str = "18:00"
) -> tuple[Bars, np.ndarray]:
    """:func:`resample`, and the start of the new bar each given bar went into (the same timeframe: its
    own times), so a caller that maps the finer bars onto the new ones needs no second time-zone pass."""
    if _ORDER.index(timeframe) < _ORDER.index(bars.timeframe):
        raise ValueError(f"cannot resample {bars.timeframe.value} bars down to {timeframe.value}")
    if timeframe is bars.timeframe:
        return bars, bars.time
    if bars.timeframe is Timeframe.W1:
        raise ValueError("weeks do not nest in months: resample MN1 from D1 or finer")
    starts = bucket_starts(bars.time, timeframe, clock=clock, day_start=day_start)
    return Bars.from_columns(bars.symbol, timeframe, aggregate(starts, bars.columns()), demo=bars.demo), starts
