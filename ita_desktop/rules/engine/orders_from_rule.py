"""An occurrence -> the order it places: entry, stop, targets, management, filters, risk.

Everything here is decided at the signal bar's close from what is known then: the chosen
steps' prices, the levels confirmed at or before the signal bar, the ATR and spread of the
signal bar. Times the rule gives as HH:MM ("expire at 10:00", "close at 11:00") are turned
into UTC instants right after the signal (on the session clock, daylight saving included)
and only then into bar indexes, where the data has those bars (a live signal's exit bar is
not known yet: -1, the instant is kept).

Filters (days, news-free windows, minimum ATR, spread cap) are applied at the signal: a
filtered occurrence is kept, with ``skipped`` saying why, but places no order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ita_desktop.backtest.orders import empty_orders, make_orders
from ita_desktop.detectors.objects import Kind, LevelKind
from ita_desktop.domain.clock import DAY_MINUTES, local_seconds, local_to_utc, parse_hhmm
from ita_desktop.rules.engine.compiler import CompiledRule, in_window
from ita_desktop.rules.engine.occurrences import OrderPlan, StepHit
from ita_desktop.rules.schema import Distance, TargetPrice
from ita_desktop.rules.vocabulary import resolve_level

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass
class SignalContext:
    """What the order builder may read: bars known so far and the detector tables."""

    time: np.ndarray
    close: np.ndarray
    spread: np.ndarray  # points, per bar (0 when the source has none)
    atr: np.ndarray
    minute: np.ndarray
    day: np.ndarray  # calendar day number on the session clock
    tables: dict[str, np.ndarray]
    tf_seconds: int
    _latest_rows: dict[tuple, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def latest(self, key: tuple, rows: np.ndarray, mask: Callable[[], np.ndarray], s: int) -> int:
        """Index of the latest row of ``mask`` (rows of one kind) confirmed at or before bar s (-1: none;
        among rows confirmed on the same bar, the last written).

        A full pass asks this once per target per occurrence: the rows of each ``key`` are sorted
        by confirmation once per context, so each answer is a binary search, not a scan of every
        row (fvg_reversal over 1M M15 bars took 21 s in such scans)."""
        found = self._latest_rows.get(key)
        if found is None:
            conf = rows["confirmed_at"]
            idx = np.flatnonzero(mask() & (conf >= 0))
            order = np.lexsort((idx, conf[idx]))
            found = self._latest_rows[key] = (conf[idx][order], idx[order])
        confirmed, index = found
        k = int(np.searchsorted(confirmed, s, side="right")) - 1
        return int(index[k]) if k >= 0 else -1


def trade_direction(compiled: CompiledRule, steps: tuple[StepHit, ...]) -> int:
    entry = compiled.rule.entry
    if entry.direction:
        return 1 if entry.direction == "bullish" else -1
    names = [s.name for s in steps]
    if entry.with_:
        return int(steps[names.index(entry.with_)].direction)
    return -int(steps[names.index(entry.against)].direction)  # type: ignore[arg-type]


def check_filters(compiled: CompiledRule, ctx: SignalContext, s: int) -> str | None:
    """Why the rule's filters refuse a signal at bar ``s`` (None: allowed)."""
    f = compiled.rule.filters
    if f.days is not None:
        day = _DAYS[int((ctx.day[s] + 3) % 7)]
        if day not in f.days:
            return f"filters.days: {day} not allowed"
    placed = (int(ctx.minute[s]) + compiled.timeframe.minutes) % DAY_MINUTES  # the order is placed at the close
    for w in f.news_free:
        if in_window(placed, compiled.window(w)):
            return f"filters.news_free: the signal closes inside {w[0]}-{w[1]}"
    if f.min_atr is not None:
        need = compiled.distance(f.min_atr)
        if not (ctx.atr[s] >= need):
            return f"filters.min_atr: ATR {ctx.atr[s]:.6g} below {need:.6g}"
    if f.max_spread is not None:
        cap = compiled.distance(f.max_spread)
        spread = float(ctx.spread[s]) * compiled.point
        if spread > cap:
            return f"filters.max_spread: spread {spread:.6g} above {cap:.6g}"
    return None


