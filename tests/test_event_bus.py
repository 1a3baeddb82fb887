"""The event bus: typed immutable events, publish from any thread, subscribers isolated from each other."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from ita_desktop.bus import BarsStored, Event, EventBus, JobFailed, JobStarted, RunStored, Tick


def _tick(i: int) -> Tick:
    return Tick(symbol="EURUSD", time_utc=float(i), bid=1.1, ask=1.1002)


def test_events_are_frozen_and_typed() -> None:
    event = RunStored(run_id=3, rule_id="r", rule_version="1", symbol="EURUSD", timeframe="M5", trades=7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.run_id = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        RunStored(3, "r", "1", "EURUSD", "M5", 7)  # type: ignore[misc]  (keywords only: no silent field swap)
    assert event.at > 0


def test_subscribers_get_their_type_and_subclasses_in_order() -> None:
    bus = EventBus()
    ticks: list[Tick] = []
    everything: list[Event] = []
    bus.subscribe(Tick, ticks.append)
    bus.subscribe(Event, everything.append)
    stored = BarsStored(symbol="EURUSD", timeframe="M1", rows=10, first_utc=0, last_utc=540, source="csv")
    assert bus.publish(_tick(1)) == 2
    assert bus.publish(stored) == 1
    bus.publish(_tick(2))
    assert bus.wait_idle(5)
    assert [t.time_utc for t in ticks] == [1.0, 2.0]
    assert everything[1] is stored and len(everything) == 3
    assert bus.shutdown()


def test_a_slow_subscriber_blocks_neither_the_publisher_nor_the_others() -> None:
    bus = EventBus()
    release = threading.Event()
    fast: list[Tick] = []
    bus.subscribe(Tick, lambda _e: release.wait(10), name="slow")
    bus.subscribe(Tick, fast.append, name="fast")
    started = time.perf_counter()
    for i in range(200):
        bus.publish(_tick(i))
    publish_s = time.perf_counter() - started
    deadline = time.monotonic() + 5
    while len(fast) < 200 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(fast) == 200, "the fast subscriber waited for the slow one"
    assert publish_s < 2.0, "publishing waited on a handler"  # gross bound: a blocked publish would take 10 s
    slow = next(s for s in bus.subscriptions if s.name == "slow")
    assert slow.pending == 200
    release.set()
    assert bus.wait_idle(5)
    assert slow.delivered == 200
    assert bus.shutdown()


def test_a_failing_subscriber_is_logged_and_keeps_receiving(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    good: list[JobStarted] = []

    def broken(event: JobStarted) -> None:
        raise RuntimeError(f"boom {event.job_id}")

    bad = bus.subscribe(JobStarted, broken, name="broken")
    bus.subscribe(JobStarted, good.append)
    for i in range(3):
        bus.publish(JobStarted(job_id=i, name="Import"))
    assert bus.wait_idle(5)
    assert [e.job_id for e in good] == [0, 1, 2]
    assert bad.errors == 3
    assert "bus subscriber broken failed on JobStarted" in caplog.text
    assert bus.shutdown()


def test_publish_from_many_threads_loses_nothing() -> None:
    bus = EventBus()
    seen: list[JobFailed] = []
    bus.subscribe(JobFailed, seen.append)

    def publisher(base: int) -> None:
        for i in range(500):
            bus.publish(JobFailed(job_id=base + i, name="x", error="e"))

    threads = [threading.Thread(target=publisher, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bus.wait_idle(5)
    assert sorted(e.job_id for e in seen) == sorted(k * 1000 + i for k in range(4) for i in range(500))
    for k in range(4):  # each publisher's own events arrive in the order it sent them
        mine = [e.job_id for e in seen if e.job_id // 1000 == k]
        assert mine == sorted(mine)
    assert bus.shutdown()


def test_shutdown_handles_what_is_queued_then_stops_threads_and_refuses_more() -> None:
    bus = EventBus()
    got: list[Tick] = []
    sub = bus.subscribe(Tick, lambda e: (time.sleep(0.001), got.append(e)))
    for i in range(50):
        bus.publish(_tick(i))
    assert bus.shutdown(timeout=5)
    assert len(got) == 50
    assert not sub._thread.is_alive()
    assert bus.publish(_tick(99)) == 0
    with pytest.raises(RuntimeError):
        bus.subscribe(Tick, got.append)


def test_unsubscribe_stops_delivery_and_its_thread() -> None:
    bus = EventBus()
    got: list[Tick] = []
    sub = bus.subscribe(Tick, got.append)
    bus.publish(_tick(1))
    bus.unsubscribe(sub)
    bus.publish(_tick(2))
    assert [t.time_utc for t in got] == [1.0]
    assert not sub._thread.is_alive()
    with pytest.raises(TypeError):
        bus.publish("not an event")  # type: ignore[arg-type]
    assert bus.shutdown()
