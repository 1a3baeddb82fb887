"""The similar-setups index: a ChromaDB PersistentClient collection in the data folder.

Vectors are precomputed (features.py, standardised per rule and symbol) and added with
``embedding_function=None``: Chroma's default embedding function downloads a model at first use,
which a trader's machine may not allow. Telemetry is off. The collection is a cache: SQLite
(bars, rule versions) is the source of truth, and a manifest beside the collection records, per
rule and symbol, the fingerprint of what was indexed and the scaling; a missing collection or a
changed fingerprint makes :meth:`SimilarIndex.ensure` rebuild those rows, reporting progress.
"""

from __future__ import annotations

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

    def to_dict(self) -> dict[str, Any]:
        from ita_desktop.domain.clock import utc_iso
        return {"id": self.id, "signal_utc": utc_iso(self.signal_time), "distance": round(self.distance, 6),
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
        self._col = self._client.get_or_create_collection(COLLECTION, embedding_function=None,
                                                          metadata={"hnsw:space": "l2"})
        self._manifest_path = self.folder / "manifest.json"

    # -- manifest --------------------------------------------------------------------------------
    def _manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self._manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _write_manifest(self, m: dict[str, Any]) -> None:
        self._manifest_path.write_text(json.dumps(m, indent=1), encoding="utf-8")

    def _stored_count(self, rule_id: str, symbol: str) -> int:
        got = self._col.get(where={"$and": [{"rule_id": rule_id}, {"symbol": symbol}]}, include=[])
        return len(got["ids"])

    def is_current(self, ds: Dataset) -> bool:
        entry = self._manifest().get(_key(ds.rule_id, ds.symbol))
        return bool(entry) and entry["fingerprint"] == ds.fingerprint and \
            self._stored_count(ds.rule_id, ds.symbol) == entry["count"]

    # -- building --------------------------------------------------------------------------------
    def ensure(self, ds: Dataset, progress: Progress | None = None) -> str:
        """Index ``ds`` unless the collection already holds exactly it: 'current' or 'rebuilt'."""
        if self.is_current(ds):
            return "current"
        self.index(ds, progress)
        return "rebuilt"

    def index(self, ds: Dataset, progress: Progress | None = None) -> int:
        """Replace the rows of ``ds``'s rule and symbol by ``ds`` (batches, progress per batch)."""
        self._col.delete(where={"$and": [{"rule_id": ds.rule_id}, {"symbol": ds.symbol}]})
        mean, std = fit_scale(ds.X)
        vectors = apply_scale(ds.X, mean, std)
        n = len(ds)
        for lo in range(0, n, BATCH):
            hi = min(n, lo + BATCH)
            self._col.add(
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
        return self._col.count()

    # -- querying --------------------------------------------------------------------------------
    def similar(self, rule_id: str, symbol: str, vector: np.ndarray, before_utc: int, k: int = 20) -> list[Neighbour]:
        """The ``k`` nearest indexed setups of the rule on the symbol signalled before ``before_utc`` (the past only)."""
        entry = self._manifest().get(_key(rule_id, symbol))
        if entry is None:
            return []
        q = apply_scale(np.asarray(vector).reshape(1, -1), entry["mean"], entry["std"])
        got = self._col.query(query_embeddings=q, n_results=k, include=["metadatas", "distances"],
                              where={"$and": [{"rule_id": rule_id}, {"symbol": symbol},
                                              {"signal_time": {"$lt": int(before_utc)}}]})
        return [Neighbour(i, int(m["signal_time"]), float(d), float(m["outcome_r"]), bool(m["win"]))
                for i, m, d in zip(got["ids"][0], got["metadatas"][0], got["distances"][0])]
