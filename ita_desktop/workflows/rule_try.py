"""Try a rule as typed: its text (saved or not) on one symbol, timeframe and range, nothing stored.

The editor's "Try" runs this as a job: the same loading (warm-up before the range), setup engine
and simulator as ``ita scan`` and ``ita backtest``, so the occurrences drawn are those a scan of
the saved file finds; but no rule version and no run is recorded: a draft is not a result.
A text that does not validate raises RuleValidationError with every problem located.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.rules.loader import validate_text
from ita_desktop.rules.rule_issues import RuleValidationError
from ita_desktop.storage.store import Store

QUICK_STATS = ("trades", "win_rate", "expectancy_r", "profit_factor", "max_drawdown_pct", "net_pnl")


@dataclass
class TryResult:
    """Occurrences of the typed rule and the quick backtest line's figures."""

    rule_id: str
    symbol: str
    timeframe: str
    occurrences: list[Any]
    stats: dict[str, float] = field(default_factory=dict)
    trades: Any = None  # backtest.trades rows (for drawing), None when no order was placed

    def line(self) -> str:
        """"12 occurrences · 9 trades · win 44.4% · expectancy +0.21R · PF 1.38"."""
        s = self.stats
        parts = [f"{len(self.occurrences)} occurrence{'s' if len(self.occurrences) != 1 else ''}",
                 f"{int(s.get('trades', 0))} trades"]
        if s.get("trades"):
            parts += [f"win {_pct(s.get('win_rate'))}", f"expectancy {_num(s.get('expectancy_r'), '+.2f')}R",
                      f"PF {_num(s.get('profit_factor'), '.2f')}"]
        return " · ".join(parts)


def _num(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return format(value, fmt)


def _pct(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value * 100:.1f}%"


def try_rule_text(store: Store, text: str, symbol: str, *, timeframe: Timeframe | str | None = None,
                  start_utc: int | None = None, end_utc: int | None = None,
                  cancel: Callable[[], bool] | None = None) -> TryResult:
    """Occurrences and a quick unstored backtest of ``text`` on ``symbol`` over [start_utc, end_utc)."""
    from ita_desktop.backtest.runs import run_backtest
    from ita_desktop.rules.engine import compile_rule, run_setup
    from ita_desktop.workflows.rule_backtest import instrument_settings
    from ita_desktop.workflows.rule_scan import load_setup_bars, stored_level_bars, with_timeframe

    rule, issues = validate_text(text, "<rule being tried>")
    if rule is None:
        raise RuleValidationError("<rule being tried>", issues)
    rule = with_timeframe(rule, timeframe)
    compiled = compile_rule(rule, symbol)
    bars, _source = load_setup_bars(store, symbol, compiled.timeframe, rule.market.data_timeframe, start_utc, end_utc,
                                    warm_for=[compiled])
    if cancel is not None and cancel():
        raise InterruptedError("cancelled")
    run = run_setup(compiled, bars, start_utc=start_utc, fine_bars=stored_level_bars(store, symbol, bars, compiled))
    result = TryResult(rule.rule_id, symbol, compiled.timeframe.value, list(run.occurrences))
    if len(run.orders):
        backtest = run_backtest(run.bars, run.orders, instrument_settings(compiled), rule_id=rule.rule_id,
                                rule_version=rule.version)
        result.trades = backtest.trades
        result.stats = {k: backtest.stats.summary.get(k) for k in QUICK_STATS}
    else:
        result.stats = {"trades": 0}
    return result
