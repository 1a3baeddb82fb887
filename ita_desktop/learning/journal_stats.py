"""The journal's numbers: R per day for the calendar, and statistics by setup tag and by mistake.

Plain functions over journal entries (feedback plus its R), so the Journal panel, the CLI and the
policy updater read the same figures. An entry's R is its trade's R multiple; an entry without one
(a skipped signal, a trade still open) counts in ``count`` but not in the win rate or expectancy.
Days are trading days in New York (a trade at 22:00 UTC on Sunday belongs to Sunday's NY date,
as the sessions do).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # the window and a core import this module at start-up: no ORM then
    from ita_desktop.storage.feedback_store import Feedback

OUTCOMES = ("win", "loss", "breakeven", "open")
DAY_ZONE = "America/New_York"


@dataclass
class JournalEntry:
    feedback: Feedback
    r: float | None  # the trade's R multiple; None: no trade, or not closed yet

    @property
    def outcome(self) -> str:
        return outcome_of(self.r)

    def to_dict(self) -> dict[str, Any]:
        f = self.feedback
        return {"target_kind": f.target_kind, "target_key": f.target_key, "rule_id": f.rule_id,
                "rule_version": f.rule_version, "symbol": f.symbol, "signal_time": f.signal_time,
                "taken": f.taken, "skip_reason": f.skip_reason, "label": f.label, "grade": f.grade,
                "tags": f.tags, "mistakes": f.mistakes, "emotions": f.emotions, "notes": f.notes,
                "picture_path": f.picture_path, "r": self.r, "outcome": self.outcome}


def outcome_of(r: float | None) -> str:
    if r is None:
        return "open"
    return "win" if r > 0 else "loss" if r < 0 else "breakeven"


def trading_day(t_utc: int, zone: str = DAY_ZONE) -> date:
    return datetime.fromtimestamp(t_utc, ZoneInfo(zone)).date()


@dataclass
class DayR:
    r: float = 0.0
    trades: int = 0
    entries: int = 0


def r_per_day(entries: list[JournalEntry], zone: str = DAY_ZONE) -> dict[date, DayR]:
    """Sum of R and number of trades per trading day (entries without R count as entries only)."""
    out: dict[date, DayR] = {}
    for e in entries:
        day = out.setdefault(trading_day(e.feedback.signal_time, zone), DayR())
        day.entries += 1
        if e.r is not None:
            day.r += e.r
            day.trades += 1
    return out


def month_grid(year: int, month: int) -> list[list[date | None]]:
    """The month's weeks, Monday first; None outside the month."""
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
    return [[d if d.month == month else None for d in week] for week in weeks]


@dataclass
class TagStats:
    name: str
    count: int  # entries carrying the tag
    trades: int  # of them, with an R
    win_rate: float | None
    expectancy_r: float | None
    total_r: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "count": self.count, "trades": self.trades, "win_rate": self.win_rate,
                "expectancy_r": self.expectancy_r, "total_r": self.total_r}


def stats_by(entries: list[JournalEntry], what: str = "tags") -> list[TagStats]:
    """Per setup tag (``what="tags"``) or per mistake (``"mistakes"``): count, win rate, expectancy R.
    Sorted by count, then name."""
    groups: dict[str, list[JournalEntry]] = {}
    for e in entries:
        for name in getattr(e.feedback, what):
            groups.setdefault(name, []).append(e)
    out = []
    for name, group in groups.items():
        rs = [e.r for e in group if e.r is not None]
        out.append(TagStats(name, len(group), len(rs), sum(r > 0 for r in rs) / len(rs) if rs else None,
                            sum(rs) / len(rs) if rs else None, float(sum(rs))))
    return sorted(out, key=lambda s: (-s.count, s.name))
