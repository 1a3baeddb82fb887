"""The job engine without Qt: workers, context, keys, cancel, errors, schedules, shutdown and stored history.

Everything waits on events (never on the clock): a job that must be "still running" blocks on a
threading.Event the test releases. History is checked in a real SQLite store file.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from ita_desktop.domain.errors import InputError, ItaError
from ita_desktop.workflows.bar_ingest import download_mt5, import_file
from ita_desktop.core.job_engine import (
    JobAlreadyRunning, JobCancelled, JobContext, JobEngine, JobListener, summarize,
)
from ita_desktop.storage.store import Store

WAIT_S = 30  # only a bound for a hung test; every wait returns as soon as its event fires


class Recorder:
    """A listener that keeps (event, job_id, detail, thread) for every callback."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, object, int]] = []
        self._lock = threading.Lock()
        self.listener = JobListener(
            started=lambda h: self._add("started", h.job_id, h.name),
            progressed=lambda h, f, m: self._add("progressed", h.job_id, (f, m)),
            finished=lambda h, r: self._add("finished", h.job_id, r),
            failed=lambda h, e: self._add("failed", h.job_id, e),
            cancelled=lambda h: self._add("cancelled", h.job_id, None),
        )

    def _add(self, event: str, job_id: int, detail: object) -> None:
        with self._lock:
            self.events.append((event, job_id, detail, threading.get_ident()))

    def of(self, job_id: int) -> list[tuple[str, object]]:
        with self._lock:
            return [(e, d) for e, j, d, _ in self.events if j == job_id]


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "jobs.sqlite3") as s:
        yield s


@pytest.fixture
def engine(store):
    eng = JobEngine(workers=2, history=store.jobs)
    recorder = Recorder()
    eng.add_listener(recorder.listener)
    eng.recorder = recorder  # type: ignore[attr-defined]
    yield eng
    eng.shutdown(timeout=WAIT_S)


def wait_until(predicate, what: str) -> None:
    """Poll ``predicate`` until it holds (bounded by WAIT_S for a hung test; no figure is asserted)."""
    pause = threading.Event()
    for _ in range(WAIT_S * 100):
        if predicate():
            return
        pause.wait(0.01)
    raise AssertionError(f"never happened: {what}")


def logged(caplog, text: str) -> bool:
    return any(text in r.getMessage() for r in caplog.records)


def chunks(ctx: JobContext, n: int, done: list[int] | None = None) -> int:
    """A chunked job: a bit of numpy per chunk, a progress report (a cancellation point) after each."""
    total = 0
    for k in range(n):
        total += int(np.arange(1000).sum())
        if done is not None:
            done.append(k)
        ctx.progress((k + 1) / n, f"chunk {k + 1}/{n}")
    return total


def blocking(ctx: JobContext, gate: threading.Event, entered: threading.Event | None = None) -> str:
    if entered is not None:
        entered.set()
    while not gate.wait(0.01):
        ctx.check()
    return "released"


def test_submit_runs_on_a_worker_with_progress_in_order_and_records_the_run(engine, store):
    handle = engine.submit("Chunks", chunks, key="chunks", n=20)
    assert handle.wait(WAIT_S)
    assert (handle.status, handle.result, handle.error) == ("finished", 20 * 499_500, None)
    events = engine.recorder.of(handle.job_id)
    assert events[0] == ("started", "Chunks") and events[-1] == ("finished", 20 * 499_500)
    fractions = [d[0] for e, d in events if e == "progressed"]
    assert fractions == [(k + 1) / 20 for k in range(20)]
    assert {t for _, j, _, t in engine.recorder.events if j == handle.job_id} != {threading.get_ident()}

    row = store.jobs.get(handle.history_id)
    assert (row.job_id, row.name, row.key, row.status, row.error) == (handle.job_id, "Chunks", "chunks", "finished", None)
    assert row.finished_at >= row.started_at and row.summary == 20 * 499_500


def test_run_inline_uses_the_same_context_listeners_and_history_on_the_calling_thread(engine, store):
    assert engine.run_inline("Inline", chunks, n=3) == 3 * 499_500
    job_id = engine.recorder.events[0][1]
    assert [e for e, _ in engine.recorder.of(job_id)] == ["started", "progressed", "progressed", "progressed", "finished"]
    assert {t for *_, t in engine.recorder.events} == {threading.get_ident()}
    (row,) = store.jobs.list()
    assert (row.name, row.status) == ("Inline", "finished")

    def bad_input(ctx: JobContext) -> None:
        raise InputError("not a time", file="x.csv", line=2, column=1)

    with pytest.raises(InputError, match="x.csv:2:1: not a time"):
        engine.run_inline("Import x.csv", bad_input)
    failed = store.jobs.list(status="failed")[0]
    assert failed.error == "x.csv:2:1: not a time"


