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
from ita_desktop.detectors.objects import LevelKind, empty_objects, grow
from ita_desktop.detectors.session_clock import SessionClock
from ita_desktop.domain.clock import DAY_MINUTES, parse_hhmm
from ita_desktop.domain.timeframes import Timeframe


class _FineBuffer:
    """The fine bars (time, OHLC) and the coarse bucket each falls in, growable for live appends.

    The caller's arrays are used as they are until the first append (a full pass copies nothing).
    Buckets of appended bars are computed when asked (:meth:`buckets`), in one call for all the bars
    since the last ask: live, once per coarse bar, not once per streamed bar (a time-zone conversion
    per M1 bar cost ~0.25 ms)."""

    NAMES = ("time", "open", "high", "low", "close")

    def __init__(self, bars: Any, bucket_of: Any, buckets: np.ndarray | None = None) -> None:
        self.cols = {name: np.ascontiguousarray(getattr(bars, name), np.int64 if name == "time" else np.float64)
                     for name in self.NAMES}
        self.n = len(self.cols["time"])
        self._bucket_of = bucket_of
        if buckets is not None and len(buckets) != self.n:
            raise ValueError(f"{len(buckets)} fine buckets for {self.n} fine bars")
        self.bucket = np.ascontiguousarray(buckets, np.int64) if buckets is not None else \
            bucket_of(self.cols["time"]) if self.n else np.zeros(0, np.int64)
        self._nb = self.n  # bars whose bucket is computed
        self._owned = False

    def append(self, cols: dict[str, np.ndarray]) -> None:
        k = len(cols["time"])
        if k == 0:
            return
        time = cols["time"]
        if self.n and time[0] <= self.cols["time"][self.n - 1]:
            raise ValueError(f"fine bars must come after the last one fed (time {int(self.cols['time'][self.n - 1])})")
        need = self.n + k
        if not self._owned or need > len(self.cols["time"]):
            cap = max(2 * need, 1024)
            for name in self.NAMES:
                arr = np.empty(cap, self.cols[name].dtype)
                arr[: self.n] = self.cols[name][: self.n]
                self.cols[name] = arr
            arr = np.empty(cap, np.int64)
            arr[: self._nb] = self.bucket[: self._nb]
            self.bucket = arr
            self._owned = True
        for name in self.NAMES:
            self.cols[name][self.n : need] = cols[name]
        self.n = need

    def append_one(self, time: int, open_: float, high: float, low: float, close: float) -> None:
        """One bar, without building arrays (a streamed bar)."""
        n = self.n
        if not self._owned or n >= len(self.cols["time"]) or (n and time <= self.cols["time"][n - 1]):
            self.append({"time": np.array([time], np.int64), "open": [open_], "high": [high], "low": [low],
                         "close": [close]})
            return
        c = self.cols
        c["time"][n], c["open"][n], c["high"][n], c["low"][n], c["close"][n] = time, open_, high, low, close
        self.n = n + 1

    def buckets(self) -> np.ndarray:
        """The coarse bucket of every fine bar fed (non-decreasing: a repeated wall hour when clocks fall
        back stays in the bucket before it, as resample's running maximum has it)."""
        if self._nb < self.n:
            new = self._bucket_of(self.cols["time"][self._nb : self.n])
            if self._nb:
                new = np.maximum(new, self.bucket[self._nb - 1])
            self.bucket[self._nb : self.n] = new
            self._nb = self.n
        return self.bucket[: self.n]

    def prefix(self, m: int) -> "_Prefix":
        return _Prefix({name: self.cols[name][:m] for name in self.NAMES})


def buckets_from(fine_time: np.ndarray, coarse_time: np.ndarray) -> np.ndarray:
    """Each fine bar's bucket when the coarse bars were resampled from exactly these fine bars: the
    start of the last coarse bar starting at or before it (resample's running maximum included)."""
    if not len(coarse_time):
        return np.zeros(len(fine_time), np.int64)
    k = np.searchsorted(coarse_time, fine_time, side="right") - 1
    return np.asarray(coarse_time, np.int64)[np.maximum(k, 0)]


class _Prefix:
    """The first ``m`` fine bars as plain column views (what SessionLevels.update reads)."""

    def __init__(self, cols: dict[str, np.ndarray]) -> None:
        for name, arr in cols.items():
            setattr(self, name, arr)


