"""The Qt side of the core's job engine: engine events as signals on the GUI thread, and the window's ``start``.

The engine is the core's (``core.jobs``): the bridge only listens to it and re-emits.

The engine calls its listeners on worker threads. The bridge turns each call into a private
signal delivered with a queued connection, and re-emits the public signal from the GUI thread,
so anything connected to ``started``/``progressed``/``finished``/``failed``/``cancelled`` runs
on the GUI thread whatever connection type its receiver asks for. Progress is thinned to at most
one report per job every PROGRESS_INTERVAL_S (the last one, 100 %, always passes): a job reporting
every chunk must not flood the event loop the trader is waiting on.

Workers and the GUI thread share one GIL. A thread that wants it asks the holder to let go
only after a switch interval passes with no switch, and numpy and pandas calls on a worker
release and retake the GIL all the time, each retake restarting that wait. So the bridge, i.e.
the GUI process, shortens the interval to GIL_SWITCH_INTERVAL_S (the CLI keeps the default 5 ms,
which favours throughput). Worst GUI gap in tests/test_ui_jobs.py with two busy workers: 30 ms at
5 ms, 28-50 ms at 1 ms (95-120 ms at times with a year-of-M1 import), 15-24 ms at 0.2 ms, with
no loss of throughput (more backtests done in the same 4 s, not fewer). A single C call that holds the GIL (a numba kernel without
``nogil``, a pandas conversion of a whole column) still blocks the GUI for its whole length, so
long work must come in chunks.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from ita_desktop.core.job_engine import HistorySink, JobContext, JobEngine, JobHandle, JobListener  # noqa: F401

PROGRESS_INTERVAL_S = 0.04  # 25 updates a second per job: smooth for a progress bar, cheap for the loop
GIL_SWITCH_INTERVAL_S = 0.0002  # see the module docstring

JobFunction = Callable[[JobContext], Any]


@dataclass
class _Callbacks:
    name: str
    on_done: Callable[[Any], None] | None
    on_error: Callable[[str], None] | None
    on_progress: Callable[[float, str], None] | None
    fraction: float | None = None


class JobBridge(QObject):
    """Listens to a JobEngine (the core's); its signals carry the engine's job id. ``activity`` is the status-bar text."""

    started = Signal(int, str)
    progressed = Signal(int, float, str)
    finished = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)
    activity = Signal(str)

    # Emitted on worker threads only; queued to the slots below on the GUI thread.
    _raw_started = Signal(int, str)
    _raw_progressed = Signal(int, float, str)
    _raw_finished = Signal(int, object)
    _raw_failed = Signal(int, str)
    _raw_cancelled = Signal(int)

    def __init__(self, engine: JobEngine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
        self.engine = engine
        self._jobs: dict[int, _Callbacks] = {}  # submitted through this bridge and not yet ended (GUI thread only)
        self._last_progress: dict[int, float] = {}  # worker side: when each job's last progress went out
        queued = Qt.ConnectionType.QueuedConnection
        self._raw_started.connect(self._on_started, queued)
        self._raw_progressed.connect(self._on_progressed, queued)
        self._raw_finished.connect(self._on_finished, queued)
        self._raw_failed.connect(self._on_failed, queued)
        self._raw_cancelled.connect(self._on_cancelled, queued)
        self._listener = JobListener(
            started=lambda h: self._raw_started.emit(h.job_id, h.name),
            progressed=self._forward_progress,
            finished=lambda h, result: self._raw_finished.emit(h.job_id, result),
            failed=lambda h, error: self._raw_failed.emit(h.job_id, error),
            cancelled=lambda h: self._raw_cancelled.emit(h.job_id),
        )
        self.engine.add_listener(self._listener)

    # -- the window's API -------------------------------------------------------------------
    def start(
        self,
        name: str,
        fn: JobFunction,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        *,
        key: str | None = None,
    ) -> int:
        """Run ``fn(ctx)`` on the engine; the callbacks run on the GUI thread. Returns the job id.

        A cancelled job reports to ``on_error`` as "<name>: cancelled". Raises JobAlreadyRunning
        (an ItaError naming the running job) if ``key`` is busy.
        """
        handle = self.engine.submit(name, fn, key=key)
        self._jobs[handle.job_id] = _Callbacks(name, on_done, on_error, on_progress)
        self._report()
        return handle.job_id

    def cancel(self, job_id: int) -> bool:
        """Ask a job to stop at its next check; False if it is not running any more."""
        return self.engine.cancel(job_id)

    def set_history(self, sink: HistorySink | None) -> None:
        self.engine.set_history(sink)

    @property
    def busy(self) -> bool:
        """True while a job started through ``start`` has not reported its end to the GUI thread."""
        return bool(self._jobs)

    def running_names(self) -> list[str]:
        return [c.name for c in self._jobs.values()]

    def shutdown(self, timeout_ms: int) -> bool:
        """Cancel every job, wait up to ``timeout_ms`` for them, then stop listening (window closing).

        Returns False if some job was still running at the deadline; it ends on its own, unheard.
        """
        ended = self.engine.shutdown(cancel=True, timeout=timeout_ms / 1000)
        self.detach()
        return ended

    def detach(self) -> None:
        """Stop listening to the engine (it may go on serving other faces)."""
        self.engine.remove_listener(self._listener)

    # -- worker side ----------------------------------------------------------------------
    def _forward_progress(self, handle: JobHandle, fraction: float, message: str) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_progress.get(handle.job_id, -PROGRESS_INTERVAL_S) < PROGRESS_INTERVAL_S:
            return
        self._last_progress[handle.job_id] = now
        self._raw_progressed.emit(handle.job_id, fraction, message)

    # -- GUI side -------------------------------------------------------------------------
    def _on_started(self, job_id: int, name: str) -> None:
        self.started.emit(job_id, name)

    def _on_progressed(self, job_id: int, fraction: float, message: str) -> None:
        callbacks = self._jobs.get(job_id)
        if callbacks is not None:
            callbacks.fraction = fraction
            self._report()
        self.progressed.emit(job_id, fraction, message)
        if callbacks is not None and callbacks.on_progress is not None:
            callbacks.on_progress(fraction, message)

    def _on_finished(self, job_id: int, result: object) -> None:
        callbacks = self._end(job_id)
        self.finished.emit(job_id, result)
        if callbacks is not None and callbacks.on_done is not None:
            callbacks.on_done(result)

    def _on_failed(self, job_id: int, message: str) -> None:
        callbacks = self._end(job_id)
        self.failed.emit(job_id, message)
        if callbacks is not None and callbacks.on_error is not None:
            callbacks.on_error(message)

    def _on_cancelled(self, job_id: int) -> None:
        callbacks = self._end(job_id)
        self.cancelled.emit(job_id)
        if callbacks is not None and callbacks.on_error is not None:
            callbacks.on_error(f"{callbacks.name}: cancelled")

    def _end(self, job_id: int) -> _Callbacks | None:
        self._last_progress.pop(job_id, None)
        callbacks = self._jobs.pop(job_id, None)
        self._report()
        return callbacks

    def _report(self) -> None:
        """Status-bar text: every job not yet ended, with its percentage once it reported one."""
        parts = [c.name if c.fraction is None else f"{c.name} {c.fraction:.0%}" for c in self._jobs.values()]
        self.activity.emit(", ".join(parts) + "…" if parts else "Idle")
