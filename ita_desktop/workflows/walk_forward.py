"""Walk-forward of a rule on the stored bars: each part's in-sample sweep, its best variant run
out-of-sample, both stored as runs.

The range (all stored data, or --from/--to) is cut into ``parts`` consecutive windows of equal
time. In each, the grid is swept over the first ``1 - oos_fraction`` of the window (in-sample);
the best variant by ``statistic`` is then backtested on the in-sample part and on the rest of the
window (out-of-sample), and both are stored as runs labelled ``walk-forward k/N in-sample|out-of-sample``.
Every run is an ordinary ranged run (workflows.rule_backtest's loading: detectors warmed on the history
before the part), so no part sees bars after its own end and an out-of-sample part uses only
parameters chosen before it began.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ita_desktop.backtest.runs import Progress, RunResult, run_backtest
from ita_desktop.backtest.sweep import parse_grid
from ita_desktop.backtest.costs import SimSettings
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.workflows.rule_backtest import (
    SETTINGS_PREFIX, Cancel, RuleSweeper, _Stages, instrument_settings, prepare, sweep_rule,
)
from ita_desktop.storage.store import Store


@dataclass
class WalkForwardPart:
    """One part: its ranges, the variant chosen in-sample, and the two stored runs."""

    part: int
    parts: int
    in_sample: tuple[int, int]  # [start, end) UTC
    out_of_sample: tuple[int, int]
    params: dict[str, Any]
    in_run: RunResult
    out_run: RunResult
    variants: int = 0

    def to_dict(self, statistic: str) -> dict[str, Any]:
        def pick(run: RunResult) -> dict[str, Any]:
            s = run.stats.to_dict()["summary"]
            return {"run_id": run.run_id, "trades": s.get("trades"), statistic: s.get(statistic),
                    "net_pnl": s.get("net_pnl"), "win_rate": s.get("win_rate")}

        return {"part": self.part, "parts": self.parts, "in_sample": list(self.in_sample),
                "out_of_sample": list(self.out_of_sample), "params": self.params, "variants": self.variants,
                "in": pick(self.in_run), "out": pick(self.out_run)}


@dataclass
class WalkForwardResult:
    rule_id: str
    rule_version: str
    symbol: str
    statistic: str
    parts: list[WalkForwardPart] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "rule_version": self.rule_version, "symbol": self.symbol,
                "statistic": self.statistic, "parts": [p.to_dict(self.statistic) for p in self.parts]}


def part_edges(first: int, end: int, parts: int, oos_fraction: float) -> list[tuple[int, int, int]]:
    """``parts`` windows of equal time over [first, end): (start, split, stop) each, split at 1 - oos_fraction."""
    if parts < 2:
        raise InputError("--walk-forward needs at least 2 parts")
    if not 0 < oos_fraction < 1:
        raise InputError(f"the out-of-sample share must be between 0 and 1, got {oos_fraction}")
    span = (end - first) / parts
    out = []
    for k in range(parts):
        a = int(first + k * span)
        c = int(first + (k + 1) * span) if k < parts - 1 else end
        out.append((a, int(a + (c - a) * (1 - oos_fraction)), c))
    return out


def walk_forward_rule(store: Store, rule_ref: str | Path, symbol: str,
                      grid: Sequence[str] | Mapping[str, Sequence[Any]], parts: int, *,
                      statistic: str = "expectancy_r", oos_fraction: float = 0.25,
                      timeframe: Timeframe | str | None = None, start_utc: int | None = None,
                      end_utc: int | None = None, rules_dir: Path | None = None,
                      settings: SimSettings | Mapping[str, Any] | None = None,
                      progress: Progress | None = None, cancel: Cancel | None = None,
                      **overrides: Any) -> WalkForwardResult:
    """Walk-forward of ``grid`` over the stored range in ``parts`` parts; every part's two runs stored."""
    stage = _Stages(progress, cancel, "walk-forward")
    stage(0.0, "loading the rule and the bars")
    parsed = parse_grid(grid)
    whole = prepare(store, rule_ref, symbol, timeframe=timeframe, start_utc=start_utc, end_utc=end_utc,
                    rules_dir=rules_dir, grid=parsed)
    first = start_utc if start_utc is not None else whole.bars.first_time
    last = end_utc if end_utc is not None else (whole.bars.last_time or 0) + 1
    if first is None or last <= first:
        raise InputError(f"no stored {symbol} bars in the range to walk forward over")
    result = WalkForwardResult(whole.rule.rule_id, whole.version, symbol, statistic)
    edges = part_edges(int(first), int(last), parts, oos_fraction)
    share = 1.0 / parts
    for k, (a, b, c) in enumerate(edges):
        base = k * share

        def sub(f: float, message: str, _base: float = base, _k: int = k) -> None:
            stage(_base + share * 0.8 * f, f"part {_k + 1} of {parts} in-sample: {message}")

        swept = sweep_rule(store, rule_ref, symbol, grid, statistic=statistic, timeframe=timeframe, start_utc=a,
                           end_utc=b, rules_dir=rules_dir, settings=settings, progress=sub, cancel=cancel,
                           **overrides)
        best = swept.best()
        if best is None:
            continue
        params = {p: best[p] for p in parsed}
        stage(base + share * 0.85, f"part {k + 1} of {parts}: storing the in-sample and out-of-sample runs")
        label = ", ".join(f"{p}={v}" for p, v in params.items())
        runs = []
        for name, lo, hi in (("in-sample", a, b), ("out-of-sample", b, c)):
            runs.append(_run_variant(store, rule_ref, symbol, params, lo, hi, timeframe=timeframe,
                                     rules_dir=rules_dir, settings=settings,
                                     label=f"walk-forward {k + 1}/{parts} {name}: {label}", **overrides))
        result.parts.append(WalkForwardPart(k + 1, parts, (a, b), (b, c), params, runs[0], runs[1], len(swept.rows)))
    stage(1.0, f"walk-forward: {len(result.parts)} parts stored")
    return result


def _run_variant(store: Store, rule_ref: str | Path, symbol: str, params: Mapping[str, Any], start: int, end: int, *,
                 timeframe: Timeframe | str | None, rules_dir: Path | None,
                 settings: SimSettings | Mapping[str, Any] | None, label: str, **overrides: Any) -> RunResult:
    """One variant of the rule on [start, end) as a stored run (the rule's recorded version, the variant in the label)."""
    prep = prepare(store, rule_ref, symbol, timeframe=timeframe, start_utc=start, end_utc=end, rules_dir=rules_dir)
    rule_params = {p: v for p, v in params.items() if not p.startswith(SETTINGS_PREFIX)}
    sim_over = {p[len(SETTINGS_PREFIX):]: v for p, v in params.items() if p.startswith(SETTINGS_PREFIX)}
    sweeper = RuleSweeper(prep.loaded, symbol, prep.bars, timeframe=timeframe, rule_version_id=prep.version_id,
                          level_bars=prep.level_bars,
                          start_utc=start)
    compiled = sweeper.compiled_for(rule_params)
    sim = instrument_settings(compiled, settings, **{**overrides, **sim_over})
    orders = sweeper.orders_for(rule_params)
    bars = sweeper.range_bars_for(compiled)
    return run_backtest(bars, orders, sim, rule_id=prep.rule.rule_id, rule_version=prep.version, store=store,
                        lower=prep.lower, rule_version_id=prep.version_id, warmup=prep.warmup(bars.first_time),
                        warmup_bars=len(sweeper.setup_bars_for(compiled)) - len(bars), label=label)
