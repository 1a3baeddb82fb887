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


class Job(SQLModel, table=True):
    """One run of a background job as the job engine saw it: what ran, how it ended, a gist of the result.

    ``job_id`` is the engine's id within one app session (what the GUI's signals carry); ``id``
    is the row's own key across sessions. ``status``: started, finished, failed or cancelled;
    a row left at "started" belongs to a session that ended without the job finishing.
    """

    __tablename__ = "jobs"
    __table_args__ = {"sqlite_autoincrement": True}  # rows are never reused: a later run never takes an old id

    id: int | None = Field(default=None, primary_key=True)
    job_id: int
    name: str
    key: str | None = Field(default=None, index=True)
    status: str
    started_at: int  # UTC epoch seconds
    finished_at: int | None = None
    error: str | None = None
    summary_json: str | None = None

    @property
    def summary(self) -> object:
        """The result's gist as the engine summarised it (None for failed runs)."""
        return None if self.summary_json is None else json.loads(self.summary_json)


class Run(SQLModel, table=True):
    """One backtest run: what was simulated (rule version, symbols, data, range, settings) and its statistics.

    ``inputs_hash`` digests the bars, orders and settings: two runs with the same hash must have
    the same trades, which is how re-runs are checked for determinism. ``ingest_ids_json`` lists
    the ingests whose bars were used, so a run can be traced to the files it read.
    """

    __tablename__ = "runs"
    __table_args__ = {"sqlite_autoincrement": True}  # trades point at run_id: never reuse one

    run_id: int | None = Field(default=None, primary_key=True)
    rule_id: str = Field(index=True)
    rule_version: str
    label: str = ""  # "", or a walk-forward part such as "wf1:in"
    symbols: str  # comma-separated
    timeframe: str
    first_utc: int | None = None
    last_utc: int | None = None
    ingest_ids_json: str = "[]"
    settings_json: str = "{}"
    stats_json: str = "{}"
    inputs_hash: str = Field(index=True)
    n_trades: int = 0
    created_at: int  # UTC epoch seconds
    rule_version_id: int | None = Field(default=None, foreign_key="rule_versions.id", index=True)
    warmup_bars: int = 0  # bars read before first_utc to warm the detectors (a ranged run)
    warmup_from_utc: int | None = None


class TradeRecord(SQLModel, table=True):
    """One trade of a run (one row per filled order; partial exits are folded into its exit price)."""

    __tablename__ = "trades"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.run_id", index=True)
    symbol: str
    occurrence: int
    rule_version: int
    direction: int
    entry_type: int
    signal_bar: int
    entry_bar: int
    entry_time: int
    entry_price: float
    exit_bar: int
    exit_time: int
    exit_price: float
    stop_price: float
    target1: float | None = None
    target2: float | None = None
    target3: float | None = None
    lots: float
    risk_money: float
    r_multiple: float
    pnl_money: float
    pnl_points: float
    commission: float
    exit_reason: str
    targets_hit: int
    mfe_price: float
    mae_price: float
    mfe_r: float | None = None
    mae_r: float | None = None


class RuleVersion(SQLModel, table=True):
    """One version of a setup rule as first used: its text and hash (``storage.rule_versions``).

    ``id`` is what results record (ORDER ``rule_version``, trades, signals); ``text`` is the
    file as it was, comments included, because it is what explains those results.
    """

    __tablename__ = "rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version"), {"sqlite_autoincrement": True})

    id: int | None = Field(default=None, primary_key=True)
    rule_id: str = Field(index=True)
    version: str
    content_hash: str
    text: str
    created_at: int  # UTC epoch seconds


class Review(SQLModel, table=True):
    """One vision review (``storage.review_records``): inputs, raw and parsed answer, grounding, cost, error.

    JSON columns hold what the vision package produced; ``error`` is set (and ``answer_json`` null)
    when the model failed, so the attempt is on record whole or not at all.
    """

    __tablename__ = "reviews"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    created_at: int  # UTC epoch seconds
    symbol: str = Field(index=True)
    timeframe: str
    window_from: int
    window_to: int
    endpoint_host: str
    model: str
    prompt_version: str
    method: str
    picture_file: str  # relative to the data folder
    picture_sha256: str
    context_json: str
    raw_answer_json: str
    answer_json: str | None = None
    grounding_json: str | None = None
    latency_ms: float
    tokens_json: str
    error_kind: str | None = None
    error: str | None = None
    conversation_json: str
    subject: str  # "chart", or "occurrence <rule> <id>" for an evaluation
