"""The Qt adapter of the bus: events published on any thread arrive as slot calls on the GUI thread."""

from __future__ import annotations

import threading

from ita_desktop.bus import BarsStored, EventBus, RunStored, Tick
from ita_desktop.ui.bus_bridge import QtBusBridge


def test_events_from_a_worker_reach_registered_slots_on_the_gui_thread(qtbot) -> None:
    bus = EventBus()
    bridge = QtBusBridge(bus)
    gui = threading.get_ident()
    runs: list[tuple[int, int]] = []
    bridge.register(RunStored, lambda e: runs.append((e.run_id, threading.get_ident())))

    def worker() -> None:
        for i in range(3):
            bus.publish(RunStored(run_id=i, rule_id="r", rule_version="1", symbol="EURUSD", timeframe="M5", trades=1))
        bus.publish(Tick(symbol="EURUSD", time_utc=1.0, bid=1.0, ask=1.0))  # not registered: not delivered

    threading.Thread(target=worker).start()
    qtbot.waitUntil(lambda: len(runs) == 3, timeout=5000)
    assert [r for r, _ in runs] == [0, 1, 2] and {t for _, t in runs} == {gui}
    bridge.close()
    bus.publish(BarsStored(symbol="X", timeframe="M1", rows=1, first_utc=0, last_utc=0, source="csv"))
    assert bus.subscriptions == []
    assert bus.shutdown()


def test_one_event_reaches_each_registered_type_once(qtbot) -> None:
    from ita_desktop.bus import Event

    bus = EventBus()
    bridge = QtBusBridge(bus)
    as_run: list[object] = []
    as_any: list[object] = []
    bridge.register(RunStored, as_run.append)
    bridge.register(Event, as_any.append)
    bus.publish(RunStored(run_id=1, rule_id="r", rule_version="1", symbol="EURUSD", timeframe="M5", trades=1))
    qtbot.waitUntil(lambda: bool(as_run and as_any), timeout=5000)
    qtbot.wait(50)
    assert len(as_run) == 1 and len(as_any) == 1
    bridge.close()
    assert bus.shutdown()
