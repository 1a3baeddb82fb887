"""Tables of the store, as SQLModel classes on the one shared metadata (``SQLModel.metadata``).

These classes describe the schema at the newest version; ``migrations.py`` is what creates
and upgrades real files, and a test checks the two agree. Later tables (rule versions, runs,
trades, signals, reviews, feedback, job history) are added here and as a new migration.

Times are int UTC epoch seconds everywhere, like ``Bars.time``.
"""

from __future__ import annotations

import json

from sqlalchemy import Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


class Instrument(SQLModel, table=True):
    """A tradable symbol with its price grid; ``is_demo`` marks made-up data so it is never mistaken for a feed."""

    __tablename__ = "instruments"

    symbol: str = Field(primary_key=True)
    digits: int
    point: float
    pip_size: float
    is_demo: bool = False


class Ingest(SQLModel, table=True):
    """One import of bars (a file, an MT5 download, a replay): what came in and what the store did with it."""

    __tablename__ = "ingests"
    __table_args__ = {"sqlite_autoincrement": True}  # an ingest_id is never reused: bars point at it

    ingest_id: int | None = Field(default=None, primary_key=True)
    source: str  # "csv" | "mt5" | "demo" | "replay"
    source_format: str = ""  # the importer's own name for the layout it recognised
    path: str = ""
    file_hash: str = ""
    symbol: str = Field(foreign_key="instruments.symbol", index=True)
    timeframe: str
    server_tz: str = ""
    rows_read: int = 0
    rows_stored: int = 0
    rows_rejected: int = 0
    bars_new: int = 0
    bars_replaced: int = 0
    bars_unchanged: int = 0
    first_utc: int | None = None
    last_utc: int | None = None
    findings_json: str = "[]"
    created_at: int  # UTC epoch seconds

    @property
    def findings(self) -> list[dict]:
        """The findings as stored: ``Finding.to_dict`` with the full ``count``, rows cut to the first thousand."""
        return json.loads(self.findings_json)


class BarChunk(SQLModel, table=True):
    """One month of one series, stored columnar: each column is the raw little-endian bytes of its numpy array.

    A row per bar would cost seconds to load a million bars; a row per month loads as a
    handful of memcpy's. ``month`` is the UTC month as yyyymm.
    """

    __tablename__ = "bar_chunks"
    __table_args__ = (UniqueConstraint("symbol", "timeframe", "month"),)

    id: int | None = Field(default=None, primary_key=True)
    symbol: str = Field(foreign_key="instruments.symbol")
    timeframe: str
    month: int
    n_bars: int
    first_utc: int
    last_utc: int
    codec: str = "raw-le"
    time: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    open: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    high: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    low: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    close: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    tick_volume: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    spread: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    ingest_id: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
