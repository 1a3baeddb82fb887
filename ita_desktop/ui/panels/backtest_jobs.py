"""The work behind the Backtest, Results and Rules panels, as plain functions over the store (no Qt).

The panels hand these to the window's job bridge, so they run on a worker thread with the job's
``ctx`` (progress and cancel); tests and the CLI can call them the same way. Backtests and sweeps
go through ``engine.backtest`` (``backtest_rule`` / ``sweep_rule``): the engine owns how a rule
becomes orders and trades, the panels only say which rule, symbol, range and costs.

A backtest also keeps the rule's setup occurrences (from ``engine.scan``), because the Results
panel draws a trade together with the steps of the setup that produced it, and a RunResult only
carries the occurrence id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ita_desktop.rules.loader import rule_files, validate_file, warnings_of_file
from ita_desktop.rules.versions import version_from_path, version_key

if TYPE_CHECKING:  # the backtest engine (numba) and the ORM load when a job first needs them, not with the window
    from ita_desktop.backtest.runs import RunResult
    from ita_desktop.backtest.sweep import SweepResult
    from ita_desktop.rules.engine.occurrences import Occurrence
    from ita_desktop.storage.store import Store

#: Dotted paths a trader sweeps most; the grid editor offers them (any other path can be typed).
COMMON_SWEEP_PATHS = (
    "targets.0.r", "stop.buffer.pips", "detectors.swings.length", "management.break_even_at_r",
    "entry.expiry.bars", "detectors.sweeps.max_bars", "risk.percent", "settings.max_positions",
)
#: Statistics a sweep can rank by (keys of Stats.summary), the first is the default.
RANK_STATISTICS = ("expectancy_r", "net_pnl", "profit_factor", "win_rate", "sqn", "sharpe", "max_drawdown_pct")


class _Context:
    """What the job functions need from the engine's JobContext (tests may pass a stand-in)."""

    cancelled: bool

    def progress(self, fraction: float, stage: str) -> None: ...


@dataclass(frozen=True)
class Costs:
    """The cost side of a run as the trader states it (spread and slippage in the instrument's points)."""

    spread_points: float | None = None  # None: the bars' own spread column
    commission_per_lot: float = 0.0
    slippage_points: float = 0.0
    intrabar: str = "worst"
    initial_equity: float = 10_000.0

    def settings(self) -> dict[str, Any]:
        """SimSettings fields the engine lays over the rule's instrument (its point and point value).

        A mapping, not a SimSettings: a full SimSettings would replace the instrument's contract
        size and point, which only the rule's ``market.symbols`` knows."""
        return {"spread_points": self.spread_points, "commission_per_lot": self.commission_per_lot,
                "slippage_points": self.slippage_points, "intrabar": self.intrabar,
                "initial_equity": self.initial_equity}


@dataclass(frozen=True)
class RuleChoice:
    """One rule version picked in the panel: its id, version and file (the file is what runs)."""

    rule_id: str
    version: str
    path: Path

    @property
    def title(self) -> str:
        return f"{self.rule_id} v{self.version}"


@dataclass(frozen=True)
class BacktestRequest:
    rules: tuple[RuleChoice, ...]
    symbols: tuple[str, ...]
    timeframe: str | None = None  # None: each rule's own timeframe
    start_utc: int | None = None
    end_utc: int | None = None
    costs: Costs = field(default_factory=Costs)

    @property
    def runs(self) -> int:
        return len(self.rules) * len(self.symbols)


@dataclass
class BacktestOutcome:
    """One rule on one symbol: the engine's RunResult plus what the chart needs to draw it."""

    rule: RuleChoice
    symbol: str
    timeframe: str  # the setup timeframe the trades' bar indexes refer to
    result: RunResult
    occurrences: list[Occurrence] = field(default_factory=list)

    @property
    def title(self) -> str:
        run = f"run {self.result.run_id}" if self.result.run_id is not None else "not stored"
        return f"{self.rule.title} · {self.symbol} {self.timeframe} · {run}"


@dataclass(frozen=True)
class SweepRequest:
    rule: RuleChoice
    symbol: str
    grid: tuple[str, ...]  # "path=v1,v2,..."
    statistic: str = "expectancy_r"
    timeframe: str | None = None
    start_utc: int | None = None
    end_utc: int | None = None
    costs: Costs = field(default_factory=Costs)
    walk_forward_parts: int = 0  # 0: a plain sweep; N >= 2: walk forward in N parts (engine.walk_forward)


@dataclass
class SweepOutcome:
    request: SweepRequest
    result: SweepResult | None
    #: walk-forward parts (WalkForwardPart.to_dict rows), in-sample and out-of-sample side by side
    walk_forward: list[dict[str, Any]] = field(default_factory=list)

    @property
    def title(self) -> str:
        """What the heatmap or the walk-forward table shows: the rule, symbol and what was ranked."""
        r = self.request
        what = f"walk-forward in {r.walk_forward_parts} parts" if r.walk_forward_parts else \
            f"sweep of {len(self.result.rows) if self.result else 0} variants"
        return f"{r.rule.title} · {r.symbol} · {what} by {r.statistic}"

    @property
    def paths(self) -> list[str]:
        return [item.partition("=")[0].strip() for item in self.request.grid]


def _stage(ctx: _Context, base: float, share: float) -> Callable[[float, str], None]:
    """A progress callback for one part of a job: maps the part's 0..1 onto [base, base + share]."""
    return lambda fraction, stage: ctx.progress(base + share * min(max(fraction, 0.0), 1.0), stage)


