"""Closed bars kept in growing numpy columns, so a live session can hand any recent stretch to the
simulator as ``Bars`` without copying the history on every bar (capacity doubles when full)."""

from __future__ import annotations

import numpy as np

from ita_desktop.domain.bars import COLUMNS, DTYPES, Bars
from ita_desktop.domain.timeframes import Timeframe


class BarBuffer:
    def __init__(self, symbol: str, timeframe: Timeframe, history: Bars | None = None, capacity: int = 4096) -> None:
        self.symbol, self.timeframe = symbol, timeframe
        n = len(history) if history is not None else 0
        size = max(capacity, 2 * n)
        self._cols = {c: np.zeros(size, DTYPES[c]) for c in COLUMNS}
        if history is not None:
            for c in COLUMNS:
                self._cols[c][:n] = getattr(history, c)
        self.n = n

    def __len__(self) -> int:
        return self.n

    def append(self, bar: object) -> None:
        """``bar``: anything with time, open, high, low, close (tick_volume, spread optional) attributes."""
        if self.n == len(self._cols["time"]):
            self._cols = {c: np.concatenate([a, np.zeros(len(a), a.dtype)]) for c, a in self._cols.items()}
        i, cols = self.n, self._cols
        cols["time"][i] = bar.time  # type: ignore[attr-defined]
        cols["open"][i] = bar.open  # type: ignore[attr-defined]
        cols["high"][i] = bar.high  # type: ignore[attr-defined]
        cols["low"][i] = bar.low  # type: ignore[attr-defined]
        cols["close"][i] = bar.close  # type: ignore[attr-defined]
        cols["tick_volume"][i] = getattr(bar, "tick_volume", 0)
        cols["spread"][i] = getattr(bar, "spread", 0)
        self.n += 1

    @property
    def last_time(self) -> int | None:
        return int(self._cols["time"][self.n - 1]) if self.n else None

    def bars(self, lo: int = 0, hi: int | None = None) -> Bars:
        """Bars[lo:hi] as views (valid until the next append grows the buffer)."""
        hi = self.n if hi is None else min(hi, self.n)
        return Bars(self.symbol, self.timeframe, **{c: self._cols[c][lo:hi] for c in COLUMNS})

    def index_at_or_after(self, time_utc: int) -> int:
        return int(np.searchsorted(self._cols["time"][: self.n], time_utc, side="left"))
