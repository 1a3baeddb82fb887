"""Running backtests: one rule on one symbol and range, many of them, each stored as a run.

The rule side supplies ``orders_for(bars) -> ORDER_DTYPE``; orders are built on exactly the
bars simulated (a date range is cut from the bars first), so bar indexes always agree. A rule
run from a start T (workflows.rule_backtest) builds its orders on bars that begin before T, so its
detectors are warm, and hands over only the range from T: ``warmup`` says what came before.

Determinism: a run's ``inputs_hash`` digests the bars (every column the simulation reads),
the orders and the settings. The simulation has no randomness and no clock, so equal
hashes mean equal trades; ``run_backtest`` can check that against an earlier stored run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ita_desktop.backtest.costs import SimSettings
from ita_desktop.backtest.simulator import Trades, simulate
from ita_desktop.backtest.funnel import funnel_of
from ita_desktop.backtest.stats import Stats, compute_stats
from ita_desktop.backtest.validator import Finding, validate
from ita_desktop.domain.bars import Bars

Progress = Callable[[float, str], None]
OrdersFor = Callable[[Bars], np.ndarray]


class BacktestCancelled(Exception):
    """Raised between runs (or sweep chunks) once ``cancel()`` says so; nothing half-done is stored."""


@dataclass
class RunResult:
    """One simulated run: its trades, statistics, validator findings and, if stored, its run_id."""

    rule_id: str
    rule_version: str
    symbol: str
    bars_range: tuple[int | None, int | None]
    trades: Trades
    stats: Stats
    findings: list[Finding]
    inputs_hash: str
    ingest_ids: list[int] = field(default_factory=list)
    run_id: int | None = None
    label: str = ""
    #: Row id of the rule's stored text (storage.rule_versions); None for ad-hoc orders.
    rule_version_id: int | None = None
    #: Setup bars before ``bars_range`` the detectors ran over (not simulated), and the first time loaded for them.
    warmup_bars: int = 0
    warmup_from_utc: int | None = None
    #: The setup occurrences the orders came from (a rule's run; empty for ad-hoc orders), so whoever
    #: shows the run draws its setups from the same trip that made its trades; and their timeframe.
    occurrences: list[Any] = field(default_factory=list)
    timeframe: str = ""
    #: where a rule's session and day levels came from, and the levels it reads that its own bars cannot
    #: know exactly (no finer bars stored); empty for ad-hoc orders
    levels_from: str = ""
    inexact_levels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON the CLI prints: run_id, rule_id, rule_version, stats and trades."""
        return {"run_id": self.run_id, "rule_id": self.rule_id, "rule_version": self.rule_version,
                "rule_version_id": self.rule_version_id, "ingest_ids": list(self.ingest_ids),
                "symbol": self.symbol, "label": self.label, "range": list(self.bars_range),
                "warmup_bars": self.warmup_bars, "warmup_from_utc": self.warmup_from_utc,
                "levels_from": self.levels_from,
                "inexact_levels": {k: list(v) for k, v in self.inexact_levels.items()},
                "settings": self.trades.settings.to_dict(), "stats": self.stats.to_dict(),
                "findings": [f.to_dict() for f in self.findings], "trades": self.trades.to_records()}


def inputs_hash(bars: Bars, orders: np.ndarray, settings: SimSettings, lower: Bars | None = None) -> str:
    """sha256 over the bars' columns, the orders' bytes and the settings' JSON."""
    h = hashlib.sha256()
    for b in (bars, lower) if lower is not None else (bars,):
        h.update(f"{b.symbol}|{b.timeframe.value}|{len(b)}".encode())
        for col in (b.time, b.open, b.high, b.low, b.close, b.spread):
            h.update(np.ascontiguousarray(col).tobytes())
    h.update(np.ascontiguousarray(orders).tobytes())
    h.update(json.dumps(settings.to_dict(), sort_keys=True).encode())
    return h.hexdigest()


