"""The scan job: a rule + a symbol -> stored bars -> setup engine -> occurrences (and orders).

The same function serves ``ita scan``, the scheduler and the GUI. It records the rule version
it used (so whatever is made of the result can point at the exact text), loads the stored
bars of the rule's timeframe, or builds them from the finer stored data (M1, else the finest
stored series that divides it) when that timeframe is not stored, and runs the engine over them.

A range that starts at T is loaded with the history before T that the rule's detectors need
(``rules.engine.runner.warmup_for``), so a run from T finds on its first days exactly what a
run over all the history finds on them; only occurrences signalled at or after T are reported,
and the reported range (bars, first/last time) is the requested one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe, build_sources
from ita_desktop.rules.engine import CompiledRule, Occurrence, compile_rule, run_setup
from ita_desktop.rules.engine.runner import Warmup, levels_exact_on, warmup_for
from ita_desktop.rules.loader import LoadedRule, load_rule, repo_rules_dir
from ita_desktop.rules.schema import Rule
from ita_desktop.domain.versioning import version_key
from ita_desktop.storage.store import Store


@dataclass
class ScanResult:
    rule_id: str
    rule_version: str
    rule_version_id: int
    version_action: str
    symbol: str
    timeframe: str
    source_timeframe: str
    n_bars: int
    first_utc: int | None
    last_utc: int | None
    occurrences: list[Occurrence]
    orders: np.ndarray
    #: setup bars before the range the detectors ran over, and the time of the first bar loaded for them
    warmup_bars: int = 0
    warmup_from_utc: int | None = None
    #: the timeframe the session and day levels came from, and the levels the rule reads that the
    #: setup bars cannot know exactly (only when no finer bars are stored; name -> HH:MM inside a bar)
    levels_from: str = ""
    inexact_levels: dict[str, tuple[str, ...]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id, "rule_version": self.rule_version, "rule_version_id": self.rule_version_id,
            "symbol": self.symbol, "timeframe": self.timeframe, "source_timeframe": self.source_timeframe,
            "bars": self.n_bars, "first_utc": self.first_utc, "last_utc": self.last_utc,
            "warmup_bars": self.warmup_bars, "warmup_from_utc": self.warmup_from_utc,
            "levels_from": self.levels_from, "inexact_levels": {k: list(v) for k, v in (self.inexact_levels or {}).items()},
            "occurrences": [o.to_dict() for o in self.occurrences], "orders": len(self.orders),
        }


def resolve_rule(ref: str | Path, rules_dir: Path | None = None) -> LoadedRule:
    """A rule file path, or a rule_id whose latest version under ``rules_dir`` (default: the shipped rules/) is used."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return load_rule(path)
    folder = (rules_dir or repo_rules_dir()) / str(ref)
    files = [f for f in folder.glob("v*.y*ml") if f.stem[1:] and _is_version(f.stem[1:])] if folder.is_dir() else []
    if not files:
        raise InputError(f"no rule {str(ref)!r}: not a file, and no {folder}/v<version>.yaml")
    return load_rule(max(files, key=lambda f: version_key(f.stem[1:])))


def _is_version(text: str) -> bool:
    try:
        version_key(text)
        return True
    except ValueError:
        return False


def load_setup_bars(store: Store, symbol: str, timeframe: Timeframe, data_timeframe: Timeframe,
                    start_utc: int | None, end_utc: int | None, *,
                    warm_for: Sequence[CompiledRule] = ()) -> tuple[Bars, str]:
    """Stored bars of ``timeframe`` in [start_utc, end_utc), else those of ``data_timeframe`` it is
    built from (and which was used). With ``warm_for`` and a start, the bars before it that every
    one of those rules needs are loaded too (``warmup_for``): all stored history when one needs
    that, what there is when the store starts later."""
    for tf in source_timeframes(store, symbol, timeframe, data_timeframe):
        bars = store.bars.load(symbol, tf, start_utc, end_utc)
        if not len(bars):
            continue
        if start_utc is None or not warm_for:
            return bars, tf.value
        before = _history_before(store, symbol, tf, start_utc, [warmup_for(c) for c in warm_for])
        return (Bars.concat([before, bars]) if len(before) else bars), tf.value
    raise InputError(f"no stored {symbol} bars ({timeframe.value}, or anything finer to build it from)"
                     + (" in the range asked" if start_utc is not None or end_utc is not None else "")
                     + f"; import some first: ita data import FILE --symbol {symbol}")


