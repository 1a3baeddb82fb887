"""Schema versions: ``PRAGMA user_version`` plus an ordered list of migration steps.

Each step is plain DDL frozen at the time it was written (never generated from today's
models), so an old file always walks the same path. ``upgrade`` runs every missing step
and bumps user_version inside one transaction per step: a failed step leaves the file at
the previous version, untouched. To change the schema, append a step; never edit one.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ita_desktop.domain.errors import ItaError

if TYPE_CHECKING:  # LATEST is read on the window's start-up path, before SQLAlchemy is loaded
    from sqlalchemy import Connection, Engine

log = logging.getLogger("ita.storage")


def _v1_initial(conn: Connection) -> None:
    """Instruments, ingests and columnar bar chunks (one row per symbol, timeframe and month)."""
    conn.exec_driver_sql(
        """CREATE TABLE instruments (
            symbol VARCHAR NOT NULL PRIMARY KEY,
            digits INTEGER NOT NULL,
            point FLOAT NOT NULL,
            pip_size FLOAT NOT NULL,
            is_demo BOOLEAN NOT NULL
        )"""
    )
    conn.exec_driver_sql(
        """CREATE TABLE ingests (
            ingest_id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            source VARCHAR NOT NULL,
            path VARCHAR NOT NULL,
            file_hash VARCHAR NOT NULL,
            symbol VARCHAR NOT NULL REFERENCES instruments (symbol),
            timeframe VARCHAR NOT NULL,
            server_tz VARCHAR NOT NULL,
            rows_read INTEGER NOT NULL,
            rows_stored INTEGER NOT NULL,
            rows_rejected INTEGER NOT NULL,
            bars_new INTEGER NOT NULL,
            bars_replaced INTEGER NOT NULL,
            bars_unchanged INTEGER NOT NULL,
            first_utc INTEGER,
            last_utc INTEGER,
            findings_json VARCHAR NOT NULL,
            created_at INTEGER NOT NULL
        )"""
    )
    conn.exec_driver_sql(
        """CREATE TABLE bar_chunks (
            id INTEGER NOT NULL PRIMARY KEY,
            symbol VARCHAR NOT NULL REFERENCES instruments (symbol),
            timeframe VARCHAR NOT NULL,
            month INTEGER NOT NULL,
            n_bars INTEGER NOT NULL,
            first_utc INTEGER NOT NULL,
            last_utc INTEGER NOT NULL,
            codec VARCHAR NOT NULL,
            time BLOB NOT NULL,
            open BLOB NOT NULL,
            high BLOB NOT NULL,
            low BLOB NOT NULL,
            close BLOB NOT NULL,
            tick_volume BLOB NOT NULL,
            spread BLOB NOT NULL,
            ingest_id BLOB NOT NULL,
            UNIQUE (symbol, timeframe, month)
        )"""
    )


def _v2_ingest_format(conn: Connection) -> None:
    """Record the importer's detected layout apart from the source kind, and index ingests by symbol.

    v1 files only knew the source ("csv", "mt5", ...); that is the best guess for their format.
    """
    conn.exec_driver_sql("ALTER TABLE ingests ADD COLUMN source_format VARCHAR NOT NULL DEFAULT ''")
    conn.exec_driver_sql("UPDATE ingests SET source_format = source")
    conn.exec_driver_sql("CREATE INDEX ix_ingests_symbol ON ingests (symbol)")


def _v3_jobs(conn: Connection) -> None:
    """Job history: one row per run of a job (import, backtest, sweep, refresh), written by the job engine.

    ``id`` is the row's own key: the engine's ``job_id`` restarts at 1 with every app session.
    """
    conn.exec_driver_sql(
        """CREATE TABLE jobs (
            id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            job_id INTEGER NOT NULL,
            name VARCHAR NOT NULL,
            "key" VARCHAR,
            status VARCHAR NOT NULL,
            started_at INTEGER NOT NULL,
            finished_at INTEGER,
            error VARCHAR,
            summary_json VARCHAR
        )"""
    )
    conn.exec_driver_sql('CREATE INDEX ix_jobs_key ON jobs ("key")')


def _v4_backtest_runs(conn: Connection) -> None:
    """Backtest runs (inputs, settings, statistics as JSON) and their trades, one row per trade."""
    conn.exec_driver_sql(
        """CREATE TABLE runs (
            run_id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            rule_id VARCHAR NOT NULL,
            rule_version VARCHAR NOT NULL,
            label VARCHAR NOT NULL,
            symbols VARCHAR NOT NULL,
            timeframe VARCHAR NOT NULL,
            first_utc INTEGER,
            last_utc INTEGER,
            ingest_ids_json VARCHAR NOT NULL,
            settings_json VARCHAR NOT NULL,
            stats_json VARCHAR NOT NULL,
            inputs_hash VARCHAR NOT NULL,
            n_trades INTEGER NOT NULL,
            created_at INTEGER NOT NULL
        )"""
    )
    conn.exec_driver_sql("CREATE INDEX ix_runs_rule_id ON runs (rule_id)")
    conn.exec_driver_sql("CREATE INDEX ix_runs_inputs_hash ON runs (inputs_hash)")
    conn.exec_driver_sql(
        """CREATE TABLE trades (
            id INTEGER NOT NULL PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs (run_id),
            symbol VARCHAR NOT NULL,
            occurrence INTEGER NOT NULL,
            rule_version INTEGER NOT NULL,
            direction INTEGER NOT NULL,
            entry_type INTEGER NOT NULL,
            signal_bar INTEGER NOT NULL,
            entry_bar INTEGER NOT NULL,
            entry_time INTEGER NOT NULL,
            entry_price FLOAT NOT NULL,
            exit_bar INTEGER NOT NULL,
            exit_time INTEGER NOT NULL,
            exit_price FLOAT NOT NULL,
            stop_price FLOAT NOT NULL,
            target1 FLOAT,
            target2 FLOAT,
            target3 FLOAT,
            lots FLOAT NOT NULL,
            risk_money FLOAT NOT NULL,
            r_multiple FLOAT NOT NULL,
            pnl_money FLOAT NOT NULL,
            pnl_points FLOAT NOT NULL,
            commission FLOAT NOT NULL,
            exit_reason VARCHAR NOT NULL,
            targets_hit INTEGER NOT NULL,
            mfe_price FLOAT NOT NULL,
            mae_price FLOAT NOT NULL,
            mfe_r FLOAT,
            mae_r FLOAT
        )"""
    )
    conn.exec_driver_sql("CREATE INDEX ix_trades_run_id ON trades (run_id)")


def _v5_rule_versions(conn: Connection) -> None:
    """Rule versions: the exact text of each version of a setup rule when it was first used.

    Results (runs, trades, signals) point at a version, so a version's text is only replaced
    while nothing points at it; an edit after that is stored as a new version.
    """
    conn.exec_driver_sql(
        """CREATE TABLE rule_versions (
            id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            rule_id VARCHAR NOT NULL,
            version VARCHAR NOT NULL,
            content_hash VARCHAR NOT NULL,
            text VARCHAR NOT NULL,
            created_at INTEGER NOT NULL,
            UNIQUE (rule_id, version)
        )"""
    )
    conn.exec_driver_sql("CREATE INDEX ix_rule_versions_rule_id ON rule_versions (rule_id)")


def _v6_run_columns(conn: Connection) -> None:
    """A run's rule version and warm-up as columns (they were kept inside stats_json): runs of a
    version are then one indexed query, and the statistics hold statistics only."""
    conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN rule_version_id INTEGER REFERENCES rule_versions (id)")
    conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN warmup_bars INTEGER NOT NULL DEFAULT 0")
    conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN warmup_from_utc INTEGER")
    conn.exec_driver_sql(
        """UPDATE runs SET
            rule_version_id = json_extract(stats_json, '$.rule_version_id'),
            warmup_bars = coalesce(json_extract(stats_json, '$.warmup.bars'), 0),
            warmup_from_utc = json_extract(stats_json, '$.warmup.from_utc'),
            stats_json = json_remove(stats_json, '$.rule_version_id', '$.warmup')"""
    )
    conn.exec_driver_sql("CREATE INDEX ix_runs_rule_version_id ON runs (rule_version_id)")


def _v7_reviews(conn: Connection) -> None:
    """Vision reviews: what was sent (picture file and hash, context), what came back (raw, parsed), how it was
    grounded, what it cost, and the follow-up conversation; a failed review keeps its error instead."""
    conn.exec_driver_sql(
        """CREATE TABLE reviews (
            id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            created_at INTEGER NOT NULL,
            symbol VARCHAR NOT NULL,
            timeframe VARCHAR NOT NULL,
            window_from INTEGER NOT NULL,
            window_to INTEGER NOT NULL,
            endpoint_host VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            prompt_version VARCHAR NOT NULL,
            method VARCHAR NOT NULL,
            picture_file VARCHAR NOT NULL,
            picture_sha256 VARCHAR NOT NULL,
            context_json VARCHAR NOT NULL,
            raw_answer_json VARCHAR NOT NULL,
            answer_json VARCHAR,
            grounding_json VARCHAR,
            latency_ms FLOAT NOT NULL,
            tokens_json VARCHAR NOT NULL,
            error_kind VARCHAR,
            error VARCHAR,
            conversation_json VARCHAR NOT NULL,
            subject VARCHAR NOT NULL
        )"""
    )
    conn.exec_driver_sql("CREATE INDEX ix_reviews_symbol ON reviews (symbol)")


def _v8_signals(conn: Connection) -> None:
    """Signals raised by live sessions and Bar Replay: one row per setup occurrence, keyed by a
    deterministic ``occurrence_key`` (UNIQUE) so a restart or a second session never stores one twice.

    The order (type, prices, targets, expiry/exit times) and the steps that made it are kept as
    they were known at the signal; ``status`` and ``outcome_json`` are the paper-trade tracker's."""
    conn.exec_driver_sql(
        """CREATE TABLE signals (
            id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            occurrence_key VARCHAR NOT NULL UNIQUE,
            rule_id VARCHAR NOT NULL,
            rule_version VARCHAR NOT NULL,
            rule_version_id INTEGER REFERENCES rule_versions (id),
            symbol VARCHAR NOT NULL,
            timeframe VARCHAR NOT NULL,
            signal_time INTEGER NOT NULL,
            direction INTEGER NOT NULL,
            order_type VARCHAR,
            entry_price FLOAT,
            stop_price FLOAT,
            stop_distance FLOAT,
            targets_json VARCHAR NOT NULL,
            expiry_time INTEGER,
            time_exit_time INTEGER,
            steps_json VARCHAR NOT NULL,
            occurrence_json VARCHAR NOT NULL,
            skipped VARCHAR,
            source VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            outcome_json VARCHAR NOT NULL,
            ingest_id INTEGER REFERENCES ingests (ingest_id),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )"""
    )
    conn.exec_driver_sql("CREATE INDEX ix_signals_symbol_time ON signals (symbol, signal_time)")
    conn.exec_driver_sql("CREATE INDEX ix_signals_status ON signals (status)")


