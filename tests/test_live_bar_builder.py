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


@pytest.mark.parametrize("target", [Timeframe.M5, Timeframe.M15, Timeframe.H1, Timeframe.H4, Timeframe.D1])
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
    assert np.mean(at == last_of) > 0.5  # most close on their own last minute, without waiting