def test_the_same_key_never_runs_twice_at_once(engine, store):
    gate, entered = threading.Event(), threading.Event()
    first = engine.submit("Refresh EURUSD", blocking, key="refresh:EURUSD", gate=gate, entered=entered)
    assert entered.wait(WAIT_S)
    with pytest.raises(JobAlreadyRunning, match=rf"Refresh EURUSD is already running \(job {first.job_id}") as caught:
        engine.submit("Refresh EURUSD again", chunks, key="refresh:EURUSD", n=1)
    assert caught.value.running is first
    with pytest.raises(JobAlreadyRunning):
        engine.run_inline("Refresh inline", chunks, key="refresh:EURUSD", n=1)
    other = engine.submit("Refresh XAUUSD", chunks, key="refresh:XAUUSD", n=1)  # another key runs alongside
    assert other.wait(WAIT_S) and other.status == "finished"
    assert not first.done
    gate.set()
    assert first.wait(WAIT_S) and first.result == "released"
    again = engine.submit("Refresh EURUSD", chunks, key="refresh:EURUSD", n=1)  # the key is free once it ended
    assert again.wait(WAIT_S) and again.status == "finished"
    assert [r.name for r in store.jobs.list(key="refresh:EURUSD")] == ["Refresh EURUSD", "Refresh EURUSD"]


def test_cancel_stops_within_one_chunk_and_the_history_says_cancelled(engine, store):
    done: list[int] = []
    cancel_at = 5
    engine.add_listener(JobListener(progressed=lambda h, f, m: engine.cancel(h.job_id) if f == (cancel_at + 1) / 100 else None))
    handle = engine.submit("Sweep", chunks, n=100, done=done)
    assert handle.wait(WAIT_S)
    assert handle.status == "cancelled" and handle.error == "Sweep: cancelled"
    assert done == list(range(cancel_at + 2))  # the chunk under way when cancelled finishes; no other starts
    assert engine.recorder.of(handle.job_id)[-1] == ("cancelled", None)
    row = store.jobs.get(handle.history_id)
    assert (row.status, row.error) == ("cancelled", "Sweep: cancelled")
    assert row.summary == {"fraction": (cancel_at + 1) / 100, "message": f"chunk {cancel_at + 1}/100"}
    assert engine.cancel(handle.job_id) is False  # no longer active


def test_a_queued_job_cancelled_before_it_starts_never_runs(store):
    engine = JobEngine(workers=1, history=store.jobs)
    gate, entered = threading.Event(), threading.Event()
    blocker = engine.submit("Blocker", blocking, gate=gate, entered=entered)
    assert entered.wait(WAIT_S)
    ran: list[int] = []
    queued = engine.submit("Queued", lambda ctx: ran.append(1))
    assert [h.name for h in engine.active()] == ["Blocker", "Queued"]
    assert engine.cancel(queued.job_id)
    gate.set()
    assert queued.wait(WAIT_S) and blocker.wait(WAIT_S)
    assert queued.status == "cancelled" and ran == []
    assert store.jobs.get(queued.history_id).status == "cancelled"
    engine.shutdown(timeout=WAIT_S)


def test_errors_ita_messages_as_they_are_bugs_as_internal_errors_with_a_logged_traceback(engine, store, caplog):
    def broken(ctx: JobContext) -> None:
        {}["missing"]

    def refused(ctx: JobContext) -> None:
        raise ItaError("MT5 terminal not found at C:/MT5/terminal64.exe")

    with caplog.at_level(logging.ERROR, logger="ita_desktop.core.job_engine"):
        bug = engine.submit("Backtest asia_sweep", broken)
        assert bug.wait(WAIT_S)
    assert bug.status == "failed"
    assert bug.error == "internal error in Backtest asia_sweep: KeyError: 'missing'"
    assert engine.recorder.of(bug.job_id)[-1] == ("failed", bug.error)
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)
    assert store.jobs.get(bug.history_id).error == bug.error

    user = engine.submit("Download MT5", refused)
    assert user.wait(WAIT_S)
    assert user.error == "MT5 terminal not found at C:/MT5/terminal64.exe"
    assert store.jobs.get(user.history_id).status == "failed"


