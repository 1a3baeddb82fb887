"""A thread-safe publish/subscribe bus where no subscriber can hold up the publisher or another subscriber.

Each subscription has its own queue and its own dispatcher thread (started on subscribe).
``publish`` only appends the event to the queue of every subscription whose type matches, so
it returns in microseconds from any thread, whatever the handlers do; a handler that is slow
delays only its own later events, and one that raises is logged and counted, and keeps
receiving. Events reach one subscriber in the order they were published.

Why a thread per subscriber rather than vn.py's single dispatcher thread (EventEngine): there,
one slow handler (a notifier waiting on the network) stalls every other handler. Subscribers
are few (the Qt adapter, a notifier, live mode), so threads are cheap here. Queues are
unbounded: the publisher must never wait; a subscriber that falls behind shows in ``pending``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ita_desktop.bus.events import Event

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
_STOP = object()


class Subscription:
    """One handler for one event type, with its queue and dispatcher thread."""

    def __init__(self, event_type: type[Event], handler: Callable[[Any], None], name: str) -> None:
        self.event_type = event_type
        self.handler = handler
        self.name = name
        self.delivered = 0
        self.errors = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"bus:{name}", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Events queued or being handled."""
        with self._idle:
            return self._pending

    def offer(self, event: Event) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(event)

    def stop(self) -> None:
        self._queue.put(_STOP)

    def join(self, timeout: float | None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def wait_idle(self, timeout: float | None) -> bool:
        """Block until every event offered so far has been handled (tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                return
            try:
                self.handler(event)
                self.delivered += 1
            except Exception:  # a broken subscriber must not stop its own later events, nor anyone else's
                self.errors += 1
                log.exception("bus subscriber %s failed on %s", self.name, type(event).__name__)
            finally:
                with self._idle:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.notify_all()


class EventBus:
    """``subscribe(EventType, handler)``; ``publish(event)`` from any thread; ``shutdown()`` once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []
        self._closed = False

    def subscribe(self, event_type: type[E], handler: Callable[[E], None], *, name: str | None = None) -> Subscription:
        """Call ``handler(event)`` on a thread of its own for every published ``event_type`` (or subclass)."""
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"subscribe to an Event class, not {event_type!r}")
        label = name or f"{event_type.__name__}:{getattr(handler, '__qualname__', repr(handler))}"
        with self._lock:
            if self._closed:
                raise RuntimeError("the event bus is shut down")
            sub = Subscription(event_type, handler, label)
            self._subscriptions = [*self._subscriptions, sub]  # copy on write: publish reads without the lock
        return sub

    def unsubscribe(self, sub: Subscription, timeout: float | None = 1.0) -> None:
        """Stop delivering to ``sub``; events already queued for it are still handled first."""
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if s is not sub]
        sub.stop()
        if threading.current_thread() is not sub._thread:
            sub.join(timeout)

    def publish(self, event: Event) -> int:
        """Queue ``event`` for every matching subscriber; returns how many. Never waits on a handler."""
        if not isinstance(event, Event):
            raise TypeError(f"publish an Event, not {type(event).__name__}")
        if self._closed:
            log.debug("bus shut down: %s dropped", type(event).__name__)
            return 0
        count = 0
        for sub in self._subscriptions:
            if isinstance(event, sub.event_type):
                sub.offer(event)
                count += 1
        return count

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """True once every subscriber has handled everything published so far (within ``timeout`` each)."""
        return all(sub.wait_idle(timeout) for sub in list(self._subscriptions))

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subscriptions)

    def shutdown(self, timeout: float = 2.0) -> bool:
        """Stop accepting events, let each subscriber finish what is queued, join its thread.

        Returns False when a handler was still busy at the deadline (its daemon thread ends with
        the process)."""
        with self._lock:
            self._closed = True
            subs, self._subscriptions = self._subscriptions, []
        for sub in subs:
            sub.stop()
        return all(sub.join(timeout) for sub in subs if sub._thread is not threading.current_thread())
