"""The store: one SQLite file in the data folder, opened and migrated in one call.

``Store.open()`` is what the CLI, the jobs and the GUI call. One engine per store; every
method opens its own short session, so a Store may be shared by the GUI thread and workers.

The engine (SQLAlchemy, SQLModel: about a third of a second to import) is made on first use:
opening a file already at the current schema reads its version with sqlite3 only, and the
paths a backtest takes (``bars`` reads, ``rule_versions.record``, ``runs.add``) run on plain
sqlite3 (``plain_sql``), so ``ita backtest`` never imports the ORM. Each part of the store
is built on first use for the same reason.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from ita_desktop.paths import app_paths
from ita_desktop.storage import migrations
from ita_desktop.storage.bar_store import BarStore
from ita_desktop.storage.plain_sql import schema_version
from ita_desktop.storage.rule_versions import RuleVersions
from ita_desktop.storage.run_artifacts import RunArtifacts
from ita_desktop.storage.run_records import Runs

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ita_desktop.storage.feedback_store import FeedbackStore
    from ita_desktop.storage.ingest_log import Ingests
    from ita_desktop.storage.instruments import Instruments
    from ita_desktop.storage.job_history import JobHistory
    from ita_desktop.storage.outbox import Outbox
    from ita_desktop.storage.review_records import ReviewRecords
    from ita_desktop.storage.signal_store import Signals


class Store:
    def __init__(self, path: Path, engine: Engine | None = None) -> None:
        self.path = path
        self._engine = engine
        self._engine_lock = threading.Lock()
        self.bars = BarStore(path, lambda: self.engine)
        self.runs = Runs(path, lambda: self.engine)
        self.rule_versions = RuleVersions(path, lambda: self.engine)
        self.run_artifacts = RunArtifacts(path.parent / "runs")

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, made on first use (the ORM-backed parts and the tests need it)."""
        with self._engine_lock:
            if self._engine is None:
                from ita_desktop.storage.db import make_engine

                self._engine = make_engine(self.path)
            return self._engine

    @cached_property
    def ingests(self) -> Ingests:
        from ita_desktop.storage.ingest_log import Ingests

        return Ingests(self.engine)

    @cached_property
    def instruments(self) -> Instruments:
        from ita_desktop.storage.instruments import Instruments

        return Instruments(self.engine)

    @cached_property
    def jobs(self) -> JobHistory:
        from ita_desktop.storage.job_history import JobHistory

        return JobHistory(self.engine)

    @cached_property
    def signals(self) -> Signals:
        from ita_desktop.storage.signal_store import Signals

        return Signals(self.engine)

    @cached_property
    def feedback(self) -> FeedbackStore:
        from ita_desktop.storage.feedback_store import FeedbackStore

        return FeedbackStore(self.engine)

    @cached_property
    def outbox(self) -> Outbox:
        from ita_desktop.storage.outbox import Outbox

        return Outbox(self.engine)

    @cached_property
    def reviews(self) -> ReviewRecords:
        from ita_desktop.storage.review_records import ReviewRecords

        return ReviewRecords(self.engine, self.path.parent)

    def load_all(self) -> "Store":
        """Make the engine and every part now (imports the ORM): the window's store-opening job calls this on a
        worker, so no first use on the GUI thread pays for SQLAlchemy's import."""
        for part in ("ingests", "instruments", "jobs", "signals", "feedback", "outbox", "reviews"):
            getattr(self, part)
        return self

    @classmethod
    def open(cls, path: Path | None = None) -> "Store":
        """Open (creating if needed) the store at ``path``, default app_paths().database, and migrate it."""
        if path is None:
            path = app_paths().ensure().database
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        migrations.check_not_newer(path)
        if schema_version(path) == migrations.LATEST:
            return cls(path)  # nothing to migrate: the engine waits until a part needs it
        from ita_desktop.storage.db import make_engine

        engine = make_engine(path)
        try:
            migrations.upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(path, engine)

    def close(self) -> None:
        """Close every pooled connection (the last one checkpoints the WAL into the file)."""
        with self._engine_lock:
            if self._engine is not None:
                self._engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
