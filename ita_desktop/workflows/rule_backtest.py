"""Backtest and sweep a rule on the stored bars: the functions ``ita backtest``/``ita sweep``, the jobs and the GUI call.

``backtest_rule`` resolves the rule and loads the bars as ``workflows.rule_scan`` does (and records
the rule version), runs the setup engine, simulates with the instrument of the rule's
``market.symbols`` (point, and money per price from ``point_value``), reads the M1 bars
inside each bar when the rule runs on a higher timeframe and M1 is stored (so a bar that
reaches stop and target is resolved by what happened first), validates, and stores the run.

``sweep_rule`` runs a grid of dotted paths over the rule's own YAML fields
(``targets.0.r``, ``detectors.swings.length``) and the simulation settings
(``settings.spread_points``). Detection is the expensive part of a variant and most sweeps
vary order fields, so :class:`RuleSweeper` keeps one DetectionResult per (timeframe, detector
kinds, detector params): variants that change only entries, stops, targets or management
reuse it; variants that change detector params detect once per distinct combination.

A range from T is run as ``workflows.rule_scan`` runs it: the bars load with the warm-up the rule's
detectors need before T (a sweep: the most any variant needs), only occurrences signalled at
or after T make orders, and the simulation, the statistics and the stored run cover the range
alone (the M1 bars read inside each setup bar too); a trade never fills before T.

Both take ``progress(fraction, message)`` and ``cancel() -> bool`` (a JobContext's
``progress`` and ``lambda: ctx.cancelled`` fit), and stop with BacktestCancelled between
stages; nothing is stored by a cancelled run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import ValidationError

from ita_desktop.backtest.costs import SimSettings
from ita_desktop.backtest.funnel import plural
from ita_desktop.backtest.runs import BacktestCancelled, RunResult, run_backtest
from ita_desktop.backtest.sweep import SweepResult, check_statistic, parse_grid, run_variants, set_path, variants
from ita_desktop.detectors.dispatcher import DetectionResult, detect
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.workflows.rule_scan import (
    load_setup_bars, resolve_rule, source_timeframes, stored_level_bars, with_timeframe,
)
from ita_desktop.rules.checks import check_rule
from ita_desktop.rules.engine import CompiledRule, compile_rule, run_setup
from ita_desktop.rules.engine.runner import level_bars, setup_bars, warmup_for
from ita_desktop.rules.loader import LoadedRule, validate_text
from ita_desktop.rules.schema import Rule
from ita_desktop.rules.yaml_source import SourceMap, parse_yaml
from ita_desktop.storage.store import Store

Progress = Callable[[float, str], None]
Cancel = Callable[[], bool]
SETTINGS_PREFIX = "settings."
#: Lot step and smallest lot of a rule's instrument unless the settings say otherwise (``settings.lot_step``).
BROKER_LOT_STEP = 0.01


class _Stages:
    """progress + cancel between the stages of one call."""

    def __init__(self, progress: Progress | None, cancel: Cancel | None, what: str) -> None:
        self.progress, self.cancel, self.what = progress, cancel, what

    def __call__(self, fraction: float, message: str) -> None:
        if self.cancel is not None and self.cancel():
            raise BacktestCancelled(f"{self.what} cancelled before: {message}")
        if self.progress is not None:
            self.progress(fraction, message)


def instrument_settings(compiled: CompiledRule, settings: SimSettings | Mapping[str, Any] | None = None,
                        **overrides: Any) -> SimSettings:
    """SimSettings for the rule's instrument: point from ``market.symbols``, contract size =
    point_value / point (money per 1.0 of price per lot). A SimSettings given is used as it is;
    a mapping (and ``overrides``, e.g. spread_points=2) is laid over the instrument's and the
    rule's ``risk.max_positions``.
    ``spread_points`` None = the bars' own spread column. Bad names or values: InputError."""
    if isinstance(settings, SimSettings):
        base = settings.to_dict()
    else:
        # brokers trade lots in steps of 0.01 (MT5's volume_step / volume_min for FX and metals): a
        # simulated 0.8333333 lots is a size no account can hold
        base = {"point": compiled.point, "contract_size": compiled.point_value / compiled.point,
                "lot_step": BROKER_LOT_STEP, "min_lot": BROKER_LOT_STEP}
        if compiled.rule.risk.max_positions is not None:
            base["max_positions"] = compiled.rule.risk.max_positions
        base.update(dict(settings or {}))
    base.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return SimSettings.from_dict(base)
    except (TypeError, ValueError) as exc:
        raise InputError(f"simulation settings: {exc}") from exc


