"""Per-bar calendar arrays on the session clock, computed once per series for every detector.

Sessions, opening levels and previous day/week levels all ask the same questions of each bar:
what wall-clock minute is it in New York, which calendar day, which trading day (the FX day
starts at 18:00 NY), which week. Answering them once here keeps the time-zone work out of the
numba kernels (they only see small integer arrays) and makes DST exact: the conversion is
``domain.clock.local_seconds``.

Definitions (all on the session clock, e.g. America/New_York):

- ``minute``: minute of the local day, 0..1439.
- ``day``: local calendar day number (days since 1970-01-01 on the wall clock).
- ``tday``: trading day label: the calendar day number of the date the trading day is named
  after. A trading day runs from ``day_start`` to the next ``day_start``; when it starts at or
  after noon (18:00 for FX) it is named after the date it ends on (Sunday 18:00 -> Monday 18:00
  is Monday), otherwise after the date it starts on (00:00 -> the same date).
- With ``fold_weekend`` (the default, right for FX and CFDs) a trading day named Saturday or
  Sunday is folded into the following Monday: brokers that reopen at Sunday 17:00 NY would
  otherwise make a one-hour "Sunday" day that becomes Monday's previous-day high/low.
- ``week``: week number of the trading day, weeks starting on Monday's trading day, so for FX
  a week starts Sunday 18:00 NY (with folding: at the first bar after Friday's day ended).
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit
from numba.extending import register_jitable

from ita_desktop.detectors.base import grown
from ita_desktop.domain.clock import DAY, DAY_MINUTES, _transitions, parse_hhmm


def day_label_shift(day_start_min: int) -> int:
    """1 when trading days are named after the date they end on (start at or after noon), else 0."""
    return 1 if day_start_min >= DAY_MINUTES // 2 else 0


def trading_day_anchor(tday: int, day_start_min: int) -> int:
    """Local minute (days*1440 + minute) at which trading day ``tday`` starts."""
    return (tday - day_label_shift(day_start_min)) * DAY_MINUTES + day_start_min


@njit(cache=True)
def _fill_kernel(utc, times, offsets, end, minute, day):
    """One pass over UTC bar times; writes the four calendar arrays in place. Returns False (and stops)
    at a bar outside ``[times[0], end)``, the span the zone's transitions were looked up for.

    The wall clock is ``utc + offsets[k]`` for the last transition ``times[k] <= utc`` (what
    ``domain.clock.local_seconds`` gives), followed here bar by bar instead of in an array of its own:
    one pass and no 8-byte-a-bar temporary. The divisions by the day's length run only when a bar
    leaves the current calendar day or trading day (bars come in runs of a day): 4-5x faster than
    dividing on every bar, and the same values for any input, sorted or not (any bar outside the
    held day or offset span recomputes it). Trading day and week are not stored: :func:`trading_day` gives
    them from the local minute where they are needed (the session-levels kernel, the ``tday``/``week``
    properties), which saves writing 8 bytes a bar, and their page faults, on every pass."""
    d_lo = np.int64(1)  # the held calendar day's local minutes [d_lo, d_hi); empty at first
    d_hi = np.int64(0)
    d = np.int64(0)
    nt = times.shape[0]
    k = 0  # the offset span held: [times[k], next_t)
    next_t = times[1] if nt > 1 else end
    off = offsets[0]
    for i in range(utc.shape[0]):
        t = utc[i]
        if t < times[k] or t >= next_t:
            if t < times[0] or t >= end:
                return False
            while k + 1 < nt and times[k + 1] <= t:
                k += 1
            while times[k] > t:
                k -= 1
            next_t = times[k + 1] if k + 1 < nt else end
            off = offsets[k]
        lm = (t + off) // 60  # local minutes since the epoch (floor, also before 1970)
        if lm < d_lo or lm >= d_hi:
            d = lm // DAY_MINUTES
            d_lo = d * DAY_MINUTES
            d_hi = d_lo + DAY_MINUTES
        minute[i] = lm - d_lo
        day[i] = d
    return True


@register_jitable
def trading_day(lm, day_start_min, label_shift, fold_weekend):
    """(trading day, its week, first local minute of its un-folded day) of local minute ``lm`` (minutes
    since the epoch on the wall clock); the day runs ``DAY_MINUTES`` from that first minute, so a caller
    recomputes only when a minute leaves it (a division per trading day, not per bar)."""
    raw = (lm - day_start_min) // DAY_MINUTES
    td = raw + label_shift
    if fold_weekend:
        wd = (td + 3) % 7  # Monday = 0
        if wd >= 5:
            td += 7 - wd
    return td, (td + 3) // 7, raw * DAY_MINUTES + day_start_min


@njit(cache=True)
def _trading_days_kernel(minute, day, day_start_min, label_shift, fold_weekend, tday, week):
    t_lo = np.int64(1)  # the held trading day's local minutes [t_lo, t_lo + DAY_MINUTES); empty at first
    t_hi = np.int64(0)
    td = np.int64(0)
    wk = np.int64(0)
    for i in range(minute.shape[0]):
        lm = np.int64(day[i]) * DAY_MINUTES + np.int64(minute[i])
        if lm < t_lo or lm >= t_hi:
            td, wk, t_lo = trading_day(lm, day_start_min, label_shift, fold_weekend)
            t_hi = t_lo + DAY_MINUTES
        tday[i] = td
        week[i] = wk


class SessionClock:
    """Calendar arrays for a growing series of bar times (append-only, amortized growth).

    ``minute`` (int16) and ``day`` (int32) are views of length ``len(self)``; ``tday`` and ``week`` (int32)
    are computed from them when asked (the session-levels kernel derives them itself, once per trading
    day). ``extend`` appends new bar times for live updates without recomputing the history.
    """

    def __init__(self, tz_name: str = "America/New_York", day_start: str = "18:00", fold_weekend: bool = True) -> None:
        self.tz_name = tz_name
        self.day_start = day_start
        self.day_start_min = parse_hhmm(day_start) % DAY_MINUTES
        self.fold_weekend = fold_weekend
        self._n = 0  # bars whose minute and day are computed
        self._len = 0  # bars given to extend
        self._pending: list[np.ndarray] = []  # their times, not yet computed
        self._lock = threading.Lock()  # a clock may be shared (detections of several rules, a worker reading)
        self._minute = np.empty(0, np.int16)
        self._day = np.empty(0, np.int32)
        self._last_time: int | None = None

    @classmethod
    def build(cls, time: np.ndarray, tz_name: str = "America/New_York", day_start: str = "18:00",
              fold_weekend: bool = True) -> "SessionClock":
        """The clock for a whole series of UTC epoch seconds (sorted ascending)."""
        clock = cls(tz_name, day_start, fold_weekend)
        clock.extend(time)
        return clock

    @classmethod
    def from_settings(cls, time: np.ndarray, settings) -> "SessionClock":
        """Use the configured session clock zone and trading-day start (``load_settings()``)."""
        return cls.build(time, settings.sessions.clock, settings.data.day_start)

    def __len__(self) -> int:
        return self._len

    def reserve(self, k: int) -> None:
        """Fill in the bars given so far and make room for ``k`` more, so a live session's bars never pay for
        the history: without it the first fill after PENDING_MAX live bars computed the whole history's
        calendar (115 ms at 5M bars, on the overlay worker) and the next growth copied it."""
        self._fill()
        with self._lock:
            need = self._len + k
            if need > self._minute.shape[0]:
                cap = max(need, 2 * self._minute.shape[0], 1024)
                self._minute = grown(self._minute, cap, self._n)
                self._day = grown(self._day, cap, self._n)

    def extend(self, time: np.ndarray) -> None:
        """Append bars (UTC seconds, ascending, after the last one already here). Their arrays are computed
        when first asked for: the session-levels kernel reads the local minute from the UTC times itself, so
        a detection pass that nobody asks the calendar of writes (and faults in) none of it."""
        time = np.ascontiguousarray(time, dtype=np.int64)
        k = time.shape[0]
        if k == 0:
            return
        if self._last_time is not None and time[0] <= self._last_time:
            raise ValueError("SessionClock.extend needs bar times after the last one it holds")
        # a long series is kept as the caller's array (bar columns are not written over); short ones
        # (live bars, often views of a buffer that is reused) are copied
        with self._lock:
            self._pending.append(time if k >= 4096 else time.copy())
            self._len += k
            self._last_time = int(time[-1])
        if len(self._pending) >= PENDING_MAX:  # live bars nobody asks the calendar of: computed in batches
            self._fill()

    def _fill(self) -> None:
        if not self._pending:
            return
        with self._lock:
            if self._pending:
                self._fill_pending()

    def _fill_pending(self) -> None:
        time = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        self._pending = []
        k = time.shape[0]
        need = self._n + k
        if need > self._minute.shape[0]:
            cap = max(need, 2 * self._minute.shape[0], 1024)
            self._minute = grown(self._minute, cap, self._n)
            self._day = grown(self._day, cap, self._n)
        sl = slice(self._n, need)
        args = (self._minute[sl], self._day[sl])
        lo, hi = int(time[0]), int(time[-1])  # the span of sorted times; else the kernel says so
        if not _fill_kernel(time, *_offset_spans(self.tz_name, lo, hi), *args):
            _fill_kernel(time, *_offset_spans(self.tz_name, int(time.min()), int(time.max())), *args)
        self._n = need

    def offset_spans(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, int]:
        """The zone's offset spans covering UTC seconds [lo, hi]: (transition times, offsets, end)."""
        return _offset_spans(self.tz_name, lo, hi)

    @property
    def minute(self) -> np.ndarray:
        self._fill()
        return self._minute[: self._n]

    @property
    def day(self) -> np.ndarray:
        self._fill()
        return self._day[: self._n]

    @property
    def label_shift(self) -> int:
        return day_label_shift(self.day_start_min)

    def _trading_days(self) -> tuple[np.ndarray, np.ndarray]:
        self._fill()
        tday = np.empty(self._n, np.int32)
        week = np.empty(self._n, np.int32)
        _trading_days_kernel(self.minute, self.day, self.day_start_min, self.label_shift, self.fold_weekend,
                             tday, week)
        return tday, week

    @property
    def tday(self) -> np.ndarray:
        return self._trading_days()[0]

    @property
    def week(self) -> np.ndarray:
        return self._trading_days()[1]

    @property
    def weekday(self) -> np.ndarray:
        """Weekday of each bar's trading day, Monday = 0."""
        return ((self.tday.astype(np.int64) + 3) % 7).astype(np.int8)


#: Extends held before their arrays are computed anyway (a bound on the list of live bars' times).
PENDING_MAX = 256


def _offset_spans(tz_name: str, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The zone's transitions covering UTC seconds [lo, hi] and where that cover ends (as local_seconds
    looks them up: from the day before ``lo`` to two days after ``hi``)."""
    day_lo, day_hi = min(lo, hi) // DAY - 1, max(lo, hi) // DAY + 2
    times, offsets = _transitions(tz_name, day_lo, day_hi)
    return times, offsets, day_hi * DAY


