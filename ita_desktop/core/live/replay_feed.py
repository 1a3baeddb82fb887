"""Bar Replay as a live session's feed: stored bars played forward through ``data.replay.Replay``.

Paced (``speed`` bars a second) the replay plays each bar as four synthetic ticks (the forming
bar moves for the chart) and then its close; at full speed (``speed=None``) only the closes.
At the last stored bar the session's open rule buckets are closed (``LiveSession.finish``), so a
replay over a whole series signals exactly what a full pass over it does.
"""

from __future__ import annotations

from collections.abc import Callable

from ita_desktop.core.live.bar_builder import ClosedBar
from ita_desktop.core.live.live_session import LiveSession, SessionStep
from ita_desktop.data import replay as bar_replay
from ita_desktop.domain.bars import Bars


def _closed(bar: bar_replay.Bar) -> ClosedBar:
    return ClosedBar(bar.time, bar.open, bar.high, bar.low, bar.close, bar.tick_volume, float(bar.spread))


def play(session: LiveSession, bars: Bars, *, speed: float | None = None,
         on_step: Callable[[SessionStep], None] | None = None) -> SessionStep:
    """Play ``bars`` (after the session's history) until the end or ``session.stop()``; everything that happened."""
    total = SessionStep()
    player = bar_replay.Replay(bars, ticks=speed is not None, speed=speed)

    def emit(step: SessionStep) -> None:
        total.extend(step)
        if on_step is not None and (step.bars or step.raised or step.missed or step.updates):
            on_step(step)

    for event in player.events():
        if session.stopped.is_set():
            player.stop()
            break
        if isinstance(event, bar_replay.Tick):
            session.tick(event.time_msc / 1000.0, event.bid, event.ask, _closed(event.forming))
        else:
            emit(session.process([_closed(event.bar)]))
    if player.done and not session.stopped.is_set():
        emit(session.finish())
    return total
