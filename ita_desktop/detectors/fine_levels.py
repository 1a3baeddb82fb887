"""Session and day levels of a coarse series, computed from a finer one (M1 when there is M1).

A level is a fact about time, not about the chart's bar size: London's high is the highest
price between 02:00 and 05:00 New York, whatever bars are drawn. Run on H4 or W1 bars, the
session-clock detector (levels.py) can only see whole bars, so an H4 bar that straddles the end
of London makes "London H" wrong and on W1 the "previous day" is the previous week. Here the
detector runs on the finest stored bars and its rows are re-indexed onto the coarse bars.

No look-ahead: a fine row known at fine bar ``j`` (at that bar's open) is known on the coarse
series at the first coarse bar that starts at or after fine bar ``j``'s time: the coarse bar that
contains ``j`` when ``j`` opens it, else the next one. A coarse bar that began before the level
existed never sees it, so neither a touch nor a sweep can be read from price that came before
the level. Rows known after the last coarse bar's start are not shown yet.

When the finest stored bars are themselves coarse (H1 only, say), levels whose times fall
inside a bar (NY PM from 13:30, the 09:30 open) cannot be known exactly:
:func:`inexact_levels` names them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ita_desktop.detectors.levels import SessionLevelParams, SessionLevels
from ita_desktop.detectors.objects import LevelKind
from ita_desktop.detectors.session_clock import SessionClock
from ita_desktop.domain.clock import DAY_MINUTES, parse_hhmm


def _known_index(coarse_time: np.ndarray, fine_time: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Coarse index of the first coarse bar starting at or after each fine bar in ``rows`` (-1 stays -1)."""
    out = np.full(rows.shape, -1, np.int64)
    ok = rows >= 0
    out[ok] = np.searchsorted(coarse_time, fine_time[rows[ok]], side="left")
    return out


