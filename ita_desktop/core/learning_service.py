"""Learning as a core use case: index a rule's occurrences, find similar past setups, the scorer's report.

The faces call these; the index folder is ``<data>/chroma``. No Qt here: the window would run these as
jobs on the engine (the Signals panel's similar setups)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ita_desktop.domain.clock import utc_iso
from ita_desktop.domain.errors import InputError, ItaError

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core
    from ita_desktop.learning.dataset import Dataset
    from ita_desktop.learning.dataset_cache import DatasetCache
    from ita_desktop.learning.proposals import Proposal
    from ita_desktop.learning.sweep_proposals import SweepProposal
    from ita_desktop.learning.scorer import ScoreReport
    from ita_desktop.learning.similar_index import Neighbour, SimilarIndex

Progress = Callable[[float, str], None]
SIGNAL_K = 10  # neighbours shown for a signal (the Signals panel, the notification)


@dataclass
class SimilarSetups:
    rule_id: str
    rule_version: str
    symbol: str
    signal_time: int
    neighbours: list[Neighbour] = field(default_factory=list)

    @property
    def win_rate(self) -> float | None:
        return sum(n.win for n in self.neighbours) / len(self.neighbours) if self.neighbours else None

    @property
    def average_r(self) -> float | None:
        return sum(n.outcome_r for n in self.neighbours) / len(self.neighbours) if self.neighbours else None

    def summary(self) -> str:
        """One line for a notification: "10 similar past setups: win rate 60%, average +0.42R"."""
        if not self.neighbours:
            return "No similar past setup of this rule yet"
        return (f"{len(self.neighbours)} similar past setup{'s' if len(self.neighbours) != 1 else ''}: "
                f"win rate {self.win_rate:.0%}, average {self.average_r:+.2f}R")

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "rule_version": self.rule_version, "symbol": self.symbol,
                "signal_utc": utc_iso(self.signal_time), "k": len(self.neighbours), "win_rate": self.win_rate,
                "average_r": self.average_r, "neighbours": [n.to_dict() for n in self.neighbours]}


class LearningService:
    def __init__(self, core: Core) -> None:
        self._core = core
        self._index: SimilarIndex | None = None
        self._cache: DatasetCache | None = None

    @property
    def folder(self) -> Path:
        return self._core.paths.data / "chroma"

    def index_store(self) -> SimilarIndex:
        from ita_desktop.learning.similar_index import SimilarIndex

        if self._index is None:
            self._index = SimilarIndex(self.folder)
        return self._index

    @property
    def cache(self) -> DatasetCache:
        from ita_desktop.learning.dataset_cache import DatasetCache

        if self._cache is None:
            self._cache = DatasetCache(self._core.paths.cache / "learning")
        return self._cache

    def dataset(self, rule_ref: str | Path, symbol: str) -> Dataset:
        """The rule's occurrences with outcomes on ``symbol``: recomputed from the store only when the rule's text
        or the symbol's stored bars changed since the last call (``learning.dataset_cache``)."""
        from ita_desktop.learning.dataset import build_dataset
        from ita_desktop.learning.dataset_cache import dataset_key

        loaded = self._core.rules.resolve(rule_ref)
        store = self._core.store
        key = dataset_key(loaded.version.content_hash, symbol, store.bars.series(), self._instrument(loaded, symbol))
        return self.cache.get_or_build(loaded.rule.rule_id, symbol, key,
                                       lambda: build_dataset(store, loaded.path, symbol))

    def _instrument(self, loaded: Any, symbol: str) -> dict[str, Any]:
        """The instrument settings the dataset's outcomes depend on: the rule's own for the symbol (point, pip size,
        point value) and the stored instrument row (digits, point, pip size)."""
        out: dict[str, Any] = {}
        inst = loaded.rule.market.symbols.get(symbol)
        if inst is not None:
            out.update({f"rule_{k}": getattr(inst, k, None) for k in ("point", "pip_size", "point_value")})
        row = self._core.store.instruments.get(symbol)
        if row is not None:
            out.update({"stored_digits": row.digits, "stored_point": row.point, "stored_pip_size": row.pip_size})
        return out

    def index(self, rule_ref: str | Path, symbol: str, progress: Progress | None = None) -> tuple[Dataset, str]:
        """The rule's occurrences on ``symbol`` in the collection: ('current' | 'rebuilt')."""
        ds = self.dataset(rule_ref, symbol)
        return ds, self.index_store().ensure(ds, progress)

    def similar(self, rule_ref: str | Path, symbol: str, at_utc: int, k: int = 20,
                progress: Progress | None = None) -> SimilarSetups:
        """The k nearest past setups of the rule's occurrence signalled at ``at_utc`` (or the last before it)."""
        ds, _ = self.index(rule_ref, symbol, progress)
        before = [i for i in range(len(ds)) if ds.signal_time[i] <= at_utc]
        if not before:
            raise InputError(f"no {ds.rule_id} occurrence with an outcome on {symbol} at or before {utc_iso(at_utc)}")
        i = before[-1]
        t = int(ds.signal_time[i])
        return SimilarSetups(ds.rule_id, ds.rule_version, symbol, t,
                             self.index_store().similar(ds.rule_id, symbol, ds.X[i], t, k))

    def similar_to_signal(self, signal: Any, k: int = SIGNAL_K, progress: Progress | None = None) -> SimilarSetups:
        """The k most similar past setups of a stored signal's rule on its symbol, signalled before it.

        The signal's own setup is found among the rule's occurrences on the stored bars (traded or not:
        a live signal is usually still open) by its signal time and direction; its vector is the query."""
        ds, _ = self.index(signal.rule_id, signal.symbol, progress)
        t = int(signal.signal_time)
        hits = [] if ds.all_time is None else \
            [i for i in range(len(ds.all_time)) if ds.all_time[i] == t and ds.all_direction[i] == signal.direction]
        if not hits:
            raise InputError(f"{signal.rule_id} on {signal.symbol}: the signal of {utc_iso(t)} is not an occurrence "
                             f"of v{ds.rule_version} on the stored bars")
        return SimilarSetups(ds.rule_id, ds.rule_version, signal.symbol, t,
                             self.index_store().similar(ds.rule_id, signal.symbol, ds.all_X[hits[0]], t, k))

    def similar_summary(self, signal: Any, k: int = SIGNAL_K) -> str | None:
        """The notification's line on a stored signal (None when it cannot be said: no index, no such setup).
        The Telegram caption builder (outputs/) adds it under the signal's text."""
        try:
            return self.similar_to_signal(signal, k).summary()
        except ItaError:
            return None

    def labels(self, ds: Dataset) -> Any:
        """The trader's label per dataset row (1 valid, 0 invalid, -1 none), from the journal's feedback on the
        rule's signals and trades on the symbol, matched by signal time (any rule version: a label says whether
        the market showed the setup, which a new version does not change)."""
        import numpy as np

        from ita_desktop.learning.scorer import LABEL_INVALID, LABEL_VALID, NO_LABEL

        by_time = {f.signal_time: f.label for f in self._core.store.feedback.list(rule_id=ds.rule_id, symbol=ds.symbol)
                   if f.label}
        code = {"valid": LABEL_VALID, "invalid": LABEL_INVALID}
        return np.array([code.get(by_time.get(int(t)), NO_LABEL) for t in ds.signal_time], dtype=np.int8)

    def score(self, rule_ref: str | Path, symbol: str) -> tuple[Dataset, ScoreReport]:
        from ita_desktop.learning.scorer import walk_forward

        from ita_desktop.learning.scorer import SignalScorer, fit

        ds = self.dataset(rule_ref, symbol)
        labels = self.labels(ds)
        report = walk_forward(ds.X, ds.win, ds.rule_id, symbol, labels)
        if report.beats_base_rate:  # the latest occurrence, scored by a model of the rows before it
            model = SignalScorer(fit(ds.X[:-1], ds.win[:-1], labels[:-1]))
            report.latest_signal_utc = utc_iso(int(ds.signal_time[-1]))
            report.latest_probability = model.probability(ds.X[-1])
        return ds, report

    def propose(self, rule_ref: str | Path, symbol: str) -> Proposal:
        """A proposed version of the rule from its statistics (nothing stored)."""
        from ita_desktop.learning.proposals import propose

        loaded = self._core.rules.resolve(rule_ref)
        ds = self.dataset(loaded.path, symbol)
        return propose(ds, loaded.path.read_text(encoding="utf-8"), self._taken_versions(ds.rule_id))

    def _taken_versions(self, rule_id: str) -> list[str]:
        from ita_desktop.domain.versioning import version_from_path

        taken = []
        for folder, _origin in self._core.rules.folders():
            rule_dir = folder / rule_id
            for f in rule_dir.glob("v*.y*ml") if rule_dir.is_dir() else []:
                where = version_from_path(f)
                if where is not None:
                    taken.append(where[1])
        return taken

    def propose_sweeps(self, rule_ref: str | Path, symbol: str, progress: Progress | None = None,
                       parts: int | None = None) -> list[SweepProposal]:
        """One sweep proposal per candidate path of the rule (learning.sweep_proposals): each path's small
        grid swept walk-forward in ``parts`` parts (default ``WALK_FORWARD_PARTS``) over the stored bars, each
        part's in-sample and out-of-sample window (nothing stored)."""
        from ita_desktop.learning.sweep_proposals import WALK_FORWARD_PARTS, candidate_grid, propose_sweeps
        from ita_desktop.workflows.rule_backtest import prepare, sweep_rule

        loaded = self._core.rules.resolve(rule_ref)
        text = loaded.path.read_text(encoding="utf-8")
        grid = candidate_grid(text, str(loaded.path))
        if not grid:
            return []
        whole = prepare(self._core.store, loaded.path, symbol)
        first, last = whole.bars.first_time, whole.bars.last_time
        if first is None or last is None:
            raise InputError(f"no stored {symbol} bars to sweep {loaded.rule.rule_id} on")
        parts = parts or WALK_FORWARD_PARTS
        done = [0]
        total = 2 * parts * len(grid)

        def sweep(item: dict[str, list[Any]], start: int, end: int) -> list[dict[str, Any]]:
            if progress is not None:
                progress(done[0] / total, f"sweeping {next(iter(item))} walk-forward ({done[0] + 1} of {total})")
            done[0] += 1
            return sweep_rule(self._core.store, loaded.path, symbol, item, start_utc=start, end_utc=end).rows

        return propose_sweeps(text, loaded.rule.rule_id, whole.version, symbol, int(first), int(last) + 1, sweep,
                              self._taken_versions(loaded.rule.rule_id), str(loaded.path), parts)

    def accept(self, proposal: Proposal | SweepProposal) -> Path:
        """The trader accepted: the proposed text saved as a new version (the rules service's save)."""
        if not proposal.proposed_text:
            raise InputError(f"{proposal.rule_id}: there is no proposal to accept ({proposal.message})")
        return self._core.rules.save(proposal.proposed_text)
