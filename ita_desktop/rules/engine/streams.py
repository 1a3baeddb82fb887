"""Detector tables -> one event stream per step: plain arrays the numba matcher walks.

An event's TIME is the bar from which it may be used: the detector row's ``confirmed_at``
(a retest: the zone's ``touched_at``; a time step: the bar itself), never the object's own
earlier ``bar``. Each stream is sorted by time. A step's own conditions (levels swept,
absolute direction, session window at the event time, size limits with the ATR at the event
time) are folded into ``ok`` here, using only fields fixed at ``confirmed_at`` and series
values at or before the event time, so a stream built on truncated data agrees with the full
one on every event before the cut.

A retest stream is its zone step's rows in the SAME order (the matcher finds the retest of
the chosen zone at the same position), timed at ``touched_at`` (never touched: +inf).

Live mode keeps the streams current bar by bar (:class:`LiveStreams`) instead of rebuilding
them from every row: the detectors append each row at the bar it is confirmed (so a new row's
event is at the new bar, after every event already in a stream) and afterwards change only its
life fields (objects.LIFE_FIELDS); of those, a stream reads only a retest's ``touched_at``, which
goes from -1 to the bar of the first touch once. So a bar appends the new rows' events and
re-times the retests of the zones touched on it, and every other event stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ita_desktop.detectors.objects import Kind, LevelKind
from ita_desktop.rules.engine.compiler import CompiledRule, StepPlan
from ita_desktop.rules.engine.matcher import NEVER, MatchPlan, fb_lags, usable_lag

_SESSION_KINDS_HIGH = (LevelKind.ASIA_HIGH, LevelKind.LONDON_HIGH, LevelKind.NY_AM_HIGH, LevelKind.NY_PM_HIGH,
                       LevelKind.SESSION_HIGH)
_SESSION_KINDS_LOW = (LevelKind.ASIA_LOW, LevelKind.LONDON_LOW, LevelKind.NY_AM_LOW, LevelKind.NY_PM_LOW,
                      LevelKind.SESSION_LOW)


@dataclass
class Stream:
    """One step's events (all arrays the same length, sorted by ``time`` except retests)."""

    time: np.ndarray  # int64 event bar
    row: np.ndarray  # int64 row in the step's table (a time step: the bar)
    direction: np.ndarray  # int8
    obj_bar: np.ndarray  # int64 the object's own bar (formed_between compares these)
    price: np.ndarray  # float64 the event's price (level swept, swing broken, CE, close ...)
    low: np.ndarray  # float64 extreme span (stop beyond / stop entry)
    high: np.ndarray
    top: np.ndarray  # float64 zone (NaN when the event has none)
    bottom: np.ndarray
    ok: np.ndarray  # bool: passes the step's own conditions

    def __len__(self) -> int:
        return len(self.time)

    def take(self, idx: np.ndarray | slice) -> Stream:
        """The events at ``idx`` (positions in this stream)."""
        return Stream(*(getattr(self, name)[idx] for name, _ in FIELDS))


#: Stream fields and their dtypes (the layout LiveStreams keeps them in).
FIELDS = (("time", np.int64), ("row", np.int64), ("direction", np.int8), ("obj_bar", np.int64),
          ("price", np.float64), ("low", np.float64), ("high", np.float64), ("top", np.float64),
          ("bottom", np.float64), ("ok", np.bool_))


