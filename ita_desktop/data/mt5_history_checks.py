"""Checks on what an MT5 terminal answered: chunks shorter than the open market, and broker-clock folds.

A terminal still syncing its history answers ``copy_rates_range`` with fewer bars, an empty array
or None, all with result code OK. The answer is judged against the forex week (open from Sunday
17:00 to Friday 17:00 New York): a stretch of open-market time longer than ``BREAK_SECONDS``
without a bar is a gap worth a re-ask, and worth a finding if it stays. Shorter stretches are an
instrument's daily breaks (gold and the US indices pause one or two hours) and are not reported.

Broker labels are server wall time. With a zone that has DST, an autumn hour is shown twice and a
spring hour never; ``place_in_utc`` resolves them by the rule in docs/Decision_Log.md and reports
every bar it could not place, instead of merging equal labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ita_desktop.domain.clock import ServerClock, local_seconds, utc_iso, utc_offsets
from ita_desktop.domain.ingest import Finding

DAY = 86_400
WEEK_OPEN_NY_MINUTE = 17 * 60  # the forex week opens Sunday and closes Friday at 17:00 New York
BREAK_SECONDS = 3 * 3600  # at most this much open market without a bar is a daily break (gold pauses 1-2 h), not missing history
MAX_GAPS_NAMED = 5


def market_open(utc: np.ndarray) -> np.ndarray:
    """True where the forex week is open at these UTC instants (Sunday 17:00 to Friday 17:00 New York)."""
    ny = local_seconds(np.asarray(utc, dtype=np.int64), "America/New_York")
    weekday = (ny // DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    minute = ny % DAY // 60
    closed = ((weekday == 4) & (minute >= WEEK_OPEN_NY_MINUTE)) | (weekday == 5) | (
        (weekday == 6) & (minute < WEEK_OPEN_NY_MINUTE))
    return ~closed


def open_seconds(lo: int, hi: int) -> int:
    """Seconds of open forex market in [lo, hi), counted by the minute."""
    if hi <= lo:
        return 0
    minutes = np.arange(lo // 60 * 60, hi, 60, dtype=np.int64)
    return int(market_open(minutes).sum()) * 60


@dataclass(frozen=True)
class Gap:
    """A stretch of open-market time in [start, end) (UTC) without a bar; ``bars`` is how many it should hold."""

    start: int
    end: int
    bars: int

    def describe(self) -> str:
        return f"{utc_iso(self.start)} to {utc_iso(self.end)} ({self.bars} bars)"


def open_market_gaps(times: np.ndarray, lo: int, hi: int, bar_seconds: int) -> list[Gap]:
    """Gaps longer than BREAK_SECONDS of open market between sorted UTC bar times within [lo, hi)."""
    times = np.sort(np.asarray(times, dtype=np.int64))
    starts = np.r_[lo, times + bar_seconds]
    ends = np.r_[times, hi]
    gaps = []
    for a, b in zip(starts.tolist(), ends.tolist()):
        if b - a <= BREAK_SECONDS:
            continue
        seconds = open_seconds(a, b)
        if seconds > BREAK_SECONDS:
            gaps.append(Gap(a, b, max(1, seconds // bar_seconds)))
    return gaps


def missing_finding(gaps: list[Gap], timeframe_name: str, reasks: int) -> Finding | None:
    """One finding for every gap still open after the re-asks, the largest named first."""
    if not gaps:
        return None
    merged: list[Gap] = []
    for gap in sorted(gaps, key=lambda g: g.start):  # a gap across a chunk border is one gap
        if merged and gap.start <= merged[-1].end:
            last = merged.pop()
            gap = Gap(last.start, max(last.end, gap.end), last.bars + gap.bars)
        merged.append(gap)
    gaps = merged
    total = sum(g.bars for g in gaps)
    largest = sorted(gaps, key=lambda g: -g.bars)[:MAX_GAPS_NAMED]
    named = "; ".join(g.describe() for g in largest)
    more = f"; and {len(gaps) - len(largest)} more" if len(gaps) > len(largest) else ""
    message = (
        f"MT5 gave no {timeframe_name} bars for about {total} bars of open market (Sunday 17:00 to Friday "
        f"17:00 New York) in {len(gaps)} gap(s), after asking each short chunk {reasks + 1} times: {named}{more}. "
        "A holiday or a shorter trading day of the instrument also shows here; otherwise the terminal has not "
        "loaded that history yet (download again later)"
    )
    return Finding("mt5_missing_bars", message, [], rejected=False)


@dataclass
class Placement:
    """Server labels placed in UTC: ``keep`` marks the bars kept, ``utc`` their instants, and the findings."""

    utc: np.ndarray
    keep: np.ndarray
    findings: list[Finding] = field(default_factory=list)


def _zone_candidates(wall: np.ndarray, zone_name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each wall time: the earlier and later UTC instant that show it, and how many exist (0, 1 or 2)."""
    before = utc_offsets(wall - DAY, zone_name)
    after = utc_offsets(wall + DAY, zone_name)
    c1, c2 = wall - before, wall - after
    v1 = utc_offsets(c1, zone_name) == before
    v2 = utc_offsets(c2, zone_name) == after
    early = np.where(v1 & v2, np.minimum(c1, c2), np.where(v1, c1, c2))
    late = np.where(v1 & v2, np.maximum(c1, c2), np.where(v1, c1, c2))
    count = v1.astype(np.int64) + v2.astype(np.int64) - ((c1 == c2) & v1 & v2)
    return early, late, count


