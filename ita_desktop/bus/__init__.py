"""The event bus on the ground floor: typed, immutable events and a bus that never blocks a publisher.

Imports nothing above ``domain``, so every layer (a detector feed, the job engine, the core,
the Qt adapter, a notifier) may publish or listen without pulling anything else in.
"""

from ita_desktop.bus.event_bus import EventBus, Subscription
from ita_desktop.bus.events import (
    BarClosed, BarsStored, Event, JobCancelled, JobFailed, JobFinished, JobProgressed, JobStarted, ReviewReady,
    RunStored, SignalRaised, SignalUpdated, Tick,
)

__all__ = [
    "BarClosed", "BarsStored", "Event", "EventBus", "JobCancelled", "JobFailed", "JobFinished", "JobProgressed",
    "JobStarted", "ReviewReady", "RunStored", "SignalRaised", "SignalUpdated", "Subscription", "Tick",
]
