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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ita_desktop.detectors.objects import Kind, LevelKind
from ita_desktop.rules.engine.compiler import CompiledRule, StepPlan
from ita_desktop.rules.engine.matcher import NEVER
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


def _objects(plan: StepPlan, tables: dict[str, np.ndarray], bars: BarView, compiled: CompiledRule) -> Stream:
    rows = tables[plan.table]  # type: ignore[index]
    ok = np.ones(len(rows), bool)
    if plan.event in ("bos", "choch"):
        ok &= rows["kind"] == (Kind.BOS if plan.event == "bos" else Kind.CHOCH)
    idx = np.flatnonzero(ok)
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
            lv = np.flatnonzero(np.isin(levels["sub"], [int(k) for k in kinds]))
            conf = levels["confirmed_at"][lv]  # appended in bar order: non-decreasing
            cand = np.flatnonzero(hit & (sweeps["ref"] >= 0))
            start = sweeps["start"][cand]
            k = np.searchsorted(conf, start, side="right") - 1
            latest = np.where(k >= 0, conf[np.clip(k, 0, max(len(conf) - 1, 0))], -1) if len(conf) else np.full(len(cand), -1)
            mine = levels["confirmed_at"][sweeps["ref"][cand]]
            good = np.zeros(len(sweeps), bool)
            good[cand] = mine == latest
            hit &= good
        ok |= hit
    return ok


def _retest(plan: StepPlan, zone_plan: StepPlan, zone: Stream, tables: dict[str, np.ndarray], bars: BarView) -> Stream:
    """The zone step's rows, same order, timed at their first touch (untouched: NEVER)."""
    touched = tables[zone_plan.table]["touched_at"][zone.row].astype(np.int64)  # type: ignore[index]
    t = np.where(touched >= 0, touched, NEVER)
    ok = zone.ok & _common_ok(plan, np.where(t == NEVER, -1, t), zone.direction,
                              zone.top - zone.bottom, bars)
    ce = 0.5 * (zone.top + zone.bottom)
    return Stream(t, zone.row, zone.direction, zone.obj_bar, ce, zone.low, zone.high, zone.top, zone.bottom, ok)


def _time(plan: StepPlan, bars: BarView) -> Stream:
    m = bars.minute.astype(np.int64)
    s, e = plan.session  # type: ignore[misc]
    inside = ((m >= s) & (m < e)) if e > s else ((m >= s) | (m < e))
    b = np.flatnonzero(inside).astype(np.int64)
    nan = np.full(len(b), np.nan)
    return Stream(b, b, np.zeros(len(b), np.int8), b, bars.open[b], nan, nan, nan, nan, np.ones(len(b), bool))
