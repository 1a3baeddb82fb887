"""Run slow work (store reads, imports, demo generation) on a thread pool, report through Qt signals.

The GUI thread must never wait on the store. A job is a plain function that takes a
``progress(fraction, stage)`` callback; its result or error comes back as a queued signal,
so callbacks always run on the GUI thread. A full APScheduler job engine replaces the pool
in a later issue; the callbacks stay the same.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ita_desktop.domain.errors import ItaError

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


class JobCancelled(Exception):
    """Raised from a progress callback to stop a job the trader cancelled."""


class _JobSignals(QObject):
    # The job id travels with every signal so one runner slot serves all jobs (queued to the GUI thread).
    finished = Signal(int, object)
    failed = Signal(int, str)
    progressed = Signal(int, float, str)


class _Job(QRunnable):
    def __init__(self, job_id: int, name: str, fn: Callable[[Progress], Any], signals: _JobSignals) -> None:
        super().__init__()
        self.job_id, self.name, self.fn, self.signals = job_id, name, fn, signals
        self.cancelled = False

    def _progress(self, fraction: float, stage: str) -> None:
        if self.cancelled:
            raise JobCancelled(f"{self.name}: cancelled")
        self.signals.progressed.emit(self.job_id, float(fraction), stage)

    def run(self) -> None:
        try:
            result = self.fn(self._progress)
        except JobCancelled as exc:
            self.signals.failed.emit(self.job_id, str(exc))
        except ItaError as exc:  # the trader's input or source: the message already says where
            log.warning("%s failed: %s", self.name, exc)
            self.signals.failed.emit(self.job_id, str(exc))
        except Exception as exc:  # a bug: keep the traceback in the log, show the gist
            log.exception("%s failed", self.name)
            self.signals.failed.emit(self.job_id, f"{type(exc).__name__}: {exc}")
        else:
            self.signals.finished.emit(self.job_id, result)


@dataclass
class _Callbacks:
    job: _Job
    on_done: Callable[[Any], None]
    on_error: Callable[[str], None] | None
    on_progress: Callable[[float, str], None] | None


class JobRunner(QObject):
    """Starts jobs on its own pool and calls back on the GUI thread; ``activity`` says what is running."""

    activity = Signal(str)

    def __init__(self, parent: QObject | None = None, max_threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._ids = itertools.count(1)
        self._running: dict[int, _Callbacks] = {}
        self._signals = _JobSignals(self)
        self._signals.finished.connect(self._on_finished)
        self._signals.failed.connect(self._on_failed)
        self._signals.progressed.connect(self._on_progress)

    def start(
        self,
        name: str,
        fn: Callable[[Progress], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[float, str], None] | None = None,
    ) -> int:
        job_id = next(self._ids)
        job = _Job(job_id, name, fn, self._signals)
        job.setAutoDelete(False)  # Python keeps the job in _running until its signal arrives
        self._running[job_id] = _Callbacks(job, on_done, on_error, on_progress)
        log.info("job %d started: %s", job_id, name)
        self.pool.start(job)
        self._report()
        return job_id

    def cancel(self, job_id: int) -> None:
        """Ask a job to stop at its next progress report."""
        callbacks = self._running.get(job_id)
        if callbacks is not None:
            callbacks.job.cancelled = True

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def running_names(self) -> list[str]:
        return [c.job.name for c in self._running.values()]

    def wait(self, msecs: int = -1) -> bool:
        """Block until the pool is idle: only for shutdown (signals still pending are dropped)."""
        return self.pool.waitForDone(msecs)

    def _on_finished(self, job_id: int, result: object) -> None:
        callbacks = self._running.pop(job_id, None)
        self._report()
        if callbacks is not None:
            log.info("job %d done: %s", job_id, callbacks.job.name)
            callbacks.on_done(result)

    def _on_failed(self, job_id: int, message: str) -> None:
        callbacks = self._running.pop(job_id, None)
        self._report()
        if callbacks is not None and callbacks.on_error is not None:
            callbacks.on_error(message)

    def _on_progress(self, job_id: int, fraction: float, stage: str) -> None:
        callbacks = self._running.get(job_id)
        if callbacks is not None and callbacks.on_progress is not None:
            callbacks.on_progress(fraction, stage)

    def _report(self) -> None:
        names = self.running_names()
        self.activity.emit(", ".join(names) + "…" if names else "Idle")
