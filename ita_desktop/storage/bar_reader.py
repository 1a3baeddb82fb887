"""Reading stored bars and the list of series with plain SQL on sqlite3, without the ORM.

The window's first chart must not wait for SQLAlchemy and SQLModel to import (about half a
second of the 2 s start-up budget): at start-up it reads through a ``BarReader`` on its own
sqlite3 connections while the full ``Store`` opens behind it. ``BarStore`` inherits these
methods and runs them on its engine's connections, so there is one read path.

A series is its monthly chunks plus its live tail (``bar_tail``, a row per bar appended by small
writes, see bar_store): a load reads both in one snapshot and lets the tail win on equal times.
The tail is bounded (folded into the chunks every TAIL_LIMIT bars), so it adds little to a load.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ita_desktop.domain.bars import COLUMNS, DTYPES, Bars
from ita_desktop.domain.clock import utc_iso
from ita_desktop.domain.errors import ItaError
from ita_desktop.domain.timeframes import Timeframe

CODEC = "raw-le"
LITTLE_ENDIAN = {c: DTYPES[c].newbyteorder("<") for c in COLUMNS}

_SERIES_SQL = """
    SELECT c.symbol, c.timeframe, SUM(c.n), MIN(c.lo), MAX(c.hi), i.is_demo
    FROM (SELECT symbol, timeframe, n_bars AS n, first_utc AS lo, last_utc AS hi FROM bar_chunks
          UNION ALL
          SELECT symbol, timeframe, COUNT(*) - SUM(replaces), MIN(time), MAX(time) FROM bar_tail
          GROUP BY symbol, timeframe) c
    JOIN instruments i ON i.symbol = c.symbol
    GROUP BY c.symbol, c.timeframe
"""
_CHUNKS_SQL = f"SELECT month, codec, {', '.join(COLUMNS)} FROM bar_chunks WHERE symbol = ? AND timeframe = ?"
TAIL_SQL = f"SELECT {', '.join(COLUMNS)} FROM bar_tail WHERE symbol = ? AND timeframe = ?"
VALUE_COLUMNS = ("open", "high", "low", "close", "tick_volume", "spread")


def merge_columns(old: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int, int, int]:
    """Union of two time-sorted runs; ``new`` wins on equal times. Returns (merged, new, replaced, unchanged)."""
    old_t, new_t = old["time"], new["time"]
    if not len(old_t):
        return {c: np.asarray(new[c], dtype=DTYPES[c]).copy() for c in COLUMNS}, len(new_t), 0, 0
    pos = np.searchsorted(old_t, new_t)
    at = np.minimum(pos, len(old_t) - 1)
    hit = (pos < len(old_t)) & (old_t[at] == new_t)
    same = hit.copy()
    for c in VALUE_COLUMNS:
        same &= old[c][at] == new[c]
    replace = hit & ~same
    fresh = ~hit

    merged = {c: old[c].copy() for c in COLUMNS}
    for c in COLUMNS:
        merged[c][pos[replace]] = new[c][replace]
    if fresh.any():  # insertion points are sorted and distinct from old times: one O(n) pass, no sort
        merged = {c: np.insert(merged[c], pos[fresh], new[c][fresh]) for c in COLUMNS}
    return merged, int(fresh.sum()), int(replace.sum()), int(same.sum())


def tail_columns(rows: list[tuple]) -> dict[str, np.ndarray]:
    """Rows of ``TAIL_SQL`` (time order) as the store's columns."""
    if not rows:
        return {c: np.empty(0, dtype=DTYPES[c]) for c in COLUMNS}
    return {c: np.array(values, dtype=DTYPES[c]) for c, values in zip(COLUMNS, zip(*rows))}


def optional_utc_iso(t: int | None) -> str | None:
    """``2022-01-04T18:00:00Z`` for epoch seconds, as every command prints times; None stays None."""
    return None if t is None else utc_iso(t)


@dataclass(frozen=True)
class SeriesInfo:
    """One stored series, as listed by ``ita data list`` and the GUI's data panel."""

    symbol: str
    timeframe: Timeframe
    bars: int
    first_utc: int
    last_utc: int
    is_demo: bool

    def to_dict(self) -> dict:
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe.value,
            "bars": self.bars,
            "first_utc": self.first_utc,
            "last_utc": self.last_utc,
            "first_utc_iso": optional_utc_iso(self.first_utc),
            "last_utc_iso": optional_utc_iso(self.last_utc),
            "is_demo": self.is_demo,
        }


