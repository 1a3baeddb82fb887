"""What an import found: the cleaning report travels with the bars into the store and the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ita_desktop.domain.bars import Bars


@dataclass
class Finding:
    """One kind of problem and the file rows (1-based, header is row 1) where it occurred.

    ``rejected`` says whether those rows were dropped (never repaired or guessed).
    """

    kind: str
    message: str
    rows: list[int] = field(default_factory=list)
    rejected: bool = True

    @property
    def count(self) -> int:
        return len(self.rows)

    def to_dict(self, max_rows: int = 50) -> dict:
        d = asdict(self)
        d["count"] = self.count
        d["rows"] = self.rows[:max_rows]
        d["rows_truncated"] = self.count > max_rows
        return d


@dataclass
class ImportResult:
    """A parsed, cleaned file ready to store. ``bars.time`` is UTC seconds, sorted, unique."""

    path: str
    file_hash: str
    source_format: str
    server_tz: str
    bars: Bars
    rows_read: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def rows_rejected(self) -> int:
        return len({r for f in self.findings if f.rejected for r in f.rows})