def run_backtest(bars: Bars, orders: np.ndarray | OrdersFor, settings: SimSettings | None = None, *,
                 rule_id: str = "adhoc", rule_version: str = "0", store: Any = None, lower: Bars | None = None,
                 start_utc: int | None = None, end_utc: int | None = None, label: str = "",
                 rule_version_id: int | None = None, warmup: Bars | None = None, warmup_bars: int = 0,
                 occurrences: int | None = None) -> RunResult:
    """Simulate, compute statistics, validate and (with ``store``) store one run.

    ``orders`` is an ORDER_DTYPE array built on ``bars`` or a function bars -> orders; with
    ``start_utc``/``end_utc`` the bars are cut first, which needs the function form.
    ``warmup``: the stored bars read before ``bars`` to build the orders (not simulated; their
    ingests are the run's too), making ``warmup_bars`` bars of ``bars``' timeframe.
    ``occurrences``: how many rule occurrences the orders came from (the funnel's first step)."""
    settings = settings or SimSettings()
    if start_utc is not None or end_utc is not None:
        if not callable(orders):
            raise ValueError("a date range needs orders as a function of the bars (bar indexes change when cut)")
        bars = bars.between(start_utc, end_utc)
        if lower is not None:
            lower = lower.between(start_utc, end_utc)
    order_rows = orders(bars) if callable(orders) else np.asarray(orders)
    trades = simulate(bars, order_rows, settings, lower=lower)
    stats = compute_stats(trades)
    stats.funnel = funnel_of(trades.status_counts(), len(trades), occurrences)
    findings = validate(trades, bars)
    digest = inputs_hash(bars, trades.orders, settings, lower)
    used = [b.ingest_id for b in (bars, lower, warmup) if b is not None]
    # a set, not np.unique: that asks numpy.ma whether the array is masked (importing numpy.ma: 6-10 ms a backtest)
    ingest_ids = sorted(i for i in set(np.concatenate(used).tolist()) if i > 0)
    warmup_from = warmup.first_time if warmup is not None and warmup_bars else None
    result = RunResult(rule_id, str(rule_version), bars.symbol, (bars.first_time, bars.last_time), trades, stats,
                       findings, digest, ingest_ids, label=label, rule_version_id=rule_version_id,
                       warmup_bars=warmup_bars, warmup_from_utc=warmup_from, timeframe=bars.timeframe.value)
    if store is not None:
        stats_json = stats.to_dict()
        stats_json["findings"] = [f.to_dict() for f in findings]
        run_id = store.runs.add(rule_id=rule_id, rule_version=str(rule_version), symbols=[bars.symbol],
                                timeframe=bars.timeframe.value, first_utc=bars.first_time, last_utc=bars.last_time,
                                ingest_ids=ingest_ids, settings=settings.to_dict(), stats=stats_json,
                                inputs_hash=digest, trades=_records_for_store(trades), label=label,
                                rule_version_id=None if rule_version_id is None else int(rule_version_id),
                                warmup_bars=warmup_bars, warmup_from_utc=warmup_from)
        result.run_id = run_id
    return result


def _records_for_store(trades: Trades) -> list[dict[str, Any]]:
    out = []
    for rec in trades.to_records():
        rec["direction"] = 1 if rec["direction"] == "long" else -1
        out.append(rec)
    return out


@dataclass(frozen=True)
class RunSpec:
    """One cell of a batch: a rule version's order builder on one symbol's bars and an optional range."""

    rule_id: str
    rule_version: str
    bars: Bars
    orders_for: OrdersFor
    settings: SimSettings = field(default_factory=SimSettings)
    start_utc: int | None = None
    end_utc: int | None = None
    lower: Bars | None = None


def grid(rules: Sequence[tuple[str, str, OrdersFor]], symbols: Sequence[tuple[Bars, SimSettings]],
         ranges: Sequence[tuple[int | None, int | None]] = ((None, None),)) -> list[RunSpec]:
    """Every rule x symbol x range as RunSpecs (settings go with the symbol: its contract size)."""
    return [RunSpec(rid, ver, bars, fn, settings, lo, hi)
            for rid, ver, fn in rules for bars, settings in symbols for lo, hi in ranges]


def run_many(specs: Sequence[RunSpec], *, store: Any = None, progress: Progress | None = None,
             cancel: Callable[[], bool] | None = None) -> list[RunResult]:
    """Run each spec in turn, reporting progress; cancel() is checked before each run."""
    results = []
    for i, spec in enumerate(specs):
        if cancel is not None and cancel():
            raise BacktestCancelled(f"cancelled after {i} of {len(specs)} runs")
        if progress is not None:
            progress(i / max(len(specs), 1), f"{spec.rule_id} v{spec.rule_version} on {spec.bars.symbol}")
        results.append(run_backtest(spec.bars, spec.orders_for, spec.settings, rule_id=spec.rule_id,
                                    rule_version=spec.rule_version, store=store, lower=spec.lower,
                                    start_utc=spec.start_utc, end_utc=spec.end_utc))
    if progress is not None:
        progress(1.0, f"{len(specs)} runs done")
    return results
