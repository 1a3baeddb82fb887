"""Run a compiled rule over bars: a full pass (backtests, scans) or live, one bar at a time.

Both paths are the same code: the detectors (one ``detect`` request; live: its ``update``),
the step streams built from the tables, the numba matcher, the order builder. Live mode
re-matches only the first-step events that could still end on the new bar (the rule's
occurrence horizon) and reports the occurrences signalled on it; because every stream and
every match uses only what was known at its bars, this equals the full pass (tested on the
real data for every seed rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ita_desktop.data.resample import resample
from ita_desktop.detectors.dispatcher import DetectionResult, detect
from ita_desktop.domain.bars import Bars
from ita_desktop.rules.engine.bias import BiasTracker
from ita_desktop.rules.engine.compiler import CompiledRule, compile_rule, occurrence_horizon
from ita_desktop.rules.engine.matcher import match
from ita_desktop.rules.engine.occurrences import Occurrence, StepHit
from ita_desktop.rules.engine.orders_from_rule import (
    SignalContext, check_filters, plan_order, to_order_rows, trade_direction,
)
from ita_desktop.rules.engine.streams import BarView, build_streams
from ita_desktop.rules.schema import Rule


@dataclass
class SetupRun:
    """A full pass: the occurrences (signal order) and the ORDER rows of those not skipped."""

    compiled: CompiledRule
    bars: Bars
    detection: DetectionResult
    occurrences: list[Occurrence]
    orders: np.ndarray
    rule_version_id: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def setup_bars(bars: Bars, compiled: CompiledRule) -> Bars:
    """``bars`` on the rule's timeframe (resampled on the rule's clock when finer)."""
    if bars.timeframe == compiled.timeframe:
        return bars
    return resample(bars, compiled.timeframe, clock=compiled.clock)


def run_setup(rule: Rule | CompiledRule, bars: Bars, symbol: str | None = None, *,
              rule_version_id: int = 0, detection: DetectionResult | None = None) -> SetupRun:
    """Every occurrence of ``rule`` in ``bars`` (any timeframe at or below the rule's) and its orders.

    ``detection``: a full-pass DetectionResult of the same setup bars, kinds and params, reused
    instead of detecting again (a parameter sweep varies order fields far more often than
    detector params; see engine.backtest's detection cache)."""
    compiled = rule if isinstance(rule, CompiledRule) else compile_rule(rule, symbol or bars.symbol or None)
    sbars = setup_bars(bars, compiled)
    det = detection if detection is not None else detect(sbars, kinds=compiled.kinds, params=compiled.params)
    if det.n_bars != len(sbars):
        raise ValueError(f"the detection given covers {det.n_bars} bars, the setup bars are {len(sbars)}")
    bias = _bias_full(compiled, sbars)
    engine = _Engine(compiled, det, _columns(sbars), bias)
    occs = engine.occurrences(first_from=0, only_signal_from=0, id_start=0)
    orders = to_order_rows([(o.id, o.direction, o.signal_bar, o.order) for o in occs if o.order is not None],
                           rule_version_id)
    counts = {"occurrences": len(occs), "orders": len(orders), "skipped": sum(o.skipped is not None for o in occs)}
    return SetupRun(compiled, sbars, det, occs, orders, rule_version_id, counts)


def _bias_full(compiled: CompiledRule, sbars: Bars) -> BiasTracker | None:
    if compiled.bias_timeframe is None:
        return None
    tracker = BiasTracker(compiled.bias_timeframe, compiled.timeframe, compiled.params, compiled.clock)
    tracker.full(sbars.time, sbars.open, sbars.high, sbars.low, sbars.close)
    return tracker


class _Engine:
    """Streams + matcher + orders over a DetectionResult as it stands (full or live)."""

    def __init__(self, compiled: CompiledRule, det: DetectionResult, cols: dict[str, np.ndarray],
                 bias: BiasTracker | None) -> None:
        self.compiled = compiled
        self.det = det
        self.cols = cols  # time, open, high, low, close, spread (at least det.n_bars long)
        self.bias = bias

    def view(self) -> tuple[BarView, SignalContext]:
        det = self.det
        n = det.n_bars
        cols = self.cols
        clock = det.detectors["session_levels"].clock
        atr = det.series.get("atr", np.full(n, np.nan))
        bv = BarView(cols["open"][:n], cols["high"][:n], cols["low"][:n], cols["close"][:n], clock.minute[:n], atr)
        ctx = SignalContext(cols["time"][:n], cols["close"][:n], cols["spread"][:n], atr, clock.minute[:n],
                            clock.day[:n], det.tables, self.compiled.timeframe.seconds)
        return bv, ctx

    def occurrences(self, first_from: int, only_signal_from: int, id_start: int) -> list[Occurrence]:
        compiled = self.compiled
        bv, ctx = self.view()
        streams = build_streams(compiled, self.det.tables, bv)
        off, ev, times = match(streams, compiled.steps, first_from)
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


class LiveSetup:
    """The engine in live mode: a full pass over the history, then ``update`` one bar at a time.

    ``update`` returns the occurrences signalled on the new bar (their orders exist from the
    next bar). ``occurrences`` accumulates everything since the start, ids as in a full pass.
    """

    def __init__(self, rule: Rule | CompiledRule, history: Bars, symbol: str | None = None) -> None:
        self.compiled = rule if isinstance(rule, CompiledRule) else compile_rule(rule, symbol or history.symbol or None)
        sbars = setup_bars(history, self.compiled)
        self.det = detect(sbars, kinds=self.compiled.kinds, params=self.compiled.params, parallel=False)
        self.cols = _columns(sbars, max(1024, 2 * len(sbars)))
        self.bias = _bias_full(self.compiled, sbars)
        if self.bias is not None:
            buf = np.zeros(len(self.cols["time"]), np.int8)
            buf[: len(sbars)] = self.bias.trend
            self.bias.trend = buf
        self.horizon = occurrence_horizon(self.compiled)
        self.engine = _Engine(self.compiled, self.det, self.cols, self.bias)
        self.occurrences = self.engine.occurrences(0, 0, 0)

    def update(self, bar: Any) -> list[Occurrence]:
        """Append one setup-timeframe bar: a mapping with time, open, high, low, close (spread optional)."""
        n0 = self.det.n_bars
        self.det.update({k: bar[k] for k in ("time", "open", "high", "low", "close")})
        if n0 >= len(self.cols["time"]):
            self._grow()
        for k in ("time", "open", "high", "low", "close"):
            self.cols[k][n0] = bar[k]
        self.cols["spread"][n0] = float(bar.get("spread", 0) if hasattr(bar, "get") else 0)
        if self.bias is not None:
            self.bias.trend[n0] = self.bias.update(int(bar["time"]), float(bar["open"]), float(bar["high"]),
                                                   float(bar["low"]), float(bar["close"]))
        first_from = 0 if self.horizon is None else max(0, n0 - self.horizon)
        new = self.engine.occurrences(first_from, n0, len(self.occurrences))
        self.occurrences += new
        return new

    def _grow(self) -> None:
        for k, arr in self.cols.items():
            self.cols[k] = np.concatenate([arr, np.zeros(len(arr), arr.dtype)])
        if self.bias is not None:
            self.bias.trend = np.concatenate([self.bias.trend, np.zeros(len(self.bias.trend), np.int8)])