def _v9_outbox(conn: Connection) -> None:
    """The notification outbox (outputs/): one row per signal x channel x event, enqueued in the
    transaction that stores the signal or its update; the UNIQUE key is what makes a restart send nothing twice."""
    conn.exec_driver_sql(
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            idem_key VARCHAR NOT NULL UNIQUE,
            channel VARCHAR NOT NULL,
            event VARCHAR NOT NULL,
            signal_key VARCHAR NOT NULL,
            payload_json VARCHAR NOT NULL,
            picture_path VARCHAR,
            status VARCHAR NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at FLOAT NOT NULL,
            last_error VARCHAR,
            remote_ref VARCHAR,
            created_at INTEGER NOT NULL,
            sent_at INTEGER
        )"""
    )
    conn.exec_driver_sql("CREATE INDEX ix_outbox_due ON outbox (status, next_attempt_at)")
    conn.exec_driver_sql("CREATE INDEX ix_outbox_signal ON outbox (signal_key, channel)")


def _v10_feedback(conn: Connection) -> None:
    """The trader's feedback on a signal or a backtest trade (issue 16's journal): taken or skipped
    and why, the label (valid setup or not), a grade, setup and mistake tags, emotions, notes, a
    picture. Keyed by what it is about (``target_kind`` + ``target_key``: a signal's occurrence key,
    a trade's run id and occurrence), with the rule version it was given under, so nothing is lost
    when the rule changes."""
    conn.exec_driver_sql(
        """CREATE TABLE feedback (
            id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            target_kind VARCHAR NOT NULL,
            target_key VARCHAR NOT NULL,
            rule_id VARCHAR NOT NULL,
            rule_version VARCHAR NOT NULL,
            symbol VARCHAR NOT NULL,
            signal_time INTEGER NOT NULL,
            taken INTEGER,
            skip_reason VARCHAR,
            label VARCHAR,
            grade VARCHAR,
            tags_json VARCHAR NOT NULL,
            mistakes_json VARCHAR NOT NULL,
            emotions VARCHAR,
            notes VARCHAR,
            picture_path VARCHAR,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            UNIQUE (target_kind, target_key)
        )"""
    )
    conn.exec_driver_sql("CREATE INDEX ix_feedback_rule ON feedback (rule_id, symbol, signal_time)")


def _v11_bar_tail(conn: Connection) -> None:
    """The live tail of each series (``storage/bar_store.py``): one row per bar, appended by small
    writes (a live session's closed bar) instead of rewriting the bar's month chunk (~2 MB for M1),
    folded into the chunks every TAIL_LIMIT bars and by any large ingest. ``replaces`` is 1 when the
    row overrides a bar its month chunk holds (loads let the tail win; the series count skips it)."""
    conn.exec_driver_sql(
        """CREATE TABLE IF NOT EXISTS bar_tail (
            symbol VARCHAR NOT NULL REFERENCES instruments (symbol),
            timeframe VARCHAR NOT NULL,
            time INTEGER NOT NULL,
            open REAL NOT NULL,
            high REAL NOT NULL,
            low REAL NOT NULL,
            close REAL NOT NULL,
            tick_volume INTEGER NOT NULL,
            spread INTEGER NOT NULL,
            ingest_id INTEGER NOT NULL,
            replaces INTEGER NOT NULL,
            PRIMARY KEY (symbol, timeframe, time)
        ) WITHOUT ROWID"""
    )


def _v12_journal_tags(conn: Connection) -> None:
    """The journal (issue 16): the trader's own editable lists of setup and mistake tags, and a trade's R
    kept with its feedback (a backtest trade's outcome is final when the feedback is given; a signal's
    is read from the signals table)."""
    conn.exec_driver_sql(
        """CREATE TABLE journal_tags (
            id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
            kind VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            created_at INTEGER NOT NULL,
            UNIQUE (kind, name)
        )"""
    )
    conn.exec_driver_sql("ALTER TABLE feedback ADD COLUMN outcome_r FLOAT")


MIGRATIONS: list[Callable[[Connection], None]] = [_v1_initial, _v2_ingest_format, _v3_jobs, _v4_backtest_runs,
                                                  _v5_rule_versions, _v6_run_columns, _v7_reviews, _v8_signals,
                                                  _v9_outbox, _v10_feedback, _v11_bar_tail, _v12_journal_tags]
LATEST = len(MIGRATIONS)


def schema_version(conn: Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())


def _refuse_newer(found: int, path: object) -> None:
    if found > LATEST:
        raise ItaError(
            f"the database {path} has schema version {found}, newer than this app knows ({LATEST}); update ITA Desktop"
        )


def check_not_newer(path: Path) -> None:
    """Refuse a file from a newer app before our engine touches it (it would switch the file to WAL)."""
    if not path.exists():
        return
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        _refuse_newer(conn.execute("PRAGMA user_version").fetchone()[0], path)
    finally:
        conn.close()


def upgrade(engine: Engine) -> int:
    """Bring the file to LATEST; returns the version it had. Refuses files from a newer app."""
    with engine.connect() as conn:
        found = schema_version(conn)
    _refuse_newer(found, engine.url.database)
    for version in range(found + 1, LATEST + 1):
        with engine.execution_options(sqlite_begin="BEGIN IMMEDIATE").begin() as conn:
            if schema_version(conn) >= version:  # another process upgraded while we waited
                continue
            MIGRATIONS[version - 1](conn)
            conn.exec_driver_sql(f"PRAGMA user_version = {version}")
        log.info("database %s migrated to schema version %d", engine.url.database, version)
    return found
