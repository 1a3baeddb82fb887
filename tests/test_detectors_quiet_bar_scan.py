"""Runs of any length (1 bar to a few hundred) give the full pass's rows, on the real EURUSD M1 (issue 19).

The session-levels kernel scans past quiet bars in one tight loop (levels._quiet_bars) and looks the trading
day up once per day: runs ending inside a scan, on an event bar, or stopped for room right after a scan must
write what the full pass writes. The same runs pin the step kernels' contract that the scan must keep if it
is used elsewhere: the change log holds what the LAST bar of a run changed (empty after a quiet bar).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ita_desktop.detectors.atr import AtrSeries
from ita_desktop.detectors.base import BarContext
from ita_desktop.detectors.levels import SessionLevels
from ita_desktop.detectors.liquidity import EqualHighsLows
from ita_desktop.detectors.session_clock import SessionClock
from ita_desktop.detectors.structure import Structure, StructureParams
from ita_desktop.detectors.sweeps import SweepParams, Sweeps
from ita_desktop.detectors.swings import Swings
from tests.support.detectors import fields_equal, real_bars

pytestmark = pytest.mark.realdata

N = 30_000


def _detectors(n_hint: int):
    sw = Swings(n_hint=n_hint)
    eq = EqualHighsLows(sw, n_hint=n_hint)
    dets = {
        "swings": sw,
        "equal": eq,
        "structure": Structure(sw, n_hint=n_hint),
        "structure_wick": Structure(sw, StructureParams(break_on="wick"), n_hint=n_hint),
    }
    dets["sweeps"] = Sweeps(SweepParams(), {"swings": sw, "equal": eq}, n_hint=n_hint)
    return dets


def _ctx(bars, n: int) -> BarContext:
    ctx = BarContext(bars.open, bars.high, bars.low, bars.close, bars.time, n,
                     {"atr": np.empty(n), "trend": np.zeros(n, np.int8)})
    AtrSeries().run(ctx, 0, n)
    return ctx


def _cuts(n: int) -> np.ndarray:
    """Run ends of every length: single bars, short and long runs."""
    rng = np.random.default_rng(19)
    steps = rng.choice([1, 1, 2, 3, 7, 40, 300], size=n)
    return np.unique(np.minimum(np.cumsum(steps), n))


def test_runs_of_any_length_equal_the_full_pass_and_log_only_their_last_bar(eurusd_csv) -> None:
    bars = real_bars(eurusd_csv, "EURUSD")
    full_ctx = _ctx(bars, N)
    full = _detectors(N)
    for det in full.values():
        det.run(full_ctx, 0, N)
    ctx = _ctx(bars, N)
    live = _detectors(0)  # tiny buffers: the kernels stop for room many times
    quiet_ends = event_ends = 0
    i0 = 0
    for i1 in _cuts(N):
        for name, det in live.items():
            det.run(ctx, i0, int(i1))
            last = int(i1) - 1
            logged = np.sort(det.changed_index)
            expected = np.flatnonzero(det.rows["updated_at"] == last)
            assert np.array_equal(logged, expected), (
                f"{name}: run [{i0}, {i1}) logged {logged}, bar {last} changed {expected}")
            quiet_ends += len(expected) == 0
            event_ends += len(expected) > 0
        i0 = int(i1)
    assert quiet_ends > 100 and event_ends > 100, "the runs must end on quiet bars and on event bars"
    for name in full:
        fields_equal(full[name].rows, live[name].rows)
    assert np.array_equal(full_ctx.series["trend"], ctx.series["trend"])


def test_session_levels_in_runs_of_any_length_equal_the_full_pass(eurusd_csv) -> None:
    bars = real_bars(eurusd_csv, "EURUSD")
    clock = SessionClock.build(bars.time[:N])
    full = SessionLevels(None, clock).run(SimpleNamespace(time=bars.time[:N], open=bars.open[:N],
                                                          high=bars.high[:N], low=bars.low[:N],
                                                          close=bars.close[:N]))
    live = SessionLevels(None, clock)
    checked = 0
    for i1 in _cuts(N):
        live.update(SimpleNamespace(time=bars.time[:i1], open=bars.open[:i1], high=bars.high[:i1],
                                    low=bars.low[:i1], close=bars.close[:i1]))
        # a running session's high and low (folded in when a run ends) are those of its bars so far
        for run in live.running_sessions():
            highs, lows = bars.high[run.start:i1], bars.low[run.start:i1]
            assert (run.high, run.high_bar) == (highs.max(), run.start + int(np.argmax(highs))), run
            assert (run.low, run.low_bar) == (lows.min(), run.start + int(np.argmin(lows))), run
            checked += 1
    assert checked > 100
    got = live.result()
    assert len(full.levels) > 100 and len(full.sessions) > 50
    fields_equal(full.sessions, got.sessions)
    fields_equal(full.levels, got.levels)
    assert full.running == got.running


def test_session_clock_extended_in_pieces_equals_one_build(eurusd_csv) -> None:
    """The clock computes its arrays when asked (the session-levels kernel reads UTC times itself): extends
    of every size, read between or not, more of them than it holds before computing, give the arrays of one
    build, and a time not after the last one is refused at once."""
    from ita_desktop.detectors.session_clock import PENDING_MAX

    bars = real_bars(eurusd_csv, "EURUSD")
    t = bars.time[:N]
    whole = SessionClock.build(t)
    pieces = SessionClock()
    cuts = [0, 5000, 5001, 5002] + list(range(5003, 5003 + 3 * PENDING_MAX)) + [20_000, N]
    for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        pieces.extend(t[a:b])
        assert len(pieces) == b
        if k % 97 == 0:
            assert np.array_equal(pieces.minute, whole.minute[:b])
    for name in ("minute", "day", "tday", "week", "weekday"):
        assert np.array_equal(getattr(pieces, name), getattr(whole, name)), name
    with pytest.raises(ValueError, match="after the last one"):
        pieces.extend(t[N - 1:N])


def test_session_levels_spans_of_first_and_last_bar_widen_for_a_bar_outside(shared_data) -> None:
    """The zone's offset spans are looked up from a stretch's first and last bar (the dispatcher has checked
    that times ascend; no min/max pass): bars out of order that fall outside them stop the kernel, which
    widens the spans to the rest, and the tables equal those of spans looked up over every bar at once (the
    lookup before). Real gold H1 over years, so the halves lie across daylight-saving changes."""
    bars = real_bars(shared_data / "XAUUSD_H1.csv", "XAUUSD")
    n = len(bars)
    order = np.r_[np.arange(n // 2, n), np.arange(n // 2)]  # the later half first: the ends bound nothing
    cols = SimpleNamespace(**{c: getattr(bars, c)[order] for c in ("time", "open", "high", "low", "close")})
    looked_up = []

    def spans_of(clock):
        own = clock.offset_spans

        def spans(lo, hi):
            looked_up.append((lo, hi))
            return own(lo, hi)
        clock.offset_spans = spans
        return clock

    widened = SessionLevels(None, spans_of(SessionClock()))
    widened.update(cols)
    assert len(looked_up) == 2 and looked_up[1] == (int(cols.time.min()), int(cols.time.max()))
    reference = SessionLevels(None, SessionClock())
    whole = reference.clock.offset_spans(int(cols.time.min()), int(cols.time.max()))
    reference.clock.offset_spans = lambda lo, hi: whole
    reference.update(cols)
    assert len(reference.levels) > 1000
    fields_equal(reference.sessions, widened.sessions)
    fields_equal(reference.levels, widened.levels)
