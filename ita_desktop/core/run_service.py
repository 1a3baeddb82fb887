"""Stored runs: listed, and reopened as they were shown (statistics, trades, setups) without recomputing them.

A backtest run through the core keeps, beside its rows, the arrays it was drawn from
(``storage.run_artifacts``): the simulation's trade rows, order status and orders, the range's
bar times and the setup occurrences. ``reopen`` reads those and the run's stored statistics back
into the same BacktestOutcome the Results panel showed when the run was made: no detection, no
matching, no simulation, no statistics pass.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ita_desktop.core.backtest_service import BacktestOutcome
from ita_desktop.core.rules_service import RuleChoice
from ita_desktop.domain.errors import ItaError

if TYPE_CHECKING:
    from ita_desktop.backtest.runs import RunResult
    from ita_desktop.core.app_core import Core

ARRAYS = ("trade_rows", "order_status", "orders", "bar_times")


@dataclass(frozen=True)
class StoredRun:
    """One row of the runs list: enough to show it and to reopen it."""

    run_id: int
    rule_id: str
    rule_version: str
    symbol: str
    timeframe: str
    first_utc: int | None
    last_utc: int | None
    trades: int
    created_at: int
    label: str
    summary: dict[str, Any]
    reopenable: bool

    @property
    def title(self) -> str:
        return f"run {self.run_id} · {self.rule_id} v{self.rule_version} · {self.symbol} {self.timeframe}"


def _occurrence_json(occurrences: list[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(o) for o in occurrences]


def _occurrences_from(items: list[dict[str, Any]]) -> list[Any]:
    from ita_desktop.rules.engine.occurrences import Occurrence, OrderPlan, StepHit

    out = []
    for d in items:
        steps = tuple(StepHit(**s) for s in d.pop("steps"))
        order = d.pop("order")
        plan = None
        if order is not None:
            order["targets"] = tuple(order["targets"])
            plan = OrderPlan(**{k: (math.nan if v is None and k in ("entry_price", "stop_price", "stop_distance")
                                    else v) for k, v in order.items()})
        out.append(Occurrence(steps=steps, order=plan, **d))
    return out


class RunService:
    def __init__(self, core: Core) -> None:
        self._core = core

    def list(self, rule_id: str | None = None) -> list[StoredRun]:
        """Every stored run (oldest first), or one rule's."""
        store = self._core.store
        out = []
        for run in store.runs.list(rule_id):
            summary = json.loads(run.stats_json or "{}").get("summary", {})
            out.append(StoredRun(run.run_id, run.rule_id, run.rule_version, run.symbols, run.timeframe,
                                 run.first_utc, run.last_utc, run.n_trades, run.created_at, run.label, summary,
                                 store.run_artifacts.path(run.run_id).is_file()))
        return out

    def keep(self, outcome: BacktestOutcome) -> Path | None:
        """Save what reopening ``outcome`` needs beside its stored run (no-op for a run not stored)."""
        result = outcome.result
        if result.run_id is None:
            return None
        trades = result.trades
        arrays = {"trade_rows": trades.rows, "order_status": trades.order_status, "orders": trades.orders,
                  "bar_times": trades.bar_times}
        meta = {"rule": {"rule_id": outcome.rule.rule_id, "version": outcome.rule.version,
                         "path": str(outcome.rule.path)},
                "symbol": outcome.symbol, "timeframe": outcome.timeframe,
                "occurrences": _occurrence_json(outcome.occurrences)}
        return self._core.store.run_artifacts.save(result.run_id, arrays, meta)

    def reopen(self, run_id: int) -> BacktestOutcome:
        """The run as it was shown when made, read back from the store; ItaError when it cannot be."""
        from ita_desktop.backtest.costs import SimSettings
        from ita_desktop.backtest.runs import RunResult
        from ita_desktop.backtest.simulator import Trades
        from ita_desktop.backtest.stats import Stats
        from ita_desktop.backtest.validator import Finding

        store = self._core.store
        run = store.runs.get(run_id)
        if run is None:
            raise ItaError(f"no run {run_id} in the store")
        saved = store.run_artifacts.load(run_id)
        if saved is None:
            raise ItaError(f"run {run_id} was stored without what drawing it needs (made by an older version "
                           "or outside the core); run it again to see its trades on the chart")
        arrays, meta = saved
        if any(name not in arrays for name in ARRAYS):
            raise ItaError(f"run {run_id}: its saved arrays are incomplete ({store.run_artifacts.path(run_id)})")
        settings = SimSettings.from_dict(json.loads(run.settings_json or "{}"))
        trades = Trades(arrays["trade_rows"], arrays["order_status"], run.symbols, settings,
                        arrays["bar_times"], arrays["orders"])
        stats_d = json.loads(run.stats_json or "{}")
        curve = stats_d.get("equity_curve", {})
        stats = Stats(summary={k: (math.nan if v is None else v) for k, v in stats_d.get("summary", {}).items()},
                      breakdowns=stats_d.get("breakdowns", {}),
                      equity_time=np.asarray(curve.get("time", []), dtype=np.int64),
                      equity=np.asarray([math.nan if x is None else x for x in curve.get("equity", [])], dtype=float),
                      r_multiples=np.asarray([math.nan if x is None else x for x in stats_d.get("r_multiples", [])],
                                             dtype=float),
                      warnings=list(stats_d.get("warnings", [])))
        findings = [Finding(f["level"], f["code"], f["message"], tuple(f.get("trades", ()))) for f in stats_d.get("findings", [])]
        result: RunResult = RunResult(
            run.rule_id, run.rule_version, run.symbols, (run.first_utc, run.last_utc), trades, stats, findings,
            run.inputs_hash, json.loads(run.ingest_ids_json or "[]"), run_id=run.run_id, label=run.label,
            rule_version_id=run.rule_version_id, warmup_bars=run.warmup_bars, warmup_from_utc=run.warmup_from_utc,
            occurrences=_occurrences_from(meta.get("occurrences", [])), timeframe=meta.get("timeframe", run.timeframe))
        rule = meta.get("rule", {})
        choice = RuleChoice(rule.get("rule_id", run.rule_id), rule.get("version", run.rule_version),
                            Path(rule.get("path", "")))
        return BacktestOutcome(choice, meta.get("symbol", run.symbols), result.timeframe, result,
                               list(result.occurrences), reopened=True)
