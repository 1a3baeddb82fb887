"""The store's hot paths on plain sqlite3: connections set up as the engine's, and one write transaction.

A backtest from the command line reads bars, records the rule's version and writes its run:
three short trips that do not need SQLAlchemy and SQLModel, whose import alone costs about a
third of a second (issue 19: a warm ``ita backtest`` <= 0.5 s). These connections get the
same settings as ``db.make_engine``'s (WAL, NORMAL sync, foreign keys, busy timeout,
driver autocommit with explicit BEGIN IMMEDIATE for writers), so the file sees one behaviour
whichever path wrote it. The schema and its migrations stay ``migrations``' alone.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ita_desktop.domain.errors import ItaError

BUSY_TIMEOUT_S = 30
# Large pages keep a month of M1 bars (~2.4 MB of blobs) in few overflow pages: writes measured
# 2-4x faster than with 4 KB pages. Only takes effect when the file is created.
PAGE_SIZE = 65536


def configure(conn: sqlite3.Connection) -> None:
    """The settings every connection to a store gets (the engine's connect hook calls this too)."""
    conn.isolation_level = None  # autocommit at the driver; transactions are opened explicitly
    cursor = conn.cursor()
    cursor.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; WAL keeps it consistent
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


@contextmanager
def connection(path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived read-write connection to the store file, configured as the engine's, closed after."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    try:
        configure(conn)
        yield conn
    finally:
        conn.close()


class StoreLocked(ItaError):
    """Another process held the store's write lock past the busy timeout; the transaction was rolled back."""


def locked_error(path: Path) -> StoreLocked:
    """The message for a store still locked after the busy timeout, naming the holder if it can be known."""
    return StoreLocked(
        f"the store {path} is locked by {holder_of(path) or 'another process'}: waited "
        f"{BUSY_TIMEOUT_S} s for it to finish writing; nothing was stored, try again when it is done"
    )


def is_lock_error(exc: BaseException) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


@contextmanager
def write_transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """One BEGIN IMMEDIATE transaction: committed if the block finishes, rolled back if it raises."""
    try:
        with connection(path) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if not is_lock_error(exc):
            raise
        raise locked_error(path) from None


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


def schema_version(path: Path) -> int | None:
    """``PRAGMA user_version`` of the file, read-only; None when there is no file yet."""
    if not path.exists():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