@dataclass
class Prepared:
    """A rule resolved for one symbol, its recorded version and the stored bars it runs on."""

    loaded: LoadedRule
    rule: Rule
    compiled: CompiledRule
    version_id: int
    version: str
    version_action: str
    bars: Bars  # as loaded: the setup timeframe, or the data timeframe it is built from; warm-up included
    source_timeframe: str
    lower: Bars | None  # the data timeframe's bars inside each setup bar of the range (None: not stored / same timeframe)
    start_utc: int | None = None  # the range's start (bars before it are warm-up)
    #: finer stored bars the session and day levels come from when ``bars`` are the setup timeframe
    level_bars: Bars | None = None

    def warmup(self, first_range_utc: int | None) -> Bars | None:
        """The loaded bars before the range's first setup bar (None without a start)."""
        if self.start_utc is None:
            return None
        return self.bars.between(None, first_range_utc if first_range_utc is not None else self.start_utc)


def prepare(store: Store, rule_ref: str | Path, symbol: str, *, timeframe: Timeframe | str | None = None,
            start_utc: int | None = None, end_utc: int | None = None, rules_dir: Path | None = None,
            use_lower: bool = True, grid: Mapping[str, Sequence[Any]] | None = None) -> Prepared:
    """Resolve the rule, record its version, load its bars (workflows.rule_scan's loading: with a start, the
    warm-up before it; with a sweep's ``grid``, the most any variant needs) and the lower timeframe."""
    loaded = resolve_rule(rule_ref, rules_dir)
    rule = with_timeframe(loaded.rule, timeframe)
    compiled = compile_rule(rule, symbol)
    recorded = store.rule_versions.record(loaded.version)
    data_tf = rule.market.data_timeframe
    warm_for = [compiled]
    if grid and start_utc is not None:
        warm_for = _variant_rules(loaded, symbol, grid, timeframe) or warm_for
    bars, source_tf = load_setup_bars(store, symbol, compiled.timeframe, data_tf, start_utc, end_utc,
                                      warm_for=warm_for)
    lower = None
    if use_lower and compiled.timeframe != data_tf:
        if source_tf != compiled.timeframe.value:
            lower = bars  # the setup bars are built from these: they are the finest there is
        else:
            lower = store.bars.load(symbol, data_tf, start_utc, end_utc)
            for tf in source_timeframes(store, symbol, compiled.timeframe, data_tf)[1:]:
                if len(lower):
                    break
                lower = store.bars.load(symbol, tf, start_utc, end_utc)  # the finest stored series under it
        lower = lower.between(start_utc, None) if start_utc is not None else lower
        lower = lower if len(lower) else None
    return Prepared(loaded, rule, compiled, recorded.id, recorded.version, recorded.action, bars, source_tf, lower,
                    start_utc, stored_level_bars(store, symbol, bars, compiled))


def _variant_rules(loaded: LoadedRule, symbol: str, grid: Mapping[str, Sequence[Any]],
                   timeframe: Timeframe | str | None) -> list[CompiledRule]:
    """Every variant of the grid's rule paths, compiled, one per distinct warm-up (settings.* change
    none). Invalid values are left to the sweep, which names them."""
    rules = RuleSweeper(loaded, symbol, Bars.empty(symbol, loaded.rule.market.data_timeframe), timeframe=timeframe)
    paths = {p: v for p, v in grid.items() if not p.startswith(SETTINGS_PREFIX)}
    out: dict[Any, CompiledRule] = {}
    try:
        for params in variants(paths) if paths else [{}]:
            compiled = rules.compiled_for(params)
            out.setdefault(warmup_for(compiled), compiled)
    except InputError:
        return []
    return list(out.values())


