"""A run's trades and setup steps as chart layers, placed on whatever series the chart shows (no Qt).

The trades' bar indexes belong to the bars the run simulated (the rule's timeframe, cut to the
run's range). The chart may show another timeframe of the symbol (M1 while the rule ran on M5,
when M5 is not stored) or the whole history, so everything is placed by TIME: a setup bar
[t, t + tf) covers the chart bars whose open time falls inside it. Drawing then works on any
stored timeframe without re-running anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.rules.vocabulary import ZONE_EVENTS
from ita_desktop.ui.chart.overlays import LayerShapes, setup_layer, trade_layer
from ita_desktop.core.backtest_service import BacktestOutcome


@dataclass(frozen=True)
class TradeSpan:
    """Where one trade sits on the chart: first and last chart bar it covers."""

    first_bar: int
    last_bar: int


def _first_bar(chart_time: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Index of the first chart bar opening at or after ``t`` (the bar containing t, if t is mid-bar)."""
    i = np.searchsorted(chart_time, t, side="right") - 1
    return np.clip(i, 0, max(len(chart_time) - 1, 0))


def _last_bar(chart_time: np.ndarray, t: np.ndarray, seconds: int) -> np.ndarray:
    """Index of the last chart bar that opens before ``t + seconds`` (the end of a setup bar)."""
    i = np.searchsorted(chart_time, t + seconds, side="left") - 1
    return np.clip(i, 0, max(len(chart_time) - 1, 0))


def trade_spans(outcome: BacktestOutcome, chart_time: np.ndarray) -> list[TradeSpan]:
    rows = outcome.result.trades.rows
    seconds = Timeframe(outcome.timeframe).seconds
    first = _first_bar(chart_time, rows["entry_time"])
    last = _last_bar(chart_time, rows["exit_time"], seconds)
    return [TradeSpan(int(a), int(max(a, b))) for a, b in zip(first, last)]


def trade_shapes(outcome: BacktestOutcome, chart_time: np.ndarray) -> LayerShapes:
    """The run's trades on the chart: stop and target boxes from entry to exit, entry line and markers."""
    rows = outcome.result.trades.rows
    spans = trade_spans(outcome, chart_time)
    entry_bar = np.array([s.first_bar for s in spans], np.int64)
    exit_bar = np.array([s.last_bar for s in spans], np.int64)
    target = np.where(np.isnan(rows["target1"]), rows["entry_price"], rows["target1"])
    labels = [f"{r:+.2f}R" for r in rows["r_multiple"]]
    return trade_layer(entry_bar, exit_bar, rows["entry_price"], rows["stop_price"], target,
                       rows["direction"].astype(np.int64), rows["exit_price"], labels)


def setup_shapes(outcome: BacktestOutcome, chart_time: np.ndarray, traded_only: bool = True) -> LayerShapes:
    """The steps of the run's setup occurrences (those that became trades, by default) as dots and lines."""
    traded = set(outcome.result.trades.rows["occurrence"].tolist())
    seconds = Timeframe(outcome.timeframe).seconds
    occ, bar_t, price, names = [], [], [], []
    zone_t0, zone_t1, bottom, top = [], [], [], []
    for o in outcome.occurrences:
        if traded_only and o.id not in traded:
            continue
        for step in o.steps:
            occ.append(o.id)
            bar_t.append(step.time)
            price.append(step.price)
            names.append(step.name)
            if step.event in ZONE_EVENTS and np.isfinite(step.top) and np.isfinite(step.bottom) \
                    and step.top > step.bottom:
                # the zone from its own bar (obj_bar, counted back in setup bars) to the step
                zone_t0.append(step.time - max(step.bar - step.obj_bar, 0) * seconds)
                zone_t1.append(step.time)
                bottom.append(step.bottom)
                top.append(step.top)
    bars = _first_bar(chart_time, np.asarray(bar_t, np.int64)) if bar_t else np.zeros(0, np.int64)
    zones = None
    if zone_t0:
        zones = (_first_bar(chart_time, np.asarray(zone_t0, np.int64)),
                 _last_bar(chart_time, np.asarray(zone_t1, np.int64), seconds),
                 np.asarray(bottom, np.float64), np.asarray(top, np.float64))
    return setup_layer(np.asarray(occ, np.int64), bars, np.asarray(price, np.float64), names, zones)
