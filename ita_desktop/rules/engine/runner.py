"""Run a compiled rule over bars: a full pass (backtests, scans) or live, one bar at a time.

Both paths are the same code: the detectors (one ``detect`` request; live: its ``update``),
the step streams, the numba matcher, the order builder. Live mode keeps the streams current
(streams.LiveStreams: a bar appends the events of the rows confirmed on it and re-times the
retests of zones touched on it) and re-runs only the step-1 searches still open (matcher: those
that stopped where an event still to come could change them) plus the new step-1 events, and
only on bars that brought an event; it reports the occurrences signalled on the new bar. So an
update costs what the new bar and the pending setups cost, not the history, and reports what a
full pass over the bars so far signals on that bar (tested on the real data for every seed rule
and for stress rules, and on made-up tables).

Session and day levels (sessions, PDH/PDL, opens, initial balance) are facts about time: when
the bars given are finer than the rule's timeframe (the M1 a higher timeframe is built from), or
finer bars are given as ``fine_bars``, the levels are computed on those and shown on the setup
bars (detectors.fine_levels: known at the setup bar the fine bar that made them known opens, else
the next). Live, :meth:`LiveSetup.add_fine` feeds the streamed bars to them before the setup bar
holding them is appended, so live still equals the full pass. With only setup bars, the levels
come from those and :func:`level_source` names the ones they cannot know exactly.

A ranged run (``run_setup(..., start_utc=T)``) gets bars from before T too: the detectors run
over that warm-up and the range, and only occurrences signalled at or after T count, so the
range's first days agree with the same days of a full pass. How much history is enough is
decided in one place, :func:`warmup_for`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ita_desktop.domain.resample import bucket_starts, resample_with_starts
from ita_desktop.detectors.dispatcher import DetectionResult, detect
from ita_desktop.detectors.objects import LevelKind
from ita_desktop.detectors.shared_detection import DetectionGroups
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.rules.engine.bias import BiasTracker
from ita_desktop.rules.engine.compiler import CompiledRule, compile_rule
from ita_desktop.rules.engine.matcher import match, one_per_end, run_kernel
from ita_desktop.rules.engine.occurrences import Occurrence, OrderPlan, StepHit
from ita_desktop.rules.engine.orders_from_rule import (
    SignalContext, check_filters, plan_order, to_order_rows, trade_direction,
)
from ita_desktop.rules.engine.streams import BarView, LiveStreams, Stream, build_streams
from ita_desktop.rules.schema import Rule


@dataclass
class SetupRun:
    """A full pass: the occurrences (signal order) and the ORDER rows of those not skipped.

    ``bars`` are the run's range on the setup timeframe; occurrences and orders index them. The
    detectors also read the ``warmup_bars`` setup bars before it (so ``detection``'s bar indexes
    are ``warmup_bars`` ahead of these)."""

    compiled: CompiledRule
    bars: Bars
    detection: DetectionResult
    occurrences: list[Occurrence]
    orders: np.ndarray
    rule_version_id: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    warmup_bars: int = 0
    #: the timeframe the session and day levels were computed from, and the levels the rule reads that
    #: it cannot know exactly (level name -> the HH:MM inside a bar; empty when computed from fine bars)
    levels_from: str = ""
    inexact_levels: dict[str, tuple[str, ...]] = field(default_factory=dict)


def setup_bars(bars: Bars, compiled: CompiledRule) -> Bars:
    """``bars`` on the rule's timeframe (resampled on the rule's clock when finer)."""
    return setup_bars_with_starts(bars, compiled)[0]


def setup_bars_with_starts(bars: Bars, compiled: CompiledRule) -> tuple[Bars, np.ndarray]:
    """:func:`setup_bars` and the setup bar each of ``bars`` went into (its start time)."""
    if bars.timeframe == compiled.timeframe:
        return bars, bars.time
    return resample_with_starts(bars, compiled.timeframe, clock=compiled.clock)


#: Where H4 and D1 buckets start on the session clock (domain.resample's default day start, which the
#: engine's setup bars and the live TimeframeBuilder use).
BUCKET_DAY_START_MIN = 18 * 60


def levels_exact_on(compiled: CompiledRule) -> bool:
    """Does every time the rule's session and day levels depend on (session windows, initial balance,
    opens, the trading day) fall on a start of the rule's bars? Then levels from finer bars equal those
    from its own bars in everything a rule reads (tested on the seed rules), and computing them on M1
    would only cost time. M1..H1 start on the hour's multiples of their length on any whole-hour
    session clock; H4 and D1 on the day start's; W1 and MN1 hold nothing but the week's open."""
    from ita_desktop.detectors.fine_levels import level_boundaries

    p = compiled.params
    minutes = compiled.timeframe.minutes
    if minutes > 1440:
        return False
    anchor = BUCKET_DAY_START_MIN if minutes > 60 else 0
    return all((b - anchor) % minutes == 0
               for bounds in level_boundaries(p.session_levels, p.day_start).values() for b in bounds)


def level_bars(bars: Bars, compiled: CompiledRule, fine_bars: Bars | None = None, *,
               use: bool | None = None) -> Bars | None:
    """The bars the rule's session and day levels are computed from when not its own: ``fine_bars`` if
    given and finer, else ``bars`` when finer (what the setup bars are built from); None: its own bars.

    ``use``: None = only when its own bars cannot know every level exactly (:func:`levels_exact_on`);
    True = whenever finer bars are there; False = never."""
    if use is False or (use is None and levels_exact_on(compiled)):
        return None
    for candidate in (fine_bars, bars):
        if candidate is not None and len(candidate) and candidate.timeframe.minutes < compiled.timeframe.minutes:
            return candidate
    return None


def fine_buckets(fine: Bars | None, bars: Bars, starts: np.ndarray) -> np.ndarray | None:
    """Each fine bar's setup bar (``starts``, from setup_bars_with_starts) when the setup bars were
    resampled from them; else None (fine_levels computes them)."""
    return starts if fine is not None and fine is bars else None


def level_source(compiled: CompiledRule, sbars: Bars, fine: Bars | None) -> tuple[str, dict[str, tuple[str, ...]]]:
    """Where the levels come from (a timeframe) and, from the setup bars alone, which of the levels the
    rule reads (its sweeps' and targets' levels) those bars cannot know exactly (fine_levels.inexact_levels)."""
    if fine is not None:
        return fine.timeframe.value, {}
    from ita_desktop.detectors.fine_levels import inexact_levels
    from ita_desktop.rules.vocabulary import resolve_level

    p = compiled.params
    if not len(sbars):
        return compiled.timeframe.value, {}
    inexact = inexact_levels(sbars.time, compiled.timeframe.minutes, p.session_levels, tz_name=p.session_tz,
                             day_start=p.day_start)
    windows = compiled.rule.market.windows()
    refs = [ref for plan in compiled.steps for ref in plan.levels]
    refs += [resolve_level(t.level, windows) for target in compiled.rule.targets
             for t in (target.first_of or [target]) if t.level]
    read = {k.name for ref in refs for k in ref.kinds}
    if {"IB_HIGH", "IB_LOW"} & read:
        read |= {"IB_MID", "IB_EXT"}
    return compiled.timeframe.value, {name: hhmm for name, hhmm in inexact.items() if name in read}


# -- warm-up: the history before a range's start that its detectors need -------------------------

#: Calendar time the session-clock levels look back from a bar: the previous week's high/low live
#: at it come from the trading week before its own, which began less than 14 days earlier, and
#: exist only if the data saw that week begin; one more day reaches a bar before it (the Friday
#: before a Sunday open). Counted from the earliest first step an occurrence in the range can have.
LEVELS_WARMUP_SECONDS = 15 * 86_400
#: Setup bars per ATR length. Wilder's ATR carries the difference between two starting points
#: forward, shrinking by (length - 1) / length a bar: below float64's last bit after ~37 x length
#: bars (on the real EURUSD, two starts agreed to the bit after at most 41 x length).
ATR_SETTLE_PER_LENGTH = 50
#: Bars per swing length for a structure trend (setup or bias timeframe) to forget its start: it
#: needs a swing high, a swing low and a break seen from the same start (the real EURUSD H1 and H4
#: needed at most 16 x length).
STRUCTURE_SETTLE_PER_SWING = 40
#: Calendar time per bar when a bar count becomes a first guess of what to load: a 24-hour market
#: trades 5 days of 7 (1.4), plus holidays. Only a guess: the loader reaches further if it is short.
CALENDAR_PER_BAR = 1.5
#: Added to the guess for an occurrence's span: a span of a few bars may cross a weekend.
WEEKEND_SECONDS = 3 * 86_400


@dataclass(frozen=True)
class Warmup:
    """What a run from T must read before T for its detectors to stand at T where a full pass has
    them: ``bars`` setup bars (ATR, swings, structure, order blocks, plus an occurrence's ``span``,
    since an occurrence signalled at T may have begun ``span`` bars earlier), ``bias_bars`` bars of
    the bias timeframe, and :data:`LEVELS_WARMUP_SECONDS` before the earliest such first step."""

    bars: int
    span: int
    timeframe: Timeframe
    clock: str
    bias_bars: int = 0
    bias_timeframe: Timeframe | None = None

    def guess_seconds(self) -> int:
        """Calendar time before T that likely holds it all (the loader checks with :meth:`met_by`)."""
        span = math.ceil(CALENDAR_PER_BAR * self.span * self.timeframe.seconds) + (WEEKEND_SECONDS if self.span else 0)
        bars = CALENDAR_PER_BAR * self.bars * self.timeframe.seconds
        bias = CALENDAR_PER_BAR * self.bias_bars * self.bias_timeframe.seconds if self.bias_timeframe else 0.0
        return max(LEVELS_WARMUP_SECONDS + span, math.ceil(max(bars, bias)))

    def met_by(self, before: Bars, loaded_from: int, start_utc: int) -> bool:
        """Do ``before`` (the bars loaded from ``loaded_from`` up to T = ``start_utc``; the setup
        timeframe or one it is built from) hold the setup and bias bars and reach back far enough
        for the levels?"""
        setup = _bucket_starts(before.time, self.timeframe, self.clock)
        if len(setup) < self.bars:
            return False
        earliest_step = int(setup[-self.span]) if self.span else start_utc
        if loaded_from > earliest_step - LEVELS_WARMUP_SECONDS:
            return False
        return self.bias_timeframe is None or \
            len(_bucket_starts(before.time, self.bias_timeframe, self.clock)) > self.bias_bars


def _bucket_starts(time: np.ndarray, timeframe: Timeframe, clock: str) -> np.ndarray:
    """The distinct bars of ``timeframe`` that bars at ``time`` make (as setup_bars/resample builds them)."""
    starts = bucket_starts(time, timeframe, clock=clock)
    return starts[np.r_[True, starts[1:] != starts[:-1]]] if len(starts) else starts


def warmup_for(compiled: CompiledRule) -> Warmup | None:
    """The history a run of ``compiled`` from T needs before T; None: nothing short of all stored history.

    None when the rule reads something that can be any age: a sweep of swing or equal highs/lows
    (a level stays raidable until it is raided), an equal highs/lows target (clusters chain on),
    or steps that put no bound on an occurrence's span (:func:`occurrence_span`)."""
    p = compiled.params
    span = occurrence_span(compiled)
    unbounded = {LevelKind.SWING_HIGH, LevelKind.SWING_LOW, LevelKind.EQUAL_HIGHS, LevelKind.EQUAL_LOWS}
    if span is None or "equal" in compiled.kinds or \
            any(ref.kinds[0] in unbounded for plan in compiled.steps for ref in plan.levels):
        return None
    settle = max(ATR_SETTLE_PER_LENGTH * p.atr_length, STRUCTURE_SETTLE_PER_SWING * p.swings.length,
                 p.order_blocks.lookback)
    bias = STRUCTURE_SETTLE_PER_SWING * p.swings.length if compiled.bias_timeframe is not None else 0
    return Warmup(settle + span, span, compiled.timeframe, compiled.clock, bias, compiled.bias_timeframe)


