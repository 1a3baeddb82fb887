"""Sniffing a CSV without being told what it is: encoding, line quoting, delimiter, columns.

The header row decides everything: MT5 "Export Bars" / "Export Ticks" files name their
columns ``<DATE> <TIME> ...``, copy_rates dumps use the numpy field names, and anything
else is a generic OHLC file whose column names we match against common aliases.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

from ita_desktop.data.cleaning import PRICES
from ita_desktop.domain.errors import InputError

DELIMITERS = (",", ";", "\t")

# Canonical column -> header names that mean it, best first (names are normalised, see _normalise).
_ALIASES: dict[str, tuple[str, ...]] = {
    "datetime": ("datetime", "date_time", "timestamp", "time_stamp", "gmt_time", "local_time"),
    "date": ("date", "day"),
    "time": ("time", "hour"),
    "open": ("open", "o", "open_price"),
    "high": ("high", "h", "high_price"),
    "low": ("low", "l", "low_price"),
    "close": ("close", "c", "close_price"),
    "tick_volume": ("tickvol", "tick_volume", "tick_vol", "ticks", "volume", "vol", "v"),
    "spread": ("spread",),
    "bid": ("bid",),
    "ask": ("ask",),
}
_COPY_RATES = {"time", "open", "high", "low", "close", "tick_volume"}
BLOCK = 1 << 18  # bytes converted per step: 1-5 ms with the GIL held
_WRAPPED_LINE = re.compile(r'^"([^"\n]*)"$', re.MULTILINE)


@dataclass(frozen=True)
class Layout:
    """What the header says: how to split rows and where each canonical column is (0-based)."""

    source_format: str  # mt5_bars, mt5_ticks, mt5_copy_rates, generic_ohlc, generic_ticks
    delimiter: str
    header: tuple[str, ...]
    columns: dict[str, int]

    @property
    def is_ticks(self) -> bool:
        return "bid" in self.columns


QUOTE_LIMIT = 40


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A cell quoted for a message, cut to ``limit`` characters: a 5,000,000-digit cell must not
    be echoed whole into a finding, the stored ingest and ``data list``."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({len(text):,} characters)"


def cut(text: str, limit: int) -> str:
    """Unquoted text for a message, cut like ``quoted``."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def normalised_utf8(data: bytes, path: Path) -> bytes:
    """The file as UTF-8 with '\\n' line ends, whole-line quotes stripped (see ``_is_wrapped``).

    Converted BLOCK bytes at a time: one decode, replace or regex call over a year of M1 holds the
    GIL for 10-50 ms, and an import job runs next to the GUI; a block takes 1-5 ms. Binary or
    undecodable files are an InputError naming the line.
    """
    if not data or data.isspace():  # no copy of a big file (strip() would make one while holding the GIL)
        raise InputError("file is empty", file=path, line=1)
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))  # MT5 can save UTF-16
    if not utf16:
        nul = data.find(b"\x00")
        if nul >= 0:
            raise InputError("binary data (NUL byte): not a CSV text file", file=path, line=data.count(b"\n", 0, nul) + 1)
    encoding = "utf-16" if utf16 else "utf-8-sig"
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(data)
    pieces: list[bytes] = []
    carry, unwrap = "", None
    for start in range(0, len(data), BLOCK):
        final = start + BLOCK >= len(data)
        try:
            text = carry + decoder.decode(view[start : start + BLOCK], final=final)
        except UnicodeDecodeError as exc:
            raise _undecodable(data, path, encoding) from exc
        cut = len(text) if final else text.rfind("\n") + 1  # whole lines only, so a \r\n is never split
        piece, carry = text[:cut], text[cut:]
        if "\r" in piece:
            piece = piece.replace("\r\n", "\n").replace("\r", "\n")
        if unwrap is None and piece:
            unwrap = _is_wrapped(piece.split("\n", 1)[0])
        if unwrap:
            piece = _WRAPPED_LINE.sub(r"\1", piece)
        pieces.append(piece.encode("utf-8"))
    return b"".join(pieces)