def _containing_index(coarse_time: np.ndarray, fine_time: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Coarse index of the coarse bar containing each fine bar in ``rows`` (-1 stays -1; clipped at 0)."""
    out = np.full(rows.shape, -1, np.int64)
    ok = rows >= 0
    out[ok] = np.maximum(np.searchsorted(coarse_time, fine_time[rows[ok]], side="right") - 1, 0)
    return out


def reindex_levels(rows: np.ndarray, fine_time: np.ndarray, coarse_time: np.ndarray, n_coarse: int) -> np.ndarray:
    """LEVEL rows over fine bars -> the same rows over the first ``n_coarse`` coarse bars (a copy).

    ``confirmed_at`` = ``start`` = the first coarse bar starting at or after the fine bar where
    the row became known; rows not known by coarse bar ``n_coarse - 1`` are dropped (they are a
    suffix: rows come in confirmed order). ``end`` maps the same way (the bar where the next
    level takes over), -1 while that is not known yet; ``bar`` and ``touched_at`` are the coarse
    bars containing the fine ones, a touch no earlier than ``start``.
    """
    coarse_time = coarse_time[:n_coarse]
    known = _known_index(coarse_time, fine_time, rows["confirmed_at"])
    keep = known < n_coarse
    out = rows[keep].copy()
    known = known[keep]
    out["confirmed_at"] = known
    out["start"] = known
    out["bar"] = _containing_index(coarse_time, fine_time, out["bar"])
    end = _known_index(coarse_time, fine_time, out["end"])
    end[end >= n_coarse] = -1
    out["end"] = np.where(end >= 0, np.maximum(end, known), -1)
    touched = _containing_index(coarse_time, fine_time, out["touched_at"])
    out["touched_at"] = np.where(touched >= 0, np.maximum(touched, known), -1)
    out["state"] = np.where(out["touched_at"] >= 0, out["state"], 0)
    out["filled_at"] = _containing_index(coarse_time, fine_time, out["filled_at"])
    out["updated_at"] = np.maximum.reduce([out["confirmed_at"], out["end"], out["touched_at"], out["filled_at"]])
    return out


def reindex_sessions(rows: np.ndarray, fine_time: np.ndarray, coarse_time: np.ndarray, n_coarse: int) -> np.ndarray:
    """SESSION rows over fine bars -> coarse bars: known as levels are, span = the coarse bars containing it."""
    coarse_time = coarse_time[:n_coarse]
    known = _known_index(coarse_time, fine_time, rows["confirmed_at"])
    keep = known < n_coarse
    out = rows[keep].copy()
    out["confirmed_at"] = known[keep]
    for name in ("bar", "start", "end"):
        out[name] = _containing_index(coarse_time, fine_time, out[name])
    out["updated_at"] = out["confirmed_at"]
    return out


class FineSessionLevels:
    """Drop-in for :class:`levels.SessionLevels` in the dispatcher: ``update(coarse_bars)`` runs the
    detector over the fine bars up to the end of the last coarse bar and shows the rows on the coarse bars.

    ``coarse_seconds`` is the coarse bar length (the last coarse bar ends that long after it starts).
    Fine bars may start before the coarse ones (warm-up) and may end before them (then the levels
    after the fine data are simply not there).
    """

    def __init__(self, fine_bars: Any, coarse_seconds: int, params: SessionLevelParams | None = None, *,
                 tz_name: str = "America/New_York", day_start: str = "18:00", fold_weekend: bool = True) -> None:
        self.fine = fine_bars
        self.coarse_seconds = int(coarse_seconds)
        self.inner = SessionLevels(params, SessionClock(tz_name, day_start, fold_weekend))
        self.windows = self.inner.windows
        self._sessions = self.inner.sessions
        self._levels = self.inner.levels
        self._n = 0

    @property
    def n_bars(self) -> int:
        return self._n

    def update(self, bars: Any) -> dict[str, np.ndarray]:
        coarse_time = np.asarray(bars.time, np.int64)
        n = len(coarse_time)
        fine_time = np.asarray(self.fine.time, np.int64)
        if n:
            m = int(np.searchsorted(fine_time, coarse_time[n - 1] + self.coarse_seconds, side="left"))
            if m > self.inner.n_bars:
                self.inner.update(_Prefix(self.fine, m))
        self._levels = reindex_levels(self.inner.levels, fine_time, coarse_time, n)
        self._sessions = reindex_sessions(self.inner.sessions, fine_time, coarse_time, n)
        first = self._n
        self._n = n
        return {"sessions": np.flatnonzero(self._sessions["updated_at"] >= first),
                "levels": np.flatnonzero(self._levels["updated_at"] >= first)}

    def run(self, bars: Any) -> "FineSessionLevels":
        self.inner.reset()
        self._n = 0
        self.update(bars)
        return self

    @property
    def sessions(self) -> np.ndarray:
        return self._sessions

    @property
    def levels(self) -> np.ndarray:
        return self._levels

    def running_sessions(self) -> tuple:
        return ()


class _Prefix:
    """The first ``m`` bars of a series as plain column views (what SessionLevels.update reads)."""

    def __init__(self, bars: Any, m: int) -> None:
        for name in ("time", "open", "high", "low", "close"):
            setattr(self, name, np.asarray(getattr(bars, name))[:m])


# --- which levels coarse source bars cannot know exactly --------------------------------------

def level_boundaries(params: SessionLevelParams | None = None, day_start: str = "18:00") -> dict[str, tuple[int, ...]]:
    """Level name -> the local minutes of day its value depends on (where it starts and ends)."""
    params = params or SessionLevelParams()
    ds = parse_hhmm(day_start) % DAY_MINUTES
    out: dict[str, tuple[int, ...]] = {}
    for w in params.session_windows():
        hi, lo = (LevelKind(int(k)).name for k in w.level_kinds[:2])
        bounds = (w.start_min % DAY_MINUTES, w.end_min % DAY_MINUTES)
        out[hi] = out[lo] = bounds
        if w.is_ib:
            out["IB_MID"] = out["IB_EXT"] = bounds
    for name in ("PDH", "PDL", "PWH", "PWL", "DAILY_OPEN", "WEEKLY_OPEN"):
        out[name] = (ds,)
    out["MIDNIGHT_OPEN"] = (0,)
    out["NY_OPEN"] = (parse_hhmm(params.ny_open) % DAY_MINUTES,)
    return out


def inexact_levels(source_time: np.ndarray, source_minutes: int, params: SessionLevelParams | None = None, *,
                   tz_name: str = "America/New_York", day_start: str = "18:00") -> dict[str, tuple[str, ...]]:
    """Levels that bars of ``source_minutes`` cannot know exactly -> the local times (HH:MM) inside a bar.

    A level is exact when every time it depends on is the start of a source bar: always for M1;
    for H1 bars on the hour, 09:30 (the NY open, the initial balance) is not. Bar starts are
    read from the bars themselves (on the session clock), so a broker's D1 at 17:00 NY shows the
    18:00 day levels as inexact.
    """
    if source_minutes <= 1 or not len(source_time):
        return {}
    clock = SessionClock.build(np.asarray(source_time, np.int64), tz_name, day_start)
    starts = {int(m) for m in np.unique(clock.minute)}
    weekly = ("PWH", "PWL", "WEEKLY_OPEN")
    out: dict[str, tuple[str, ...]] = {}
    for name, bounds in level_boundaries(params, day_start).items():
        # bars longer than a day start once a week at most: only the weekly levels can be exact
        cut = source_minutes > DAY_MINUTES and name not in weekly
        missing = tuple(f"{b // 60:02d}:{b % 60:02d}" for b in bounds if cut or b not in starts)
        if missing:
            out[name] = missing
    return out
