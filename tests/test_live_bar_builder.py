"""TimeframeBuilder: M1 bars streamed one at a time close exactly the bars resample builds (real EURUSD),
each as soon as its last minute is in, on every timeframe including the session-clock H4 and D1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ita_desktop.core.live.bar_builder import ClosedBar, TimeframeBuilder
from ita_desktop.domain.resample import bucket_starts, resample
from ita_desktop.domain.timeframes import Timeframe
from tests.support.real_bars import eurusd_bars

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize("target", [Timeframe.M5, Timeframe.M15, Timeframe.H1, Timeframe.H4, Timeframe.D1,
                                    Timeframe.W1, Timeframe.MN1])
def test_streamed_m1_closes_the_bars_resample_builds(eurusd_csv: Path, target: Timeframe) -> None:
    m1 = eurusd_bars(eurusd_csv)
    builder = TimeframeBuilder(Timeframe.M1, target, "America/New_York")
    closed: list[tuple[int, ClosedBar]] = []
    for i in range(len(m1)):
        bar = ClosedBar(int(m1.time[i]), float(m1.open[i]), float(m1.high[i]), float(m1.low[i]), float(m1.close[i]),
                        int(m1.tick_volume[i]), float(m1.spread[i]))
        closed += [(i, b) for b in builder.add(bar)]
    closed += [(len(m1), b) for b in builder.flush()]
    expected = resample(m1, target, clock="America/New_York")
    got = {c: np.array([getattr(b, c) for _, b in closed]) for c in ("time", "open", "high", "low", "close",
                                                                     "tick_volume")}
    for c in got:
        np.testing.assert_array_equal(got[c], getattr(expected, c), err_msg=c)
    # each bar closes with its own last M1 bar (when that one ends the bucket) or, at the latest, with the
    # first M1 bar of a later bucket: never later
    buckets = bucket_starts(m1.time, target, clock="America/New_York")
    last_of = np.searchsorted(buckets, got["time"], side="right") - 1
    at = np.array([i for i, _ in closed])
    assert np.all((at == last_of) | (at == last_of + 1))
    assert np.mean(at == last_of) >= 0.5  # most close on their own last minute, without waiting


@pytest.mark.parametrize("target", [Timeframe.H4, Timeframe.D1, Timeframe.W1, Timeframe.MN1])
def test_bucket_start_table_equals_one_time_at_a_time_across_clock_changes(target: Timeframe) -> None:
    """The zoned builder computes a day of bucket starts at once: each equals bucket_starts of that time
    alone, over both 2026 clock changes (New York) and times off the stream's minute grid."""
    builder = TimeframeBuilder(Timeframe.M1, target, "America/New_York")
    for first in (1772668800, 1793145600):  # 2026-03-05 and 2026-10-28, UTC: a week either side of a change
        times = first + 60 * np.arange(14 * 1440, dtype=np.int64)
        times = np.r_[times[:5000], times[5000:] + 30][::7]  # a jump off the grid midway, gaps of 7 minutes
        expected = bucket_starts(times, target, clock="America/New_York", in_order=False)
        assert [builder._start(int(t)) for t in times] == expected.tolist()
