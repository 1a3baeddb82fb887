"""The live chart's append on the real EURUSD: closed bars appended one by one and in batches give the
same series, session runs, aggregation levels and drawing rows as a chart loaded with all the bars,
while chunks the new bars do not touch keep their cached rows (only the touched slice is redrawn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ita_desktop.ui.chart.candles import CHUNK, chunk_rows
from ita_desktop.ui.chart.chart_data import prepare_chart_data
from ita_desktop.ui.chart.live_series import growable
from ita_desktop.ui.chart.widget import CandleChart
from tests.support.real_bars import eurusd_bars

pytestmark = pytest.mark.realdata
WINDOWS = {"asia": ("20:00", "00:00"), "london": ("02:00", "05:00"), "ny_am": ("09:30", "11:00")}


@pytest.mark.parametrize("prepared_growable", [False, True])
def test_appended_bars_equal_a_full_load_and_keep_untouched_chunks(qtbot, eurusd_csv: Path, prepared_growable) -> None:
    bars = eurusd_bars(eurusd_csv)
    chart = CandleChart(session_windows=WINDOWS)
    qtbot.addWidget(chart)
    data = prepare_chart_data(bars.slice(0, 30_000), chart.session_clock, WINDOWS)
    chart.set_prepared(growable(data) if prepared_growable else data)
    old_chunk = chart.candles._rows(1, 3)  # a chunk far from the end, cached before the appends
    i = 30_000
    for k in (1, 1, 7, 300, 1, 1, 2_000, 5_000, 1, 17):
        chart.append_bars(bars.slice(i, i + k))
        i += k
        assert chart.count == i and chart.visible_range()[1] == i  # follow latest: the newest bar in view
    assert chart.candles._chunks.get((1, 3)) is old_chunk
    full = prepare_chart_data(bars.slice(0, i), chart.session_clock, WINDOWS)
    assert np.array_equal(chart.bars.time, bars.time[:i]) and np.array_equal(chart.data.local, full.local)
    for name in WINDOWS:
        assert np.array_equal(chart.sessions.runs[name], full.session_runs[name]), name
    for group in (1, 2, 64, 1024):
        mine, theirs = chart.data.pyramid.level(group), full.pyramid.level(group)
        for col in ("open", "high", "low", "close"):
            assert np.array_equal(getattr(mine, col), getattr(theirs, col)), (group, col)
        last_chunk = (len(theirs) - 1) // CHUNK
        got, want = chart.candles._rows(group, last_chunk), chunk_rows(theirs, last_chunk)
        for side in (0, 1):
            assert np.array_equal(got[side].lines, want[side].lines) and np.array_equal(got[side].rects, want[side].rects)

    chart.follow_latest = False
    chart.show_range(1_000, 1_100)
    before = chart.visible_range()
    chart.append_bars(bars.slice(i, i + 5))
    assert chart.visible_range() == before  # not following: the view stays where the trader put it
    chart.set_forming(1.1, 1.2, 1.0, 1.15)
    assert chart.forming.bar.index == chart.count
    chart.append_bars(bars.slice(i + 5, i + 6))
    assert chart.forming.bar is None  # the bar that was forming closed
