"""Helpers for the detector tests: real bars through the CSV importer, table comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ita_desktop.detectors.objects import FIXED_FIELDS, OBJECT_DTYPE
from ita_desktop.domain.bars import Bars

_CACHE: dict[Path, Bars] = {}


def real_bars(path: Path, symbol: str) -> Bars:
    """The real file read with the app's CSV importer (cached per test session)."""
    if path not in _CACHE:
        from ita_desktop.data.csv_import import read_csv

        _CACHE[path] = read_csv(path, symbol=symbol).bars
    return _CACHE[path]


def ohlc_frame(bars: Bars) -> pd.DataFrame:
    """What smartmoneyconcepts wants: open/high/low/close/volume with a 0..n-1 index."""
    return pd.DataFrame({"open": bars.open, "high": bars.high, "low": bars.low, "close": bars.close,
                         "volume": bars.tick_volume.astype(float)})


def fields_equal(a: np.ndarray, b: np.ndarray, names=OBJECT_DTYPE.names) -> None:
    """Assert two OBJECT_DTYPE arrays are equal on ``names`` (NaN == NaN), naming the first difference."""
    assert len(a) == len(b), f"{len(a)} rows vs {len(b)} rows"
    for name in names:
        x, y = a[name], b[name]
        if x.dtype.kind == "f":
            same = (x == y) | (np.isnan(x) & np.isnan(y))
        else:
            same = x == y
        if not np.all(same):
            k = int(np.flatnonzero(~same)[0])
            raise AssertionError(f"field {name!r} differs first at row {k}: {x[k]!r} vs {y[k]!r}\n{a[k]}\n{b[k]}")


def fixed_equal(a: np.ndarray, b: np.ndarray) -> None:
    fields_equal(a, b, FIXED_FIELDS)


def make_bars(ohlc, start: int = 1_700_000_000, step: int = 60, symbol: str = "TEST") -> Bars:
    """Bars from a list of (open, high, low, close) rows, one minute apart."""
    from ita_desktop.domain.timeframes import Timeframe

    a = np.asarray(ohlc, dtype=np.float64).reshape(-1, 4)
    n = len(a)
    for k, (o, h, lo, c) in enumerate(a):
        assert lo <= min(o, c) and h >= max(o, c), f"bad hand-built bar {k}: {(o, h, lo, c)}"
    return Bars.from_columns(symbol, Timeframe.M1, {
        "time": start + step * np.arange(n, dtype=np.int64), "open": a[:, 0], "high": a[:, 1],
        "low": a[:, 2], "close": a[:, 3]})
