"""A rule's occurrences on a symbol's stored bars, with their feature vectors and known outcomes.

Everything is read from the store (the bars and the rule's recorded version) and recomputed by
the rule engine and the simulator, so the index and the scorer can always be rebuilt from SQLite.
An occurrence's outcome is its first trade: ``win`` when the first target was reached before the
stop (``targets_hit >= 1``), ``r`` its R multiple. Occurrences without a trade (skipped, never
filled) carry no outcome and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ita_desktop.rules.engine.occurrences import Occurrence


@dataclass
class Dataset:
    rule_id: str
    rule_version: str
    rule_version_id: int
    symbol: str
    occurrences: list[Occurrence]  # those with a trade, in signal order
    X: np.ndarray  # (n, N_FEATURES) float32
    win: np.ndarray  # bool: first target before the stop
    r: np.ndarray  # R multiple of the first trade
    signal_time: np.ndarray  # UTC seconds
    fingerprint: str  # what the rows were made from: rule version id, bar count, last bar time
    #: every occurrence, traded or not (a signal still open, one skipped): its vector, time and direction,
    #: so a signal's own setup can be looked up (similar setups for the Signals panel)
    all_X: np.ndarray | None = None
    all_time: np.ndarray | None = None
    all_direction: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.occurrences)


def build_dataset(store: Any, rule_ref: str | Path, symbol: str, *, rules_dir: Path | None = None) -> Dataset:
    """Run ``rule_ref`` on every stored bar of ``symbol`` and keep the occurrences that traded.

    The engine, the simulator and the detectors (numba) are imported here, not at the top: a cached
    dataset (``learning.dataset_cache``) is read back without loading them."""
    from ita_desktop.backtest.runs import run_backtest
    from ita_desktop.learning.features import FeatureContext, features_matrix
    from ita_desktop.rules.engine.runner import run_setup
    from ita_desktop.workflows.rule_backtest import instrument_settings, prepare

    prep = prepare(store, rule_ref, symbol, rules_dir=rules_dir)
    run = run_setup(prep.compiled, prep.bars, rule_version_id=prep.version_id, fine_bars=prep.level_bars)
    result = run_backtest(run.bars, run.orders, instrument_settings(prep.compiled), rule_id=prep.rule.rule_id,
                          rule_version=prep.version, lower=prep.lower, rule_version_id=prep.version_id)
    first: dict[int, np.void] = {}
    for row in result.trades.rows:
        first.setdefault(int(row["occurrence"]), row)
    occs = [o for o in run.occurrences if o.id in first]
    ctx = FeatureContext.of(run.bars, prep.compiled.clock)
    X = features_matrix(occs, ctx)
    win = np.array([first[o.id]["targets_hit"] >= 1 for o in occs], dtype=bool)
    r = np.array([float(first[o.id]["r_multiple"]) for o in occs], dtype=np.float64)
    times = np.array([o.signal_time for o in occs], dtype=np.int64)
    last = int(run.bars.time[-1]) if len(run.bars) else 0
    fp = f"{prep.version_id}:{len(run.bars)}:{last}:{len(occs)}"
    every = list(run.occurrences)
    return Dataset(prep.rule.rule_id, prep.version, prep.version_id, symbol, occs, X, win, r, times, fp,
                   features_matrix(every, ctx), np.array([o.signal_time for o in every], dtype=np.int64),
                   np.array([o.direction for o in every], dtype=np.int8))
