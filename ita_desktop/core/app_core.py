"""The headless application: ``Core(settings, paths)`` owns the store, the job engine and the event bus.

In the spirit of vn.py's MainEngine: one object the faces (the window, the CLI, a scheduled job,
later live mode on a server) build and call; it holds the long-lived parts and offers the use
cases as services (``series``, ``detection``, ``rules``, ``backtests``, ``runs``, ``ingest``).

Built lazily so a CLI start stays cheap: constructing a Core imports neither numba, pandas nor
SQLAlchemy; the job engine (APScheduler) starts on first use, the store opens on first use.

The store opens in two phases on purpose (the window's start-up budget): ``read_store`` lists
and loads bars with plain sqlite3 (``BarReader``), so the first chart is drawn before
SQLAlchemy, SQLModel and pandas import; ``open_store`` (the full, writable Store) runs once that
chart is on screen. The CLI simply touches ``core.store``, which opens it on the spot.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ita_desktop.bus.event_bus import EventBus
from ita_desktop.bus.events import JobCancelled, JobFailed, JobFinished, JobProgressed, JobStarted
from ita_desktop.core.backtest_service import BacktestService
from ita_desktop.core.detection_service import DetectionService
from ita_desktop.core.ingest_service import IngestService
from ita_desktop.core.review_service import ReviewService
from ita_desktop.core.journal_service import JournalService
from ita_desktop.core.learning_service import LearningService
from ita_desktop.core.live.live_service import LiveService
from ita_desktop.core.outputs_service import OutputsService
from ita_desktop.core.kernel_service import KernelService
from ita_desktop.core.rules_service import RulesService
from ita_desktop.core.run_service import RunService
from ita_desktop.core.series_service import SeriesService
from ita_desktop.paths import AppPaths

if TYPE_CHECKING:
    from ita_desktop.config import Settings
    from ita_desktop.core.job_engine import JobEngine
    from ita_desktop.storage.bar_reader import BarReader, SeriesInfo
    from ita_desktop.storage.store import Store

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 2
PROGRESS_INTERVAL_S = 0.04  # as the Qt bridge: 25 progress events a second per job at most


class Core:
    """The application without a face. ``close()`` (or ``with``) ends jobs, the bus and the store."""

    def __init__(self, settings: Settings, paths: AppPaths, *, store_path: Path | None = None,
                 workers: int = DEFAULT_WORKERS, rules_dir: Path | None = None) -> None:
        self.settings = settings
        self.paths = paths
        self.store_path = Path(store_path) if store_path is not None else paths.database
        self.workers = workers
        self.bus = EventBus()
        self._lock = threading.Lock()
        self._jobs: JobEngine | None = None
        self._store: Store | None = None
        self._reader: BarReader | None = None
        self._closed = False
        self._progress_sent: dict[int, float] = {}  # job id -> when its last JobProgressed went out
        self.series = SeriesService(self)
        self.detection = DetectionService(self)
        self.rules = RulesService(self, rules_dir)
        self.backtests = BacktestService(self)
        self.runs = RunService(self)
        self.ingest = IngestService(self)
        self.reviews = ReviewService(self)
        self.live = LiveService(self)
        self.learning = LearningService(self)
        self.outputs = OutputsService(self)  # channels, the sender job and its picture process, summary, exports
        self.journal = JournalService(self)  # the trader's feedback, the journal's list, calendar and tag statistics
        self.kernels = KernelService(self)  # numba kernels compiled in a separate process (the window uses it)

    # -- the job engine ----------------------------------------------------------------------
    @property
    def jobs(self) -> JobEngine:
        """The one job engine (started on first use); its events go out on the bus as Job* events."""
        with self._lock:
            if self._jobs is None:
                from ita_desktop.core.job_engine import JobEngine, JobListener

                engine = JobEngine(self.workers)
                publish = self.bus.publish
                engine.add_listener(JobListener(
                    started=lambda h: publish(JobStarted(job_id=h.job_id, name=h.name)),
                    progressed=self._publish_progress,
                    finished=lambda h, _r: publish(JobFinished(job_id=h.job_id, name=h.name)),
                    failed=lambda h, e: publish(JobFailed(job_id=h.job_id, name=h.name, error=e)),
                    cancelled=lambda h: publish(JobCancelled(job_id=h.job_id, name=h.name)),
                ))
                if self._store is not None:
                    engine.set_history(self._store.jobs)
                self._jobs = engine
            return self._jobs

    def _publish_progress(self, handle: Any, fraction: float, message: str) -> None:
        """At most one JobProgressed per job every PROGRESS_INTERVAL_S (the last, 100 %, always): a job reporting
        every chunk must not flood the bus's subscribers."""
        now = time.monotonic()
        last = self._progress_sent.get(handle.job_id)
        if fraction < 1.0 and last is not None and now - last < PROGRESS_INTERVAL_S:
            return
        self._progress_sent[handle.job_id] = now
        if fraction >= 1.0:
            self._progress_sent.pop(handle.job_id, None)
        self.bus.publish(JobProgressed(job_id=handle.job_id, name=handle.name, fraction=fraction, message=message))

    # -- the store, in two phases -------------------------------------------------------------
    def read_store(self) -> tuple[BarReader | None, list[SeriesInfo]]:
        """Phase one: a plain-SQL reader and the stored series, when the file exists at the current schema
        and holds bars; (None, []) otherwise (the store must be created or migrated: ``open_store``)."""
        from ita_desktop.storage import migrations
        from ita_desktop.storage.bar_reader import BarReader

        reader = BarReader.at_schema(self.store_path, migrations.LATEST)
        series = reader.series() if reader is not None else []
        if not series:
            return None, []
        with self._lock:
            if self._reader is None:
                self._reader = reader
        return reader, series

    def open_store(self) -> tuple[Store, list[SeriesInfo]]:
        """Phase two: open (create, migrate) the full store and list its series in one trip, off the GUI thread.

        pandas is loaded here too, while the window is still starting: its C modules hold the GIL
        while they initialise (tens of ms at a time), which would stall the window in the middle of
        the trader's first CSV import if it were loaded then."""
        import ita_desktop.data.csv_import  # noqa: F401  (loads pandas)

        store = self._open().load_all()  # the ORM too: the store builds it on first use, which must not be the GUI's
        return store, store.bars.series()

    def _open(self) -> Store:
        with self._lock:
            if self._store is not None:
                return self._store
            if self._closed:
                raise _closed()
        from ita_desktop.storage.store import Store

        store = Store.open(self.store_path)
        with self._lock:
            if self._store is not None or self._closed:  # another thread won, or closed meanwhile
                store.close()
                if self._store is None:
                    raise _closed()
                return self._store
            self._store, self._reader = store, store.bars
            if self._jobs is not None:
                self._jobs.set_history(store.jobs)
            return store

    @property
    def store(self) -> Store:
        """The full store, opened (and migrated) on first use."""
        return self._store if self._store is not None else self._open()

    @property
    def store_if_open(self) -> Store | None:
        return self._store

    @property
    def reader(self) -> Any:
        """Where bars are read from: the full store's once open, else the start-up reader, else the store opened now."""
        if self._reader is not None:
            return self._reader
        return self.store.bars

    def numba_cache_state(self) -> str:
        """'warm (N kernels)' when compiled detectors are cached on disk, else 'cold' (first run compiles)."""
        from ita_desktop.kernel_cache import cache_root

        folder = cache_root(os.environ.get("NUMBA_CACHE_DIR") or self.paths.numba_cache)  # this code's kernels only
        count = sum(1 for _ in folder.rglob("*.nbi")) if folder.is_dir() else 0
        return f"warm ({count} kernels)" if count else "cold"

    # -- lifetime -------------------------------------------------------------------------------
    def close(self, timeout: float = 5.0) -> bool:
        """Cancel running jobs (an import stores nothing), stop the bus, close the store. True if all ended in time."""
        with self._lock:
            if self._closed:
                return True
            self._closed = True
            jobs, store = self._jobs, self._store
            self._store = None
        self.kernels.stop()
        self.outputs.close()
        ended = jobs.shutdown(cancel=True, timeout=timeout) if jobs is not None else True
        self.bus.shutdown(timeout=1.0)
        if store is not None:
            store.close()
        return ended

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Core:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _closed() -> Exception:
    """What work that reaches a closed core raises: a cancel (the window closed under a job), not a failure
    with a traceback. Imported here, not at the top: building a Core must not load the job engine."""
    from ita_desktop.core.job_engine import JobCancelled as Cancelled

    return Cancelled("the core is closed")
