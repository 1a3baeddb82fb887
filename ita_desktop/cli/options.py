"""Option values every `ita` command reads the same way: times as ISO text (UTC unless an offset is given)."""

from __future__ import annotations

from datetime import datetime, timezone

from ita_desktop.domain.errors import InputError


def utc_seconds(text: str | None, option: str) -> int | None:
    """ISO date or time to epoch seconds; a time without an offset is UTC; None stays None."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"not an ISO time: {text!r} (expected e.g. 2022-01-05 or 2022-01-05T08:00)",
                         column=option) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())
