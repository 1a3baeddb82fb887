"""The Qt adapter of the event bus: bus events re-emitted as a Qt signal on the GUI thread.

vn.py style: ``bridge.register(RunStored, self.on_run_stored)``. One bus subscription per
event type; its dispatcher thread queues the event and, unless a delivery is already on its way,
emits a private signal, which a queued connection delivers on the GUI thread, where the
registered slots run for every event queued since, in order. So a replay publishing thousands of
bars a second costs one cross-thread signal per GUI turn, not one per event (each emit is a Qt
event allocated, posted and dispatched, under the GIL the replay thread needs). Widgets never
touch the bus's threads.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from ita_desktop.bus.event_bus import EventBus, Subscription
from ita_desktop.bus.events import Event


class QtBusBridge(QObject):
    """``register(EventType, slot)``; slots run on the GUI thread, once per event and registration."""

    _wake = Signal()  # emitted on the bus's dispatcher threads only, once per batch of queued events

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bus = bus
        self._slots: dict[type[Event], list[Callable[[Any], None]]] = {}
        self._subscriptions: dict[type[Event], Subscription] = {}
        self._queued: deque[tuple[type[Event], Event]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False  # a delivery is on its way to the GUI thread
        self._wake.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def register(self, event_type: type[Event], slot: Callable[[Any], None]) -> None:
        """Call ``slot(event)`` on the GUI thread for every ``event_type`` published on the bus."""
        self._slots.setdefault(event_type, []).append(slot)
        if event_type not in self._subscriptions:
            self._subscriptions[event_type] = self.bus.subscribe(
                event_type, lambda e, t=event_type: self._queue(t, e), name=f"qt:{event_type.__name__}")

    def _queue(self, event_type: type[Event], event: Event) -> None:  # a bus dispatcher thread
        with self._lock:
            self._queued.append((event_type, event))
            if self._scheduled:
                return
            self._scheduled = True
        self._wake.emit()

    def _deliver(self) -> None:
        with self._lock:
            batch = list(self._queued)
            self._queued.clear()
            self._scheduled = False
        for event_type, event in batch:
            for slot in list(self._slots.get(event_type, ())):
                slot(event)

    def close(self) -> None:
        """Stop listening (the window closes; the bus may serve other faces)."""
        for sub in self._subscriptions.values():
            self.bus.unsubscribe(sub, timeout=0.5)
        self._subscriptions.clear()
        self._slots.clear()
