"""The store: one SQLite file in the data folder, opened and migrated in one call.

``Store.open()`` is what the CLI, the jobs and the GUI call. One engine per store; every
method opens its own short session, so a Store may be shared by the GUI thread and workers.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine

from ita_desktop.paths import app_paths
from ita_desktop.storage import migrations
from ita_desktop.storage.bar_store import BarStore
from ita_desktop.storage.db import make_engine
from ita_desktop.storage.feedback_store import FeedbackStore
from ita_desktop.storage.ingest_log import Ingests
from ita_desktop.storage.instruments import Instruments
from ita_desktop.storage.job_history import JobHistory
from ita_desktop.storage.review_records import ReviewRecords
from ita_desktop.storage.rule_versions import RuleVersions
from ita_desktop.storage.run_artifacts import RunArtifacts
from ita_desktop.storage.run_records import Runs
from ita_desktop.storage.outbox import Outbox
from ita_desktop.storage.signal_store import Signals


class Store:
    def __init__(self, engine: Engine, path: Path) -> None:
        self.engine = engine
        self.path = path
        self.bars = BarStore(engine)
        self.ingests = Ingests(engine)
        self.instruments = Instruments(engine)
        self.jobs = JobHistory(engine)
        self.runs = Runs(engine)
        self.rule_versions = RuleVersions(engine)
        self.signals = Signals(engine)
        self.feedback = FeedbackStore(engine)
        self.outbox = Outbox(engine)
        self.run_artifacts = RunArtifacts(path.parent / "runs")
        self.reviews = ReviewRecords(engine, path.parent)

    @classmethod
    def open(cls, path: Path | None = None) -> "Store":
        """Open (creating if needed) the store at ``path``, default app_paths().database, and migrate it."""
        if path is None:
            path = app_paths().ensure().database
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        migrations.check_not_newer(path)
        engine = make_engine(path)
        try:
            migrations.upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, path)

    def close(self) -> None:
        """Close every pooled connection (the last one checkpoints the WAL into the file)."""
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
