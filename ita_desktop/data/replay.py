"""Play stored bars forward as if they were arriving live.

Live mode and Bar Replay consume the same events a live source emits: ``Tick`` (a price update
with the bar still forming) and ``BarClosed``. Replay produces them from Bars, either one
``BarClosed`` per bar or four synthetic ticks per bar first: open, the extreme nearer the open,
the other extreme, close. That path is the one deterministic choice that never invents a price
outside the bar and visits the nearer side first, as a walk from the open most likely did.

Pacing uses an injectable clock and sleep so tests run instantly; nothing here knows about Qt.
A GUI runs ``events()`` on a worker thread and calls pause()/resume()/stop()/speed from its own;
those only set flags. step(), next_event() and seek() belong to the thread that plays.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.timeframes import Timeframe

TICKS_PER_BAR = 4


@dataclass(frozen=True)
class Bar:
    """One bar's values; ``time`` is its open time in UTC seconds."""

    time: int
    open: float
    high: float
    low: float
    close: float
    tick_volume: int
    spread: int


@dataclass(frozen=True)
class Tick:
    """A price update. ``forming`` is bar ``index`` as it stands after this tick."""

    symbol: str
    timeframe: Timeframe
    index: int
    time_msc: int
    bid: float
    ask: float
    forming: Bar


@dataclass(frozen=True)
class BarClosed:
    """Bar ``index`` is final; detectors and rules run on closed bars only."""

    symbol: str
    timeframe: Timeframe
    index: int
    bar: Bar


Event = Tick | BarClosed


def infer_point(prices: np.ndarray, max_digits: int = 8) -> float:
    """The price step the quotes are written in (1e-5 for 1.08123, 0.01 for 2351.27)."""
    sample = np.asarray(prices, dtype=np.float64)[:1000]
    for digits in range(max_digits + 1):
        scaled = sample * 10.0**digits
        if np.all(np.abs(scaled - np.rint(scaled)) < 1e-6):  # float noise only, far below one step
            return 10.0**-digits
    return 10.0**-max_digits


def tick_path(open_: float, high: float, low: float, close: float) -> tuple[float, float, float, float]:
    """Open, nearer extreme, other extreme, close. Ties go low-first on an up bar, high-first otherwise."""
    to_low, to_high = open_ - low, high - open_
    low_first = to_low < to_high or (to_low == to_high and close >= open_)
    return (open_, low, high, close) if low_first else (open_, high, low, close)