def test_a_broken_listener_or_history_never_breaks_the_job(tmp_path, caplog):
    class BrokenSink:
        def job_started(self, *args):
            raise OSError("disk full")

        def job_ended(self, *args):
            raise AssertionError("never called without a row")

    engine = JobEngine(history=BrokenSink())
    engine.add_listener(JobListener(started=lambda h: 1 / 0, progressed=lambda h, f, m: 1 / 0))
    recorder = Recorder()
    engine.add_listener(recorder.listener)
    with caplog.at_level(logging.ERROR, logger="ita_desktop.core.job_engine"):
        handle = engine.submit("Chunks", chunks, n=2)
        assert handle.wait(WAIT_S)
    assert handle.status == "finished" and handle.history_id is None
    assert recorder.of(handle.job_id)[-1][0] == "finished"
    messages = [r.getMessage() for r in caplog.records]
    assert any("could not record the start" in m for m in messages)
    assert any("job listener failed on started" in m for m in messages)
    engine.shutdown(timeout=WAIT_S)


def test_shutting_down_right_after_a_job_raises_nothing_in_the_scheduler_thread(monkeypatch):
    """Stopped while its thread was between handing a job to the pool and removing it, APScheduler
    raised JobLookupError in that thread (about half the time, done 300 times in a row)."""
    errors: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    for _ in range(50):
        engine = JobEngine()
        assert engine.submit("Quick", lambda ctx: 1).wait(WAIT_S)
        assert engine.shutdown(timeout=WAIT_S)
    assert errors == []


def test_interval_schedule_never_overlaps_itself_and_stops_when_unscheduled(engine, caplog):
    lock = threading.Lock()
    state = {"running": 0, "most": 0, "runs": 0}
    first_gate, third_run = threading.Event(), threading.Event()

    def refresh(ctx: JobContext) -> None:
        with lock:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
            state["runs"] += 1
            runs = state["runs"]
        if runs == 1:
            first_gate.wait(WAIT_S)  # many intervals pass while the first run is held
        if runs == 3:
            third_run.set()
        with lock:
            state["running"] -= 1

    with caplog.at_level(logging.WARNING, logger="apscheduler"):
        schedule_id = engine.schedule_interval("Data refresh", refresh, 0.02, key="refresh", run_now=True)
        assert engine.next_run_time(schedule_id) is not None
        wait_until(lambda: logged(caplog, "maximum number of running instances reached"), "a run skipped by APScheduler")
    first_gate.set()
    assert third_run.wait(WAIT_S)
    engine.unschedule(schedule_id)
    assert state["most"] == 1
    with pytest.raises(KeyError):
        engine.next_run_time(schedule_id)


def test_a_scheduled_run_is_skipped_while_its_key_is_busy(engine, caplog):
    gate, entered = threading.Event(), threading.Event()
    manual = engine.submit("Manual refresh", blocking, key="refresh", gate=gate, entered=entered)
    assert entered.wait(WAIT_S)
    ran: list[int] = []
    with caplog.at_level(logging.INFO, logger="ita_desktop.core.job_engine"):
        schedule_id = engine.schedule_interval("Scheduled refresh", lambda ctx: ran.append(1), 3600, key="refresh",
                                               run_now=True)
        wait_until(lambda: logged(caplog, "scheduled Scheduled refresh skipped"), "the scheduled run skipped")
    assert ran == []
    gate.set()
    assert manual.wait(WAIT_S)
    engine.unschedule(schedule_id)


def test_cron_schedule_fires_on_the_session_clock(engine):
    schedule_id = engine.schedule_cron("Daily open scan", chunks, "0 18 * * 1-5", timezone_name="America/New_York", n=1)
    when = engine.next_run_time(schedule_id).astimezone(ZoneInfo("America/New_York"))
    assert (when.hour, when.minute) == (18, 0) and when.weekday() < 5
    with pytest.raises(ItaError, match="bad crontab '61 \\* \\* \\* \\*'"):
        engine.schedule_cron("Broken", chunks, "61 * * * *")


def test_shutdown_cancels_running_jobs_and_waits_or_lets_them_finish(store):
    engine = JobEngine(history=store.jobs)
    gate, entered = threading.Event(), threading.Event()
    running = engine.submit("Long backtest", blocking, gate=gate, entered=entered)
    assert entered.wait(WAIT_S)
    assert engine.shutdown(timeout=WAIT_S) is True
    assert running.status == "cancelled" and store.jobs.get(running.history_id).status == "cancelled"
    with pytest.raises(RuntimeError, match="shut down"):
        engine.submit("Late", chunks, n=1)

    patient = JobEngine()
    gate2, entered2 = threading.Event(), threading.Event()
    job = patient.submit("Import", blocking, gate=gate2, entered=entered2)
    assert entered2.wait(WAIT_S)
    threading.Timer(0.05, gate2.set).start()
    assert patient.shutdown(cancel=False, timeout=WAIT_S) is True
    assert (job.status, job.result) == ("finished", "released")


