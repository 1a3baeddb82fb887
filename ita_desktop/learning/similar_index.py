"""The similar-setups index: a ChromaDB PersistentClient collection in the data folder.

One collection per rule and symbol (``setups-<hash>``): a ``where`` on rule and symbol in one shared
collection made Chroma filter its metadata before every search (745 ms median for k=20 among
100,000 rows; budget 20 ms). A query asks for the nearest few without a filter and keeps those
signalled before the asked time; only when too few are left (a query in the middle of the history)
does it ask again with the time filter, the slow path. Vectors are precomputed (features.py, standardised per rule and symbol) and added with
``embedding_function=None``: Chroma's default embedding function downloads a model at first use,
which a trader's machine may not allow. Telemetry is off. The collection is a cache: SQLite
(bars, rule versions) is the source of truth, and a manifest beside the collection records, per
rule and symbol, the fingerprint of what was indexed and the scaling; a missing collection or a
changed fingerprint makes :meth:`SimilarIndex.ensure` rebuild those rows, reporting progress.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ita_desktop.learning.dataset import Dataset
from ita_desktop.learning.scaling import apply_scale, fit_scale

COLLECTION = "setups"
BATCH = 5_000
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Neighbour:
    id: str
    signal_time: int
    distance: float
    outcome_r: float
    win: bool

    @property
    def similarity(self) -> float:
        """1 for the same setup, falling towards 0: 1 / (1 + mean squared standardised difference per feature)
        (Chroma's distance is the squared L2 over the standardised vector)."""
        from ita_desktop.learning.features import N_FEATURES

        return 1.0 / (1.0 + max(self.distance, 0.0) / N_FEATURES)

    def to_dict(self) -> dict[str, Any]:
        from ita_desktop.domain.clock import utc_iso
        return {"id": self.id, "signal_utc": utc_iso(self.signal_time), "distance": round(self.distance, 6),
                "similarity": round(self.similarity, 4),
                "outcome_r": round(self.outcome_r, 4), "win": self.win}


def _key(rule_id: str, symbol: str) -> str:
    return f"{rule_id}|{symbol}"


class SimilarIndex:
    """The collection and its manifest under ``folder`` (the data folder's ``chroma``)."""

    def __init__(self, folder: Path) -> None:
        import chromadb
        from chromadb.config import Settings

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(path=str(self.folder),
                                                 settings=Settings(anonymized_telemetry=False, allow_reset=True))
        self._manifest_path = self.folder / "manifest.json"

    # -- manifest --------------------------------------------------------------------------------
    def _manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self._manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _write_manifest(self, m: dict[str, Any]) -> None:
        self._manifest_path.write_text(json.dumps(m, indent=1), encoding="utf-8")

    def _collection(self, rule_id: str, symbol: str):
        name = f"{COLLECTION}-{hashlib.sha1(_key(rule_id, symbol).encode()).hexdigest()[:16]}"
        return self._client.get_or_create_collection(name, embedding_function=None,
                                                     metadata={"hnsw:space": "l2", "rule_id": rule_id,
                                                               "symbol": symbol})

    def _stored_count(self, rule_id: str, symbol: str) -> int:
        return self._collection(rule_id, symbol).count()

    def is_current(self, ds: Dataset) -> bool:
        entry = self._manifest().get(_key(ds.rule_id, ds.symbol))
        return bool(entry) and entry["fingerprint"] == ds.fingerprint and \
            self._stored_count(ds.rule_id, ds.symbol) == entry["count"]

    def entry(self, rule_id: str, symbol: str) -> dict[str, Any] | None:
        """What the collection of the rule on the symbol was built from (fingerprint, count, scaling, rule_version),
        or None when it was never built or no longer holds its rows (a deleted folder)."""
        entry = self._manifest().get(_key(rule_id, symbol))
        if not entry or self._stored_count(rule_id, symbol) != entry["count"]:
            return None
        return entry

    # -- building --------------------------------------------------------------------------------
    def ensure(self, ds: Dataset, progress: Progress | None = None) -> str:
        """Index ``ds`` unless the collection already holds exactly it: 'current' or 'rebuilt'."""
        if self.is_current(ds):
            return "current"
        self.index(ds, progress)
        return "rebuilt"

    def index(self, ds: Dataset, progress: Progress | None = None) -> int:
        """Replace the rows of ``ds``'s rule and symbol by ``ds`` (batches, progress per batch)."""
        name = self._collection(ds.rule_id, ds.symbol).name
        self._client.delete_collection(name)
        col = self._collection(ds.rule_id, ds.symbol)
        mean, std = fit_scale(ds.X)
        vectors = apply_scale(ds.X, mean, std)
        n = len(ds)
        for lo in range(0, n, BATCH):
            hi = min(n, lo + BATCH)
            col.add(
                ids=[self.row_id(ds, i) for i in range(lo, hi)],
                embeddings=vectors[lo:hi],
                metadatas=[{"rule_id": ds.rule_id, "rule_version": ds.rule_version, "symbol": ds.symbol,
                            "signal_time": int(ds.signal_time[i]), "outcome_r": float(ds.r[i]),
                            "win": bool(ds.win[i]), "feedback": ""} for i in range(lo, hi)])
            if progress:
                progress(hi / n, f"indexed {hi:,} of {n:,} {ds.rule_id} occurrences on {ds.symbol}")
        m = self._manifest()
        m[_key(ds.rule_id, ds.symbol)] = {"fingerprint": ds.fingerprint, "count": n, "mean": mean, "std": std,
                                          "rule_version": ds.rule_version}
        self._write_manifest(m)
        return n

    @staticmethod
    def row_id(ds: Dataset, i: int) -> str:
        return f"{ds.rule_id}|{ds.rule_version}|{ds.symbol}|{int(ds.signal_time[i])}|{ds.occurrences[i].id}"

    def count(self) -> int:
        """Occurrences indexed over every rule and symbol."""
        return sum(self._client.get_collection(c.name if hasattr(c, "name") else c).count()
                   for c in self._client.list_collections())

    # -- querying --------------------------------------------------------------------------------
    def similar(self, rule_id: str, symbol: str, vector: np.ndarray, before_utc: int, k: int = 20) -> list[Neighbour]:
        """The ``k`` nearest indexed setups of the rule on the symbol signalled before ``before_utc`` (the past only)."""
        entry = self._manifest().get(_key(rule_id, symbol))
        if entry is None:
            return []
        q = apply_scale(np.asarray(vector).reshape(1, -1), entry["mean"], entry["std"])
        col = self._collection(rule_id, symbol)
        total = col.count()
        for n, where in ((k + 1, None), (4 * k, None), (k, {"signal_time": {"$lt": int(before_utc)}})):
            got = col.query(query_embeddings=q, n_results=max(1, min(n, total)), where=where,
                            include=["metadatas", "distances"])
            found = [Neighbour(i, int(m["signal_time"]), float(d), float(m["outcome_r"]), bool(m["win"]))
                     for i, m, d in zip(got["ids"][0], got["metadatas"][0], got["distances"][0])
                     if int(m["signal_time"]) < before_utc]
            if len(found) >= k or (where is None and n >= total):
                return found[:k]
        return found[:k]
