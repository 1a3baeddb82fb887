"""The job engine: import, backtest, sweep, refresh and scan work off the caller's thread, without Qt.

One in-process APScheduler 3 ``BackgroundScheduler`` with a small thread pool runs every job.
A job is a plain function ``fn(ctx, **kwargs)``; ``ctx`` (a :class:`JobContext`) reports
progress and tells the function when to stop. The GUI's Qt bridge, the CLI and the tests
all run the same functions: the GUI through :meth:`JobEngine.submit`, the CLI and tests
through :meth:`JobEngine.run_inline`, which runs the job synchronously on the calling thread.

Rules the engine keeps, and why:

- **One copy per key.** A job submitted with a ``key`` (``"import:EURUSD"``) never runs twice
  at once: a second :meth:`~JobEngine.submit` while the first is queued or running raises
  :class:`JobAlreadyRunning`, which names the running job and carries its handle (so a caller
  that wants to attach to it can). Raising was chosen over silently returning the running
  handle because the second caller usually asked for different arguments and must learn they
  were not used. A scheduled run whose key is busy is skipped (logged), like APScheduler's own
  ``max_instances=1``.
- **Cancelling is cooperative.** :meth:`~JobEngine.cancel` sets a flag; the job stops at its
  next ``ctx.check()`` or ``ctx.progress(...)`` (both raise :class:`JobCancelled`), so long
  work checks between chunks. Nothing is interrupted halfway, so a store write is never torn.
  A job that finishes its last chunk before it looks at the flag counts as finished. Layers below
  the engine stop with their own errors (the backtest's ``BacktestCancelled`` when handed
  ``cancel=lambda: ctx.cancelled``), so any exception a job raises after it was asked to stop
  counts as its cancellation (logged with its traceback at INFO, in case it was not).
- **Errors are reported for the trader.** An :class:`ItaError` message (it already names the
  file, row and column) is reported as it is; any other exception is a bug: logged with its
  traceback and reported as ``internal error in <job>: <type>: <message>``.
- **Listeners run on the worker thread** (plain callbacks, see :class:`JobListener`); the Qt
  bridge re-emits them as queued signals. A listener that raises is logged and ignored, so a
  broken display never breaks a job.
- **History is written by the worker**, never by the submitting thread: a history write may
  wait on SQLite's lock while an import commits, and the GUI thread must never wait on it.
  A failing history write is logged and the job's own outcome still reaches the listeners.
- **Shutdown** (:meth:`~JobEngine.shutdown`) removes every schedule, cancels queued and running
  jobs by default (they stop at their next check) and waits up to ``timeout`` for them to end.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ita_desktop.domain.errors import ItaError

log = logging.getLogger(__name__)

MAX_WORKERS = 4  # 2-4 threads: the detectors and backtests are numba kernels, more threads only queue on the GIL
SUMMARY_ITEMS = 50  # a result list longer than this is summarised by its head and count
HANDOVER_WAIT_S = 1.0  # at shutdown: the scheduler thread hands a due job to the pool within milliseconds

QUEUED, STARTED, FINISHED, FAILED, CANCELLED = "queued", "started", "finished", "failed", "cancelled"


class JobCancelled(Exception):
    """Raised by ``ctx.check()`` / ``ctx.progress()`` once the job was cancelled: unwinds the job function."""


class JobAlreadyRunning(ItaError):
    """A job with the same key is queued or running; ``running`` is its handle."""

    def __init__(self, key: str, running: "JobHandle") -> None:
        self.key = key
        self.running = running
        super().__init__(f"{running.name} is already running (job {running.job_id}, key {key!r})")


@dataclass(eq=False)
class JobHandle:
    """One run of a job as the submitter sees it; ``status`` moves queued -> started -> finished/failed/cancelled.

    ``result`` and ``error`` are set before ``wait()`` returns; ``history_id`` is the job's row in the
    stored history (None when no history is attached or the write failed).
    """

    job_id: int
    name: str
    key: str | None
    status: str = QUEUED
    result: Any = None
    error: str | None = None
    fraction: float = 0.0
    message: str = ""
    history_id: int | None = None
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the job to stop at its next check (see the module docstring)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ended (True) or ``timeout`` seconds passed (False). Never on the GUI thread."""
        return self._done.wait(timeout)


