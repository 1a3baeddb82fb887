"""A detection made ready for its first live bar: room reserved and the per-bar path run once.

A full pass sizes its bar columns, series and session calendar to the bars it saw, so the first
bar appended live copied all of them (tens of MB at 1,000,000 bars, with fresh pages to fault in:
0.1-2 s under load, on the chart's overlay worker or the session's feed thread, at the first bar
close after a start). :func:`make_ready`, called when a session starts (off the GUI thread),
grows them now as the first append would (twice the bars), and advances a throwaway detection
of the same kinds and params over a few of the bars one bar at a time, so every step kernel and
Python path of an update has been called in this process (a kernel loaded from the numba cache
at its first call costs tens of ms each). Results are unchanged: only capacity and warm code.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

#: bars of the throwaway detection: a full pass over the first, then one update per bar over the rest
WARM_FULL_BARS = 600
WARM_STEP_BARS = 300

_warmed: set[tuple] = set()
_lock = threading.Lock()


def make_ready(result: Any, room: int | None = None) -> None:
    """Reserve room for ``room`` more bars (default: as many as it holds, at least 1,024) in
    ``result``'s bar buffer and session calendar, and warm its update path once per process for
    its kinds and params. ``result``: a DetectionResult after its full pass (a shared one too)."""
    bars = getattr(result, "_bars", None)
    if bars is None:
        return
    n = bars.n
    _reserve(bars, max(n, 1024) if room is None else room)
    det = result.detectors.get("session_levels")
    clock = getattr(det, "clock", None)
    if clock is not None and hasattr(clock, "reserve"):
        clock.reserve(max(n, 1024) if room is None else room)
    warm(result)


def _reserve(bars: Any, k: int) -> None:
    """What ``_BarBuffer.append`` does when full, ahead of time (columns and the series it holds)."""
    need = bars.n + k
    for store in (bars.cols, bars.series):
        for name, arr in list(store.items()):
            if len(arr) < need:
                new = np.zeros(max(2 * (bars.n + 1), need, 1024), arr.dtype)
                new[: bars.n] = arr[: bars.n]
                store[name] = new


def warm(result: Any) -> None:
    """Advance a throwaway detection like ``result`` bar by bar over its first bars (once per kinds and
    params in this process): the step kernels are then loaded before the session's first bar."""
    from ita_desktop.detectors.dispatcher import DetectionResult

    key = (tuple(result.kinds), repr(result.params), result.fine_bars is not None)
    bars = result._bars
    m = min(bars.n, WARM_FULL_BARS + WARM_STEP_BARS)
    if m < 3:
        return
    with _lock:
        if key in _warmed:
            return
        _warmed.add(key)
    if result.fine_bars is not None:
        return  # levels from finer bars: their update needs the fine bars first (warmed by the full pass)
    cols = {c: np.array(bars.cols[c][:m]) for c in ("time", "open", "high", "low", "close")}
    first = min(WARM_FULL_BARS, m - 1)
    scratch = DetectionResult(result.kinds, result.params, result.symbol, result.timeframe)
    scratch.parallel = False
    scratch.run(*(cols[c][:first] for c in ("time", "open", "high", "low", "close")))
    for i in range(first, m):
        scratch.advance({c: cols[c][i] for c in cols})