def test_the_real_import_runs_as_a_job_and_its_summary_is_stored(engine, store, tmp_path):
    csv = tmp_path / "EURUSD_M1.csv"
    t0 = 1_704_153_600  # 2024-01-02 00:00 UTC
    lines = ["time,open,high,low,close,tick_volume"]
    lines += [f"{t0 + 60 * i},1.1,1.2,1.0,1.15,{i}" for i in range(500)]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")

    handle = engine.submit("Import EURUSD_M1.csv", lambda ctx: import_file(store, csv, symbol="EURUSD", server_tz="UTC",
                                                                           progress=ctx.progress), key="import:EURUSD")
    assert handle.wait(WAIT_S) and handle.status == "finished", handle.error
    stages = [d[1] for e, d in engine.recorder.of(handle.job_id) if e == "progressed"]
    assert stages[0] == "sniffing format" and stages[-1] == "done"
    summary = store.jobs.get(handle.history_id).summary
    assert (summary["symbol"], summary["rows_stored"], summary["timeframe"]) == ("EURUSD", 500, "M1")

    # cancelled at the importer's first progress report: nothing is stored
    engine.add_listener(JobListener(progressed=lambda h, f, m: h.cancel()))
    again = engine.submit("Import again", lambda ctx: import_file(store, csv, symbol="XAUUSD", server_tz="UTC",
                                                                  progress=ctx.progress))
    assert again.wait(WAIT_S) and again.status == "cancelled"
    assert [s.symbol for s in store.bars.series()] == ["EURUSD"]


@pytest.mark.standin
def test_a_lower_layers_own_cancel_error_counts_as_cancelled_standin(engine, store):
    """download_mt5 stops through its ``cancel`` callable with its own error; the run is cancelled, not failed."""
    from ita_desktop.config import MT5Settings
    from ita_desktop.domain.timeframes import Timeframe
    from tests.standins import mt5_module as standin

    t0, n = 1_704_153_600, 3 * 1440
    price = 2050.0 + np.sin(np.arange(n) / 50)
    rates = standin.rates_array({"time": t0 + 60 * np.arange(n), "open": price, "high": price + 0.5,
                                 "low": price - 0.5, "close": price, "tick_volume": np.ones(n, np.int64),
                                 "spread": np.full(n, 20)})
    module = standin.new_module(standin.Terminal(rates={("XAUUSD", 1): rates},
                                                 symbols={"XAUUSD": standin.symbol("XAUUSD", digits=2)}))
    engine.add_listener(JobListener(progressed=lambda h, f, m: h.cancel()))  # stop after the first chunk

    def download(ctx: JobContext):
        return download_mt5(store, "XAUUSD", Timeframe.M1, t0, t0 + 60 * n,
                            settings=MT5Settings(server_tz="UTC", history_chunk_days=1), module=module,
                            progress=lambda done, total: ctx.progress(done / total, f"{done}/{total} chunks"),
                            cancel=lambda: ctx.cancelled)

    handle = engine.submit("Download XAUUSD", download)
    assert handle.wait(WAIT_S)
    assert handle.status == "cancelled" and "cancelled after 1 of" in handle.error
    assert store.jobs.get(handle.history_id).status == "cancelled"
    assert store.bars.series() == []


def test_history_rows_are_kept_across_sessions(tmp_path):
    path = tmp_path / "s.sqlite3"
    for session in range(2):
        with Store.open(path) as store:
            engine = JobEngine(history=store.jobs)
            engine.run_inline(f"Session {session}", chunks, key="k", n=1)
            with pytest.raises(JobCancelled):
                engine.run_inline(f"Cancelled {session}", lambda ctx: (ctx.progress(0.5, "half"), ctx.check(),
                                                                       engine.cancel(ctx.job_id), ctx.check()))
    with Store.open(path) as store:
        rows = store.jobs.list()
        assert [(r.name, r.job_id, r.status) for r in rows] == [
            ("Cancelled 1", 2, "cancelled"), ("Session 1", 1, "finished"),
            ("Cancelled 0", 2, "cancelled"), ("Session 0", 1, "finished")]
        assert len({r.id for r in rows}) == 4  # job ids restart per session; rows never collide
        assert [r.name for r in store.jobs.list(key="k", limit=1)] == ["Session 1"]
        with pytest.raises(ValueError, match="not 'started'"):
            store.jobs.job_ended(rows[0].id, "started", 0, None, None)


def test_summaries_are_json_ready_and_bounded():
    class Opaque:
        pass

    class WithDict:
        def to_dict(self) -> dict:
            return {"rows": 3}

    assert summarize([WithDict(), (1, "a"), None]) == [{"rows": 3}, [1, "a"], None]
    assert summarize(Opaque()) == {"type": "Opaque"}
    long = summarize(list(range(120)))
    assert long["count"] == 120 and long["head"] == list(range(50))
    assert summarize({"equity": 1.5, 2: Opaque()}) == {"equity": 1.5, "2": {"type": "Opaque"}}