class JobContext:
    """What a job function gets as ``ctx``: progress reports and the cancellation flag of its run.

    ``ctx.progress`` has the ``progress(fraction, stage)`` shape the importers take, so it is
    passed straight through (``import_file(..., progress=ctx.progress)``) and cancels them too.
    """

    def __init__(self, handle: JobHandle, on_progress: Callable[[JobHandle, float, str], None]) -> None:
        self._handle = handle
        self._on_progress = on_progress

    @property
    def job_id(self) -> int:
        return self._handle.job_id

    @property
    def name(self) -> str:
        return self._handle.name

    @property
    def cancelled(self) -> bool:
        """True once someone asked this run to stop; long loops may test it to stop cleanly themselves."""
        return self._handle.cancel_requested

    def check(self) -> None:
        """Raise :class:`JobCancelled` if the run was cancelled: call it between chunks of work."""
        if self._handle.cancel_requested:
            raise JobCancelled(f"{self._handle.name}: cancelled")

    def progress(self, fraction: float, message: str = "") -> None:
        """Report ``fraction`` (0..1) done and what is happening; also a cancellation point."""
        self.check()
        fraction = min(max(float(fraction), 0.0), 1.0)
        self._handle.fraction, self._handle.message = fraction, message
        self._on_progress(self._handle, fraction, message)


@dataclass
class JobListener:
    """Plain callbacks for job events, each optional; all are called on the thread that runs the job."""

    started: Callable[[JobHandle], None] | None = None
    progressed: Callable[[JobHandle, float, str], None] | None = None
    finished: Callable[[JobHandle, Any], None] | None = None
    failed: Callable[[JobHandle, str], None] | None = None
    cancelled: Callable[[JobHandle], None] | None = None


class HistorySink(Protocol):
    """Where the engine records job runs; ``storage.job_history.JobHistory`` is the SQLite one."""

    def job_started(self, job_id: int, name: str, key: str | None, started_at: int) -> int:
        """Record a run as started; returns the history row id passed back to ``job_ended``."""
        ...

    def job_ended(self, row_id: int, status: str, finished_at: int, error: str | None, summary: Any) -> None:
        """Record how the run ended: status finished/failed/cancelled, the error text, a JSON-ready summary."""
        ...


def summarize(result: Any) -> Any:
    """A JSON-ready gist of a job's result for the history: ``to_dict()`` where a result has one, else plain data.

    Anything else (a Store, chart arrays) is recorded by its type name only: the history says
    what came back, it does not keep it.
    """
    if hasattr(result, "to_dict"):
        return result.to_dict()
    if result is None or isinstance(result, (bool, int, float, str)):
        return result
    if isinstance(result, dict):
        return {str(k): summarize(v) for k, v in itertools.islice(result.items(), SUMMARY_ITEMS)}
    if isinstance(result, (list, tuple)):
        head = [summarize(item) for item in result[:SUMMARY_ITEMS]]
        return head if len(result) <= SUMMARY_ITEMS else {"count": len(result), "head": head}
    return {"type": type(result).__name__}


def _now() -> int:
    return int(time.time())


JobFn = Callable[..., Any]


