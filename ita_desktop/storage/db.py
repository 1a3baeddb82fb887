"""The SQLite engine: one per store file, safe to share across threads, with real transactions.

Python's sqlite3 module opens transactions lazily and only before DML, so DDL in a migration
and the first SELECT of a write would run outside them. We switch the driver to autocommit
and emit BEGIN ourselves (SQLAlchemy's documented pysqlite recipe); writers use
BEGIN IMMEDIATE so two writers queue on the busy timeout instead of failing halfway.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from ita_desktop.storage.plain_sql import (  # noqa: F401  (StoreLocked, holder_of: their old home)
    BUSY_TIMEOUT_S, PAGE_SIZE, StoreLocked, configure, holder_of, is_lock_error, locked_error)


def make_engine(path: Path) -> Engine:
    """An engine for the file at ``path``: WAL, foreign keys on, usable from worker threads."""
    # URL.create keeps the path as it is: formatted into a URL string, '?' and '%' in a folder name
    # were read as a query and escapes (ITA_HOME='.../q?mode=ro' wrote to '.../q')
    engine = create_engine(
        URL.create("sqlite", database=str(path)),
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        configure(dbapi_conn)  # the plain-sqlite3 paths' settings (plain_sql); _on_begin opens transactions

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))

    return engine


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reads; one per call so any thread may read while another writes (WAL)."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One write transaction: commits if the block finishes, rolls everything back if it raises.

    Objects stay readable after the commit (no expiry), so callers may return them. A store still
    locked by another writer after the busy timeout is a StoreLocked naming that process if it can.
    """
    try:
        with Session(engine.execution_options(sqlite_begin="BEGIN IMMEDIATE"), expire_on_commit=False) as session:
            with session.begin():
                yield session
    except OperationalError as exc:
        if not is_lock_error(exc.orig):
            raise
        raise locked_error(Path(engine.url.database or "")) from None
