"""A rule's recomputed dataset kept between calls: in memory (the window asks again and again) and on disk (each
`ita learn similar/score` is a new process), so only the first call pays the 10-25 s backtest.

The key is what the rows are made from: the rule's text (its content hash), the instrument's settings (the
rule's point, pip size and point value for the symbol, and the stored instrument row), the symbol's stored series
(every timeframe's bar count and first/last time: new bars, a re-import or a deletion change it) and the
app's version (a code change may change features or outcomes). A key that differs is a miss; the
stale file of that rule and symbol is replaced by the new one. SQLite stays the source of truth:
deleting the folder costs one recomputation.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ita_desktop import __version__
from ita_desktop.learning.dataset import Dataset

log = logging.getLogger(__name__)
FORMAT = 2  # bump when Dataset's fields change: old files are then misses


def dataset_key(rule_hash: str, symbol: str, series: Iterable[Any], instrument: Mapping[str, Any] | None = None) -> str:
    """The cache key of a rule text on a symbol's stored series (SeriesInfo rows of any symbol; others ignored) and
    the instrument's settings the outcomes are measured with (point, pip size, point value, digits: a changed pip
    size must not keep the old outcomes)."""
    parts = [f"v{FORMAT}", __version__, rule_hash, symbol]
    parts += sorted(f"{s.timeframe.value}:{s.bars}:{s.first_utc}:{s.last_utc}" for s in series if s.symbol == symbol)
    parts += [f"{k}={instrument[k]!r}" for k in sorted(instrument or {})]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


class DatasetCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._memory: dict[tuple[str, str], tuple[str, Dataset]] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def _file(self, rule_id: str, symbol: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{rule_id}-{symbol}")
        return self.folder / f"{safe}.pkl"

    def get_or_build(self, rule_id: str, symbol: str, key: str, build: Callable[[], Dataset]) -> Dataset:
        """The dataset stored under ``key``, else ``build()`` stored under it (memory and disk)."""
        with self._lock:
            found = self._memory.get((rule_id, symbol))
        if found is not None and found[0] == key:
            self.hits += 1
            return found[1]
        ds = self._read(rule_id, symbol, key)
        if ds is None:
            self.misses += 1
            ds = build()
            self._write(rule_id, symbol, key, ds)
        else:
            self.hits += 1
        with self._lock:
            self._memory[(rule_id, symbol)] = (key, ds)
        return ds

    def _read(self, rule_id: str, symbol: str, key: str) -> Dataset | None:
        path = self._file(rule_id, symbol)
        try:
            with path.open("rb") as fh:
                stored_key, ds = pickle.load(fh)
        except FileNotFoundError:
            return None
        except Exception as exc:  # a truncated or foreign file: recompute and replace it
            log.warning("learning cache %s unreadable (%s): recomputing", path, exc)
            return None
        return ds if stored_key == key and isinstance(ds, Dataset) else None

    def _write(self, rule_id: str, symbol: str, key: str, ds: Dataset) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self._file(rule_id, symbol)
            tmp = path.with_suffix(".tmp")
            with tmp.open("wb") as fh:
                pickle.dump((key, ds), fh, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)  # whole or not at all: a reader never sees half a file
        except OSError as exc:  # a read-only cache folder costs speed, not results
            log.warning("learning cache not written (%s)", exc)