def plan_order(compiled: CompiledRule, steps: tuple[StepHit, ...], direction: int, ctx: SignalContext
               ) -> tuple[OrderPlan | None, str | None]:
    """The order for an occurrence signalled at the last step's bar, or (None, why not)."""
    rule = compiled.rule
    s = steps[-1].bar
    by_name = {h.name: h for h in steps}
    ref_close = float(ctx.close[s])

    e = rule.entry
    if e.order == "market":
        entry_price = ref_close
    elif e.order == "limit":
        z = by_name[e.zone]  # type: ignore[index]
        at = e.at or "near_edge"
        near, far = (z.top, z.bottom) if direction > 0 else (z.bottom, z.top)
        entry_price = near if at == "near_edge" else far if at == "far_edge" else 0.5 * (z.top + z.bottom)
    else:
        b = by_name[e.beyond]  # type: ignore[index]
        buf = compiled.distance(e.buffer)
        entry_price = b.high + buf if direction > 0 else b.low - buf

    st = rule.stop
    stop_price, stop_distance = math.nan, math.nan
    if st.beyond:
        b = by_name[st.beyond]
        buf = compiled.distance(st.buffer)
        stop_price = b.low - buf if direction > 0 else b.high + buf
        if not np.isfinite(stop_price):
            return None, f"stop: step {st.beyond} has no extreme"
        if (entry_price - stop_price) * direction <= 0:
            return None, f"stop {stop_price:.6g} is not beyond the entry {entry_price:.6g}"
    elif st.atr is not None:
        stop_distance = float(st.atr) * float(ctx.atr[s]) + compiled.distance(st.buffer)
        if not stop_distance > 0:
            return None, "stop: no ATR yet"
    else:  # a fixed distance from the entry
        stop_distance = compiled.distance(Distance(pips=st.pips, points=st.points)) + compiled.distance(st.buffer)
    risk = abs(entry_price - stop_price) if np.isfinite(stop_price) else stop_distance

    targets: list[dict[str, float]] = []
    fractions: list[float] = []
    for t in rule.targets:
        choice = _target(compiled, t.first_of or [t], by_name, direction, entry_price, risk, ctx, s)
        if choice is None:
            continue  # a level not beyond the entry: skipped, the later targets take its share
        targets.append(choice)
        fractions.append(t.close / 100.0 if t.close is not None else math.nan)
    if not targets:
        return None, "no target beyond the entry"
    fractions[-1] = math.nan  # the last target kept takes what is left
    for tgt, frac in zip(targets, fractions):
        if not math.isnan(frac):
            tgt["fraction"] = frac

    expiry_bar, expiry_time = -1, None
    if e.expiry is not None and e.order != "market":
        if e.expiry.bars is not None:
            expiry_bar = s + int(e.expiry.bars)
        else:
            expiry_time = next_clock_time(ctx, s, e.expiry.at, compiled)  # type: ignore[arg-type]
            first = _bar_at_or_after(ctx.time, expiry_time)
            expiry_bar = first - 1 if first >= 0 else -1
            if expiry_bar >= 0 and expiry_bar <= s:
                return None, f"entry expires at {e.expiry.at} before it can fill"
    m = rule.management
    exit_bar, exit_time = -1, None
    if m.close_at is not None:
        exit_time = next_clock_time(ctx, s, m.close_at, compiled)
        exit_bar = _bar_at_or_after(ctx.time, exit_time)
    plan = OrderPlan(e.order, entry_price, stop_price, stop_distance, tuple(targets), expiry_bar, expiry_time,
                     exit_bar, exit_time, m.break_even_at_r, m.max_bars, float(rule.risk.percent))
    return plan, None


def _target(compiled: CompiledRule, options: list[TargetPrice], by_name: dict[str, StepHit], direction: int,
            entry: float, risk: float, ctx: SignalContext, s: int) -> dict[str, float] | None:
    """One target (the nearest beyond the entry for first_of) as {"price": p} or {"r": r}."""
    best: tuple[float, dict[str, float]] | None = None
    for o in options:
        if o.r is not None:
            if not (risk > 0):
                continue
            dist, val = float(o.r) * risk, {"r": float(o.r)}
        elif o.pips is not None or o.points is not None or o.atr is not None:
            dist = (float(o.atr) * float(ctx.atr[s]) if o.atr is not None
                    else compiled.distance(Distance(pips=o.pips, points=o.points)))
            if not dist > 0:
                continue  # no ATR yet
            val = {"price": float(entry + direction * dist)}
        else:
            price = _level_price(compiled, o.level, ctx, s) if o.level else _opposite_price(compiled, by_name[o.opposite],
                                                                                             ctx, s)
            if price is None or not (price - entry) * direction > 0:
                continue
            dist, val = abs(price - entry), {"price": float(price)}
        if best is None or dist < best[0]:
            best = (dist, val)
    return None if best is None else best[1]