def backtest_rule(store: Store, rule_ref: str | Path, symbol: str, *, timeframe: Timeframe | str | None = None,
                  start_utc: int | None = None, end_utc: int | None = None, rules_dir: Path | None = None,
                  settings: SimSettings | Mapping[str, Any] | None = None, use_lower: bool = True,
                  progress: Progress | None = None, cancel: Cancel | None = None, **overrides: Any) -> RunResult:
    """Backtest ``rule_ref`` on the stored bars of ``symbol`` in [start_utc, end_utc) and store the run.

    ``overrides``: SimSettings fields (spread_points, commission_per_lot, slippage_points,
    initial_equity, intrabar, max_positions, ...) laid over the instrument's settings."""
    stage = _Stages(progress, cancel, "backtest")
    stage(0.0, "loading the rule and the bars")
    prep = prepare(store, rule_ref, symbol, timeframe=timeframe, start_utc=start_utc, end_utc=end_utc,
                   rules_dir=rules_dir, use_lower=use_lower)
    sim = instrument_settings(prep.compiled, settings, **overrides)
    stage(0.2, f"detectors and setup on {len(prep.bars):,} {prep.source_timeframe} bars")
    run = run_setup(prep.compiled, prep.bars, rule_version_id=prep.version_id, start_utc=start_utc,
                    fine_bars=prep.level_bars)
    stage(0.6, f"simulating {plural(len(run.orders), 'order')}")
    result = run_backtest(run.bars, run.orders, sim, rule_id=prep.rule.rule_id, rule_version=prep.version,
                          store=store, lower=prep.lower, rule_version_id=prep.version_id,
                          warmup=prep.warmup(run.bars.first_time), warmup_bars=run.warmup_bars,
                          occurrences=len(run.occurrences))
    result.levels_from, result.inexact_levels = run.levels_from, run.inexact_levels
    result.occurrences = run.occurrences  # one trip: whoever shows the run draws its setups without a second scan
    stage(1.0, f"run {result.run_id}: {plural(len(result.trades), 'trade')}")
    return result


class RuleSweeper:
    """Orders of variants of one rule on fixed source bars, detections cached.

    ``base`` is the rule's YAML data as written (so paths are the file's own: ``targets.0.r``),
    with the timeframe override applied. ``detector_runs`` counts actual detections (tests and
    the report use it). With ``start_utc`` the bars before it are warm-up: detectors run over
    them, orders come from occurrences signalled at or after it and index :meth:`range_bars_for`."""

    def __init__(self, loaded: LoadedRule, symbol: str, bars: Bars, *, timeframe: Timeframe | str | None = None,
                 rule_version_id: int = 0, start_utc: int | None = None, level_bars: Bars | None = None) -> None:
        data, _, issues = parse_yaml(loaded.version.text, str(loaded.path))
        if data is None or issues:
            raise InputError(f"{loaded.path}: cannot re-read the rule for a sweep")
        if timeframe is not None:
            data["market"]["timeframe"] = Timeframe(timeframe).value
        self.base: dict[str, Any] = data
        self.file = str(loaded.path)
        self.symbol = symbol
        self.bars = bars
        self.rule_version_id = rule_version_id
        self.start_utc = start_utc
        #: finer bars for the session and day levels when ``bars`` are a setup timeframe (run_setup's fine_bars)
        self.level_bars = level_bars
        self.detector_runs = 0
        self._sbars: dict[str, Bars] = {}
        self._detections: dict[tuple, DetectionResult] = {}

    # -- rules ------------------------------------------------------------------------------

    def rule_for(self, params: Mapping[str, Any]) -> Rule:
        """The base rule with ``params`` (rule paths only) set; InputError naming the path(s) when invalid."""
        data = self.base
        for path, value in params.items():
            data = self._set(data, path, value)
        rule = self._validate(data)
        if rule is None:  # name the single path at fault when one alone breaks the rule
            for path, value in params.items():
                if self._validate(self._set(self.base, path, value)) is None:
                    raise InputError(f"--set {path}={value}: {self._problem(self._set(self.base, path, value))}")
            given = ", ".join(f"{p}={v}" for p, v in params.items())
            raise InputError(f"--set {given}: {self._problem(data)}")
        return rule

    def check_grid(self, grid: Mapping[str, Sequence[Any]]) -> None:
        """Every path and value of ``grid`` alone on the base rule (and settings.* names) before any work."""
        for path, values in grid.items():
            if not values:
                raise InputError(f"--set {path}: no values")
            for value in values:
                if path.startswith(SETTINGS_PREFIX):
                    name = path[len(SETTINGS_PREFIX):]
                    try:
                        SimSettings.from_dict({name: value})
                    except (TypeError, ValueError) as exc:
                        raise InputError(f"--set {path}={value}: {exc}") from exc
                else:
                    self.rule_for({path: value})

    def compiled_for(self, params: Mapping[str, Any]) -> CompiledRule:
        try:
            return compile_rule(self.rule_for(params), self.symbol)
        except InputError:
            raise
        except (ValueError, TypeError) as exc:
            given = ", ".join(f"{p}={v}" for p, v in params.items())
            raise InputError(f"--set {given}: {exc}") from exc

    @staticmethod
    def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
        if path in ("rule_id", "version") or not path or any(not part for part in path.split(".")):
            raise InputError(f"--set {path}: not a rule field that can be swept")
        try:
            return set_path(data, path, value)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise InputError(f"--set {path}: no such field in the rule ({_why_not(data, path, exc)})") from exc

    def _validate(self, data: dict[str, Any]) -> Rule | None:
        try:
            rule = Rule.model_validate(data)
        except ValidationError:
            return None
        return rule if not check_rule(data, SourceMap(), self.file) else None

    def _problem(self, data: dict[str, Any]) -> str:
        """The rule's first problem in the trader's words (the loader's messages)."""
        _, issues = validate_text(yaml.safe_dump(data, sort_keys=False), self.file)
        issues = [i for i in issues if "file name" not in i.message and "its folder" not in i.message]
        return "; ".join(i.message for i in issues[:3]) or "the rule is not valid with this value"

    # -- bars, detections, orders -----------------------------------------------------------

    def setup_bars_for(self, compiled: CompiledRule) -> Bars:
        """The compiled rule's setup bars, warm-up included (what the detectors run over)."""
        key = compiled.timeframe.value
        if key not in self._sbars:
            self._sbars[key] = setup_bars(self.bars, compiled)
        return self._sbars[key]

    def range_bars_for(self, compiled: CompiledRule) -> Bars:
        """The setup bars from ``start_utc`` on: what the orders index and the simulation runs on."""
        return self.setup_bars_for(compiled).between(self.start_utc, None)

    def detection_for(self, compiled: CompiledRule) -> DetectionResult:
        """The cached DetectionResult for the compiled rule's timeframe, kinds and params."""
        key = (compiled.timeframe.value, compiled.kinds, repr(compiled.params))
        det = self._detections.get(key)
        if det is None:
            fine = level_bars(self.bars, compiled, self.level_bars)
            buckets = None
            if fine is not None and fine is self.bars:  # the fine bars' setup bars (one more pass, only here)
                from ita_desktop.detectors.fine_levels import buckets_from

                buckets = buckets_from(fine.time, self.setup_bars_for(compiled).time)
            det = detect(self.setup_bars_for(compiled), kinds=compiled.kinds, params=compiled.params, fine_bars=fine,
                         fine_buckets=buckets)
            self.detector_runs += 1
            self._detections[key] = det
        return det

    def orders_for(self, params: Mapping[str, Any]) -> np.ndarray:
        """ORDER_DTYPE rows of the variant ``params`` on its range bars (detections cached)."""
        compiled = self.compiled_for(params)
        sbars = self.setup_bars_for(compiled)
        run = run_setup(compiled, sbars, rule_version_id=self.rule_version_id, detection=self.detection_for(compiled),
                        start_utc=self.start_utc)
        return run.orders

    def timeframe_of(self, params: Mapping[str, Any]) -> str:
        tf = params.get("market.timeframe", self.base["market"]["timeframe"])
        return Timeframe(tf).value