def place_in_utc(labels: list[np.ndarray], clock: ServerClock) -> Placement:
    """Place server labels (one array per chunk, in the terminal's order) in UTC by the stated rule.

    Ambiguous wall times (the repeated autumn hour) take the earlier instant, unless the labels
    stepped back in time since the last unambiguous bar of the chunk: those are the second showing
    of the hour and take the later instant. Wall times the zone skips (the spring hour) cannot be
    placed without overlapping the next hour: rejected. Bars whose instant was already given (a
    broker clock that went back where the configured zone does not) are rejected, the first kept.
    Finding rows are 1-based positions in the downloaded series.
    """
    utc_parts, skipped, guessed = [], [], []
    offset = 0
    for part in labels:
        wall = np.asarray(part, dtype=np.int64) - clock.shift
        if clock.zone_name is None:
            utc_parts.append(wall)
        else:
            early, late, count = _zone_candidates(wall, clock.zone_name)
            ambiguous = count == 2
            idx = np.arange(len(wall))
            back = np.r_[False, wall[1:] < wall[:-1]]
            last_back = np.maximum.accumulate(np.where(back, idx, -1)) if len(wall) else idx
            last_plain = np.maximum.accumulate(np.where(~ambiguous, idx, -1)) if len(wall) else idx
            second_showing = ambiguous & (last_back > last_plain)
            utc_parts.append(np.where(second_showing, late, early))
            skipped.append(np.flatnonzero(count == 0) + offset)
            if ambiguous.any() and not second_showing.any():
                guessed.append(np.flatnonzero(ambiguous) + offset)
        offset += len(part)
    utc = np.concatenate([np.empty(0, np.int64), *utc_parts])
    keep = np.ones(len(utc), dtype=bool)
    findings: list[Finding] = []
    rows = np.arange(1, len(utc) + 1)
    skip = np.concatenate([np.empty(0, np.int64), *skipped])
    if len(skip):
        keep[skip] = False
        findings.append(Finding(
            "server_time_skipped",
            f"{len(skip)} bar(s) labelled with a wall time that {clock.spec} skips when clocks go forward "
            f"(first {utc_iso(int(utc[skip[0]]))} as labelled); they cannot be placed without overlapping the next "
            "hour and were rejected: check mt5.server_tz", rows[skip].tolist()))
    guess = np.concatenate([np.empty(0, np.int64), *guessed])
    if len(guess):
        findings.append(Finding(
            "server_time_ambiguous",
            f"{len(guess)} bar(s) in the hour {clock.spec} shows twice when clocks go back came only once; "
            "by rule they were placed in the first (summer-time) showing", rows[guess].tolist(), rejected=False))
    order = np.argsort(utc, kind="stable")
    sorted_utc = utc[order]
    sorted_keep = keep[order]
    seen = np.zeros(len(utc), dtype=bool)
    kept_times = sorted_utc[sorted_keep]
    dup_sorted = np.r_[False, kept_times[1:] == kept_times[:-1]] if len(kept_times) else np.zeros(0, bool)
    seen[order[np.flatnonzero(sorted_keep)[dup_sorted]]] = True
    if seen.any():
        keep &= ~seen
        first = int(utc[np.flatnonzero(seen)[0]])
        findings.append(Finding(
            "server_time_repeated",
            f"the terminal gave {int(seen.sum())} bar(s) at instants it had already given (its clock went back near "
            f"{utc_iso(first)} UTC where {clock.spec} does not); the first of each was kept, the repeats rejected: "
            "check mt5.server_tz (a zone with DST such as NY+7 or Europe/Athens)", rows[seen].tolist()))
    return Placement(utc, keep, findings)