@dataclass
class BarView:
    """The bar columns and per-bar arrays the streams read (lengths = bars known so far)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    minute: np.ndarray  # minute of the session-clock day
    atr: np.ndarray

    @property
    def n(self) -> int:
        return len(self.close)


def build_streams(compiled: CompiledRule, tables: dict[str, np.ndarray], bars: BarView) -> list[Stream]:
    streams: list[Stream] = []
    for plan in compiled.steps:
        if plan.event == "retest":
            streams.append(_retest(plan, compiled.steps[plan.link], streams[plan.link], tables, bars))
        elif plan.event == "time":
            streams.append(_time(plan, bars))
        else:
            streams.append(_objects(plan, tables, bars, compiled))
    return streams


def _objects(plan: StepPlan, tables: dict[str, np.ndarray], bars: BarView, compiled: CompiledRule,
             first_row: int = 0) -> Stream:
    """The events of the step's table rows from ``first_row`` on."""
    rows = tables[plan.table]  # type: ignore[index]
    ok = np.ones(max(len(rows) - first_row, 0), bool)
    if plan.event in ("bos", "choch"):
        ok &= rows["kind"][first_row:] == (Kind.BOS if plan.event == "bos" else Kind.CHOCH)
    idx = first_row + np.flatnonzero(ok)
    if len(idx) == 0:
        return Stream(*(np.zeros(0, dtype) for _, dtype in FIELDS))
    r = rows[idx]
    t = r["confirmed_at"].astype(np.int64)
    bar = r["bar"].astype(np.int64)
    top, bottom = r["top"].astype(np.float64), r["bottom"].astype(np.float64)
    price = r["price"].astype(np.float64)
    nan = np.full(len(r), np.nan)
    if plan.event == "sweep":
        low, high, ztop, zbot = bottom, top, nan, nan
        size = np.abs(r["extra"] - r["price"])
        ok = _level_ok(plan, r, tables, compiled)
    elif plan.event in ("bos", "choch"):
        low, high, ztop, zbot = bars.low[bar], bars.high[bar], nan, nan
        size = nan
        ok = np.ones(len(r), bool)
    elif plan.event == "displacement":
        low, high, ztop, zbot = bottom, top, nan, nan
        size = np.abs(bars.close[bar] - bars.open[bar])
        ok = np.ones(len(r), bool)
    else:  # fvg, order_block: a zone
        low, high, ztop, zbot = bottom, top, top, bottom
        size = top - bottom
        ok = np.ones(len(r), bool)
    ok &= _common_ok(plan, t, r["direction"], size, bars)
    order = np.argsort(t, kind="stable")
    return Stream(t[order], idx[order].astype(np.int64), r["direction"][order].astype(np.int8), bar[order],
                  price[order], low[order], high[order], ztop[order], zbot[order], ok[order])


def _common_ok(plan: StepPlan, t: np.ndarray, direction: np.ndarray, size: np.ndarray, bars: BarView) -> np.ndarray:
    """Absolute direction, session window at the event bar, size limits (ATR at the event bar)."""
    ok = np.ones(len(t), bool)
    known = (t >= 0) & (t < bars.n)
    ok &= known
    tt = np.where(known, t, 0)
    if plan.direction:
        ok &= direction == plan.direction
    if plan.session is not None:
        m = bars.minute[tt].astype(np.int64)
        s, e = plan.session
        ok &= ((m >= s) & (m < e)) if e > s else ((m >= s) | (m < e))
    atr = bars.atr[tt] if len(bars.atr) else np.full(len(t), np.nan)
    if plan.min_size is not None:
        lim = plan.min_size.value if plan.min_size.value is not None else plan.min_size.atr * atr
        ok &= size >= lim
    if plan.max_size is not None:
        lim = plan.max_size.value if plan.max_size.value is not None else plan.max_size.atr * atr
        ok &= size <= lim
    return ok


def _level_ok(plan: StepPlan, sweeps: np.ndarray, tables: dict[str, np.ndarray], compiled: CompiledRule) -> np.ndarray:
    """Which sweep rows took one of the step's levels.

    ``prior_session.*`` takes only the most recently completed session at the raid's first bar
    (judged by the level rows' ``confirmed_at``, fixed when written: no look-ahead); a custom
    window's SESSION_HIGH/LOW only that window's rows.
    """
    ok = np.zeros(len(sweeps), bool)
    levels = tables.get("levels")
    sessions = tables.get("sessions")
    sub = sweeps["sub"]
    for ref in plan.levels:
        hit = np.isin(sub, [int(k) for k in ref.kinds])
        if ref.window is not None and levels is not None and sessions is not None:
            w = compiled.window_index[ref.window]
            lrows = sweeps["ref"]
            good = np.zeros(len(sweeps), bool)
            cand = np.flatnonzero(hit & (lrows >= 0) & (lrows < len(levels)))
            srow = levels["ref"][lrows[cand]]
            good[cand] = (srow >= 0) & (sessions["sub"][np.clip(srow, 0, max(len(sessions) - 1, 0))] == w)
            hit &= good
        if ref.latest_session and levels is not None:
            kinds = _SESSION_KINDS_HIGH if ref.side > 0 else _SESSION_KINDS_LOW
            cand = np.flatnonzero(hit & (sweeps["ref"] >= 0))
            good = np.zeros(len(sweeps), bool)
            if len(cand):
                start = sweeps["start"][cand]
                lv = _session_rows(levels, [int(k) for k in kinds], int(start.min()))
                conf = levels["confirmed_at"][lv]  # appended in bar order: non-decreasing
                k = np.searchsorted(conf, start, side="right") - 1
                latest = np.where(k >= 0, conf[np.clip(k, 0, max(len(conf) - 1, 0))], -1) if len(conf) \
                    else np.full(len(cand), -1)
                good[cand] = levels["confirmed_at"][sweeps["ref"][cand]] == latest
            hit &= good
        ok |= hit
    return ok


