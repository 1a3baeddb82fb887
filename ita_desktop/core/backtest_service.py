"""Backtests and sweeps as the core's use case: which rules, symbols, range and costs in; runs out.

The Backtest panel builds a request and hands ``core.backtests.run`` / ``sweep`` to a job (a
worker thread with the job's ``ctx``: progress and cancel); the CLI and tests call the same.
Rules become orders and trades in ``workflows.rule_backtest`` (``backtest_rule`` / ``sweep_rule``), in
one trip: the RunResult carries the setup occurrences its orders came from, so the Results
panel draws a trade with its setup steps without running detection and matching again.
Each stored run is announced on the bus (``RunStored``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ita_desktop.bus.events import RunStored
from ita_desktop.core.rules_service import RuleChoice

if TYPE_CHECKING:  # the backtest engine (numba) and the ORM load when a job first needs them, not with the window
    from ita_desktop.backtest.runs import RunResult
    from ita_desktop.backtest.sweep import SweepResult
    from ita_desktop.core.app_core import Core
    from ita_desktop.workflows.walk_forward import WalkForwardResult
    from ita_desktop.rules.engine.occurrences import Occurrence
    from ita_desktop.storage.store import Store
    from ita_desktop.workflows.rule_scan import ScanResult

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
    reopened: bool = False  # read back from the store (core.runs.reopen), not computed now

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
    walk_forward_parts: int = 0  # 0: a plain sweep; N >= 2: walk forward in N parts (workflows.walk_forward)


@dataclass
class SweepOutcome:
    request: SweepRequest
    result: SweepResult | None
    #: walk-forward parts (WalkForwardPart.to_dict rows), in-sample and out-of-sample side by side
    walk_forward: list[dict[str, Any]] = field(default_factory=list)
    #: the walk-forward parts' stored runs (in-sample, out-of-sample of each part), kept for reopening
    walk_forward_runs: list[RunResult] = field(default_factory=list)

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
    """Every chosen rule version on every chosen symbol, stored as runs; progress over the whole batch.

    One trip per rule and symbol: the run's own occurrences come with it (no second scan)."""
    from ita_desktop.workflows.rule_backtest import backtest_rule

    if not request.rules or not request.symbols:
        raise ValueError("choose at least one rule and one symbol")
    outcomes = []
    share = 1.0 / request.runs
    for i, (rule, symbol) in enumerate((r, s) for r in request.rules for s in request.symbols):
        ctx.progress(i * share, f"{rule.title} on {symbol}")
        result = backtest_rule(store, rule.path, symbol, timeframe=request.timeframe, start_utc=request.start_utc,
                               end_utc=request.end_utc, settings=request.costs.settings(),
                               progress=_stage(ctx, i * share, share), cancel=lambda: ctx.cancelled)
        outcomes.append(BacktestOutcome(rule, symbol, result.timeframe, result, list(result.occurrences)))
    ctx.progress(1.0, f"{len(outcomes)} run(s) done")
    return outcomes


def run_sweep(store: Store, request: SweepRequest, ctx: _Context) -> SweepOutcome:
    """The grid of one rule version on one symbol, ranked by the chosen statistic."""
    from ita_desktop.workflows.rule_backtest import sweep_rule

    from ita_desktop.domain.errors import InputError

    if not request.grid:
        raise ValueError("add at least one row to the grid (a dotted path and its values)")
    try:
        if request.walk_forward_parts:
            from ita_desktop.workflows.walk_forward import walk_forward_rule

            wf = walk_forward_rule(store, request.rule.path, request.symbol, list(request.grid),
                                   request.walk_forward_parts, statistic=request.statistic,
                                   timeframe=request.timeframe, start_utc=request.start_utc, end_utc=request.end_utc,
                                   settings=request.costs.settings(), progress=ctx.progress,
                                   cancel=lambda: ctx.cancelled)
            return SweepOutcome(request, None, [p.to_dict(request.statistic) for p in wf.parts],
                                [r for p in wf.parts for r in (p.in_run, p.out_run)])
        result = sweep_rule(store, request.rule.path, request.symbol, list(request.grid), statistic=request.statistic,
                            timeframe=request.timeframe, start_utc=request.start_utc, end_utc=request.end_utc,
                            settings=request.costs.settings(),
                            progress=ctx.progress, cancel=lambda: ctx.cancelled)
    except InputError as exc:
        raise InputError(panel_words(str(exc))) from None
    return SweepOutcome(request, result)


def sweep_paths(text: str, file: str = "<rule>") -> list[str]:
    """The grid paths the Backtest panel offers for a rule: its own numeric paths, then ``settings.*``."""
    from ita_desktop.rules.sweep_paths import sweep_paths as paths_of

    return paths_of(text, file)