def occurrence_span(compiled: CompiledRule) -> int | None:
    """The most setup bars from an occurrence's first step to its signal; None when the rule sets no bound.

    ``within`` bounds a step by the step it counts from; ``formed_between: [A, B]`` by B plus the
    bars a zone is known after its candle (an FVG 1, an order block at most its ``lookback``; an
    ``extreme`` candle can be any age); a time step by one day of bars. A retest or any other step
    without ``within`` can come any time later."""
    p = compiled.params
    span = [0] * len(compiled.steps)
    for plan in compiled.steps[1:]:
        i = plan.index
        if plan.within_bars >= 0:
            span[i] = span[plan.within_ref] + plan.within_bars
        elif plan.formed_b >= 0 and plan.event == "fvg":
            span[i] = max(span[i - 1], span[plan.formed_b] + 1)
        elif plan.formed_b >= 0 and plan.event == "order_block" and p.order_blocks.candle == "last_opposite":
            span[i] = max(span[i - 1], span[plan.formed_b] + p.order_blocks.lookback)
        elif plan.event == "time":
            span[i] = span[i - 1] + math.ceil(86_400 / compiled.timeframe.seconds)
        else:
            return None
    return max(span)


def run_setup(rule: Rule | CompiledRule, bars: Bars, symbol: str | None = None, *,
              rule_version_id: int = 0, detection: DetectionResult | None = None,
              start_utc: int | None = None, fine_bars: Bars | None = None,
              fine_levels: bool | None = None) -> SetupRun:
    """Every occurrence of ``rule`` in ``bars`` (any timeframe at or below the rule's) and its orders.

    ``detection``: a full-pass DetectionResult of the same setup bars, kinds and params, reused
    instead of detecting again (a parameter sweep varies order fields far more often than
    detector params; see workflows.rule_backtest's detection cache).

    ``start_utc``: the range starts at the first setup bar opening at or after it; the bars before
    are warm-up (give at least :func:`warmup_for`'s worth): detectors and matcher run over them,
    but only occurrences signalled in the range count, ids start at 0, and every bar index
    (occurrences, orders, ``SetupRun.bars``) counts from the range's first bar (a step before the
    range has a negative bar).

    ``fine_bars``: bars finer than the rule's timeframe over the same time (warm-up included) to
    compute the session and day levels from, when ``bars`` are the rule's own timeframe; when
    ``bars`` are finer, they are used; ``fine_levels`` as :func:`level_bars`'s ``use`` (None: only
    when the rule's own bars cannot know every level exactly)."""
    compiled = rule if isinstance(rule, CompiledRule) else compile_rule(rule, symbol or bars.symbol or None)
    sbars, starts = setup_bars_with_starts(bars, compiled)
    fine = level_bars(bars, compiled, fine_bars, use=fine_levels)
    det = detection if detection is not None else \
        detect(sbars, kinds=compiled.kinds, params=compiled.params, fine_bars=fine,
               fine_buckets=fine_buckets(fine, bars, starts))
    if det.n_bars != len(sbars):
        raise ValueError(f"the detection given covers {det.n_bars} bars, the setup bars are {len(sbars)}")
    first = 0 if start_utc is None else int(np.searchsorted(sbars.time, start_utc, side="left"))
    bias = _bias_full(compiled, sbars)
    engine = _Engine(compiled, det, _columns(sbars), bias)
    bv, ctx = engine.view()
    streams = build_streams(compiled, det.tables, bv)
    off, ev, times = match(streams, compiled.steps)
    occs = engine.occurrences(streams, off, ev, times, ctx, only_signal_from=first, id_start=0)
    if first:
        occs = [_shifted(o, first) for o in occs]
        sbars = sbars.slice(first, len(sbars))
    orders = to_order_rows([(o.id, o.direction, o.signal_bar, o.order) for o in occs if o.order is not None],
                           rule_version_id)
    counts = {"occurrences": len(occs), "orders": len(orders), "skipped": sum(o.skipped is not None for o in occs)}
    if det.fine_levels is not None:
        levels_from, inexact = getattr(det.fine_levels.fine_timeframe, "value", "finer bars"), {}
    elif detection is None:
        levels_from, inexact = level_source(compiled, sbars, None)
    else:  # a sweep's variant reusing a detection: the sweep says where its levels came from, once
        levels_from, inexact = compiled.timeframe.value, {}
    return SetupRun(compiled, sbars, det, occs, orders, rule_version_id, counts, first, levels_from, inexact)


