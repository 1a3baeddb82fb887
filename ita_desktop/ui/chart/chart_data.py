"""Everything the chart derives from a series, computed in one call that may run on a worker thread.

For a million bars this is tens of milliseconds (aggregation levels, session-clock times,
session runs), too long for the GUI thread, which only takes the finished ChartData.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.clock import local_seconds
from ita_desktop.domain.prices import infer_digits
from ita_desktop.ui.chart.downsample import Pyramid
from ita_desktop.ui.chart.session_shading import session_runs


@dataclass(frozen=True)
class ChartData:
    bars: Bars
    pyramid: Pyramid
    local: np.ndarray  # bar times on the session clock (clock.local_seconds)
    session_runs: dict[str, np.ndarray]  # session name -> (k, 2) [start, stop) bar indices
    digits: int
    low: float
    high: float
    clock: str
    #: bar times on the display clock (the time axis, readout, crosshair) and its short name;
    #: None: the session clock's ``local`` (New York by default)
    display: np.ndarray | None = None
    display_label: str = ""
    display_clock: object | None = None  # the DisplayClock behind ``display`` (appended bars use it)
    growing: object | None = None  # live_series.GrowingColumns behind bars/local/display (live_series.growable)


def prepare_chart_data(
    bars: Bars, clock: str, windows: dict[str, tuple[str, str]], digits: int | None = None, display=None,
) -> ChartData:
    """Build the chart's view of ``bars`` (non-empty) for the session ``clock`` and its ``windows``;
    ``display`` (a domain.display_clock.DisplayClock) puts the times shown on another clock."""
    pyramid = Pyramid(bars.open, bars.high, bars.low, bars.close)
    pyramid.build_all()
    local = local_seconds(bars.time, clock)
    return ChartData(
        bars=bars,
        pyramid=pyramid,
        local=local,
        session_runs={name: session_runs(local, window) for name, window in windows.items()},
        digits=infer_digits(bars.close) if digits is None else digits,
        low=float(bars.low.min()),
        high=float(bars.high.max()),
        clock=clock,
        display=display.wall(bars.time) if display is not None else None,
        display_label=display.short if display is not None else "",
        display_clock=display,
    )
