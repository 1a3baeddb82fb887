"""Sessions and killzones on the session clock: one SESSION row per completed occurrence.

A window is ``[start, end)`` in minutes of the local day (America/New_York by default); when
``end <= start`` it crosses midnight (Asia 20:00-00:00). An occurrence is named after the local
day it starts on. The per-bar work is in the one step kernel in ``levels.py`` (one
file on purpose: numba's cache only notices edits to the file of the cached function), so
sessions, their high/low levels and the opening levels are written in one pass into two tables: ``sessions`` (SESSION rows) and ``levels`` (LEVEL rows).

SESSION row: ``sub`` = window index, ``start``/``end`` = first/last bar, ``bar`` = bar of the
high, ``top``/``bottom`` = high/low, ``price`` = open of the first bar, ``extra`` = close of the
last bar, ``direction`` = sign(close - open), ``confirmed_at`` = the first bar AFTER the session
(only then is it known to be complete), ``ref`` = index in the levels table of its HIGH level;
the LOW level is the row after it, and its ``bar`` is the bar of the session low. The running
(unfinished) session is not a row: read it with ``SessionLevels.running_sessions()``.

Every completed session emits LEVEL rows valid from ``confirmed_at`` (their ``start``) until the
same window's next occurrence replaces them (``end`` = that bar): HIGH (+1 side) and LOW (-1 side),
with the kinds ASIA_/LONDON_/NY_AM_/NY_PM_HIGH/LOW for the default names and SESSION_HIGH/LOW for
custom windows (``ref`` = the SESSION row). An initial-balance window emits IB_HIGH, IB_LOW,
IB_MID and IB_EXT rows (one up and one down per multiple of the IB range, multiple in ``extra``).

An occurrence that the data did not see begin (the series starts inside the window) is skipped:
its high and low would be wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from ita_desktop.detectors.objects import LevelKind
from ita_desktop.domain.clock import DAY_MINUTES, parse_hhmm

#: The defaults of DESIGN.md (and config/defaults.yaml), New York time.
DEFAULT_WINDOWS: dict[str, tuple[str, str]] = {
    "asia": ("20:00", "00:00"),
    "london": ("02:00", "05:00"),
    "ny_am": ("07:00", "10:00"),
    "ny_pm": ("13:30", "16:00"),
}
DEFAULT_INITIAL_BALANCE: tuple[str, str] = ("09:30", "10:30")
IB_NAME = "ib"

_NAMED_LEVELS: dict[str, tuple[LevelKind, LevelKind]] = {
    "asia": (LevelKind.ASIA_HIGH, LevelKind.ASIA_LOW),
    "london": (LevelKind.LONDON_HIGH, LevelKind.LONDON_LOW),
    "ny_am": (LevelKind.NY_AM_HIGH, LevelKind.NY_AM_LOW),
    "ny_pm": (LevelKind.NY_PM_HIGH, LevelKind.NY_PM_LOW),
}


@dataclass(frozen=True)
class SessionWindow:
    """A named window ``[start_min, end_min)`` of the local day; ``is_ib`` marks the initial balance."""

    name: str
    start_min: int
    end_min: int
    is_ib: bool = False

    @classmethod
    def parse(cls, name: str, start: str, end: str, is_ib: bool = False) -> "SessionWindow":
        s, e = parse_hhmm(start) % DAY_MINUTES, parse_hhmm(end)
        e = e if e == DAY_MINUTES else e % DAY_MINUTES
        if s == e % DAY_MINUTES:
            raise ValueError(f"session window {name!r} {start}-{end} is empty: start equals end")
        return cls(name, s, e, is_ib)

    @property
    def crosses_midnight(self) -> bool:
        return self.end_min <= self.start_min

    @property
    def level_kinds(self) -> tuple[LevelKind, LevelKind]:
        if self.is_ib:
            return LevelKind.IB_HIGH, LevelKind.IB_LOW
        return _NAMED_LEVELS.get(self.name.lower(), (LevelKind.SESSION_HIGH, LevelKind.SESSION_LOW))

    def contains(self, minute: int) -> bool:
        if self.crosses_midnight:
            return minute >= self.start_min or minute < self.end_min
        return self.start_min <= minute < self.end_min


def session_windows(windows: Mapping[str, Sequence[str]] | None = None,
                    initial_balance: Sequence[str] | None = DEFAULT_INITIAL_BALANCE) -> tuple[SessionWindow, ...]:
    """Windows in index order (the SESSION ``sub``); the initial balance, if any, comes last as ``ib``."""
    spec = DEFAULT_WINDOWS if windows is None else windows
    out = [SessionWindow.parse(str(name), *_pair(name, pair)) for name, pair in spec.items()]
    if initial_balance is not None:
        out.append(SessionWindow.parse(IB_NAME, *_pair(IB_NAME, initial_balance), is_ib=True))
    return tuple(out)


def _pair(name: Any, pair: Sequence[str]) -> tuple[str, str]:
    if len(pair) != 2:
        raise ValueError(f"session window {name!r} needs [start, end], got {pair!r}")
    return str(pair[0]), str(pair[1])


@dataclass(frozen=True)
class Session:
    """A completed session as a Python value (decoded SESSION row plus its low's bar)."""

    name: str
    index: int
    start: int
    end: int
    confirmed_at: int
    open: float
    high: float
    low: float
    close: float
    high_bar: int
    low_bar: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def decode_sessions(sessions: np.ndarray, levels: np.ndarray, windows: Sequence[SessionWindow]) -> list[Session]:
    """SESSION rows to :class:`Session` values (the low's bar comes from the LOW level row)."""
    out = []
    for k, row in enumerate(sessions):
        low_row = levels[int(row["ref"]) + 1]
        out.append(Session(windows[int(row["sub"])].name, k, int(row["start"]), int(row["end"]),
                           int(row["confirmed_at"]), float(row["price"]), float(row["top"]),
                           float(row["bottom"]), float(row["extra"]), int(row["bar"]), int(low_row["bar"])))
    return out
