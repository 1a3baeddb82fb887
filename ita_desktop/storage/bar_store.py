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
from ita_desktop.storage.bar_reader import CODEC, LITTLE_ENDIAN, BarReader, optional_utc_iso

if TYPE_CHECKING:  # the ORM is imported by writes only: reading bars (a backtest) never loads it
    from sqlalchemy import Engine
    from sqlmodel import Session

    from ita_desktop.storage.models import BarChunk

log = logging.getLogger("ita.storage")

SOURCES = ("csv", "mt5", "demo", "replay", "live")
VALUE_COLUMNS = ("open", "high", "low", "close", "tick_volume", "spread")
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


def encode_chunk(columns: dict[str, np.ndarray]) -> dict[str, bytes]:
    return {c: np.ascontiguousarray(columns[c], dtype=LITTLE_ENDIAN[c]).tobytes() for c in COLUMNS}


def decode_chunk(chunk: BarChunk) -> dict[str, np.ndarray]:
    if chunk.codec != CODEC:
        raise ItaError(f"bar chunk {chunk.symbol} {chunk.timeframe} {chunk.month} uses unknown codec {chunk.codec!r}")
    return {c: np.frombuffer(getattr(chunk, c), dtype=LITTLE_ENDIAN[c]) for c in COLUMNS}


def merge_columns(old: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int, int, int]:
    """Union of two time-sorted runs; ``new`` wins on equal times. Returns (merged, new, replaced, unchanged)."""
    old_t, new_t = old["time"], new["time"]
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
    if fresh.any():
        merged = {c: np.concatenate([merged[c], new[c][fresh]]) for c in COLUMNS}
        order = np.argsort(merged["time"], kind="stable")
        merged = {c: merged[c][order] for c in COLUMNS}
    return merged, int(fresh.sum()), int(replace.sum()), int(same.sum())


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
              also: Callable[[Session, int], object] | None = None) -> IngestSummary:
        """Record the ingest and merge its bars, all in one transaction (nothing changes if anything fails).

        ``also(session, ingest_id)`` runs inside that transaction after the merge: a live session
        stores the signals its bars produced with them (both or neither)."""
        symbol = _check_symbol(symbol)
        timeframe = Timeframe(timeframe)
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
        bars = result.bars
        _check_bars(bars, timeframe, result.path)
        is_demo = source == "demo"
        from ita_desktop.storage.db import write_session
        from ita_desktop.storage.instruments import Instruments
        from ita_desktop.storage.models import Ingest

        with write_session(self._engine) as session:
            instrument = Instruments.ensure(session, symbol, bars, is_demo=is_demo)
            if instrument.is_demo != is_demo:
                held = "made-up demo" if instrument.is_demo else "real"
                raise InputError(f"{symbol} holds {held} bars; store {source} bars under another symbol", file=result.path)
            ingest = Ingest(
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
                first_utc=bars.first_time,
                last_utc=bars.last_time,
                findings_json=json.dumps([f.to_dict(MAX_FINDING_ROWS) for f in result.findings]),
                created_at=int(_time.time()),
            )
            session.add(ingest)
            session.flush()  # assigns ingest_id
            assert ingest.ingest_id is not None
            new, replaced, unchanged = self._merge(session, symbol, timeframe, bars, ingest.ingest_id)
            ingest.bars_new, ingest.bars_replaced, ingest.bars_unchanged = new, replaced, unchanged
            if also is not None:
                also(session, ingest.ingest_id)
            summary = IngestSummary(
                ingest_id=ingest.ingest_id,
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
        from sqlmodel import select

        from ita_desktop.storage.models import BarChunk
        if not len(bars):
            return 0, 0, 0
        months = month_keys(bars.time)
        cuts = np.flatnonzero(np.diff(months)) + 1
        starts, ends = np.r_[0, cuts], np.r_[cuts, len(bars)]
        existing = {
            chunk.month: chunk
            for chunk in session.exec(
                select(BarChunk).where(
                    BarChunk.symbol == symbol,
                    BarChunk.timeframe == timeframe.value,
                    BarChunk.month.in_([int(m) for m in months[starts]]),  # type: ignore[attr-defined]
                )
            )
        }
        totals = np.zeros(3, dtype=np.int64)
        for lo, hi in zip(starts, ends):
            month = int(months[lo])
            part = {c: getattr(bars, c)[lo:hi] for c in COLUMNS}
            part["ingest_id"] = np.full(hi - lo, ingest_id, dtype=DTYPES["ingest_id"])
            chunk = existing.get(month)
            if chunk is None:
                chunk = BarChunk(symbol=symbol, timeframe=timeframe.value, month=month, n_bars=0, first_utc=0, last_utc=0)
                merged, counts = part, (hi - lo, 0, 0)
            else:
                merged, *counts = merge_columns(decode_chunk(chunk), part)
            totals += counts
            if counts[0] or counts[1]:
                for c, blob in encode_chunk(merged).items():
                    setattr(chunk, c, blob)
                chunk.codec = CODEC
                chunk.n_bars = len(merged["time"])
                chunk.first_utc, chunk.last_utc = int(merged["time"][0]), int(merged["time"][-1])
                session.add(chunk)
                session.flush()  # each chunk goes to SQLite as it is merged; the commit still takes all or none
        return int(totals[0]), int(totals[1]), int(totals[2])
