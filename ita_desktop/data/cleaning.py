"""Cleaning with a report: every row that is dropped is named by its file row, never silently.

Rows are checked in a fixed order and each rejected row is reported once, under the first
reason found, so the findings add up to the rows rejected. Nothing is repaired: a bar whose
prices contradict each other cannot be trusted, so it goes, and the report says where.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ita_desktop.domain.ingest import Finding

PRICES = ("open", "high", "low", "close")
MAX_PRICE = 1e9  # no quoted instrument comes near: a bigger price is a broken cell (1e308), not a market
MAX_COUNT = 1e12  # tick volume or spread beyond this does not fit a bar (and 1e30 would wrap in int64)


@dataclass
class Report:
    """Findings in the order they were made, plus the column each one is about (1-based, if any)."""

    findings: list[Finding] = field(default_factory=list)
    columns: list[int | None] = field(default_factory=list)

    def add(self, kind: str, message: str, rows: np.ndarray, *, rejected: bool = True, column: int | None = None) -> None:
        self.findings.append(Finding(kind, message, np.asarray(rows, dtype=np.int64).tolist(), rejected))
        self.columns.append(column)

    def reject(self, ok: np.ndarray, bad: np.ndarray, rows: np.ndarray, kind: str, message: str,
               column: int | None = None) -> None:
        """Report rows that are still ``ok`` but ``bad``, and clear them from ``ok`` (in place)."""
        hit = ok & bad
        if hit.any():
            self.add(kind, message, rows[hit], column=column)
            ok &= ~hit

    def first_rejected(self) -> tuple[int, Finding, int | None] | None:
        """The lowest rejected file row with its finding and column: what a whole-file error names."""
        best = None
        for finding, column in zip(self.findings, self.columns):
            if finding.rejected and finding.rows and (best is None or finding.rows[0] < best[0]):
                best = (finding.rows[0], finding, column)
        return best


def check_price_magnitudes(cols: dict[str, np.ndarray], names: tuple[str, ...], rows: np.ndarray, ok: np.ndarray,
                           report: Report) -> None:
    """Reject rows with a price above MAX_PRICE: finite, but no market quotes it."""
    big = np.zeros(len(rows), dtype=bool)
    for name in names:
        big |= np.abs(cols[name]) > MAX_PRICE
    report.reject(ok, big, rows, "implausible_value", f"price above {MAX_PRICE:.0e}")


def check_prices(cols: dict[str, np.ndarray], rows: np.ndarray, ok: np.ndarray, report: Report) -> None:
    """Reject bars whose prices cannot be true: zero or negative, high below low, open/close outside."""
    o, h, l, c = (cols[p] for p in PRICES)
    report.reject(ok, (o <= 0) | (h <= 0) | (l <= 0) | (c <= 0), rows, "nonpositive_price",
                  "zero or negative price")
    report.reject(ok, (cols["tick_volume"] < 0) | (cols["spread"] < 0), rows, "negative_volume",
                  "negative tick volume or spread")
    report.reject(ok, h < l, rows, "high_below_low", "high is below low")
    report.reject(ok, (o < l) | (o > h), rows, "open_outside_range", "open is outside [low, high]")
    report.reject(ok, (c < l) | (c > h), rows, "close_outside_range", "close is outside [low, high]")


def check_duplicates(time: np.ndarray, cols: dict[str, np.ndarray], rows: np.ndarray, ok: np.ndarray,
                     report: Report) -> None:
    """Same UTC time twice: identical copies keep the first; copies that disagree are all rejected."""
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(time[idx], kind="stable")]  # file order within one time
    t = time[order]
    new_group = np.r_[True, t[1:] != t[:-1]]
    if new_group.all():
        return
    group = np.cumsum(new_group) - 1
    first = order[new_group][group]  # the first copy of each row's time
    differs = np.zeros(len(order), dtype=bool)
    for name in (*PRICES, "tick_volume", "spread"):
        differs |= cols[name][order] != cols[name][first]
    conflicting = np.bincount(group, weights=differs)[group] > 0
    in_dup = np.bincount(group)[group] > 1
    dropped = np.zeros(len(time), dtype=bool)
    dropped[order[in_dup & conflicting]] = True
    report.reject(ok, dropped, rows, "duplicate_conflicting",
                  "same time on rows with different values: all copies rejected")
    dropped[:] = False
    dropped[order[in_dup & ~conflicting & ~new_group]] = True
    report.reject(ok, dropped, rows, "duplicate_identical", "exact copy of an earlier row with the same time: copy dropped")


def check_order(time: np.ndarray, rows: np.ndarray, ok: np.ndarray, report: Report) -> None:
    """Report rows earlier than a row above them; they are valid, so the caller sorts them in."""
    idx = np.flatnonzero(ok)
    t = time[idx]
    if len(t) < 2:
        return
    late = t[1:] < np.maximum.accumulate(t)[:-1]
    if late.any():
        report.add("out_of_order", "time earlier than a row above it; rows are valid, so sorted by time",
                   rows[idx[1:][late]], rejected=False)
