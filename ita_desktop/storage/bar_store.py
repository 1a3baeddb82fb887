"""Bars in the store: columnar monthly chunks, merged on write, concatenated on load.

Each (symbol, timeframe, UTC month) is one row whose columns hold the raw little-endian
bytes of the numpy arrays. Raw bytes, not compressed: loading is then a memcpy per column,
which is what keeps a million M1 bars under the 100 ms budget (zlib and zstd decode cost
5-30 ms per column per million values, several times the whole budget over 8 columns).

Writing an ingest merges it into the chunks it touches: the union by time, where the new
bars win on timestamps that exist already. A bar whose values are identical is counted
"unchanged" and keeps the ingest_id it had, so every bar traces to the ingest that last
changed it. The whole write is one transaction. Loading (concatenating a series' chunks) is
``bar_reader.BarReader``'s, shared with the window's ORM-free start-up path.

Small writes (a live session's closed bar, at most TAIL_WRITE_MAX bars) go to the series' live
tail instead: ``bar_tail`` holds one row per bar, so storing a closed M1 bar is an INSERT of one
small row, not a rewrite of its month chunk (~2 MB, 50 ms). Same merge semantics: a bar equal to
the stored one (in the tail or its chunk) is unchanged and not written; one that differs from its
chunk's goes to the tail marked ``replaces`` and wins on load. The tail is folded into the chunks
(``_fold``) when it reaches TAIL_LIMIT bars, before any large ingest of the series (so the
newer ingest wins over it), and by ``compact``. Each step is one SQLite transaction (WAL): a kill
at any point leaves either the bars in the tail or the bars in the chunks, never neither or both.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time as _time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ita_desktop.domain.bars import COLUMNS, DTYPES, Bars
from ita_desktop.domain.errors import InputError, ItaError
from ita_desktop.domain.ingest import Finding, ImportResult
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.storage import plain_sql
from ita_desktop.storage.bar_reader import (CODEC, LITTLE_ENDIAN, TAIL_SQL, VALUE_COLUMNS, BarReader, merge_columns,
                                            optional_utc_iso, tail_columns)

if TYPE_CHECKING:  # the ORM is imported by writes only: reading bars (a backtest) never loads it
    from sqlalchemy import Engine
    from sqlmodel import Session

    from ita_desktop.storage.models import BarChunk

log = logging.getLogger("ita.storage")

SOURCES = ("csv", "mt5", "demo", "replay", "live")
#: a write of at most this many bars goes to the series' live tail (a row per bar) instead of its chunks
TAIL_WRITE_MAX = 64
#: the tail is folded into the month chunks when it holds this many bars (a day of M1): one chunk
#: rewrite per TAIL_LIMIT live bars instead of one per bar, and a load reads at most this many rows
TAIL_LIMIT = 1440
MAX_FINDING_ROWS = 1000


@dataclass
class IngestSummary:
    """What one write did. ``rows_stored`` = new + replaced + unchanged (the accepted bars of the file)."""

    ingest_id: int
    symbol: str
    timeframe: Timeframe
    source: str
    source_format: str
    path: str
    rows_read: int
    rows_stored: int
    new: int
    replaced: int
    unchanged: int
    rejected: int
    first_utc: int | None
    last_utc: int | None
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready (CLI --json, job history): times as epoch seconds and ISO, findings with counts."""
        return {
            "ingest_id": self.ingest_id,
            "symbol": self.symbol,
            "timeframe": self.timeframe.value,
            "source": self.source,
            "source_format": self.source_format,
            "path": self.path,
            "rows_read": self.rows_read,
            "rows_stored": self.rows_stored,
            "new": self.new,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "first_utc": self.first_utc,
            "last_utc": self.last_utc,
            "first_utc_iso": optional_utc_iso(self.first_utc),
            "last_utc_iso": optional_utc_iso(self.last_utc),
            "findings": [f.to_dict() for f in self.findings],
        }