class JobEngine:
    """The scheduler, its thread pool, the running jobs by id and key, listeners and the history sink."""

    def __init__(self, workers: int = 2, history: HistorySink | None = None) -> None:
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be 1..{MAX_WORKERS}, got {workers}")
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(workers)},
            # A one-shot job queued behind busy workers must still run, however late (no misfire);
            # a scheduled one that missed several runs runs once (coalesce), never two at a time.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=timezone.utc,
        )
        self._history = history
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._schedule_ids = itertools.count(1)
        self._active: dict[int, JobHandle] = {}
        self._keys: dict[str, JobHandle] = {}
        self._schedules: set[str] = set()
        self._listeners: list[JobListener] = []
        self._closed = False

    # -- wiring ---------------------------------------------------------------------------
    def set_history(self, history: HistorySink | None) -> None:
        """Attach the history sink (the GUI does so once its store is open); None stops recording."""
        self._history = history

    def add_listener(self, listener: JobListener) -> None:
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def remove_listener(self, listener: JobListener) -> None:
        with self._lock:
            self._listeners = [item for item in self._listeners if item is not listener]

    # -- running --------------------------------------------------------------------------
    def submit(self, name: str, fn: JobFn, *, key: str | None = None, **kwargs: Any) -> JobHandle:
        """Run ``fn(ctx, **kwargs)`` on a worker now; raises JobAlreadyRunning if ``key`` is busy."""
        handle = self._reserve(name, key)
        try:
            self._ensure_running()
            self._scheduler.add_job(self._run_reserved, args=(handle, fn, kwargs), id=f"job-{handle.job_id}", name=name)
        except BaseException:
            self._release(handle)
            raise
        return handle

    def run_inline(self, name: str, fn: JobFn, *, key: str | None = None, **kwargs: Any) -> Any:
        """Run ``fn(ctx, **kwargs)`` on this thread with the same context, listeners and history as a worker.

        Returns the result; the job's own exception (ItaError, JobCancelled, a bug) is raised again
        after it was recorded, so the CLI reports it as it reports any other. Works after ``shutdown``
        too: it needs no scheduler thread.
        """
        handle = self._reserve(name, key, allow_closed=True)
        error = self._execute(handle, fn, kwargs)
        if error is not None:
            raise error
        return handle.result

    def cancel(self, job_id: int) -> bool:
        """Ask a queued or running job to stop; False if no such job is active."""
        with self._lock:
            handle = self._active.get(job_id)
        if handle is None:
            return False
        handle.cancel()
        return True

    def active(self) -> list[JobHandle]:
        """Queued and running jobs, oldest first."""
        with self._lock:
            return sorted(self._active.values(), key=lambda h: h.job_id)

    # -- schedules ------------------------------------------------------------------------
    def schedule_interval(self, name: str, fn: JobFn, seconds: float, *, key: str | None = None,
                          run_now: bool = False, **kwargs: Any) -> str:
        """Run ``fn(ctx, **kwargs)`` every ``seconds`` (first after one interval, or now); returns the schedule id."""
        if seconds <= 0:
            raise ValueError(f"interval must be positive, got {seconds}")
        first = datetime.now(timezone.utc) if run_now else None
        return self._add_schedule(name, fn, IntervalTrigger(seconds=seconds, timezone=timezone.utc), key, kwargs, first)

    def schedule_cron(self, name: str, fn: JobFn, crontab: str, *, key: str | None = None,
                      timezone_name: str = "UTC", **kwargs: Any) -> str:
        """Run ``fn(ctx, **kwargs)`` on a crontab (``"*/5 * * * 1-5"``) read in ``timezone_name``; returns its id."""
        try:
            trigger = CronTrigger.from_crontab(crontab, timezone=timezone_name)
        except (ValueError, LookupError) as exc:
            raise ItaError(f"schedule {name!r}: bad crontab {crontab!r} or time zone {timezone_name!r}: {exc}") from None
        return self._add_schedule(name, fn, trigger, key, kwargs, None)

    def unschedule(self, schedule_id: str) -> None:
        """Remove a schedule; a run already under way continues (cancel it by its job id)."""
        with self._lock:
            self._schedules.discard(schedule_id)
        try:
            self._scheduler.remove_job(schedule_id)
        except JobLookupError:
            raise KeyError(f"no schedule {schedule_id!r}") from None

    def next_run_time(self, schedule_id: str) -> datetime | None:
        """When the schedule fires next (aware datetime), None if it never will again."""
        job = self._scheduler.get_job(schedule_id)
        if job is None:
            raise KeyError(f"no schedule {schedule_id!r}")
        return job.next_run_time

    def _add_schedule(self, name: str, fn: JobFn, trigger: Any, key: str | None, kwargs: dict[str, Any],
                      first: datetime | None) -> str:
        schedule_id = f"schedule-{next(self._schedule_ids)}"
        self._ensure_running()
        options = {"next_run_time": first} if first is not None else {}
        self._scheduler.add_job(self._run_scheduled, trigger, args=(name, fn, key, kwargs), id=schedule_id,
                                name=name, max_instances=1, coalesce=True, **options)
        with self._lock:
            self._schedules.add(schedule_id)
        return schedule_id

    # -- shutdown -------------------------------------------------------------------------
    def shutdown(self, *, cancel: bool = True, timeout: float | None = None) -> bool:
        """Stop taking jobs, drop the schedules, cancel (default) or let finish the active jobs, wait for them.

        Returns True if every job ended within ``timeout`` seconds (None: wait as long as it takes).
        A job still running after the timeout is left to end on its own and notifies no listener
        the caller has since removed; nothing is killed mid-write.
        """
        with self._lock:
            self._closed = True
            schedules, self._schedules = list(self._schedules), set()
            handles = list(self._active.values())
        for schedule_id in schedules:
            try:
                self._scheduler.remove_job(schedule_id)
            except JobLookupError:
                pass
        if cancel:
            for handle in handles:
                handle.cancel()
        deadline = None if timeout is None else time.monotonic() + timeout
        ended = all(h.wait(None if deadline is None else max(0.0, deadline - time.monotonic())) for h in handles)
        if self._scheduler.running:
            self._await_handover(HANDOVER_WAIT_S)
            self._scheduler.shutdown(wait=False)
        return ended

    def _await_handover(self, limit: float) -> None:
        """Let the scheduler thread finish handing its due one-off jobs to the pool: it removes each from
        its store right after, and a scheduler stopped in between raises JobLookupError in its thread."""
        deadline = time.monotonic() + limit
        while any(job.id.startswith("job-") for job in self._scheduler.get_jobs()) and time.monotonic() < deadline:
            time.sleep(0.002)

    # -- internals ------------------------------------------------------------------------
    def _ensure_running(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the job engine is shut down")
            if not self._scheduler.running:
                self._scheduler.start()  # lazily: the CLI's run_inline never starts a thread

    def _reserve(self, name: str, key: str | None, allow_closed: bool = False) -> JobHandle:
        """Take a job id and the key in one step, so two submits of one key can never both pass."""
        with self._lock:
            if self._closed and not allow_closed:
                raise RuntimeError("the job engine is shut down")
            if key is not None and key in self._keys:
                raise JobAlreadyRunning(key, self._keys[key])
            handle = JobHandle(next(self._ids), name, key)
            self._active[handle.job_id] = handle
            if key is not None:
                self._keys[key] = handle
            return handle

    def _release(self, handle: JobHandle) -> None:
        with self._lock:
            self._active.pop(handle.job_id, None)
            if handle.key is not None and self._keys.get(handle.key) is handle:
                del self._keys[handle.key]

    def _run_reserved(self, handle: JobHandle, fn: JobFn, kwargs: dict[str, Any]) -> None:
        self._execute(handle, fn, kwargs)

    def _run_scheduled(self, name: str, fn: JobFn, key: str | None, kwargs: dict[str, Any]) -> None:
        try:
            handle = self._reserve(name, key)
        except JobAlreadyRunning as exc:
            log.info("scheduled %s skipped: %s", name, exc)
            return
        except RuntimeError:
            return  # shut down between the trigger and the run
        self._execute(handle, fn, kwargs)

    def _execute(self, handle: JobHandle, fn: JobFn, kwargs: dict[str, Any]) -> BaseException | None:
        """Run one reserved job on this thread: history, listeners, outcome. Returns the job's exception, if any."""
        handle.history_id = self._record_start(handle)
        handle.status = STARTED
        log.info("job %d started: %s", handle.job_id, handle.name)
        self._notify("started", handle)
        ctx = JobContext(handle, self._progressed)
        raised: BaseException | None = None
        summary: Any = None
        try:
            ctx.check()  # cancelled while queued: do not start at all
            handle.result = fn(ctx, **kwargs)
            handle.status = FINISHED
        except Exception as exc:
            raised = exc
            if isinstance(exc, JobCancelled) or handle.cancel_requested:
                handle.status, handle.error = CANCELLED, str(exc) or f"{handle.name}: cancelled"
                summary = {"fraction": handle.fraction, "message": handle.message}
                log.info("job %d (%s) stopped after a cancel: %s", handle.job_id, handle.name, exc,
                         exc_info=not isinstance(exc, JobCancelled))
            else:
                handle.status, handle.error = FAILED, self._error_text(handle, exc)
        except BaseException:  # KeyboardInterrupt in run_inline: record, then let it through
            handle.status, handle.error = CANCELLED, f"{handle.name}: interrupted"
            self._finish(handle, None)
            raise
        if handle.status == FINISHED:
            summary = self._summary(handle)
        self._finish(handle, summary)
        return raised

    @staticmethod
    def _error_text(handle: JobHandle, exc: Exception) -> str:
        """The trader's message: an ItaError as it is (it says where), anything else as a logged bug."""
        if isinstance(exc, ItaError):
            log.warning("job %d (%s) failed: %s", handle.job_id, handle.name, exc)
            return str(exc)
        log.error("job %d (%s) failed", handle.job_id, handle.name, exc_info=exc)
        return f"internal error in {handle.name}: {type(exc).__name__}: {exc}"

    def _summary(self, handle: JobHandle) -> Any:
        try:
            return summarize(handle.result)
        except Exception:
            log.exception("job %d (%s): could not summarise the result", handle.job_id, handle.name)
            return {"type": type(handle.result).__name__}

    def _finish(self, handle: JobHandle, summary: Any) -> None:
        """Free the key first (an end listener may resubmit it), then record, then tell listeners, then wake waiters."""
        self._release(handle)
        self._record_end(handle, summary)
        log.info("job %d %s: %s", handle.job_id, handle.status, handle.name)
        if handle.status == FINISHED:
            self._notify("finished", handle, handle.result)
        elif handle.status == FAILED:
            self._notify("failed", handle, handle.error)
        else:
            self._notify("cancelled", handle)
        handle._done.set()

    def _progressed(self, handle: JobHandle, fraction: float, message: str) -> None:
        self._notify("progressed", handle, fraction, message)

    def _notify(self, event: str, handle: JobHandle, *args: Any) -> None:
        for listener in self._listeners:  # a snapshot: add/remove replace the list
            callback = getattr(listener, event)
            if callback is None:
                continue
            try:
                callback(handle, *args)
            except Exception:
                log.exception("job listener failed on %s of job %d (%s)", event, handle.job_id, handle.name)

    def _record_start(self, handle: JobHandle) -> int | None:
        sink = self._history
        if sink is None:
            return None
        try:
            return sink.job_started(handle.job_id, handle.name, handle.key, _now())
        except Exception:
            log.exception("could not record the start of job %d (%s)", handle.job_id, handle.name)
            return None

    def _record_end(self, handle: JobHandle, summary: Any) -> None:
        sink = self._history
        if sink is None or handle.history_id is None:
            return
        try:
            sink.job_ended(handle.history_id, handle.status, _now(), handle.error, summary)
        except Exception:
            log.exception("could not record the end of job %d (%s)", handle.job_id, handle.name)