def _session_rows(levels: np.ndarray, kinds: list[int], first_start: int) -> np.ndarray:
    """Indexes of the ``kinds`` level rows from the last one confirmed at or before ``first_start``
    on: every row that can be the latest for a raid starting then or later. Levels are appended in
    confirmed_at order, so this reads back from the newest only as far as needed (live: a few rows)."""
    n = len(levels)
    width = 64
    while True:
        a = max(n - width, 0)
        lv = a + np.flatnonzero(np.isin(levels["sub"][a:], kinds))
        if a == 0 or (len(lv) and levels["confirmed_at"][lv[0]] <= first_start):
            return lv
        width *= 2


def _retest(plan: StepPlan, zone_plan: StepPlan, zone: Stream, tables: dict[str, np.ndarray], bars: BarView) -> Stream:
    """The zone step's rows, same order, timed at their first touch (untouched: NEVER); ``zone``
    may be any part of the zone stream."""
    touched = tables[zone_plan.table]["touched_at"][zone.row].astype(np.int64)  # type: ignore[index]
    t = np.where(touched >= 0, touched, NEVER)
    ok = zone.ok & _common_ok(plan, np.where(t == NEVER, -1, t), zone.direction,
                              zone.top - zone.bottom, bars)
    ce = 0.5 * (zone.top + zone.bottom)
    return Stream(t, zone.row, zone.direction, zone.obj_bar, ce, zone.low, zone.high, zone.top, zone.bottom, ok)


def _time(plan: StepPlan, bars: BarView, first_bar: int = 0) -> Stream:
    """The bars from ``first_bar`` on inside the step's window."""
    m = bars.minute[first_bar:].astype(np.int64)
    s, e = plan.session  # type: ignore[misc]
    inside = ((m >= s) & (m < e)) if e > s else ((m >= s) | (m < e))
    b = first_bar + np.flatnonzero(inside).astype(np.int64)
    nan = np.full(len(b), np.nan)
    return Stream(b, b, np.zeros(len(b), np.int8), b, bars.open[b], nan, nan, nan, nan, np.ones(len(b), bool))