def month_keys(time: np.ndarray) -> np.ndarray:
    """UTC month of each epoch second as yyyymm (the chunk key)."""
    months = time.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)
    return (1970 + months // 12) * 100 + months % 12 + 1


def month_runs(months: np.ndarray) -> Iterator[tuple[int, int, int]]:
    """(month, first index, end index) of each run of equal month keys in time-sorted bars."""
    cuts = np.flatnonzero(np.diff(months)) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(months)]):
        yield int(months[lo]), int(lo), int(hi)


def new_chunk(symbol: str, timeframe: Timeframe, month: int) -> BarChunk:
    """An empty chunk row for a month the series has no bars in yet."""
    from ita_desktop.storage.models import BarChunk
    return BarChunk(symbol=symbol, timeframe=timeframe.value, month=month, n_bars=0, first_utc=0, last_utc=0)


def encode_chunk(columns: dict[str, np.ndarray]) -> dict[str, bytes]:
    return {c: np.ascontiguousarray(columns[c], dtype=LITTLE_ENDIAN[c]).tobytes() for c in COLUMNS}


def decode_chunk(chunk: BarChunk) -> dict[str, np.ndarray]:
    if chunk.codec != CODEC:
        raise ItaError(f"bar chunk {chunk.symbol} {chunk.timeframe} {chunk.month} uses unknown codec {chunk.codec!r}")
    return {c: np.frombuffer(getattr(chunk, c), dtype=LITTLE_ENDIAN[c]) for c in COLUMNS}


def _check_symbol(symbol: str) -> str:
    name = symbol.strip()
    if not name or any(ch.isspace() for ch in name):
        raise InputError(f"invalid symbol {symbol!r}: expected a name such as EURUSD, without spaces", column="symbol")
    return name


def _check_bars(bars: Bars, timeframe: Timeframe, path: str) -> None:
    """The store's own guard: an importer bug must not write unsorted or non-finite bars."""
    if bars.timeframe != timeframe:
        raise InputError(f"bars are {bars.timeframe.value} but were to be stored as {timeframe.value}", file=path)
    bad = np.flatnonzero(np.diff(bars.time) <= 0)
    if len(bad):
        raise InputError(f"bar times are not strictly increasing at bar {int(bad[0]) + 1}", file=path)
    for c in ("open", "high", "low", "close"):
        bad = np.flatnonzero(~np.isfinite(getattr(bars, c)))
        if len(bad):
            raise InputError(f"bar {int(bad[0])} has a non-finite {c}", file=path, column=c)


