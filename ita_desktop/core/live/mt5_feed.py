"""The MT5 terminal as a live session's feed: one thread owns every MetaTrader5 call and polls.

The MetaTrader5 package is not thread-safe, so the feed's own thread makes every call (and runs
the session on what it gets, so nothing crosses threads but the bus's events). Each poll, every
``mt5.poll_interval_ms`` (500 ms by default):

1. the newest bars (``copy_rates_from_pos``; position 0 is the forming bar and is never treated
   as closed); when the oldest closed bar returned lies beyond the last one processed, the gap is
   read from history (``copy_rates_range``, with the history checks) and processed first, so after
   a reconnect or a long pause no bar is lost, and the session ignores any bar at or before its
   last one, so none is processed twice;
2. the ticks since the last ``time_msc`` (``copy_ticks_from``) move the forming bar;
3. the server clock is checked: a fresh tick's time (placed in UTC by the configured broker time
   zone) against UTC now; a disagreement over a minute is a warning on the status (the time zone
   configured is wrong, or the terminal's clock is).

Initialize and login failures, IPC errors (-10003/-10004/-10005) and a terminal that disappears
are retried by ``MT5Source`` (reconnect with back-off); when its attempts run out the feed shows
the error on its status, waits (doubling up to a minute) and tries again, without ending.
At start, the bars between the last stored one and now are backfilled and processed as ``missed``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ita_desktop.core.live.bar_builder import ClosedBar
from ita_desktop.core.live.live_session import LiveSession, SessionStep
from ita_desktop.data.mt5_source import MT5Source
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.errors import ItaError

log = logging.getLogger("ita.live")

CLOCK_WARN_S = 60.0
MAX_WAIT_S = 60.0
LATEST_BARS = 10


@dataclass
class FeedStatus:
    """What the window's connection indicator shows."""

    connected: bool = False
    interval_s: float = 0.5
    last_tick_utc: float | None = None
    server_offset_s: float | None = None  # last tick time minus UTC now, when a tick arrived
    clock_warning: str | None = None
    last_error: str | None = None
    reconnects: int = 0
    gap_fills: int = 0

    def last_tick_age(self, now: float) -> float | None:
        return None if self.last_tick_utc is None else now - self.last_tick_utc


def _closed_bars(bars: Bars) -> list[ClosedBar]:
    return [ClosedBar(int(bars.time[i]), float(bars.open[i]), float(bars.high[i]), float(bars.low[i]),
                      float(bars.close[i]), int(bars.tick_volume[i]), float(bars.spread[i])) for i in range(len(bars))]


class MT5LiveFeed:
    """Polls ``source`` for ``session``'s symbol and streamed timeframe. ``clock`` is UTC now (seconds)."""

    def __init__(self, session: LiveSession, source: MT5Source, *, interval_s: float = 0.5,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] | None = None) -> None:
        self.session, self.source = session, source
        self.symbol, self.timeframe = session.symbol, session.stream_timeframe
        self.status = FeedStatus(interval_s=interval_s)
        self._clock = clock
        self._sleep = sleep
        self._wait = interval_s
        self._last_msc: int | None = None
        self._backfilled = False
        self._thread: threading.Thread | None = None
        #: while set, the feed neither polls nor processes (the live service's pause); cleared, it catches up
        self.paused: threading.Event | None = None

    # -- one poll ---------------------------------------------------------------------------

    def poll(self) -> SessionStep:
        """One round of calls (on the calling thread, which must always be the same one)."""
        step = SessionStep()
        try:
            latest = self.source.fetch_latest(self.symbol, self.timeframe, LATEST_BARS)
            if not self.status.connected and self._backfilled:
                self.status.reconnects += 1
            self.status.connected, self.status.last_error = True, None
            closed = latest.slice(0, max(len(latest) - 1, 0))  # position 0, the newest, is still forming
            last = self.session.last_time
            if last is not None and len(closed) and int(closed.time[0]) > last + self.timeframe.seconds:
                gap = self.source.fetch_bars(self.symbol, self.timeframe, last + self.timeframe.seconds,
                                             int(closed.time[0]))
                if len(gap):
                    self.status.gap_fills += 1
                    step.extend(self.session.process(_closed_bars(gap), missed=not self._backfilled))
            # the first poll's bars closed before the session began: their setups were missed, not raised
            step.extend(self.session.process(_closed_bars(closed), missed=not self._backfilled))
            self._backfilled = True
            if len(latest):
                f = latest.slice(len(latest) - 1, len(latest))
                self.session.forming = _closed_bars(f)[0]
            self._ticks(int(latest.time[-1]) * 1000 - 1 if len(latest) else None)
            self._wait = self.status.interval_s
        except ItaError as exc:  # attempts ran out (or a refusal): show it, wait longer, try again
            self.status.connected, self.status.last_error = False, str(exc)
            self._wait = min(max(self._wait * 2, self.status.interval_s), MAX_WAIT_S)
            log.warning("MT5 live %s: %s; next try in %.1f s", self.symbol, exc, self._wait)
        return step

    def _ticks(self, forming_from_msc: int | None) -> None:
        after = self._last_msc if self._last_msc is not None else forming_from_msc
        if after is None:
            return
        ticks = self.source.ticks_since(self.symbol, after)
        for t in ticks:
            self.session.tick(int(t["time_msc"]) / 1000.0, float(t["bid"]), float(t["ask"]))
        if len(ticks):
            self._last_msc = int(ticks["time_msc"][-1])
            self.status.last_tick_utc = self._last_msc / 1000.0
            self._check_clock(self.status.last_tick_utc)
        elif self._last_msc is None:
            last = self.source.last_tick(self.symbol)  # selects the symbol into Market Watch if needed
            if last is not None:
                self._last_msc = last[0]
                self.status.last_tick_utc = last[0] / 1000.0

    def _check_clock(self, tick_utc: float) -> None:
        offset = tick_utc - self._clock()
        self.status.server_offset_s = offset
        if abs(offset) > CLOCK_WARN_S:
            warning = (f"the terminal's last {self.symbol} tick is {offset:+.0f} s from UTC now: check mt5.server_tz "
                       f"({self.source.settings.server_tz}) and the terminal's clock")
            if warning != self.status.clock_warning:
                log.warning("%s", warning)
            self.status.clock_warning = warning
        else:
            self.status.clock_warning = None

    # -- the thread ---------------------------------------------------------------------------

    def run(self, on_step: Callable[[SessionStep], None] | None = None) -> None:
        """Poll until ``session.stop()``; waits between polls in short naps so a stop is seen at once."""
        sleep = self._sleep or (lambda s: self.session.stopped.wait(s))
        try:
            while not self.session.stopped.is_set():
                if self.paused is not None and self.paused.is_set():
                    sleep(self.status.interval_s)
                    continue
                step = self.poll()
                if on_step is not None and (step.bars or step.raised or step.missed or step.updates):
                    on_step(step)
                sleep(self._wait)
        finally:
            self.source.close()
            self.session.fold_bars()

    def start(self, on_step: Callable[[SessionStep], None] | None = None) -> threading.Thread:
        """Run the feed on its own thread (the one that owns the MetaTrader5 calls)."""
        self._thread = threading.Thread(target=self.run, args=(on_step,), name=f"mt5-live-{self.symbol}", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        self.session.stop()
        if self._thread is not None:
            self._thread.join(timeout)

