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
from ita_desktop.learning.scorer import SignalScorer, fit
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
        for what, rows, at in (("a new signal (after every indexed one)", rng.normal(size=(50, N_FEATURES)), None),
                               ("an indexed occurrence in the history's second half", None, "mid")):
            times = []
            for j in range(50):
                if at is None:
                    vec, before = rows[j], int(ds.signal_time[-1]) + 300
                else:
                    q = int(rng.integers(n // 2, n))
                    vec, before = X[q], int(ds.signal_time[q])
                t = time.perf_counter()
                got = index.similar("bench_rule", "EURUSD", vec, before, 20)
                times.append((time.perf_counter() - t) * 1000)
                assert len(got) == 20
            print(f"query k=20, {what}: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms "
                  f"(budget 20 ms)")
    model = fit(X[:20_000], win[:20_000])
    one = X[-1:].astype(np.float64)
    model.predict_proba(one)
    times = []
    for _ in range(200):
        t = time.perf_counter()
        model.predict_proba(one)
        times.append((time.perf_counter() - t) * 1000)
    print(f"score one signal, scikit-learn predict_proba: median {statistics.median(times):.2f} ms, "
          f"max {max(times):.2f} ms (budget 5 ms)")
    fast = SignalScorer(model)
    times = []
    for _ in range(200):
        t = time.perf_counter()
        fast.probability(one[0])
        times.append((time.perf_counter() - t) * 1000)
    print(f"score one signal, SignalScorer: median {statistics.median(times):.3f} ms, max {max(times):.3f} ms (budget 5 ms)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