def run_backtests(store: Store, request: BacktestRequest, ctx: _Context) -> list[BacktestOutcome]:
    """Every chosen rule version on every chosen symbol, stored as runs; progress over the whole batch."""
    from ita_desktop.engine.backtest import backtest_rule
    from ita_desktop.engine.scan import scan

    if not request.rules or not request.symbols:
        raise ValueError("choose at least one rule and one symbol")
    outcomes = []
    share = 1.0 / request.runs
    for i, (rule, symbol) in enumerate((r, s) for r in request.rules for s in request.symbols):
        ctx.progress(i * share, f"{rule.title} on {symbol}")
        result = backtest_rule(store, rule.path, symbol, timeframe=request.timeframe, start_utc=request.start_utc,
                               end_utc=request.end_utc, settings=request.costs.settings(),
                               progress=_stage(ctx, i * share, share * 0.9), cancel=lambda: ctx.cancelled)
        found = scan(store, rule.path, symbol, timeframe=request.timeframe, start_utc=request.start_utc,
                     end_utc=request.end_utc)
        outcomes.append(BacktestOutcome(rule, symbol, found.timeframe, result, found.occurrences))
    ctx.progress(1.0, f"{len(outcomes)} run(s) done")
    return outcomes


def run_sweep(store: Store, request: SweepRequest, ctx: _Context) -> SweepOutcome:
    """The grid of one rule version on one symbol, ranked by the chosen statistic."""
    from ita_desktop.engine.backtest import sweep_rule

    from ita_desktop.domain.errors import InputError

    if not request.grid:
        raise ValueError("add at least one row to the grid (a dotted path and its values)")
    try:
        if request.walk_forward_parts:
            from ita_desktop.engine.walk_forward import walk_forward_rule

            wf = walk_forward_rule(store, request.rule.path, request.symbol, list(request.grid),
                                   request.walk_forward_parts, statistic=request.statistic,
                                   timeframe=request.timeframe, start_utc=request.start_utc, end_utc=request.end_utc,
                                   settings=request.costs.settings(), progress=ctx.progress,
                                   cancel=lambda: ctx.cancelled)
            return SweepOutcome(request, None, [p.to_dict(request.statistic) for p in wf.parts])
        result = sweep_rule(store, request.rule.path, request.symbol, list(request.grid), statistic=request.statistic,
                            timeframe=request.timeframe, start_utc=request.start_utc, end_utc=request.end_utc,
                            settings=request.costs.settings(),
                            progress=ctx.progress, cancel=lambda: ctx.cancelled)
    except InputError as exc:
        raise InputError(panel_words(str(exc))) from None
    return SweepOutcome(request, result)


def panel_words(message: str) -> str:
    """The engine's CLI wording (``--set targets.0.r=2: ...``) in the Backtest panel's (the sweep grid's rows)."""
    import re

    message = re.sub(r"--set (\S+?)=(\S+?): ", r"Sweep grid, parameter \1 = \2: ", message)
    message = re.sub(r"--set (\S+?): ", r"Sweep grid, parameter \1: ", message)
    return message.replace("--set", "the sweep grid").replace("--walk-forward", "Walk-forward")


# -- the rules list ----------------------------------------------------------------------------

@dataclass
class VersionEntry:
    """One rule file: valid (with its latest stored run's key stats) or broken (with its located issues)."""

    rule_id: str
    version: str
    path: Path
    latest: bool = False
    problems: list[str] = field(default_factory=list)  # "file:line:col: message"
    warnings: list[str] = field(default_factory=list)  # "file:line:col: warning: ..." (the rule still runs)
    name: str = ""
    timeframe: str = ""
    run_id: int | None = None
    stats: dict[str, Any] = field(default_factory=dict)  # trades, win_rate, expectancy_r, net_pnl

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def choice(self) -> RuleChoice:
        return RuleChoice(self.rule_id, self.version, self.path)


def _version_sort_key(version: str) -> tuple[int, ...]:
    try:
        return version_key(version)
    except ValueError:
        return (-1,)


def list_rules(rules_dir: Path, store: Store | None) -> list[VersionEntry]:
    """Every rule file under ``rules_dir`` (rules/<rule_id>/v<version>.yaml), validated, newest version
    of each rule marked, with the key stats of the latest stored run of that version.

    A broken file is listed with every problem located (file:line:col), never raised: one typo
    must not hide the other rules."""
    entries: list[VersionEntry] = []
    for path in rule_files([rules_dir]) if rules_dir.is_dir() else []:
        where = version_from_path(path)
        rule_id, version = where if where is not None else (path.stem, "?")
        rule, issues = validate_file(path)
        entry = VersionEntry(rule_id, version, path, problems=[i.located() for i in issues],
                             warnings=[w.located() for w in warnings_of_file(path)] if rule is not None else [])
        if rule is not None:
            entry.rule_id, entry.version = rule.rule_id, rule.version
            entry.name, entry.timeframe = rule.name or "", rule.market.timeframe.value
        entries.append(entry)
    by_rule: dict[str, list[VersionEntry]] = {}
    for entry in entries:
        by_rule.setdefault(entry.rule_id, []).append(entry)
    for versions in by_rule.values():
        versions.sort(key=lambda e: _version_sort_key(e.version), reverse=True)
        versions[0].latest = True
    if store is not None:
        for rule_id, versions in by_rule.items():
            runs = store.runs.list(rule_id)
            for entry in versions:
                mine = [r for r in runs if r.rule_version == entry.version and not r.label]
                if mine:
                    last = mine[-1]
                    summary = json.loads(last.stats_json or "{}").get("summary", {})
                    entry.run_id = last.run_id
                    entry.stats = {k: summary.get(k) for k in ("trades", "win_rate", "expectancy_r", "net_pnl")}
    return [e for rule_id in sorted(by_rule, key=str.lower) for e in by_rule[rule_id]]

