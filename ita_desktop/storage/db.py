"""The SQLite engine: one per store file, safe to share across threads, with real transactions.

Python's sqlite3 module opens transactions lazily and only before DML, so DDL in a migration
and the first SELECT of a write would run outside them. We switch the driver to autocommit
and emit BEGIN ourselves (SQLAlchemy's documented pysqlite recipe); writers use
BEGIN IMMEDIATE so two writers queue on the busy timeout instead of failing halfway.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from ita_desktop.domain.errors import ItaError

BUSY_TIMEOUT_S = 30
# Large pages keep a month of M1 bars (~2.4 MB of blobs) in few overflow pages: writes measured
# 2-4x faster than with 4 KB pages. Only takes effect when the file is created.
PAGE_SIZE = 65536


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
        dbapi_conn.isolation_level = None  # autocommit at the driver; _on_begin opens transactions
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; WAL keeps it consistent
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))

    return engine


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reads; one per call so any thread may read while another writes (WAL)."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


class StoreLocked(ItaError):
    """Another process held the store's write lock past the busy timeout; the transaction was rolled back."""


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
        if "locked" not in str(exc.orig) and "busy" not in str(exc.orig):
            raise
        path = Path(engine.url.database or "")
        raise StoreLocked(
            f"the store {path} is locked by {holder_of(path) or 'another process'}: waited "
            f"{BUSY_TIMEOUT_S} s for it to finish writing; nothing was stored, try again when it is done"
        ) from None


def holder_of(path: Path) -> str | None:
    """The other processes that have the store file (or its WAL) open, as 'process PID (command)';
    None where it cannot be known (no /proc: Windows, macOS) or nobody else has it open."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    wanted = {str(path.resolve()), str(path.resolve()) + "-wal"}
    me = os.getpid()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if not any(os.readlink(fd) in wanted for fd in (entry / "fd").iterdir()):
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue  # gone, or not ours to look at
        found.append(f"process {entry.name} ({command[:80]})" if command else f"process {entry.name}")
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    return "one of " + ", ".join(found[:5])
