"""Digests of every detector table and series over the benchmarks' 1,000,000-bar chain (issue 19).

A speed change to a kernel must not change one detected object: ``tests/test_detectors_tables_unchanged.py``
compares these digests with the ones recorded from the code before the change
(``tests/data/detector_digests_1m.json``). Run this module to print the current ones:

    uv run python -m tests.support.detector_digests > tests/data/detector_digests_1m.json

Only when a change is meant to change results (and says so in the Decision Log) is the file re-recorded.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

N_BARS = 1_000_000


def _rows_digest(rows: np.ndarray) -> str:
    """sha256 of every field's values in order (field by field: the rows' padding bytes are whatever the
    memory held, so the raw rows are not comparable)."""
    digest = hashlib.sha256()
    for field in rows.dtype.names:
        digest.update(field.encode())
        digest.update(np.ascontiguousarray(rows[field]).tobytes())
    return digest.hexdigest()


def digests(result) -> dict[str, str]:
    """sha256 of each table's rows (field by field, in order) and of each series, with row counts."""
    out = {}
    for name, rows in sorted(result.tables.items()):
        out[name] = f"{len(rows)}:{_rows_digest(rows)}"
    for name, values in sorted(result.series.items()):
        out[f"series:{name}"] = hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()
    return out


def current(parallel: bool = False) -> dict[str, str]:
    from benchmarks.chained_series import chained_eurusd
    from ita_desktop.detectors.dispatcher import detect

    bars = chained_eurusd(N_BARS)
    return digests(detect(bars, "all", parallel=parallel))


if __name__ == "__main__":
    print(json.dumps(current(), indent=1, sort_keys=True))
