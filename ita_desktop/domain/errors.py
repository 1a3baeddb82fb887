"""Errors that carry where bad input was found, so every layer reports it the same way."""

from __future__ import annotations

from pathlib import Path


class ItaError(Exception):
    """Base class for errors the app reports to the trader (CLI: message on stderr, exit 1)."""


class InputError(ItaError):
    """Bad input, located: ``file:line:col: message`` (line is the 1-based row for CSVs)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        column: int | str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.column = column
        super().__init__(self.located())

    def located(self) -> str:
        parts = [p for p in (self.file, self.line, self.column) if p is not None]
        where = ":".join(str(p) for p in parts)
        return f"{where}: {self.message}" if where else self.message


class SourceError(ItaError):
    """A data source (MT5 terminal, replay) failed after its retries; carries the source's own code."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        self.code = code
        super().__init__(f"{message} (code {code})" if code is not None else message)
