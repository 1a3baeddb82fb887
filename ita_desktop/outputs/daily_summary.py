"""The day's summary: signals raised, outcomes and R by rule over the 24 hours ending at the summary time.

The day is the New York day ending at ``outputs.daily_summary.time`` (17:00 by default, the forex
day's close): a signal counts on the day its signal time falls in, an outcome on the day its exit
falls in (market times, not when the process learnt of them). Missed setups (completed in bars
backfilled after a gap) and skipped ones are left out, as they were never sent.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")
FINAL = ("target", "stop", "expired", "breakeven", "time", "not_filled", "invalid_stop")


@dataclass(frozen=True)
class SummaryDay:
    """The New York ``day`` and its window ``[start_utc, end_utc)``."""

    day: date
    start_utc: int
    end_utc: int

    @property
    def key(self) -> str:
        """The summary's key in the outbox (one per day and channel)."""
        return f"daily-summary-{self.day.isoformat()}"


def summary_day(day: date, at: str) -> SummaryDay:
    """The window of ``day``'s summary sent at ``at`` (HH:MM New York): the 24 hours (23 or 25 at a DST change) before."""
    hh, mm = (int(x) for x in at.split(":"))
    end = datetime.combine(day, time(hh, mm), NY)
    start = datetime.combine(day - timedelta(days=1), time(hh, mm), NY)
    return SummaryDay(day, int(start.timestamp()), int(end.timestamp()))


def last_summary_day(now_utc: float, at: str) -> SummaryDay:
    """The most recent summary whose time has come at ``now_utc`` (today's after ``at`` New York, else yesterday's)."""
    today = datetime.fromtimestamp(now_utc, NY).date()
    d = summary_day(today, at)
    return d if now_utc >= d.end_utc else summary_day(today - timedelta(days=1), at)


def summary_text(day: SummaryDay, records: list[Any]) -> str:
    """The summary's words from the stored signals (SignalRecords): counts and R by rule, then the total."""
    raised: Counter[str] = Counter()
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    r_by_rule: dict[str, float] = defaultdict(float)
    for rec in records:
        if rec.source == "missed" or rec.status == "skipped":
            continue
        if day.start_utc <= rec.signal_time < day.end_utc:
            raised[rec.rule_id] += 1
        exit_time = (rec.outcome or {}).get("exit_time")
        if rec.status in FINAL and exit_time is not None and day.start_utc <= int(exit_time) < day.end_utc:
            outcomes[rec.rule_id][rec.status] += 1
            r = rec.outcome.get("r_multiple")
            if isinstance(r, (int, float)):
                r_by_rule[rec.rule_id] += float(r)
    end = datetime.fromtimestamp(day.end_utc, NY)
    lines = [f"ITA Desktop daily summary {day.day.isoformat()} (24 h to {end:%H:%M} New York)"]
    rules = sorted(set(raised) | set(outcomes))
    if not rules:
        lines.append("No signals and no outcomes.")
        return "\n".join(lines)
    lines.append(f"Signals: {sum(raised.values())}")
    total = Counter[str]()
    for counts in outcomes.values():
        total.update(counts)
    lines.append("Outcomes: " + (", ".join(f"{n} {s}" for s, n in sorted(total.items())) or "none"))
    for rule in rules:
        done = ", ".join(f"{n} {s}" for s, n in sorted(outcomes[rule].items())) or "no outcome"
        r = f", {r_by_rule[rule]:+.2f}R" if rule in r_by_rule else ""
        lines.append(f"{rule}: {raised[rule]} signal(s), {done}{r}")
    lines.append(f"Total: {sum(r_by_rule.values()):+.2f}R")
    return "\n".join(lines)


def summary_payload(day: SummaryDay, records: list[Any]) -> dict[str, Any]:
    return {"text": summary_text(day, records), "title": f"Daily summary {day.day.isoformat()}",
            "time_utc": day.end_utc, "day": day.day.isoformat()}