class Replay:
    """A stepper and paced iterator over ``bars`` from ``start`` on.

    ``speed`` is bars per second, or None for as fast as possible. With ``ticks=True`` each bar
    plays as four ticks spread over its time slot, and its BarClosed follows the close tick.
    """

    def __init__(
        self,
        bars: Bars,
        *,
        ticks: bool = False,
        speed: float | None = None,
        start: int = 0,
        point: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        poll_s: float = 0.05,
        full_speed_ticks: bool = True,
    ) -> None:
        self.bars = bars
        self.ticks = ticks
        #: False: while ``speed`` is None (as fast as it goes) a bar not yet begun plays as its BarClosed
        #: alone; its ticks would show a forming candle no frame draws (Bar Replay, ReplayControl), and
        #: building them cost the replay about as much as the rules did. Stepping and paced play keep them.
        self.full_speed_ticks = full_speed_ticks
        self.speed = speed
        self.point = point if point is not None else infer_point(bars.close)
        self._clock = clock
        self._sleep = sleep
        self._poll_s = poll_s
        self._paused = False
        self._stopped = False
        self._position = 0
        self._sub = 0  # events of the current bar already played
        self.seek(start)

    # -- controls (safe from another thread: they only set flags) -----------------------

    @property
    def speed(self) -> float | None:
        return self._speed

    @speed.setter
    def speed(self, value: float | None) -> None:
        if value is not None and not value > 0:
            raise ValueError(f"replay speed must be a positive number of bars per second or None, not {value!r}")
        self._speed = value

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    def stop(self) -> None:
        """End events() at the next event boundary."""
        self._stopped = True

    # -- position -----------------------------------------------------------------------

    @property
    def position(self) -> int:
        """Index of the bar playing now (or next); every bar before it has closed."""
        return self._position

    @property
    def done(self) -> bool:
        return self._position >= len(self.bars)

    def history(self) -> Bars:
        """The bars closed so far, for drawing the chart up to the replay point."""
        return self.bars.slice(0, self._position)

    def seek(self, index: int) -> None:
        """Jump so that bar ``index`` plays next (Bar Replay's "start from here")."""
        if not 0 <= index <= len(self.bars):
            raise IndexError(f"replay position {index} outside 0..{len(self.bars)}")
        self._position, self._sub = index, 0

    # -- playing ------------------------------------------------------------------------

    def _bar(self, index: int) -> Bar:
        b = self.bars
        return Bar(int(b.time[index]), float(b.open[index]), float(b.high[index]), float(b.low[index]),
                   float(b.close[index]), int(b.tick_volume[index]), int(b.spread[index]))

    def bar_events(self, index: int) -> list[Event]:
        """All events bar ``index`` produces, in order."""
        b = self.bars
        closed = self._bar(index)
        events: list[Event] = []
        if self.ticks:
            path = tick_path(closed.open, closed.high, closed.low, closed.close)
            span_ms = b.timeframe.seconds * 1000 - 1  # the close tick lands on the bar's last millisecond
            ask_add = closed.spread * self.point
            for k, price in enumerate(path):
                seen = path[: k + 1]
                forming = Bar(closed.time, closed.open, max(seen), min(seen), price,
                              closed.tick_volume * (k + 1) // TICKS_PER_BAR, closed.spread)
                time_msc = closed.time * 1000 + k * span_ms // (TICKS_PER_BAR - 1)
                events.append(Tick(b.symbol, b.timeframe, index, time_msc, price, price + ask_add, forming))
        events.append(BarClosed(b.symbol, b.timeframe, index, closed))
        return events

    def next_event(self) -> Event | None:
        """The next event, at once (no pacing, ignores pause); None at the end."""
        if self.done:
            return None
        if self._sub == 0 and self.ticks and self._speed is None and not self.full_speed_ticks:
            self._position += 1  # as fast as it goes: the close alone (see full_speed_ticks)
            return BarClosed(self.bars.symbol, self.bars.timeframe, self._position - 1, self._bar(self._position - 1))
        events = self.bar_events(self._position)
        event = events[self._sub]
        self._sub += 1
        if self._sub == len(events):
            self._position, self._sub = self._position + 1, 0
        return event

    def step(self) -> list[Event]:
        """Play the rest of the current bar at once, up to and including its BarClosed."""
        if self.done:
            return []
        events = self.bar_events(self._position)[self._sub:]
        self._position, self._sub = self._position + 1, 0
        return events

    def events(self) -> Iterator[Event]:
        """Every remaining event, paced by ``speed``, waiting while paused, until the end or stop()."""
        self._stopped = False
        anchor_time, anchor_speed, slots = self._clock(), self._speed, 0.0
        while not self._stopped and not self.done:
            if self._paused:
                self._sleep(self._poll_s)
                anchor_speed = None  # re-anchor on resume so paused time is not "caught up"
                continue
            if self._speed != anchor_speed:
                anchor_time, anchor_speed, slots = self._clock(), self._speed, 0.0
            close_after_tick = self.ticks and self._sub == TICKS_PER_BAR  # follows its close tick at once
            if self._speed is not None and not close_after_tick:
                due = anchor_time + slots / self._speed
                # wait in short naps so pause, stop and a new speed take effect within poll_s
                while (wait := due - self._clock()) > 0 and self._undisturbed(anchor_speed):
                    self._sleep(min(wait, self._poll_s))
                if not self._undisturbed(anchor_speed):
                    continue
                slots += 1 / TICKS_PER_BAR if self.ticks else 1.0
            event = self.next_event()
            assert event is not None
            yield event

    __iter__ = events

    def _undisturbed(self, anchor_speed: float | None) -> bool:
        return not (self._paused or self._stopped) and self._speed == anchor_speed
