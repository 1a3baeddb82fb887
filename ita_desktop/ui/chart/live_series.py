"""Growing columns for a live chart: closed bars appended in place, the series handed out as views.

A million-bar series copied on every closed bar would cost tens of milliseconds; columns with
room to spare (doubled when full, like a list) make an append cost the new bars only.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ita_desktop.domain.bars import DTYPES, Bars


class GrowingColumns:
    """Named 1-D columns with spare room; ``view(name)`` is the filled part (no copy)."""

    def __init__(self, columns: dict[str, np.ndarray]) -> None:
        self._n = len(next(iter(columns.values()))) if columns else 0
        cap = max(64, 2 * self._n)
        self._room: dict[str, np.ndarray] = {}
        for name, col in columns.items():
            room = np.empty(cap, dtype=col.dtype)
            room[: self._n] = col
            self._room[name] = room

    def __len__(self) -> int:
        return self._n

    def append(self, columns: dict[str, np.ndarray]) -> None:
        k = len(next(iter(columns.values())))
        n = self._n + k
        for name, room in list(self._room.items()):
            if len(room) < n:
                grown = np.empty(max(n, 2 * len(room)), dtype=room.dtype)
                grown[: self._n] = room[: self._n]
                room = self._room[name] = grown
            room[self._n: n] = columns[name]
        self._n = n

    def view(self, name: str) -> np.ndarray:
        return self._room[name][: self._n]


def bars_columns(bars: Bars) -> dict[str, np.ndarray]:
    return {name: getattr(bars, name) for name in DTYPES}


def bars_view(columns: GrowingColumns, like: Bars) -> Bars:
    """The appended series as Bars of views over ``columns`` (same symbol, timeframe, demo flag)."""
    return Bars(like.symbol, like.timeframe, **{name: columns.view(name) for name in DTYPES}, demo=like.demo)


def series_columns(data) -> GrowingColumns:  # data: ChartData
    """Growing columns holding a chart series: its bars, session-clock times and display times."""
    cols = bars_columns(data.bars)
    cols["local"] = data.local
    if data.display is not None:
        cols["display"] = data.display
    return GrowingColumns(cols)


def growable(data):  # ChartData -> ChartData
    """``data`` ready for appends (call it on the worker that prepared it): columns and aggregation
    levels copied once into room to grow, so the GUI thread's first append costs only the new bars."""
    grow = series_columns(data)
    data.pyramid.reserve()
    return replace(data, bars=bars_view(grow, data.bars), local=grow.view("local"),
                   display=grow.view("display") if data.display is not None else None, growing=grow)