def _level_price(compiled: CompiledRule, name: str, ctx: SignalContext, s: int) -> float | None:
    """The named level's price as known at bar s (the latest of its kind confirmed by then)."""
    ref = resolve_level(name, compiled.rule.market.windows())
    if ref.kinds[0] in (LevelKind.SWING_HIGH, LevelKind.SWING_LOW):
        rows = ctx.tables["swings"]
        k = ctx.latest(("swings", ref.side), rows,
                       lambda: rows["kind"] == (Kind.SWING_HIGH if ref.side > 0 else Kind.SWING_LOW), s)
    elif ref.kinds[0] in (LevelKind.EQUAL_HIGHS, LevelKind.EQUAL_LOWS):
        rows = ctx.tables["equal"]
        k = ctx.latest(("equal", ref.side), rows,
                       lambda: rows["kind"] == (Kind.EQUAL_HIGHS if ref.side > 0 else Kind.EQUAL_LOWS), s)
    else:
        rows = ctx.tables["levels"]

        def mask() -> np.ndarray:
            of_kind = np.isin(rows["sub"], [int(k) for k in ref.kinds])
            if ref.window is not None:
                sess = ctx.tables["sessions"]
                srow = rows["ref"]
                good = (srow >= 0) & (srow < len(sess))
                of_kind &= good
                of_kind[good] &= sess["sub"][srow[good]] == compiled.window_index[ref.window]
            return of_kind

        k = ctx.latest(("levels", name), rows, mask, s)
    return None if k < 0 else float(rows["price"][k])


def _opposite_price(compiled: CompiledRule, sweep: StepHit, ctx: SignalContext, s: int) -> float | None:
    """The other side of the range a sweep took: its pair row in the levels table (asia.high -> the
    same session's asia.low), or the latest opposite swing / equal level for swing-based sweeps."""
    sweeps = ctx.tables["sweeps"]
    row = sweeps[sweep.row]
    sub, lref = int(row["sub"]), int(row["ref"])
    high = sub % 2 == 1  # LevelKind pairs: odd = high, even = low
    if sub in (LevelKind.SWING_HIGH, LevelKind.SWING_LOW, LevelKind.EQUAL_HIGHS, LevelKind.EQUAL_LOWS):
        table = "swings" if sub in (LevelKind.SWING_HIGH, LevelKind.SWING_LOW) else "equal"
        rows = ctx.tables[table]
        want = {("swings", True): Kind.SWING_LOW, ("swings", False): Kind.SWING_HIGH,
                ("equal", True): Kind.EQUAL_LOWS, ("equal", False): Kind.EQUAL_HIGHS}[(table, high)]
        k = ctx.latest((table, int(want)), rows, lambda: rows["kind"] == want, s)
        return None if k < 0 else float(rows["price"][k])
    levels = ctx.tables["levels"]
    pair = lref + 1 if high else lref - 1
    if 0 <= pair < len(levels) and int(levels["sub"][pair]) == (sub + 1 if high else sub - 1):
        return float(levels["price"][pair])
    return None


def next_clock_time(ctx: SignalContext, s: int, hhmm: str, compiled: CompiledRule) -> int:
    """UTC instant of the first ``hhmm`` on the session clock after the signal bar's close."""
    close = int(ctx.time[s]) + ctx.tf_seconds
    local = int(local_seconds(np.array([close]), compiled.clock)[0])
    day0 = local // 86400 * 86400
    target = day0 + parse_hhmm(hhmm) * 60
    if target < local:
        target += 86400
    return int(local_to_utc(np.array([target]), compiled.clock)[0])


def _bar_at_or_after(time: np.ndarray, t: int) -> int:
    k = int(np.searchsorted(time, t, side="left"))
    return k if k < len(time) else -1


def to_order_rows(plans: list[tuple[int, int, int, OrderPlan]], rule_version_id: int = 0) -> np.ndarray:
    """(occurrence id, direction, signal bar, plan) -> ORDER_DTYPE rows for the backtester."""
    if not plans:
        return empty_orders(0)
    specs = []
    for occ, direction, s, p in plans:
        spec = {"occurrence": occ, "rule_version": rule_version_id, "direction": direction, "signal_bar": s,
                "entry": p.entry, "targets": [dict(t) for t in p.targets], "risk_pct": p.risk_pct,
                "time_exit_bar": p.time_exit_bar, "breakeven_at_r": p.breakeven_at_r, "max_bars": p.max_bars}
        if p.entry != "market":
            spec["entry_price"] = p.entry_price
            spec["expiry_bar"] = p.expiry_bar
        if np.isfinite(p.stop_price):
            spec["stop"] = p.stop_price
        else:
            spec["stop_distance"] = p.stop_distance
        specs.append(spec)
    return make_orders(specs)