class BarReader:
    """Read-only access to the bars of the store file at ``path``; safe to share across threads.

    Every call opens its own short-lived connection (well under a millisecond) and reads in one
    transaction, so it sees one consistent snapshot while a writer commits (WAL).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def at_schema(cls, path: Path, version: int) -> BarReader | None:
        """A reader for ``path`` if the file exists at schema ``version``; None if it must be created or migrated."""
        if not path.is_file():
            return None
        reader = cls(path)
        with reader._connection() as conn:
            found = conn.execute("PRAGMA user_version").fetchone()[0]
        return reader if found == version else None

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                               check_same_thread=False)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def series(self) -> list[SeriesInfo]:
        """Every stored (symbol, timeframe) with its bar count and range, by symbol then timeframe length."""
        with self._snapshot() as conn:
            rows = conn.execute(_SERIES_SQL).fetchall()
        infos = [SeriesInfo(s, Timeframe(tf), int(n), int(lo), int(hi), bool(demo)) for s, tf, n, lo, hi, demo in rows]
        return sorted(infos, key=lambda i: (i.symbol, i.timeframe.minutes))

    def load(self, symbol: str, timeframe: Timeframe, start_utc: int | None = None, end_utc: int | None = None) -> Bars:
        """Bars with start_utc <= time < end_utc (None = open side); empty Bars if nothing is stored."""
        timeframe = Timeframe(timeframe)
        # int(): a numpy integer would bind as a BLOB, and SQLite orders every integer below every blob
        start_utc = None if start_utc is None else int(start_utc)
        end_utc = None if end_utc is None else int(end_utc)
        sql, params = _CHUNKS_SQL, [symbol, timeframe.value]
        if start_utc is not None:
            sql, params = sql + " AND last_utc >= ?", params + [start_utc]
        if end_utc is not None:
            sql, params = sql + " AND first_utc < ?", params + [end_utc]
        tail_sql, tail_params = TAIL_SQL, [symbol, timeframe.value]
        if start_utc is not None:
            tail_sql, tail_params = tail_sql + " AND time >= ?", tail_params + [start_utc]
        if end_utc is not None:
            tail_sql, tail_params = tail_sql + " AND time < ?", tail_params + [end_utc]
        with self._snapshot() as conn:
            rows = conn.execute(sql + " ORDER BY month", params).fetchall()
            tail = conn.execute(tail_sql + " ORDER BY time", tail_params).fetchall()
            demo = conn.execute("SELECT is_demo FROM instruments WHERE symbol = ?", (symbol,)).fetchone()
        if not rows and not tail:
            return Bars.empty(symbol, timeframe)
        for month, codec, *_ in rows:
            if codec != CODEC:
                raise ItaError(f"bar chunk {symbol} {timeframe.value} {month} uses unknown codec {codec!r}")
        parts = {c: [np.frombuffer(row[2 + i], dtype=LITTLE_ENDIAN[c]) for row in rows] for i, c in enumerate(COLUMNS)}
        after = tail_columns(tail)
        appended = not rows or not len(after["time"]) or after["time"][0] > parts["time"][-1][-1]
        if appended:  # the live case: the tail follows the chunks, one concatenation holds both
            columns = {c: np.concatenate(parts[c] + [after[c]]) for c in COLUMNS}
        else:
            columns = merge_columns({c: np.concatenate(parts[c]) for c in COLUMNS}, after)[0]
        bars = Bars(symbol, timeframe, demo=bool(demo and demo[0]), **columns)
        return bars if start_utc is None and end_utc is None else bars.between(start_utc, end_utc)

    def digits(self, symbol: str) -> int | None:
        """Decimals of ``symbol``'s quotes as stored with its first bars; None for an unknown symbol."""
        with self._connection() as conn:
            row = conn.execute("SELECT digits FROM instruments WHERE symbol = ?", (symbol,)).fetchone()
        return None if row is None else int(row[0])
