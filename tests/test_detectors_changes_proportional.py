"""DetectionResult.changes after a live update reads only the level rows still open and the rows the
update appended, and reports exactly what a scan of every row's updated_at reports (real EURUSD)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ita_desktop.detectors.dispatcher import detect
from ita_desktop.domain.resample import resample
from ita_desktop.domain.timeframes import Timeframe
from tests.support.real_bars import eurusd_bars

pytestmark = pytest.mark.realdata


def test_live_changes_of_sessions_and_levels_equal_a_scan_of_every_row(eurusd_csv: Path) -> None:
    bars = resample(eurusd_bars(eurusd_csv), Timeframe.M5)
    start = 500
    det = detect(bars.slice(0, start), kinds=("levels", "sessions", "sweeps"), parallel=False)
    levels = det.detectors["session_levels"]
    touched = retired = 0
    for i in range(start, len(bars)):
        got = det.update({k: getattr(bars, k)[i] for k in ("time", "open", "high", "low", "close")})
        for table in ("sessions", "levels"):
            u = det.tables[table]["updated_at"]
            np.testing.assert_array_equal(got.index[table], np.flatnonzero(u == i), err_msg=f"{table} at bar {i}")
        lv = det.tables["levels"]
        touched += int(np.sum(lv["touched_at"][got.index["levels"]] == i))
        retired += int(np.sum(lv["end"][got.index["levels"]] == i))
        assert len(levels._open_levels) < 100  # what an update reads does not grow with the history
    assert touched > 50 and retired > 50  # old rows did change: the comparison is not only of new rows
