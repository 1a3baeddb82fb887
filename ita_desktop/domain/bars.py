"""Columnar OHLC bars: the one shape market data has everywhere after import.

Times are int64 seconds since the Unix epoch, UTC, strictly increasing. Columns are
plain numpy arrays so numba kernels take them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from ita_desktop.domain.timeframes import Timeframe

COLUMNS: tuple[str, ...] = ("time", "open", "high", "low", "close", "tick_volume", "spread", "ingest_id")
DTYPES: dict[str, np.dtype] = {
    "time": np.dtype(np.int64),
    "open": np.dtype(np.float64),
    "high": np.dtype(np.float64),
    "low": np.dtype(np.float64),
    "close": np.dtype(np.float64),
    "tick_volume": np.dtype(np.int64),
    "spread": np.dtype(np.int32),
    "ingest_id": np.dtype(np.int32),
}


@dataclass(frozen=True)
class Bars:
    """A run of bars for one symbol and timeframe. ``ingest_id`` is 0 for bars not yet stored."""

    symbol: str
    timeframe: Timeframe
    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    tick_volume: np.ndarray
    spread: np.ndarray
    ingest_id: np.ndarray = field(default=None)  # type: ignore[assignment]
    demo: bool = False

    def __post_init__(self) -> None:
        n = len(self.time)
        if self.ingest_id is None:
            object.__setattr__(self, "ingest_id", np.zeros(n, dtype=np.int32))
        for name in COLUMNS:
            arr = np.ascontiguousarray(getattr(self, name), dtype=DTYPES[name])
            if arr.ndim != 1 or len(arr) != n:
                raise ValueError(f"column {name} has shape {arr.shape}, expected ({n},)")
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return len(self.time)

    @classmethod
    def empty(cls, symbol: str, timeframe: Timeframe) -> "Bars":
        return cls(symbol, timeframe, **{c: np.empty(0, DTYPES[c]) for c in COLUMNS})

    @classmethod
    def from_columns(cls, symbol: str, timeframe: Timeframe, columns: dict[str, np.ndarray], demo: bool = False) -> "Bars":
        """Build from a mapping that has at least time/open/high/low/close; missing volume/spread become 0."""
        n = len(columns["time"])
        cols = {c: columns.get(c, np.zeros(n, DTYPES[c])) for c in COLUMNS}
        return cls(symbol, timeframe, demo=demo, **cols)

    def columns(self) -> dict[str, np.ndarray]:
        return {c: getattr(self, c) for c in COLUMNS}

    def slice(self, start: int, stop: int) -> "Bars":
        """Bars[start:stop] by position (views, no copy)."""
        return Bars(self.symbol, self.timeframe, demo=self.demo, **{c: getattr(self, c)[start:stop] for c in COLUMNS})

    def between(self, start_utc: int | None = None, end_utc: int | None = None) -> "Bars":
        """Bars with start_utc <= time < end_utc (seconds, UTC); None leaves that side open."""
        lo = 0 if start_utc is None else int(np.searchsorted(self.time, start_utc, side="left"))
        hi = len(self) if end_utc is None else int(np.searchsorted(self.time, end_utc, side="left"))
        return self.slice(lo, hi)

    def take(self, mask_or_index: np.ndarray) -> "Bars":
        return Bars(self.symbol, self.timeframe, demo=self.demo, **{c: getattr(self, c)[mask_or_index] for c in COLUMNS})

    @staticmethod
    def concat(parts: list["Bars"]) -> "Bars":
        if not parts:
            raise ValueError("concat needs at least one Bars")
        first = parts[0]
        cols = {c: np.concatenate([getattr(p, c) for p in parts]) for c in COLUMNS}
        return Bars(first.symbol, first.timeframe, demo=any(p.demo for p in parts), **cols)

    def to_frame(self):  # -> pandas.DataFrame; pandas imported lazily to keep kernels' import light
        import pandas as pd

        frame = pd.DataFrame({c: getattr(self, c) for c in COLUMNS if c != "time"})
        frame.index = pd.to_datetime(self.time, unit="s", utc=True)
        frame.index.name = "time"
        return frame

    @property
    def first_time(self) -> int | None:
        return int(self.time[0]) if len(self) else None

    @property
    def last_time(self) -> int | None:
        return int(self.time[-1]) if len(self) else None


assert tuple(f.name for f in fields(Bars))[2:10] == COLUMNS