def _shifted(o: Occurrence, k: int) -> Occurrence:
    """``o`` with its bar indexes counted from bar ``k`` (-1 "none" stays -1)."""
    steps = tuple(replace(s, bar=s.bar - k, obj_bar=s.obj_bar - k, row=s.row - k if s.event == "time" else s.row)
                  for s in o.steps)
    plan: OrderPlan | None = o.order
    if plan is not None:
        plan = replace(plan, expiry_bar=plan.expiry_bar - k if plan.expiry_bar >= 0 else -1,
                       time_exit_bar=plan.time_exit_bar - k if plan.time_exit_bar >= 0 else -1)
    return replace(o, signal_bar=o.signal_bar - k, steps=steps, order=plan)


def _bias_full(compiled: CompiledRule, sbars: Bars) -> BiasTracker | None:
    if compiled.bias_timeframe is None:
        return None
    tracker = BiasTracker(compiled.bias_timeframe, compiled.timeframe, compiled.params, compiled.clock)
    tracker.full(sbars.time, sbars.open, sbars.high, sbars.low, sbars.close)
    return tracker


class _Engine:
    """Matcher output -> occurrences and orders, over a DetectionResult as it stands (full or live)."""

    def __init__(self, compiled: CompiledRule, det: DetectionResult, cols: dict[str, np.ndarray],
                 bias: BiasTracker | None) -> None:
        self.compiled = compiled
        self.det = det
        self.cols = cols  # time, open, high, low, close, spread (at least det.n_bars long)
        self.bias = bias

    def view(self) -> tuple[BarView, SignalContext]:
        bv = self.bar_view()
        return bv, self.context(bv)

    def bar_view(self) -> BarView:
        """What the matcher reads (every bar); :meth:`context` only when something signals (the order's inputs)."""
        det = self.det
        n = det.n_bars
        cols = self.cols
        series = det.series
        atr = series["atr"] if "atr" in series else np.full(n, np.nan)
        return BarView(cols["open"][:n], cols["high"][:n], cols["low"][:n], cols["close"][:n],
                       det.detectors["session_levels"].clock.minute[:n], atr)

    def context(self, bv: BarView) -> SignalContext:
        det = self.det
        n = len(bv.close)
        cols = self.cols
        clock = det.detectors["session_levels"].clock
        return SignalContext(cols["time"][:n], bv.close, cols["spread"][:n], bv.atr, bv.minute, clock.day[:n],
                             det.tables, self.compiled.timeframe.seconds)

    def occurrences(self, streams: list[Stream], off: np.ndarray, ev: np.ndarray, times: np.ndarray,
                    ctx: SignalContext, only_signal_from: int, id_start: int) -> list[Occurrence]:
        """The matches (``ev[i, s] - off[s]`` is a position in ``streams[s]``) signalled at or after
        ``only_signal_from``, in signal order (step-1 order within a bar), ids from ``id_start``."""
        compiled = self.compiled
        order = np.lexsort((np.arange(len(times)), times[:, -1])) if len(times) else np.zeros(0, int)
        out: list[Occurrence] = []
        rule = compiled.rule
        for i in order:
            if times[i, -1] < only_signal_from:
                continue
            hits = []
            for s, plan in enumerate(compiled.steps):
                k = int(ev[i, s] - off[s])  # column s holds step s's events: its stream, offset off[s]
                stream = streams[s]
                bar = int(times[i, s])
                hits.append(StepHit(plan.name, plan.event, int(stream.row[k]), bar, int(stream.obj_bar[k]),
                                    int(ctx.time[bar]), float(stream.price[k]), int(stream.direction[k]),
                                    float(stream.low[k]), float(stream.high[k]), float(stream.top[k]),
                                    float(stream.bottom[k])))
            steps = tuple(hits)
            direction = trade_direction(compiled, steps)
            s_bar = steps[-1].bar
            skipped = check_filters(compiled, ctx, s_bar)
            if skipped is None and self.bias is not None:
                trend = int(self.bias.trend[s_bar])
                if trend * compiled.bias_sign != direction:
                    skipped = f"bias: {compiled.bias_timeframe.value} trend {trend:+d} is not {rule.market.bias.trade} " \
                              f"the {'long' if direction > 0 else 'short'}"  # type: ignore[union-attr]
            plan = None
            if skipped is None:
                plan, skipped = plan_order(compiled, steps, direction, ctx)
            out.append(Occurrence(id_start + len(out), rule.rule_id, rule.version, compiled.symbol,
                                  compiled.timeframe.value, direction, s_bar, int(ctx.time[s_bar]), steps, plan,
                                  skipped, compiled.clock))
        return out