class BarStore(BarReader):
    """Writes ingests into the chunks (through the ORM); reads (``load``, ``series``, ``digits``) are BarReader's,
    on plain sqlite3 connections set up as the engine's (``plain_sql``), so reading bars never loads the ORM."""

    def __init__(self, path: Path, engine: Callable[[], Engine]) -> None:
        super().__init__(Path(path))
        self._engine_of = engine

    @property
    def _engine(self) -> Engine:
        return self._engine_of()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with plain_sql.connection(self.path) as conn:
            yield conn

    def write(self, result: ImportResult, *, symbol: str, timeframe: Timeframe, source: str,
              also: Callable[[Session, int], object] | None = None, ingest_id: int | None = None) -> IngestSummary:
        """Record the ingest and merge its bars, all in one transaction (nothing changes if anything fails).

        ``also(session, ingest_id)`` runs inside that transaction after the merge: a live session
        stores the signals its bars produced with them (both or neither).

        ``ingest_id``: these bars continue that ingest (same symbol, timeframe and source) instead of
        recording a new one: its counts grow and its first/last time widen. A live session writes each
        closed bar so, one ingest row per session and day instead of one per bar."""
        symbol = _check_symbol(symbol)
        timeframe = Timeframe(timeframe)
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
        bars = result.bars
        _check_bars(bars, timeframe, result.path)
        is_demo = source == "demo"
        from sqlalchemy import insert, update

        from ita_desktop.storage.db import write_session
        from ita_desktop.storage.instruments import Instruments
        from ita_desktop.storage.models import Ingest

        with write_session(self._engine) as session:
            conn = session.connection()
            # plain SQL for the instrument check and the ingest row: the ORM's unit of work cost about
            # as much as the whole live-tail write, on every closed bar
            held_demo = conn.exec_driver_sql("SELECT is_demo FROM instruments WHERE symbol = ?", (symbol,)).fetchone()
            if held_demo is None:
                held_demo = (Instruments.ensure(session, symbol, bars, is_demo=is_demo).is_demo,)
            if bool(held_demo[0]) != is_demo:
                held = "made-up demo" if held_demo[0] else "real"
                raise InputError(f"{symbol} holds {held} bars; store {source} bars under another symbol", file=result.path)
            table = Ingest.__table__  # type: ignore[attr-defined]
            continued = ingest_id is not None
            if continued:
                held_ingest = conn.exec_driver_sql("SELECT symbol, timeframe, source FROM ingests WHERE ingest_id = ?",
                                                   (ingest_id,)).fetchone()
                if held_ingest is None or tuple(held_ingest) != (symbol, timeframe.value, source):
                    raise ValueError(f"ingest {ingest_id} is not a {source} ingest of {symbol} {timeframe.value} "
                                     f"(it holds {tuple(held_ingest) if held_ingest else 'nothing'}): cannot continue it")
            else:
                ingest_id = int(conn.execute(insert(table).values(
                    source=source,
                    source_format=result.source_format,
                    path=result.path,
                    file_hash=result.file_hash,
                    symbol=symbol,
                    timeframe=timeframe.value,
                    server_tz=result.server_tz,
                    rows_read=result.rows_read,
                    rows_stored=len(bars),
                    rows_rejected=result.rows_rejected,
                    bars_new=0,
                    bars_replaced=0,
                    bars_unchanged=0,
                    first_utc=bars.first_time,
                    last_utc=bars.last_time,
                    findings_json=json.dumps([f.to_dict(MAX_FINDING_ROWS) for f in result.findings]),
                    created_at=int(_time.time()),
                )).inserted_primary_key[0])
            if len(bars) <= TAIL_WRITE_MAX:
                new, replaced, unchanged = self._append_tail(session, symbol, timeframe, bars, ingest_id)
            else:
                self._fold(session, symbol, timeframe)
                new, replaced, unchanged = self._merge(session, symbol, timeframe, bars, ingest_id)
            if continued:
                conn.exec_driver_sql(
                    "UPDATE ingests SET rows_read = rows_read + ?, rows_stored = rows_stored + ?, "
                    "rows_rejected = rows_rejected + ?, bars_new = bars_new + ?, bars_replaced = bars_replaced + ?, "
                    "bars_unchanged = bars_unchanged + ?, first_utc = MIN(COALESCE(first_utc, ?), ?), "
                    "last_utc = MAX(COALESCE(last_utc, ?), ?) WHERE ingest_id = ?",
                    (result.rows_read, len(bars), result.rows_rejected, new, replaced, unchanged, bars.first_time,
                     bars.first_time, bars.last_time, bars.last_time, ingest_id))
            else:
                conn.execute(update(table).where(table.c.ingest_id == ingest_id).values(
                    bars_new=new, bars_replaced=replaced, bars_unchanged=unchanged))
            if also is not None:
                also(session, ingest_id)
            summary = IngestSummary(
                ingest_id=ingest_id,
                symbol=symbol,
                timeframe=timeframe,
                source=source,
                source_format=result.source_format,
                path=result.path,
                rows_read=result.rows_read,
                rows_stored=len(bars),
                new=new,
                replaced=replaced,
                unchanged=unchanged,
                rejected=result.rows_rejected,
                first_utc=bars.first_time,
                last_utc=bars.last_time,
                findings=list(result.findings),
            )
        log.info(
            "ingest %d: %s %s from %s: %d new, %d replaced, %d unchanged",
            summary.ingest_id, symbol, timeframe.value, result.path, new, replaced, unchanged,
        )
        return summary

    def _merge(self, session: Session, symbol: str, timeframe: Timeframe, bars: Bars, ingest_id: int) -> tuple[int, int, int]:
        """Merge ``bars`` into their monthly chunks, rewriting only chunks that change."""
        if not len(bars):
            return 0, 0, 0
        months = month_keys(bars.time)
        existing = self._chunks_of_months(session, symbol, timeframe, months)
        totals = np.zeros(3, dtype=np.int64)
        for month, lo, hi in month_runs(months):
            part = {c: getattr(bars, c)[lo:hi] for c in COLUMNS}
            part["ingest_id"] = np.full(hi - lo, ingest_id, dtype=DTYPES["ingest_id"])
            chunk = existing.get(month)
            if chunk is None:
                chunk = new_chunk(symbol, timeframe, month)
                merged, counts = part, (hi - lo, 0, 0)
            else:
                merged, *counts = merge_columns(decode_chunk(chunk), part)
            totals += counts
            if counts[0] or counts[1]:
                self._put_chunk(session, chunk, merged)
        return int(totals[0]), int(totals[1]), int(totals[2])

    @staticmethod
    def _chunks_of_months(session: Session, symbol: str, timeframe: Timeframe, months: np.ndarray) -> dict[int, BarChunk]:
        """The stored chunks of the series for these UTC months, by month (one select for a merge or a fold)."""
        from sqlmodel import select

        from ita_desktop.storage.models import BarChunk
        wanted = sorted({int(m) for m in months})
        query = select(BarChunk).where(
            BarChunk.symbol == symbol,
            BarChunk.timeframe == timeframe.value,
            BarChunk.month.in_(wanted),  # type: ignore[attr-defined]
        )
        return {chunk.month: chunk for chunk in session.exec(query)}

    @staticmethod
    def _put_chunk(session: Session, chunk: BarChunk, merged: dict[str, np.ndarray]) -> None:
        for c, blob in encode_chunk(merged).items():
            setattr(chunk, c, blob)
        chunk.codec = CODEC
        chunk.n_bars = len(merged["time"])
        chunk.first_utc, chunk.last_utc = int(merged["time"][0]), int(merged["time"][-1])
        session.add(chunk)
        session.flush()  # each chunk goes to SQLite as it is merged; the commit still takes all or none

    # -- the live tail ------------------------------------------------------------------------------

    def _append_tail(self, session: Session, symbol: str, timeframe: Timeframe, bars: Bars,
                     ingest_id: int) -> tuple[int, int, int]:
        """Merge a few bars into the series' tail rows: no chunk is rewritten (a chunk's blobs are read
        only for bars inside its time range, to tell unchanged and replaced bars from new ones)."""
        if not len(bars):
            return 0, 0, 0
        conn = session.connection()
        tf = timeframe.value
        first, last = int(bars.time[0]), int(bars.time[-1])
        held = tail_columns(conn.exec_driver_sql(TAIL_SQL + " AND time >= ? AND time <= ? ORDER BY time",
                                                 (symbol, tf, first, last)).fetchall())
        new_cols = {c: getattr(bars, c) for c in COLUMNS}
        in_tail = np.isin(bars.time, held["time"])
        # compare with the chunk only where a bar may lie inside one (a live bar after the chunks never does)
        months = month_keys(bars.time)
        chunk_rows = conn.exec_driver_sql(
            f"SELECT id, month, first_utc, last_utc FROM bar_chunks WHERE symbol = ? AND timeframe = ? "
            f"AND month IN ({', '.join('?' * len(set(months.tolist())))})",
            (symbol, tf, *sorted(set(int(m) for m in months)))).fetchall()
        in_chunk = np.zeros(len(bars), dtype=bool)
        chunk_same = np.zeros(len(bars), dtype=bool)
        for chunk_id, month, lo, hi in chunk_rows:
            inside = (months == month) & (bars.time >= lo) & (bars.time <= hi) & ~in_tail
            if not inside.any():
                continue
            blobs = conn.exec_driver_sql(f"SELECT {', '.join(COLUMNS)} FROM bar_chunks WHERE id = ?", (chunk_id,)).fetchone()
            old = {c: np.frombuffer(b, dtype=LITTLE_ENDIAN[c]) for c, b in zip(COLUMNS, blobs)}
            idx = np.flatnonzero(inside)
            pos = np.minimum(np.searchsorted(old["time"], bars.time[idx]), len(old["time"]) - 1)
            hit = old["time"][pos] == bars.time[idx]
            same = hit.copy()
            for c in VALUE_COLUMNS:
                same &= old[c][pos] == new_cols[c][idx]
            in_chunk[idx] = hit
            chunk_same[idx] = same
        tail_same = np.zeros(len(bars), dtype=bool)
        if in_tail.any():
            pos = np.searchsorted(held["time"], bars.time[in_tail])
            same = np.ones(len(pos), dtype=bool)
            for c in VALUE_COLUMNS:
                same &= held[c][pos] == new_cols[c][in_tail]
            tail_same[in_tail] = same
        unchanged = tail_same | chunk_same
        write = ~unchanged
        rows = [(symbol, tf, int(bars.time[i]), float(bars.open[i]), float(bars.high[i]), float(bars.low[i]),
                 float(bars.close[i]), int(bars.tick_volume[i]), int(bars.spread[i]), ingest_id,
                 int(in_chunk[i] or (in_tail[i] and self._tail_replaces(conn, symbol, tf, int(bars.time[i])))))
                for i in np.flatnonzero(write)]
        if rows:
            conn.exec_driver_sql(
                "INSERT OR REPLACE INTO bar_tail (symbol, timeframe, time, open, high, low, close, tick_volume, spread,"
                " ingest_id, replaces) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            held_n = conn.exec_driver_sql("SELECT COUNT(*) FROM bar_tail WHERE symbol = ? AND timeframe = ?",
                                          (symbol, tf)).scalar_one()
            if held_n >= TAIL_LIMIT:
                self._fold(session, symbol, timeframe)
        new = write & ~in_tail & ~in_chunk
        replaced = write & ~new
        return int(new.sum()), int(replaced.sum()), int(unchanged.sum())

    @staticmethod
    def _tail_replaces(conn, symbol: str, tf: str, t: int) -> bool:  # type: ignore[no-untyped-def]
        row = conn.exec_driver_sql("SELECT replaces FROM bar_tail WHERE symbol = ? AND timeframe = ? AND time = ?",
                                   (symbol, tf, t)).fetchone()
        return bool(row and row[0])

    def _fold(self, session: Session, symbol: str, timeframe: Timeframe) -> int:
        """Move the series' tail rows into their month chunks (tail wins) in the caller's transaction; how many."""
        conn = session.connection()
        rows = conn.exec_driver_sql(TAIL_SQL + " ORDER BY time", (symbol, timeframe.value)).fetchall()
        if not rows:
            return 0
        tail = tail_columns(rows)
        months = month_keys(tail["time"])
        existing = self._chunks_of_months(session, symbol, timeframe, months)
        for month, lo, hi in month_runs(months):
            part = {c: tail[c][lo:hi] for c in COLUMNS}
            chunk = existing.get(month)
            if chunk is None:
                chunk, merged = new_chunk(symbol, timeframe, month), part
            else:
                merged = merge_columns(decode_chunk(chunk), part)[0]
            self._put_chunk(session, chunk, merged)
        conn.exec_driver_sql("DELETE FROM bar_tail WHERE symbol = ? AND timeframe = ?", (symbol, timeframe.value))
        log.debug("folded %d tail bar(s) of %s %s into their chunks", len(rows), symbol, timeframe.value)
        return len(rows)

    def compact(self, symbol: str | None = None, timeframe: Timeframe | None = None) -> int:
        """Fold the live tail of one series (or of every series) into the month chunks, in one
        transaction; the number of bars moved. A live session calls it when it stops."""
        from ita_desktop.storage.db import write_session

        with write_session(self._engine) as session:
            conn = session.connection()
            series = conn.exec_driver_sql("SELECT DISTINCT symbol, timeframe FROM bar_tail").fetchall()
            moved = 0
            for s, tf in series:
                if (symbol is None or s == symbol) and (timeframe is None or tf == Timeframe(timeframe).value):
                    moved += self._fold(session, s, Timeframe(tf))
        return moved

    def tail_size(self, symbol: str, timeframe: Timeframe) -> int:
        """Bars of the series held in the live tail (not yet folded into its chunks)."""
        with self._connection() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM bar_tail WHERE symbol = ? AND timeframe = ?",
                                    (symbol, Timeframe(timeframe).value)).fetchone()[0])
