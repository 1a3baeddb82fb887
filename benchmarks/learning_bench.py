"""Learning's budgets (DESIGN: similar-setups query k=20 within 20 ms; score one signal within 5 ms).

Indexes 100,000 occurrences (feature-shaped random vectors, the real vector length) into a fresh
ChromaDB PersistentClient collection, then times k=20 queries restricted to one rule, symbol and
the past, and one signal's calibrated probability. Prints the figures; asserts nothing.

    uv run python benchmarks/learning_bench.py [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ita_desktop.learning.dataset import Dataset
from ita_desktop.learning.features import N_FEATURES
from ita_desktop.learning.scorer import fit
from ita_desktop.learning.similar_index import SimilarIndex


def main(n: int = 100_000) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    win = X[:, 0] + rng.normal(size=n) > 0
    ds = Dataset("bench_rule", "1", 1, "EURUSD", [SimpleNamespace(id=i) for i in range(n)], X, win,
                 np.where(win, 1.5, -1.0), 1_600_000_000 + np.arange(n, dtype=np.int64) * 300, "bench")
    with tempfile.TemporaryDirectory() as tmp:
        index = SimilarIndex(Path(tmp) / "chroma")
        t = time.perf_counter()
        index.index(ds)
        print(f"index {n:,} occurrences: {time.perf_counter() - t:.1f} s ({index.count():,} in the collection)")
        times = []
        for q in rng.integers(n // 2, n, 50):
            t = time.perf_counter()
            got = index.similar("bench_rule", "EURUSD", X[q], int(ds.signal_time[q]), 20)
            times.append((time.perf_counter() - t) * 1000)
            assert len(got) == 20
        print(f"query k=20 (past only): median {statistics.median(times):.1f} ms, max {max(times):.1f} ms (budget 20 ms)")
    model = fit(X[:20_000], win[:20_000])
    one = X[-1:].astype(np.float64)
    model.predict_proba(one)
    times = []
    for _ in range(200):
        t = time.perf_counter()
        model.predict_proba(one)
        times.append((time.perf_counter() - t) * 1000)
    print(f"score one signal: median {statistics.median(times):.2f} ms, max {max(times):.2f} ms (budget 5 ms)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