class FineSessionLevels:
    """Drop-in for :class:`levels.SessionLevels` in the dispatcher: ``update(coarse_bars)`` runs the
    detector over the fine bars of the coarse bars so far and shows its rows on the coarse bars.

    Where a row is shown (no look-ahead): a fine row known at fine bar ``j`` (at its open) is
    known at the coarse bar that ``j`` opens (``j`` is that bar's first fine bar and nothing of the
    bar came before it), else at the next coarse bar. ``end`` maps the same way (the bar where the
    next level takes over; -1 while that is not shown yet); ``bar``, ``touched_at``, ``filled_at``
    and a session's span are the coarse bars holding the fine ones, a touch no earlier than the
    row's start. So on bars whose boundaries hold every level time (M5, M15 on the hour) the
    rows equal those computed from the coarse bars themselves, apart from ``touched_at`` (a fine
    touch inside the level's first coarse bar counts) and an opening level's minutes-late.

    Which fine bars belong to which coarse bar is ``domain.resample.bucket_starts`` on the coarse
    timeframe and the session clock, the buckets the coarse bars are built with (full pass and
    live alike). A coarse update takes in the fine bars whose bucket is at or before the last
    coarse bar: live, ``add_fine`` may already hold a bar of the next bucket (the one that closed
    the coarse bar); it waits for the next update.

    Live cost: the rows appended or changed since the last update (the inner detector's own
    account, plus the rows whose end is not shown yet), never the history.

    ``buckets``: each fine bar's coarse bucket when the caller has them (:func:`buckets_from`, coarse
    bars resampled from these fine bars): a time-zone pass over a million M1 bars is ~0.1 s.
    """

    def __init__(self, fine_bars: Any, coarse_timeframe: Timeframe, params: SessionLevelParams | None = None, *,
                 tz_name: str = "America/New_York", day_start: str = "18:00", fold_weekend: bool = True,
                 buckets: np.ndarray | None = None) -> None:
        from ita_desktop.domain.resample import bucket_starts

        self.coarse_timeframe = Timeframe(coarse_timeframe)
        self.fine_timeframe = getattr(fine_bars, "timeframe", None)

        def bucket_of(time: np.ndarray) -> np.ndarray:
            # the coarse bars' own buckets: resample and the live TimeframeBuilder use the default day start
            return bucket_starts(time, self.coarse_timeframe, clock=tz_name)

        self.fine = _FineBuffer(fine_bars, bucket_of, buckets)
        self.inner = SessionLevels(params, SessionClock(tz_name, day_start, fold_weekend))
        #: the session clock of the COARSE bars (the rule engine reads minute and day per coarse bar)
        self.clock = SessionClock(tz_name, day_start, fold_weekend)
        self.windows = self.inner.windows
        self.last_changed: tuple[int, int, dict[str, np.ndarray]] | None = None
        self.reset()

    def reset(self) -> None:
        self.inner.reset()
        self._levels = empty_objects(256)
        self._sessions = empty_objects(64)
        self._nl = self._ns = 0
        self._n = 0
        self._coarse_time = np.zeros(0, np.int64)
        self._open = np.zeros(0, np.int64)  # shown level rows whose end is not shown yet
        self.last_changed = None

    @property
    def n_bars(self) -> int:
        return self._n

    def add_fine(self, bars: Any) -> None:
        """Append fine bars (live): a mapping or object with time/open/high/low/close, one bar or arrays."""
        get = bars.__getitem__ if hasattr(bars, "keys") else (lambda name: getattr(bars, name))
        if np.ndim(get("time")) == 0:  # one bar (live): no arrays made
            self.fine.append_one(int(get("time")), get("open"), get("high"), get("low"), get("close"))
        else:
            self.fine.append({name: np.atleast_1d(get(name)) for name in _FineBuffer.NAMES})

    def fine_bucket_last(self) -> int | None:
        """The coarse bucket of the last fine bar fed (None: none yet)."""
        return int(self.fine.buckets()[-1]) if self.fine.n else None

    def update(self, bars: Any) -> dict[str, np.ndarray]:
        coarse_time = np.asarray(bars.time, np.int64)
        n = len(coarse_time)
        n0 = self._n
        if n < n0:
            raise ValueError(f"update got {n} bars but {n0} were already processed; call run()")
        self._coarse_time = coarse_time
        if len(self.clock) < n:
            self.clock.extend(coarse_time[len(self.clock):n])
        inner_changed = np.zeros(0, np.int64)
        if n:
            m = int(np.searchsorted(self.fine.buckets(), coarse_time[n - 1], side="right"))
            if m > self.inner.n_bars:
                inner_changed = self.inner.update(self.fine.prefix(m))["levels"]
        self._n = n
        levels = self._show_levels(inner_changed, n0)
        sessions = self._show_sessions()
        self.last_changed = (n0, n - 1, {"sessions": sessions, "levels": levels})
        return self.last_changed[2]

    def run(self, bars: Any) -> "FineSessionLevels":
        self.reset()
        self.update(bars)
        return self

    # -- fine rows -> coarse rows -------------------------------------------------------------

    def _containing(self, fine_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per fine bar: the last coarse bar starting at or before its bucket, and whether it IS its bucket."""
        ct = self._coarse_time[: self._n]
        bucket = self.fine.bucket[fine_rows]
        c = np.searchsorted(ct, bucket, side="right") - 1
        inside = (c >= 0) & (ct[np.maximum(c, 0)] == bucket) if len(ct) else np.zeros(len(c), bool)
        return c, inside

    def _known(self, fine_rows: np.ndarray) -> np.ndarray:
        """Coarse bar each fine bar's news is known at (``-1`` stays -1): the bar it opens, else the next."""
        out = np.full(fine_rows.shape, -1, np.int64)
        ok = fine_rows >= 0
        j = fine_rows[ok]
        if not len(j):
            return out
        c, inside = self._containing(j)
        t = self.fine.cols["time"][j]
        bucket = self.fine.bucket[j]
        prev = self.fine.bucket[np.maximum(j - 1, 0)]
        opens = inside & ((t == bucket) | ((j > 0) & (prev != bucket)))
        out[ok] = np.where(opens, c, c + 1)
        return out

    def _holding(self, fine_rows: np.ndarray) -> np.ndarray:
        """Coarse bar holding each fine bar (-1 stays -1; clipped at 0)."""
        out = np.full(fine_rows.shape, -1, np.int64)
        ok = fine_rows >= 0
        if ok.any():
            out[ok] = np.maximum(self._containing(fine_rows[ok])[0], 0)
        return out

    def _show_levels(self, inner_changed: np.ndarray, n0: int) -> np.ndarray:
        """Map the rows that may have changed (the inner detector's, those whose end is not shown yet)
        and the rows now known; return the coarse indexes changed on the new bars."""
        fine = self.inner.levels
        n = self._n
        unshown = np.arange(self._nl, len(fine), dtype=np.int64)
        known = self._known(fine["confirmed_at"][unshown])
        nl = self._nl + int(np.count_nonzero(known < n))  # rows come in confirmed order: a prefix is known
        old = np.unique(np.r_[self._open, inner_changed[inner_changed < self._nl]]).astype(np.int64)
        rows = np.r_[old, np.arange(self._nl, nl, dtype=np.int64)]
        if len(self._levels) < nl:
            self._levels = grow(self._levels, nl)
        src = fine[rows]
        out = src.copy()
        k = self._known(src["confirmed_at"])
        out["confirmed_at"] = k
        out["start"] = k
        out["bar"] = self._holding(src["bar"])
        end = self._known(src["end"])
        end[end >= n] = -1
        out["end"] = np.where(end >= 0, np.maximum(end, k), -1)
        touched = self._holding(src["touched_at"])
        out["touched_at"] = np.where(touched >= 0, np.maximum(touched, k), -1)
        out["state"] = np.where(out["touched_at"] >= 0, src["state"], 0)
        out["filled_at"] = self._holding(src["filled_at"])
        out["updated_at"] = np.maximum.reduce([out["confirmed_at"], out["end"], out["touched_at"], out["filled_at"]])
        self._levels[rows] = out
        self._nl = nl
        shown = self._levels[:nl]
        self._open = rows[shown["end"][rows] == -1]
        return np.sort(rows[shown["updated_at"][rows] >= n0])

    def _show_sessions(self) -> np.ndarray:
        """Sessions are written complete: map the ones now known, return their coarse indexes."""
        fine = self.inner.sessions
        n = self._n
        unshown = np.arange(self._ns, len(fine), dtype=np.int64)
        src = fine[unshown]
        known = self._known(src["confirmed_at"])
        keep = known < n
        src, known = src[keep], known[keep]
        ns = self._ns + len(src)
        if len(self._sessions) < ns:
            self._sessions = grow(self._sessions, ns)
        out = src.copy()
        out["confirmed_at"] = known
        for name in ("bar", "start", "end"):
            out[name] = self._holding(src[name])
        out["updated_at"] = known
        self._sessions[self._ns:ns] = out
        new = np.arange(self._ns, ns, dtype=np.int64)
        self._ns = ns
        return new

    @property
    def sessions(self) -> np.ndarray:
        return self._sessions[: self._ns]

    @property
    def levels(self) -> np.ndarray:
        return self._levels[: self._nl]

    def running_sessions(self) -> tuple:
        return ()


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
    # a set, not np.unique: that asks numpy.ma whether the array is masked (importing numpy.ma: 6-10 ms a backtest)
    starts = set(clock.minute.tolist())
    weekly = ("PWH", "PWL", "WEEKLY_OPEN")
    out: dict[str, tuple[str, ...]] = {}
    for name, bounds in level_boundaries(params, day_start).items():
        # bars longer than a day start once a week at most: only the weekly levels can be exact
        cut = source_minutes > DAY_MINUTES and name not in weekly
        missing = tuple(f"{b // 60:02d}:{b % 60:02d}" for b in bounds if cut or b not in starts)
        if missing:
            out[name] = missing
    return out
