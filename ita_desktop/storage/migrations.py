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

from sqlalchemy import Connection, Engine

from ita_desktop.domain.errors import ItaError

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


MIGRATIONS: list[Callable[[Connection], None]] = [_v1_initial, _v2_ingest_format]
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