def _why_not(data: Any, path: str, exc: Exception) -> str:
    """Which part of ``path`` cannot be walked: a value where a group is needed, a list index."""
    node, walked = data, []
    for part in path.split("."):
        if isinstance(node, list):
            if not part.lstrip("-").isdigit():
                return f"{'.'.join(walked) or 'the rule'} is a list: expected an index, got {part!r}"
            if not -len(node) <= int(part) < len(node):
                return f"{'.'.join(walked)} has {len(node)} item(s): no index {part}"
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.get(part, {})
        else:
            return f"{'.'.join(walked)} is a value ({node!r}), not a group of fields"
        walked.append(part)
    return str(exc)


def sweep_rule(store: Store, rule_ref: str | Path, symbol: str, grid: Sequence[str] | Mapping[str, Sequence[Any]], *,
               statistic: str = "expectancy_r", timeframe: Timeframe | str | None = None,
               start_utc: int | None = None, end_utc: int | None = None, rules_dir: Path | None = None,
               settings: SimSettings | Mapping[str, Any] | None = None, use_lower: bool = True, chunk: int = 64,
               progress: Progress | None = None, cancel: Cancel | None = None, **overrides: Any) -> SweepResult:
    """Every variant of ``grid`` (["targets.0.r=1,2,3", "settings.spread_points=0,5"]) backtested on the
    stored bars; rows hold the params, ``statistic`` and the summary columns (nothing is stored)."""
    try:
        check_statistic(statistic)
        parsed = parse_grid(grid)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    stage = _Stages(progress, cancel, "sweep")
    stage(0.0, "loading the rule and the bars")
    prep = prepare(store, rule_ref, symbol, timeframe=timeframe, start_utc=start_utc, end_utc=end_utc,
                   rules_dir=rules_dir, use_lower=use_lower, grid=parsed)
    sim = instrument_settings(prep.compiled, settings, **overrides)
    stage(0.03, f"detectors and setups on {len(prep.bars):,} {prep.source_timeframe} bars")
    sweeper = RuleSweeper(prep.loaded, symbol, prep.bars, timeframe=timeframe, rule_version_id=prep.version_id,
                          start_utc=start_utc, level_bars=prep.level_bars)
    result = sweep_variants(sweeper, parsed, sim, statistic=statistic, lower=prep.lower, chunk=chunk,
                            progress=lambda f, m: stage(0.05 + 0.95 * f, m), cancel=cancel)
    ranged = sweeper.range_bars_for(prep.compiled)
    warmup = len(sweeper.setup_bars_for(prep.compiled)) - len(ranged)
    result.meta.update({"rule_id": prep.rule.rule_id, "rule_version": prep.version,
                        "rule_version_id": prep.version_id, "symbol": symbol, "timeframe": prep.compiled.timeframe.value,
                        "bars": len(ranged), "first_utc": ranged.first_time, "last_utc": ranged.last_time,
                        "warmup_bars": warmup, "warmup_from_utc": prep.bars.first_time if warmup else None})
    return result


