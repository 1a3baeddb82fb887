"""The status bar's connection indicator for live MT5 sessions: connected or not, the polling interval,
the last tick's age and the server clock's offset (with the feed's warning or last error).

It reads each running feed's FeedStatus once a second (plain attributes the feed thread sets) and
is hidden while no MT5 session runs, so a backtesting session's status bar is unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget

REFRESH_MS = 1000


def connection_text(symbol: str, status, now: float) -> str:  # status: core.live.mt5_feed.FeedStatus
    """One feed's line: ``MT5 EURUSD ● connected · poll 500 ms · tick 1.2 s ago · server +0 s``."""
    state = "connected" if status.connected else "disconnected"
    parts = [f"MT5 {symbol} {'●' if status.connected else '○'} {state}", f"poll {status.interval_s * 1000:.0f} ms"]
    age = tick_age(status, now)
    parts.append("no tick yet" if age is None else f"tick {age_text(age)} ago")
    if status.server_offset_s is not None:
        parts.append(f"server {status.server_offset_s:+.0f} s")
    if status.reconnects:
        parts.append(f"{status.reconnects} reconnect{'s' if status.reconnects != 1 else ''}")
    if status.last_error:
        parts.append(f"error: {status.last_error}")
    elif status.clock_warning:
        parts.append(f"⚠ {status.clock_warning}")
    return " · ".join(parts)


def age_text(seconds: float) -> str:
    """A tick's age as a trader reads it: tenths of a second while live, then minutes, hours and days
    (a terminal left on over a weekend showed "tick 172800.0 s ago")."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


def tick_age(status, now: float) -> float | None:
    """Seconds since the last tick arrived: its time minus the server offset measured at arrival, so a
    terminal clock that runs ahead (the offset the warning is about) does not give a negative age."""
    age = status.last_tick_age(now)
    if age is not None and status.server_offset_s is not None:
        age += status.server_offset_s
    return age


class ConnectionIndicator(QLabel):
    """``feeds()`` gives the running MT5 feeds (core.live.running_feeds)."""

    def __init__(self, feeds: Callable[[], list], clock: Callable[[], float] = time.time,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._feeds, self._clock = feeds, clock
        self.setVisible(False)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()

    def refresh(self) -> None:
        feeds = self._feeds()
        if not feeds:
            self.setVisible(False)
            return
        now = self._clock()
        self.setText("   ".join(connection_text(f.symbol, f.status, now) for f in feeds))
        warn = any(not f.status.connected or f.status.last_error or f.status.clock_warning for f in feeds)
        self.setStyleSheet("color: #ef5350;" if warn else "")
        self.setVisible(True)
