"""Rule problems located to a line and column, collected rather than raised one by one.

A trader fixing a rule wants every mistake of the file at once, in reading order, so the
loader gathers :class:`RuleIssue` values and raises one :class:`RuleValidationError` that
carries them all. It is an :class:`InputError`, so the CLI's error mapping still applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ita_desktop.domain.errors import InputError


@dataclass(frozen=True, order=True)
class RuleIssue:
    """One problem: 1-based ``line`` and ``column`` of the offending key or value."""

    line: int
    column: int
    message: str
    file: str = ""

    def located(self) -> str:
        """``file:line:col: message`` (the format editors and CI annotations understand)."""
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


MESSAGE_LIMIT = 300
QUOTE_LIMIT = 40


def shown(value: object) -> str:
    """A value quoted for a message, cut to QUOTE_LIMIT characters with its full length."""
    text = repr(value)
    return text if len(text) <= QUOTE_LIMIT else f"{text[:QUOTE_LIMIT]}... ({len(text):,} characters)"


def described(value: object) -> str:
    """What a message says a wrong value was: its kind for a mapping, a list or nothing, else the value quoted."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return shown(value)


def capped(issue: RuleIssue) -> RuleIssue:
    """The issue with its message cut to MESSAGE_LIMIT characters: whatever a check quoted from the
    file, a message stays one readable line."""
    if len(issue.message) <= MESSAGE_LIMIT:
        return issue
    return RuleIssue(issue.line, issue.column, issue.message[:MESSAGE_LIMIT] + "...", issue.file)


def sort_issues(issues: Iterable[RuleIssue]) -> list[RuleIssue]:
    """By position, duplicates dropped (two checks may find the same fault)."""
    return sorted({capped(i) for i in issues}, key=lambda i: (i.line, i.column, i.message))


class RuleValidationError(InputError):
    """A rule file with one or more problems; ``issues`` holds them all, sorted by position."""

    def __init__(self, file: str | Path, issues: Iterable[RuleIssue]) -> None:
        self.issues = sort_issues(issues)
        first = self.issues[0] if self.issues else RuleIssue(1, 1, "invalid rule", str(file))
        super().__init__(first.message, file=file, line=first.line, column=first.column)

    def located(self) -> str:
        return "\n".join(i.located() for i in self.issues) or super().located()
