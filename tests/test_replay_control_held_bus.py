"""Bar Replay as fast as it goes holds the session's bus events and publishes them in bursts (one wake of the
bus's delivery thread per burst, not per bar): the same events, in the same order, as a session publishing
each at once; a step publishes its bar at once."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import pytest

from ita_desktop.bus.event_bus import EventBus
from ita_desktop.bus.events import BarClosed, Event
from ita_desktop.config import load_settings
from ita_desktop.core.app_core import Core
from ita_desktop.core.live import replay_control
from ita_desktop.core.live.live_service import ReplayPlan
from ita_desktop.core.live.live_session import LiveSession
from ita_desktop.core.live.replay_control import HeldBus, ReplayControl
from ita_desktop.core.live.replay_feed import play
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.paths import app_paths
from ita_desktop.storage.store import Store

RULES = ["asia_sweep", "ib_raid"]


# each session stores its signals in a store of its own (no stored rule versions there: version id None)
def _session(store: Store, bus: EventBus, core: Core, history, rules) -> LiveSession:
    return LiveSession(store, bus, symbol="EURUSD", stream_timeframe=Timeframe.M1, rules=rules, history=history,
                       source="replay", store_bars=False)


@pytest.mark.realdata
def test_a_full_speed_replay_publishes_the_events_a_direct_session_publishes_in_order(eurusd_store: Path,
                                                                                       tmp_path: Path) -> None:
    with Core(load_settings(), app_paths().ensure()) as core:
        bars = core.store.bars.load("EURUSD", Timeframe.M1)
        rules = [(rule, None) for rule, _version in core.live.compiled_rules(RULES, "EURUSD", Timeframe.M1)]
    history, to_play = bars.slice(0, 5_000), bars.slice(5_000, len(bars))
    seen: dict[str, list[Event]] = {}
    for name in ("direct", "control"):
        bus = EventBus()
        got = seen[name] = []
        bus.subscribe(Event, got.append)  # every event type through one subscriber: their order across types
        with Store.open(tmp_path / f"{name}.sqlite3") as store:
            session = _session(store, bus, core, history, rules)
            if name == "direct":
                step = play(session, to_play)
            else:
                control = ReplayControl(ReplayPlan(session, to_play), speed=None)
                assert isinstance(session.bus, HeldBus)
                control.start()
                control.play()
                assert control.finished.wait(300) and control.error is None
                step = control.total
        assert bus.wait_idle(30)
        bus.shutdown()
        assert step.raised, "no signal in the replay: the comparison would say little"
    assert sum(isinstance(e, BarClosed) for e in seen["control"]) == len(to_play)
    assert [_fields(e) for e in seen["control"]] == [_fields(e) for e in seen["direct"]]


def _fields(event: Event) -> tuple:
    """An event without its creation time (``at``: when it was made, not what it says)."""
    return type(event).__name__, {k: v for k, v in asdict(event).items() if k != "at"}


@pytest.mark.realdata
def test_a_step_publishes_its_bar_at_once(eurusd_store: Path, tmp_path: Path) -> None:
    with Core(load_settings(), app_paths().ensure()) as core:
        bars = core.store.bars.load("EURUSD", Timeframe.M1)
        rules = [(rule, None) for rule, _version in core.live.compiled_rules(RULES, "EURUSD", Timeframe.M1)]
    bus = EventBus()
    closed: list[BarClosed] = []
    bus.subscribe(BarClosed, closed.append)
    with Store.open(tmp_path / "step.sqlite3") as store:
        control = ReplayControl(ReplayPlan(_session(store, bus, core, bars.slice(0, 5_000), rules),
                                           bars.slice(5_000, 5_010)), speed=None)
        control.start()
        for k in (1, 2):
            control.step()
            end = time.monotonic() + 30
            while control.played < k and time.monotonic() < end:
                time.sleep(0.01)
            assert control.played == k
            # the replay thread publishes the step's close before it looks for the next step (IDLE_S)
            time.sleep(replay_control.IDLE_S * 3)
            assert bus.wait_idle(10)
            assert [e.time_utc for e in closed] == [int(t) for t in bars.time[5_000:5_000 + k]]
        control.stop()
    bus.shutdown()


def test_the_held_bus_publishes_when_enough_events_are_held_or_the_oldest_is_old_and_keeps_their_order() -> None:
    bus = EventBus()
    got: list[BarClosed] = []
    bus.subscribe(BarClosed, got.append)
    held = HeldBus(bus)
    events = [BarClosed(symbol="EURUSD", timeframe="M1", time_utc=60 * i, open=1.0, high=1.0, low=1.0, close=1.0)
              for i in range(replay_control.HOLD_EVENTS)]
    for e in events[:-1]:
        held.publish(e)
    assert not held.due  # fewer than HOLD_EVENTS, all young
    held.publish(events[-1])
    assert held.due
    assert bus.wait_idle(5) and got == []  # held: nothing published yet
    held.release()
    assert not held.due
    assert bus.wait_idle(5) and got == events
    held.publish(events[0])
    time.sleep(replay_control.HOLD_S * 2)
    assert held.due  # one event, but old
    bus.shutdown()
