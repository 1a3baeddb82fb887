"""Date fields to UTC epoch seconds, the one way every dialog and panel reads a day range."""

from __future__ import annotations

from PySide6.QtCore import QDate, QDateTime, QTime, QTimeZone


def utc_day_start(date: QDate) -> int:
    """00:00 UTC of ``date`` as epoch seconds."""
    return int(QDateTime(date, QTime(0, 0), QTimeZone.utc()).toSecsSinceEpoch())


def utc_day_range(first: QDate, last: QDate) -> tuple[int, int]:
    """[00:00 UTC of ``first``, 00:00 UTC after ``last``): both days included, as a trader picks them."""
    return utc_day_start(first), utc_day_start(last.addDays(1))