def sweep_variants(sweeper: RuleSweeper, grid: Mapping[str, Sequence[Any]], settings: SimSettings, *,
                   statistic: str = "expectancy_r", lower: Bars | None = None, chunk: int = 64,
                   progress: Progress | None = None, cancel: Cancel | None = None) -> SweepResult:
    """The sweep itself on the sweeper's bars (no store): variants grouped by timeframe, each group
    simulated on its own setup bars of the sweeper's range, rows returned in grid order. ``lower``
    covers that range (prepare cuts it there)."""
    sweeper.check_grid(grid)
    combos = variants(grid)
    groups: dict[str, list[int]] = {}
    for i, params in enumerate(combos):
        groups.setdefault(sweeper.timeframe_of(params), []).append(i)
    rows: list[dict[str, Any] | None] = [None] * len(combos)
    done = 0
    for tf, idx in groups.items():
        params0 = {k: v for k, v in combos[idx[0]].items() if not k.startswith(SETTINGS_PREFIX)}
        sbars = sweeper.range_bars_for(sweeper.compiled_for(params0))
        sub_lower = lower if lower is not None and tf != lower.timeframe.value else None

        def orders_for(_bars: Bars, params: dict[str, Any]) -> np.ndarray:
            return sweeper.orders_for(params)

        def sub_progress(f: float, message: str, _n: int = len(idx), _done: int = done) -> None:
            if progress is not None:
                progress((_done + f * _n) / len(combos), f"{int(_done + f * _n)} of {len(combos)} variants")

        try:
            group_rows, _ = run_variants(sbars, orders_for, [combos[i] for i in idx], settings, statistic=statistic,
                                         lower=sub_lower, progress=sub_progress, cancel=cancel, chunk=chunk)
        except ValueError as exc:  # a settings.* combination SimSettings refuses
            raise InputError(str(exc)) from exc
        for i, row in zip(idx, group_rows):
            rows[i] = row
        done += len(idx)
    result = SweepResult(statistic, [r for r in rows if r is not None])
    result.meta.update({"grid": {k: list(v) for k, v in grid.items()}, "variants": len(combos),
                        "detector_runs": sweeper.detector_runs})
    return result


def backtest_job(ctx: Any, store: Store, rule_ref: str | Path, symbol: str, **kwargs: Any) -> RunResult:
    """``backtest_rule`` as a JobEngine job: progress and cancel from ``ctx``."""
    return backtest_rule(store, rule_ref, symbol, progress=ctx.progress, cancel=lambda: ctx.cancelled, **kwargs)


def sweep_job(ctx: Any, store: Store, rule_ref: str | Path, symbol: str, grid: Sequence[str], **kwargs: Any
              ) -> SweepResult:
    """``sweep_rule`` as a JobEngine job: progress and cancel from ``ctx``."""
    return sweep_rule(store, rule_ref, symbol, grid, progress=ctx.progress, cancel=lambda: ctx.cancelled, **kwargs)


__all__ = ["Prepared", "RuleSweeper", "backtest_job", "backtest_rule", "instrument_settings", "prepare",
           "sweep_job", "sweep_rule", "sweep_variants", "with_timeframe"]