def _undecodable(data: bytes, path: Path, encoding: str) -> InputError:
    """Where decoding fails, found again on the whole file (only on this error path)."""
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].decode(encoding, errors="replace").count("\n") + 1
        if encoding == "utf-16":
            return InputError("not UTF-16 text (truncated or broken character)", file=path, line=line)
        return InputError(f"not UTF-8 text (byte 0x{data[exc.start]:02x})", file=path, line=line)
    return InputError(f"cannot decode as {encoding}", file=path)  # the incremental decoder disagreed


def _is_wrapped(header_line: str) -> bool:
    """Files that wrap each whole line in one pair of quotes (the EURUSD export does) say so in
    their header: one quoted string holding delimiters."""
    inner = _WRAPPED_LINE.fullmatch(header_line)
    return bool(inner) and any(d in inner.group(1) for d in DELIMITERS)


def header_line(encoded: bytes) -> str:
    """Line 1 of normalised text (no copy of the rest)."""
    end = encoded.find(b"\n")
    return encoded[: end if end >= 0 else len(encoded)].decode("utf-8")


def _normalise(name: str) -> str:
    return re.sub(r"\s+", "_", name.strip().strip('"').strip().strip("<>").strip().lower())


def sniff_layout(header_line: str, path: Path) -> Layout:
    """Read the header (line 1): delimiter, known columns, and which format this is."""
    if not header_line.strip():
        raise InputError("line 1 is blank: expected a header naming the columns", file=path, line=1)
    counts = {d: header_line.count(d) for d in DELIMITERS}
    delimiter = max(DELIMITERS, key=lambda d: counts[d])
    if counts[delimiter] == 0:
        raise InputError(
            f"header has a single column {quoted(header_line, 60)}: fields must be separated by comma, semicolon or tab",
            file=path, line=1,
        )
    raw = tuple(header_line.split(delimiter))
    names = [_normalise(h) for h in raw]
    columns: dict[str, int] = {}
    for canonical, aliases in _ALIASES.items():
        for alias in aliases:
            if alias in names:
                columns[canonical] = names.index(alias)
                break
    pandas_index_is_time(names, columns)
    _settle_time_columns(columns)
    if "datetime" not in columns and not any(c in columns for c in (*PRICES, "bid")):
        raise InputError(
            f"no recognisable header: line 1 is {quoted(header_line, 60)}; name the columns time, open, high, low, close",
            file=path, line=1,
        )
    is_ticks = "bid" in columns and "open" not in columns
    required = ("datetime", "bid", "ask") if is_ticks else ("datetime", *PRICES)
    present = set(columns) | ({"datetime"} if "date" in columns else set())  # date + time stand for it
    missing = [c for c in required if c not in present]
    if missing:
        shown = "date/time" if missing[0] == "datetime" else missing[0]
        raise InputError(
            f"no {shown!r} column in the header (found: {cut(', '.join(h.strip() for h in raw), 120)})", file=path, line=1
        )
    if not is_ticks:
        columns.pop("bid", None)
        columns.pop("ask", None)
    mt5 = all(h.strip().startswith("<") for h in raw)
    if is_ticks:
        source_format = "mt5_ticks" if mt5 else "generic_ticks"
    elif mt5:
        source_format = "mt5_bars"
    elif _COPY_RATES <= set(names):
        source_format = "mt5_copy_rates"
    else:
        source_format = "generic_ohlc"
    return Layout(source_format, delimiter, raw, columns)


def pandas_index_is_time(names: list[str], columns: dict[str, int]) -> None:
    """A first column with an empty header and no other time column is the index pandas' ``to_csv``
    writes (``,Open,High,Low,Close,Volume`` over a DatetimeIndex): it holds the times. Its values are
    parsed and checked like any time column, so a plain integer index is refused row by row."""
    if names and names[0] == "" and not {"datetime", "date", "time"} & set(columns):
        columns["datetime"] = 0


def _settle_time_columns(columns: dict[str, int]) -> None:
    """Reduce date/time/datetime to either ``datetime`` alone or ``date`` + ``time`` (MT5 exports)."""
    if "datetime" in columns:
        columns.pop("date", None)
        columns.pop("time", None)
    elif "date" in columns and "time" not in columns:
        columns["datetime"] = columns.pop("date")  # daily files: a date is the whole timestamp
    elif "time" in columns and "date" not in columns:
        columns["datetime"] = columns.pop("time")