def default_grid(text: str, file: str = "<rule>") -> list[tuple[str, str]]:
    """A first grid for a rule: values around its own that the rule validates (rules.sweep_paths)."""
    from ita_desktop.rules.sweep_paths import default_grid as grid_of

    return grid_of(text, file)


def panel_words(message: str) -> str:
    """The engine's CLI wording (``--set targets.0.r=2: ...``) in the Backtest panel's (the sweep grid's rows)."""
    import re

    message = re.sub(r"--set (\S+?)=(\S+?): ", r"Sweep grid, parameter \1 = \2: ", message)
    message = re.sub(r"--set (\S+?): ", r"Sweep grid, parameter \1: ", message)
    return message.replace("--set", "the sweep grid").replace("--walk-forward", "Walk-forward")


class BacktestService:
    """Backtests, sweeps and scans over the core's store.

    ``run``/``sweep`` take the panel's requests; ``backtest``/``sweep_rule``/``scan`` take a rule
    reference as the CLI gives it (a file, or a rule_id resolved over the shipped and the user
    rules folders, or under ``rules_dir`` when one is given). Every stored run keeps what
    reopening it needs and is published as ``RunStored``."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def run(self, request: BacktestRequest, ctx: _Context) -> list[BacktestOutcome]:
        outcomes = run_backtests(self._core.store, request, ctx)
        for o in outcomes:
            self._stored(o)
        return outcomes

    def backtest(self, rule_ref: str | Path, symbol: str, *, rules_dir: Path | None = None, **kwargs: Any) -> RunResult:
        """One rule on one symbol (``workflows.rule_backtest.backtest_rule``'s options), stored as a run."""
        from ita_desktop.workflows.rule_backtest import backtest_rule

        path = self._path(rule_ref, rules_dir)
        result = backtest_rule(self._core.store, path, symbol, rules_dir=rules_dir, **kwargs)
        choice = RuleChoice(result.rule_id, result.rule_version, Path(path))
        self._stored(BacktestOutcome(choice, symbol, result.timeframe, result, list(result.occurrences)))
        return result

    def sweep_rule(self, rule_ref: str | Path, symbol: str, grid: list[str], *, rules_dir: Path | None = None,
                   **kwargs: Any) -> SweepResult:
        from ita_desktop.workflows.rule_backtest import sweep_rule

        return sweep_rule(self._core.store, self._path(rule_ref, rules_dir), symbol, grid, rules_dir=rules_dir,
                          **kwargs)

    def scan(self, rule_ref: str | Path, symbol: str, *, rules_dir: Path | None = None, **kwargs: Any) -> ScanResult:
        """The rule's occurrences on the stored bars (``workflows.rule_scan.scan``'s options)."""
        from ita_desktop.workflows.rule_scan import scan

        return scan(self._core.store, self._path(rule_ref, rules_dir), symbol, rules_dir=rules_dir, **kwargs)

    def walk_forward(self, rule_ref: str | Path, symbol: str, grid: list[str], parts: int, *,
                     rules_dir: Path | None = None, **kwargs: Any) -> WalkForwardResult:
        """``workflows.walk_forward.walk_forward_rule`` on the core's store (``ita sweep --walk-forward N``)."""
        from ita_desktop.workflows.walk_forward import walk_forward_rule

        path = self._path(rule_ref, rules_dir)
        result = walk_forward_rule(self._core.store, path, symbol, grid, parts, rules_dir=rules_dir, **kwargs)
        for part in result.parts:  # stored runs like any other: listed and reopened
            for run in (part.in_run, part.out_run):
                self._stored(BacktestOutcome(RuleChoice(run.rule_id, run.rule_version, Path(path)), symbol,
                                             run.timeframe, run))
        return result

    def _path(self, rule_ref: str | Path, rules_dir: Path | None) -> str | Path:
        """A rule_id as the file of its latest version in either rules folder (``rules_dir``: left to the workflow)."""
        return rule_ref if rules_dir is not None else self._core.rules.resolve(rule_ref).path

    def _stored(self, o: BacktestOutcome) -> None:
        if o.result.run_id is None:
            return
        self._core.runs.keep(o)
        self._core.bus.publish(RunStored(run_id=o.result.run_id, rule_id=o.rule.rule_id, rule_version=o.rule.version,
                                         symbol=o.symbol, timeframe=o.timeframe, trades=len(o.result.trades)))

    def sweep(self, request: SweepRequest, ctx: _Context) -> SweepOutcome:
        outcome = run_sweep(self._core.store, request, ctx)
        for run in outcome.walk_forward_runs:  # stored runs like any other: listed and reopened
            self._stored(BacktestOutcome(request.rule, request.symbol, run.timeframe, run))
        return outcome
