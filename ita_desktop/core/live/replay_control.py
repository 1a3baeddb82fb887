"""Bar Replay under a trader's hands: play, pause, step one bar, change speed, on a thread of its own.

The window's Bar Replay (like TradingView's) drives a replay session through this; no Qt here.
Every bar plays as four ticks (the forming candle moves) and then its close, which the session
processes like any closed bar (rules, signals stored with source ``replay``, bus events). It
starts paused; ``step`` plays one whole bar while paused; ``speed`` is bars a second, None as
fast as it goes (then only the closes are played: ticks would cost the bus and the chart for a
forming candle no frame shows, and building them cost as much as the rules). At the last stored bar the session's open rule buckets close (``finish``), so
a replay played to the end signals exactly what a full pass does.

As fast as it goes, the session's bus events are held and published in bursts (``HeldBus``): one
event at a time woke the bus's delivery thread for every bar, and each wake took the GIL from
this thread (about a third of a year's replay with the chart went into those hand-overs). A step
and a paced replay publish every event at once, as before; the order never changes.
"""

from __future__ import annotations

import threading
import time

from ita_desktop.core.live.live_service import ReplayPlan
from ita_desktop.core.live.live_session import LiveSession, SessionStep
from ita_desktop.core.live.replay_feed import _closed
from ita_desktop.data import replay as bar_replay

IDLE_S = 0.02  # how often a paused replay looks for a step, play or stop
#: as fast as it goes, the session's events are published once this many are held or the oldest is this old
#: (one 60 Hz frame: a full-speed chart frames every 100 ms anyway; 16 ms gave 2-4 s less a year than 8 ms)
HOLD_EVENTS = 1024
HOLD_S = 0.016


class HeldBus:
    """Stands for the session's bus: ``publish`` holds the event; ``release`` publishes the held ones, in order."""

    def __init__(self, bus) -> None:
        self.bus = bus
        self._held: list = []
        self._since = 0.0

    def publish(self, event) -> None:
        if not self._held:
            self._since = time.monotonic()
        self._held.append(event)

    @property
    def due(self) -> bool:
        """Held events to publish now (enough of them, or the oldest HOLD_S old)."""
        return bool(self._held) and (len(self._held) >= HOLD_EVENTS or time.monotonic() - self._since >= HOLD_S)

    def release(self) -> None:
        held, self._held = self._held, []
        for event in held:
            self.bus.publish(event)

    def __getattr__(self, name: str):  # anything else the session may ask of its bus
        return getattr(self.bus, name)


class ReplayControl:
    """``start()`` the thread, then ``play``/``pause``/``step``/``set_speed``/``stop`` from any thread."""

    def __init__(self, plan: ReplayPlan, speed: float | None = 1.0) -> None:
        self.session: LiveSession = plan.session
        #: the session's events go through this: held at full speed, published in bursts (None: no bus)
        self.held = HeldBus(self.session.bus) if self.session.bus is not None else None
        if self.held is not None:
            self.session.bus = self.held
        self.player = bar_replay.Replay(plan.to_play, ticks=True, speed=speed, full_speed_ticks=False)
        self.player.pause()
        self.total = SessionStep()
        self.finished = threading.Event()
        self.error: BaseException | None = None
        self._steps = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"replay:{self.session.symbol}", daemon=True)

    # -- controls -------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def play(self) -> None:
        self.player.resume()

    def pause(self) -> None:
        self.player.pause()
        self.player.stop()  # ends the paced iterator at its next event; the thread then waits for play/step

    def step(self) -> None:
        """Play one whole bar (its ticks and its close); a playing replay pauses first."""
        if not self.player.paused:
            self.pause()
        with self._lock:
            self._steps += 1

    def set_speed(self, bars_per_second: float | None) -> None:
        self.player.speed = bars_per_second

    def stop(self, timeout: float | None = 5.0) -> None:
        self.session.stop()
        self.player.stop()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def paused(self) -> bool:
        return self.player.paused

    @property
    def played(self) -> int:
        """Bars closed so far."""
        return self.player.position

    @property
    def remaining(self) -> int:
        return len(self.player.bars) - self.player.position

    # -- the thread ----------------------------------------------------------------------------
    def _feed(self, event: object) -> None:
        if isinstance(event, bar_replay.Tick):
            if self.player.speed is None and not self.player.paused:
                return  # as fast as it goes: bars close far faster than a chart frame, a forming candle shows nothing
            self.session.tick(event.time_msc / 1000.0, event.bid, event.ask, _closed(event.forming))
        elif isinstance(event, bar_replay.BarClosed):
            self.total.extend(self.session.process([_closed(event.bar)]))
        held = self.held
        if held is not None and (held.due or self.player.speed is not None or self.player.paused):
            held.release()  # a step or a paced replay: at once

    def _run(self) -> None:
        try:
            while not self.session.stopped.is_set() and not self.player.done:
                if self.player.paused:
                    with self._lock:
                        stepping, self._steps = self._steps > 0, max(0, self._steps - 1)
                    if stepping:
                        for event in self.player.step():
                            self._feed(event)
                        self._release()
                    else:
                        time.sleep(IDLE_S)
                    continue
                for event in self.player.events():
                    if self.session.stopped.is_set():
                        break
                    self._feed(event)
                self._release()  # paused, stopped or at the end: what was held goes out now
            if self.player.done and not self.session.stopped.is_set():
                self.total.extend(self.session.finish())
        except BaseException as exc:  # noqa: BLE001 (shown by the face; the thread must not die silently)
            self.error = exc
        finally:
            self._release()
            self.finished.set()

    def _release(self) -> None:
        if self.held is not None:
            self.held.release()
