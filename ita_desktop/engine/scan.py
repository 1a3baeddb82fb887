"""The scan job: a rule + a symbol -> stored bars -> setup engine -> occurrences (and orders).

The same function serves ``ita scan``, the scheduler and the GUI. It records the rule version
it used (so whatever is made of the result can point at the exact text), loads the stored
bars of the rule's timeframe, or builds them from the finer stored data (M1) when that
timeframe is not stored, and runs the engine over them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.rules.engine import Occurrence, compile_rule, run_setup
from ita_desktop.rules.engine.runner import setup_bars
from ita_desktop.rules.loader import LoadedRule, load_rule, repo_rules_dir
from ita_desktop.rules.versions import version_key
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id, "rule_version": self.rule_version, "rule_version_id": self.rule_version_id,
            "symbol": self.symbol, "timeframe": self.timeframe, "source_timeframe": self.source_timeframe,
            "bars": self.n_bars, "first_utc": self.first_utc, "last_utc": self.last_utc,
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
                    start_utc: int | None, end_utc: int | None) -> tuple[Bars, str]:
    """Stored bars of ``timeframe``, else resampled from the stored ``data_timeframe`` (and which was used)."""
    bars = store.bars.load(symbol, timeframe, start_utc, end_utc)
    if len(bars):
        return bars, timeframe.value
    base = store.bars.load(symbol, data_timeframe, start_utc, end_utc)
    if not len(base):
        raise InputError(f"no stored {symbol} bars ({timeframe.value} or {data_timeframe.value}); "
                         f"import some first: ita data import FILE --symbol {symbol}")
    return base, data_timeframe.value


def scan(store: Store, rule_ref: str | Path, symbol: str, *, timeframe: Timeframe | str | None = None,
         start_utc: int | None = None, end_utc: int | None = None, rules_dir: Path | None = None) -> ScanResult:
    """Occurrences of the rule on the stored bars of ``symbol`` in [start_utc, end_utc)."""
    loaded = resolve_rule(rule_ref, rules_dir)
    rule = loaded.rule
    if timeframe is not None:
        tf = Timeframe(timeframe)
        rule = rule.model_copy(update={"market": rule.market.model_copy(update={"timeframe": tf})})
    recorded = store.rule_versions.record(loaded.version)
    compiled = compile_rule(rule, symbol)
    bars, source_tf = load_setup_bars(store, symbol, compiled.timeframe, rule.market.data_timeframe, start_utc, end_utc)
    sbars = setup_bars(bars, compiled)
    run = run_setup(compiled, sbars, rule_version_id=recorded.id)
    return ScanResult(rule.rule_id, recorded.version, recorded.id, recorded.action, symbol, compiled.timeframe.value,
                      source_tf, len(sbars), sbars.first_time, sbars.last_time, run.occurrences, run.orders)
