"""Rule versions in SQLite: store each version when first used, following ``domain.versioning.decide_version``.

Results hang on a version (runs by rule_id + version, trades and signals by the version's
row id), so its text never changes under them: an edited file whose version already has
results is stored as the next version (the caller writes that file), while an edit of a
version nothing uses yet simply replaces the stored text.

``record`` (every backtest and scan calls it) is plain sqlite3, so a backtest never loads the
ORM; listing and getting rows return the ORM model, imported on first use.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ita_desktop.domain.versioning import RuleVersion as VersionText
from ita_desktop.domain.versioning import StoredVersion, content_hash, decide_version, with_version
from ita_desktop.storage.plain_sql import connection, write_transaction

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ita_desktop.storage.models import RuleVersion


@dataclass(frozen=True)
class RecordedVersion:
    """What :meth:`RuleVersions.record` did: the row id results should record, and the action."""

    id: int
    rule_id: str
    version: str
    action: str  # reuse | store | replace | new_version
    text: str  # the stored text (for new_version: with the new ``version:`` written in)


def _results_checks(conn: sqlite3.Connection) -> list[str]:
    """The queries that find a result of a version (runs by rule_id + version, trades and signals by row id);
    tables that do not exist yet count as empty."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    checks = []
    if "runs" in tables:
        checks.append("SELECT 1 FROM runs WHERE rule_id = :r AND rule_version = :v LIMIT 1")
    for table in ("trades", "signals"):
        if table in tables:
            cols = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            col = "rule_version_id" if "rule_version_id" in cols else "rule_version" if "rule_version" in cols else None
            if col:
                checks.append(f"SELECT 1 FROM {table} WHERE {col} = :id LIMIT 1")
    return checks


def _has_results(conn: sqlite3.Connection, checks: list[str], row_id: int, rule_id: str, version: str) -> bool:
    args = {"r": rule_id, "v": version, "id": row_id}
    return any(conn.execute(sql, args).fetchone() is not None for sql in checks)


class RuleVersions:
    def __init__(self, path: Path, engine: Callable[[], Engine]) -> None:
        self._path = Path(path)
        self._engine_of = engine

    def list(self, rule_id: str) -> list[RuleVersion]:
        from sqlmodel import select

        from ita_desktop.storage.db import read_session
        from ita_desktop.storage.models import RuleVersion

        with read_session(self._engine_of()) as session:
            return list(session.exec(select(RuleVersion).where(RuleVersion.rule_id == rule_id)
                                     .order_by(RuleVersion.id)))  # type: ignore[arg-type]

    def get(self, row_id: int) -> RuleVersion | None:
        from ita_desktop.storage.db import read_session
        from ita_desktop.storage.models import RuleVersion

        with read_session(self._engine_of()) as session:
            return session.get(RuleVersion, row_id)

    def has_results(self, row: RuleVersion) -> bool:
        """Does any run, trade or signal use this version? (Tables that do not exist yet count as empty.)"""
        with connection(self._path) as conn:
            return _has_results(conn, _results_checks(conn), int(row.id), row.rule_id, row.version)  # type: ignore[arg-type]

    def record(self, version: VersionText, *, now: int | None = None) -> RecordedVersion:
        """Store ``version`` (from ``loader.load_rule``) as decided by ``decide_version``; one transaction."""
        now = int(time.time()) if now is None else now
        with write_transaction(self._path) as conn:
            rows = conn.execute("SELECT id, version, content_hash, text FROM rule_versions WHERE rule_id = ? "
                                "ORDER BY id", (version.rule_id,)).fetchall()
            checks = _results_checks(conn)
            stored = [StoredVersion(v, h, _has_results(conn, checks, i, version.rule_id, v)) for i, v, h, _ in rows]
            decision = decide_version(version.version, version.content_hash, stored)
            same = next((r for r in rows if r[1] == version.version), None)
            if decision.action == "reuse":
                assert same is not None
                return RecordedVersion(int(same[0]), version.rule_id, same[1], "reuse", same[3])
            if decision.action == "replace":
                assert same is not None
                conn.execute("UPDATE rule_versions SET text = ?, content_hash = ?, created_at = ? WHERE id = ?",
                             (version.text, version.content_hash, now, same[0]))
                return RecordedVersion(int(same[0]), version.rule_id, same[1], "replace", version.text)
            body = version.text if decision.action == "store" else with_version(version.text, decision.version)
            cur = conn.execute("INSERT INTO rule_versions (rule_id, version, content_hash, text, created_at) "
                               "VALUES (?, ?, ?, ?, ?)", (version.rule_id, decision.version, content_hash(body), body, now))
            return RecordedVersion(int(cur.lastrowid), version.rule_id, decision.version, decision.action, body)  # type: ignore[arg-type]