class LiveStreams:
    """Every step's stream kept current bar by bar, laid out for the matcher (live mode).

    One array per field holds all steps: step s owns ``[lo[s], lo[s] + cap[s])`` and uses its
    first ``n[s]`` slots, so a bar's events are appended in place and the matcher reads the
    arrays as they are (regions double when full). Positions inside a step's region never move.
    ``fb_lag`` is the matcher's per-step bound (matcher.fb_lags), kept as events arrive.
    """

    def __init__(self, compiled: CompiledRule, tables: dict[str, np.ndarray], bars: BarView) -> None:
        """Every stream from all rows so far (build_streams), laid out with room to grow."""
        self.compiled = compiled
        self.plan = MatchPlan.of(compiled.steps)
        streams = build_streams(compiled, tables, bars)
        n = np.array([len(x) for x in streams], np.int64)
        self.n = n
        self.cap = 2 * n + 64
        self.lo = np.r_[0, np.cumsum(self.cap)[:-1]].astype(np.int64)
        self.buf = {name: np.empty(int(self.cap.sum()), dtype) for name, dtype in FIELDS}
        for s, x in enumerate(streams):
            self._write(s, 0, x)
        #: rows of each object step's table read so far; bars read so far (time steps)
        self.rows_read = {p.index: len(tables[p.table]) for p in self.compiled.steps  # type: ignore[index]
                          if p.event not in ("retest", "time")}
        self.bars_read = bars.n
        #: per zone step that a retest reads: stream position of each table row (-1: not an event)
        self.position: dict[int, np.ndarray] = {}
        for p in self.compiled.steps:
            if p.event == "retest":
                self.position[p.link] = np.full(64, -1, np.int64)
                self._place(p.link, self.stream(p.link).row, np.arange(self.n[p.link]))
        self.fb_lag = fb_lags(self.plan, self.lo, self.hi, self.buf["time"], self.buf["obj_bar"], self.buf["ok"])

    @property
    def hi(self) -> np.ndarray:
        return self.lo + self.n

    def stream(self, s: int) -> Stream:
        """Step s's stream (views into the layout: valid until the next update)."""
        part = slice(int(self.lo[s]), int(self.lo[s] + self.n[s]))
        return Stream(*(self.buf[name][part] for name, _ in FIELDS))

    def advance(self, tables: dict[str, np.ndarray], bars: BarView, changed: dict[str, np.ndarray]) -> tuple[bool, bool]:
        """Take in the bar just detected: append the events of the rows confirmed on it (and a time
        step's bar), re-time the retests of the zones ``changed`` on it (row indexes per table).

        Returns (did any stream get an event at the new bar, did a ``formed_between`` lag grow: then
        every step-1 search must be re-run, see matcher). RuntimeError if a new row's event comes
        before events already in its stream (a detector broke the append-at-confirmation rule)."""
        steps = self.compiled.steps
        new_event = False
        lag_grew = False
        for plan in steps:
            s = plan.index
            if plan.event == "retest":
                part = self._retest_update(plan, tables, bars, changed)
            elif plan.event == "time":
                part = _time(plan, bars, self.bars_read)
            elif len(tables[plan.table]) > self.rows_read[s]:  # type: ignore[index]
                part = _objects(plan, tables, bars, self.compiled, self.rows_read[s])
                self.rows_read[s] = len(tables[plan.table])  # type: ignore[index]
            else:
                continue
            if plan.event != "retest" and len(part):
                if self.n[s] and part.time[0] < self.buf["time"][self.lo[s] + self.n[s] - 1]:
                    raise RuntimeError(f"step {plan.name}: a {plan.table} row new on bar {bars.n - 1} is confirmed at "
                                       f"bar {part.time[0]}; live streams need rows appended at their confirmed_at")
                if s in self.position:
                    self._place(s, part.row, self.n[s] + np.arange(len(part)))
                self._append(s, part)
            if len(part):
                new_event = True
                if self.plan.fb_a[s] >= 0:
                    lag = usable_lag(part.time, part.obj_bar, part.ok)
                    lag_grew |= lag > self.fb_lag[s]
                    self.fb_lag[s] = max(self.fb_lag[s], lag)
        self.bars_read = bars.n
        return new_event, lag_grew

    def _retest_update(self, plan: StepPlan, tables: dict[str, np.ndarray], bars: BarView,
                       changed: dict[str, np.ndarray]) -> Stream:
        """Append the retests of the zone step's new events; re-time those of zones touched now.
        Returns the events that happened on the new bar."""
        s, z = plan.index, plan.link
        zone_plan = self.compiled.steps[z]
        rows = changed.get(zone_plan.table, np.zeros(0, np.int64))  # type: ignore[arg-type]
        if self.n[s] == self.n[z] and not len(rows):
            return self.stream(s).take(slice(0, 0))
        zone = self.stream(z)
        fresh = _retest(plan, zone_plan, zone.take(slice(int(self.n[s]), int(self.n[z]))), tables, bars)
        pos = self.position[z]
        pos = pos[rows[rows < len(pos)]]
        pos = pos[(pos >= 0) & (pos < self.n[s])]
        touched = _retest(plan, zone_plan, zone.take(pos), tables, bars)
        self._write(s, pos, touched)
        self._append(s, fresh)
        now = bars.n - 1
        happened = np.r_[pos[touched.time == now], self.n[s] - len(fresh) + np.flatnonzero(fresh.time == now)]
        return self.stream(s).take(happened.astype(np.int64))

    def _place(self, z: int, rows: np.ndarray, positions: np.ndarray) -> None:
        """Record that table ``rows`` are at ``positions`` of zone step z's stream."""
        pos = self.position[z]
        if len(rows) and rows.max() >= len(pos):
            pos = np.r_[pos, np.full(2 * int(rows.max()) + 2 - len(pos), -1, np.int64)]
            self.position[z] = pos
        pos[rows] = positions

    def _write(self, s: int, at: np.ndarray | int, part: Stream) -> None:
        """Write ``part`` at positions ``at`` of step s (an int: from that position on)."""
        idx = self.lo[s] + (at + np.arange(len(part)) if isinstance(at, int) else at)
        for name, _ in FIELDS:
            self.buf[name][idx] = getattr(part, name)

    def _append(self, s: int, part: Stream) -> None:
        m = len(part)
        if self.n[s] + m > self.cap[s]:
            self._grow(s, int(self.n[s]) + m)
        self._write(s, int(self.n[s]), part)
        self.n[s] += m

    def _grow(self, s: int, need: int) -> None:
        """Give step s at least twice ``need`` slots (every region moves; positions inside stay)."""
        cap = self.cap.copy()
        cap[s] = 2 * need
        lo = np.r_[0, np.cumsum(cap)[:-1]].astype(np.int64)
        buf = {name: np.empty(int(cap.sum()), dtype) for name, dtype in FIELDS}
        for k in range(len(cap)):
            for name, arr in buf.items():
                arr[lo[k]:lo[k] + self.n[k]] = self.buf[name][self.lo[k]:self.lo[k] + self.n[k]]
        self.cap, self.lo, self.buf = cap, lo, buf