def source_timeframes(store: Store, symbol: str, timeframe: Timeframe, data_timeframe: Timeframe) -> list[Timeframe]:
    """Where setup bars of ``timeframe`` may come from, best first: the timeframe stored, the rule's
    data timeframe (M1), then every finer stored series that divides it, finest first: the chart's
    rule (``domain.timeframes.build_sources``, core.series), so a store holding only M5 still runs an M15 rule."""
    finer = build_sources((s.timeframe for s in store.bars.series() if s.symbol == symbol), timeframe)
    usable = [timeframe] + ([data_timeframe] if data_timeframe.minutes <= timeframe.minutes else []) + finer
    return list(dict.fromkeys(usable))


def stored_level_bars(store: Store, symbol: str, bars: Bars, compiled: CompiledRule) -> Bars | None:
    """Finer stored bars for the rule's session and day levels when ``bars`` are its own timeframe (stored
    as such): the finest stored series under it that spans ``bars`` (within one bar at each end: a month
    of M1 under years of H1 would leave the years without levels), over the same time. None: ``bars``
    are finer already (run_setup reads them), or nothing finer covers them."""
    if not len(bars) or bars.timeframe.minutes < compiled.timeframe.minutes or levels_exact_on(compiled):
        return None  # finer already (run_setup reads them), or its own bars hold every level time
    infos = {s.timeframe: s for s in store.bars.series() if s.symbol == symbol}
    first, last = int(bars.time[0]), int(bars.time[-1])
    slack = compiled.timeframe.seconds
    for tf in build_sources(infos, compiled.timeframe, dividing=False):
        if infos[tf].first_utc <= first + slack and infos[tf].last_utc >= last - slack:
            fine = store.bars.load(symbol, tf, first, last + slack)
            if len(fine):
                return fine
    return None


def _history_before(store: Store, symbol: str, tf: Timeframe, start_utc: int, warmups: list[Warmup | None]) -> Bars:
    """The stored ``tf`` bars before ``start_utc`` that meet every warm-up: first a calendar guess,
    then twice as far back each time until the bars are there or the store has nothing earlier."""
    if any(w is None for w in warmups):
        return store.bars.load(symbol, tf, None, start_utc)
    needs = [w for w in warmups if w is not None]
    first_stored = next((s.first_utc for s in store.bars.series() if s.symbol == symbol and s.timeframe == tf),
                        start_utc)
    loaded_from = start_utc - max(w.guess_seconds() for w in needs)
    before = store.bars.load(symbol, tf, loaded_from, start_utc)
    while loaded_from > first_stored and not all(w.met_by(before, loaded_from, start_utc) for w in needs):
        earlier = start_utc - 2 * (start_utc - loaded_from)
        more = store.bars.load(symbol, tf, earlier, loaded_from)
        before = Bars.concat([more, before]) if len(more) else before
        loaded_from = earlier
    return before


def with_timeframe(rule: Rule, timeframe: Timeframe | str | None) -> Rule:
    """The rule run on ``timeframe`` instead of its own (``--timeframe`` of scan, backtest and sweep)."""
    if timeframe is None:
        return rule
    return rule.model_copy(update={"market": rule.market.model_copy(update={"timeframe": Timeframe(timeframe)})})


def scan(store: Store, rule_ref: str | Path, symbol: str, *, timeframe: Timeframe | str | None = None,
         start_utc: int | None = None, end_utc: int | None = None, rules_dir: Path | None = None) -> ScanResult:
    """Occurrences of the rule signalled on the stored bars of ``symbol`` in [start_utc, end_utc), the
    detectors warmed on the history before start_utc."""
    loaded = resolve_rule(rule_ref, rules_dir)
    rule = with_timeframe(loaded.rule, timeframe)
    recorded = store.rule_versions.record(loaded.version)
    compiled = compile_rule(rule, symbol)
    bars, source_tf = load_setup_bars(store, symbol, compiled.timeframe, rule.market.data_timeframe, start_utc, end_utc,
                                      warm_for=[compiled])
    run = run_setup(compiled, bars, rule_version_id=recorded.id, start_utc=start_utc,
                    fine_bars=stored_level_bars(store, symbol, bars, compiled))
    return ScanResult(rule.rule_id, recorded.version, recorded.id, recorded.action, symbol, compiled.timeframe.value,
                      source_tf, len(run.bars), run.bars.first_time, run.bars.last_time, run.occurrences, run.orders,
                      run.warmup_bars, bars.first_time if run.warmup_bars else None, run.levels_from,
                      run.inexact_levels)