def _columns(bars: Bars, capacity: int = 0) -> dict[str, np.ndarray]:
    """The bar columns the engine reads, with room for ``capacity`` bars (live appends)."""
    n = len(bars)
    out = {}
    for name in ("time", "open", "high", "low", "close", "spread"):
        src = getattr(bars, name)
        dtype = np.int64 if name == "time" else np.float64
        if capacity <= n:  # a full pass never writes to them: no copy (1M bars: ~50 ms saved)
            out[name] = np.ascontiguousarray(src, dtype)
            continue
        arr = np.zeros(max(n, capacity), dtype)
        arr[:n] = src
        out[name] = arr
    return out


class LiveMatcher:
    """Matching in live mode: the step streams kept current (streams.LiveStreams) and the step-1
    searches still open (matcher), so a bar costs what its new events and the pending setups cost."""

    def __init__(self, compiled: CompiledRule, tables: dict[str, np.ndarray], bars: BarView) -> None:
        self.streams = LiveStreams(compiled, tables, bars)
        #: positions in step 1's stream of the events whose search is still open
        self.open = np.zeros(0, np.int64)

    def all(self) -> tuple[np.ndarray, np.ndarray]:
        """Every occurrence in the bars so far, as :func:`matcher.match` finds them (events, times)."""
        return self._search(np.arange(self.streams.n[0], dtype=np.int64), self.streams.bars_read)

    def bar(self, tables: dict[str, np.ndarray], bars: BarView, changed: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Take in the bar just detected (LiveStreams.advance); the occurrences signalled on it."""
        st = self.streams
        first_before = int(st.n[0])
        new_event, lag_grew = st.advance(tables, bars, changed)
        if not new_event:  # an occurrence signalled on this bar has an event on it
            return np.zeros((0, len(st.n)), np.int64), np.zeros((0, len(st.n)), np.int64)
        if lag_grew:  # searches closed by the old lag may find more now (matcher)
            starts = np.arange(st.n[0], dtype=np.int64)
        else:
            starts = np.r_[self.open, np.arange(first_before, st.n[0], dtype=np.int64)]
        ev, times = self._search(starts, bars.n)
        keep = times[:, -1] == bars.n - 1
        return ev[keep], times[keep]

    def stream_views(self) -> list[Stream]:
        return [self.streams.stream(s) for s in range(len(self.streams.n))]

    def _search(self, starts: np.ndarray, now: int) -> tuple[np.ndarray, np.ndarray]:
        """Search from step-1 positions ``starts`` (ascending) with bars before ``now`` known; keep the open ones."""
        st = self.streams
        ev, times, is_open = run_kernel(st.plan, st.lo, st.hi, st.buf["time"], st.buf["direction"], st.buf["obj_bar"],
                                        st.buf["ok"], st.fb_lag, st.lo[0] + starts, now)
        self.open = starts[is_open]
        return one_per_end(ev, times, st.buf["row"])


class LiveSetup:
    """The engine in live mode: a full pass over the history, then ``update`` one bar at a time.

    ``update`` returns the occurrences signalled on the new bar (their orders exist from the
    next bar). ``occurrences`` accumulates everything since the start, ids as in a full pass.

    A ``history`` finer than the rule's timeframe (the streamed M1) is where the session and day
    levels come from when the rule's own bars cannot know them exactly (as :func:`run_setup` does): feed every streamed bar after it to
    :meth:`add_fine` before :meth:`update` appends the setup bar holding it.

    ``shared``: the session's detection groups (detectors.shared_detection): rules on the same bars
    share every detector whose key is equal, each advanced once per bar; their updates must then be
    called bar by bar in turn (every rule of a group takes bar n before any takes n + 1).
    """

    def __init__(self, rule: Rule | CompiledRule, history: Bars, symbol: str | None = None, *,
                 shared: DetectionGroups | None = None) -> None:
        self.compiled = rule if isinstance(rule, CompiledRule) else compile_rule(rule, symbol or history.symbol or None)
        sbars, starts = setup_bars_with_starts(history, self.compiled)
        fine = level_bars(history, self.compiled) if len(history) else \
            (None if levels_exact_on(self.compiled) or history.timeframe.minutes >= self.compiled.timeframe.minutes
             else history)  # no history yet: the streamed bars still give the levels
        if shared is not None and fine is None:  # one detection per detector key for the session's rules
            self.det = shared.detect((self.compiled.symbol, self.compiled.timeframe, self.compiled.clock), sbars,
                                     self.compiled.kinds, self.compiled.params)
        else:
            self.det = detect(sbars, kinds=self.compiled.kinds, params=self.compiled.params, parallel=False,
                              fine_bars=fine, fine_buckets=fine_buckets(fine, history, starts))
        self.levels_from, self.inexact_levels = level_source(self.compiled, sbars, fine)
        self.cols = _columns(sbars, max(1024, 2 * len(sbars)))
        self.bias = _bias_full(self.compiled, sbars)
        if self.bias is not None:
            buf = np.zeros(len(self.cols["time"]), np.int8)
            buf[: len(sbars)] = self.bias.trend
            self.bias.trend = buf
        self.engine = _Engine(self.compiled, self.det, self.cols, self.bias)
        bv, ctx = self.engine.view()
        self.matcher = LiveMatcher(self.compiled, self.det.tables, bv)
        ev, times = self.matcher.all()
        self.occurrences: list[Occurrence] = self._occurrences(ev, times, ctx, 0)

    def add_fine(self, bars: Any) -> None:
        """Streamed bars finer than the rule's (a ClosedBar, a mapping, or Bars), oldest first, after the
        history: the levels read them when the setup bar holding them is appended. No-op when the levels
        come from the setup bars."""
        self.det.add_fine_bars(bars)

    def update(self, bar: Any) -> list[Occurrence]:
        """Append one setup-timeframe bar: a mapping with time, open, high, low, close (spread optional)."""
        n0 = self.det.n_bars
        fine = self.det.fine_levels
        if fine is not None and (fine.fine_bucket_last() or -1) < int(bar["time"]):
            raise RuntimeError(f"the {self.compiled.timeframe.value} bar at {int(bar['time'])} came before its "
                               f"streamed bars: the levels read them (add_fine) before the bar is appended")
        changed = self.det.advance({k: bar[k] for k in ("time", "open", "high", "low", "close")})
        if n0 >= len(self.cols["time"]):
            self._grow()
        for k in ("time", "open", "high", "low", "close"):
            self.cols[k][n0] = bar[k]
        self.cols["spread"][n0] = float(bar.get("spread", 0) if hasattr(bar, "get") else 0)
        if self.bias is not None:
            self.bias.trend[n0] = self.bias.update(int(bar["time"]), float(bar["open"]), float(bar["high"]),
                                                   float(bar["low"]), float(bar["close"]))
        bv = self.engine.bar_view()
        ev, times = self.matcher.bar(self.det.tables, bv, changed)
        if not len(ev):
            return []
        new = self._occurrences(ev, times, self.engine.context(bv), len(self.occurrences))
        self.occurrences += new
        return new

    def _occurrences(self, ev: np.ndarray, times: np.ndarray, ctx: SignalContext, id_start: int) -> list[Occurrence]:
        return self.engine.occurrences(self.matcher.stream_views(), self.matcher.streams.lo, ev, times, ctx, 0, id_start)

    def _grow(self) -> None:
        for k, arr in self.cols.items():
            self.cols[k] = np.concatenate([arr, np.zeros(len(arr), arr.dtype)])
        if self.bias is not None:
            self.bias.trend = np.concatenate([self.bias.trend, np.zeros(len(self.bias.trend), np.int8)])
