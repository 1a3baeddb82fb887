"""Rule versions in SQLite: store each version when first used, following ``domain.versioning.decide_version``.

Results hang on a version (runs by rule_id + version, trades and signals by the version's
row id), so its text never changes under them: an edited file whose version already has
results is stored as the next version (the caller writes that file), while an edit of a
version nothing uses yet simply replaces the stored text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Engine, inspect, text
from sqlmodel import select

from ita_desktop.domain.versioning import RuleVersion as VersionText
from ita_desktop.domain.versioning import StoredVersion, content_hash, decide_version, with_version
from ita_desktop.storage.db import read_session, write_session
from ita_desktop.storage.models import RuleVersion


@dataclass(frozen=True)
class RecordedVersion:
    """What :meth:`RuleVersions.record` did: the row id results should record, and the action."""

    id: int
    rule_id: str
    version: str
    action: str  # reuse | store | replace | new_version
    text: str  # the stored text (for new_version: with the new ``version:`` written in)


class RuleVersions:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self, rule_id: str) -> list[RuleVersion]:
        with read_session(self._engine) as session:
            return list(session.exec(select(RuleVersion).where(RuleVersion.rule_id == rule_id)
                                     .order_by(RuleVersion.id)))  # type: ignore[arg-type]

    def get(self, row_id: int) -> RuleVersion | None:
        with read_session(self._engine) as session:
            return session.get(RuleVersion, row_id)

    def has_results(self, row: RuleVersion) -> bool:
        """Does any run, trade or signal use this version? (Tables that do not exist yet count as empty.)"""
        tables = set(inspect(self._engine).get_table_names())
        checks = []
        if "runs" in tables:
            checks.append(("SELECT 1 FROM runs WHERE rule_id = :r AND rule_version = :v LIMIT 1",
                           {"r": row.rule_id, "v": row.version}))
        for table in ("trades", "signals"):
            if table in tables:
                cols = {c["name"] for c in inspect(self._engine).get_columns(table)}
                col = "rule_version_id" if "rule_version_id" in cols else "rule_version" if "rule_version" in cols else None
                if col:
                    checks.append((f"SELECT 1 FROM {table} WHERE {col} = :id LIMIT 1", {"id": row.id}))
        with self._engine.connect() as conn:
            return any(conn.execute(text(sql), args).first() is not None for sql, args in checks)

    def record(self, version: VersionText, *, now: int | None = None) -> RecordedVersion:
        """Store ``version`` (from ``loader.load_rule``) as decided by ``decide_version``; one transaction."""
        now = int(time.time()) if now is None else now
        with write_session(self._engine) as session:
            rows = list(session.exec(select(RuleVersion).where(RuleVersion.rule_id == version.rule_id)))
            stored = [StoredVersion(r.version, r.content_hash, self.has_results(r)) for r in rows]
            decision = decide_version(version.version, version.content_hash, stored)
            same = next((r for r in rows if r.version == version.version), None)
            if decision.action == "reuse":
                assert same is not None
                return RecordedVersion(int(same.id), same.rule_id, same.version, "reuse", same.text)  # type: ignore[arg-type]
            if decision.action == "replace":
                assert same is not None
                same.text, same.content_hash, same.created_at = version.text, version.content_hash, now
                session.add(same)
                session.flush()
                return RecordedVersion(int(same.id), same.rule_id, same.version, "replace", same.text)  # type: ignore[arg-type]
            body = version.text if decision.action == "store" else with_version(version.text, decision.version)
            row = RuleVersion(rule_id=version.rule_id, version=decision.version, content_hash=content_hash(body),
                              text=body, created_at=now)
            session.add(row)
            session.flush()
            return RecordedVersion(int(row.id), row.rule_id, row.version, decision.action, body)  # type: ignore[arg-type]
