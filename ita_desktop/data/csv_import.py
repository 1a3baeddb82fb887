"""Import bars from a CSV file of any common shape into clean UTC bars with a report.

The pipeline: sniff the layout from the header (csv_formats), split rows with pandas'
C reader, parse times and numbers column-wise, convert naive broker times to UTC through the
server clock, clean (cleaning), then either build bars or aggregate ticks into bars.
Every rejected row is reported with its file row (header = row 1); a file with nothing
usable is one InputError naming the first bad row, so nothing half-read reaches the store.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time as time_module
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ita_desktop.data.cleaning import (
    MAX_COUNT, MAX_PRICE, PRICES, Report, check_duplicates, check_order, check_price_magnitudes, check_prices,
)
from ita_desktop.data.csv_formats import Layout, header_line, normalised_utf8, quoted, sniff_layout
from ita_desktop.domain.resample import UTC_ALIGNED, aggregate, bucket_starts
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.clock import DAY, ServerClock
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.ingest import ImportResult
from ita_desktop.domain.timeframes import Timeframe

Progress = Callable[[float, str], None]
"""``progress(fraction_done, stage)``; an exception raised from it cancels the import."""

# Naive formats first; "%z" ones are aware. Chosen per file by what parses the first rows.
_TIME_FORMATS = tuple(
    f"{date}{sep}{clock}"
    for date in ("%Y.%m.%d", "%Y-%m-%d", "%Y/%m/%d")
    for sep, clock in ((" ", "%H:%M:%S"), (" ", "%H:%M:%S.%f"), (" ", "%H:%M"), ("T", "%H:%M:%S"), ("T", "%H:%M:%S.%f"), ("", ""))
) + ("%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S.%f%z")
_EPOCH = "epoch"
_MISSING = ("", "nan", "null", "none", "na", "n/a", "#n/a")
_SAMPLE = 200
SLICE = 10_000  # rows per pandas call: a few ms each, so an import job never holds the GIL for long
_NAT = np.iinfo(np.int64).min  # what NaT becomes in int64 nanoseconds


@dataclass
class _Table:
    """Every data line as strings by canonical column, with its file row and whether it is still trusted."""

    layout: Layout
    frame: pd.DataFrame
    rows: np.ndarray  # 1-based file row of each frame row
    ok: np.ndarray  # rows not rejected so far

    def column(self, name: str) -> int:
        """1-based column number of a canonical column, as InputError and messages show it."""
        return self.layout.columns[name] + 1


def read_csv(
    path: str | Path,
    *,
    symbol: str,
    timeframe: Timeframe | None = None,
    server_tz: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Read, clean and convert one CSV file; InputError if nothing in it can be trusted."""
    path = Path(path)
    step = progress or (lambda fraction, stage: None)
    data = _read_settled(path)
    step(0.05, "sniffing format")
    encoded = normalised_utf8(data, path)
    layout = sniff_layout(header_line(encoded), path)
    report = Report()
    step(0.15, "splitting rows")
    table = _split_rows(encoded, layout, path, report)
    step(0.35, "parsing times")
    ns, aware = _parse_times(table, path, report)
    if aware:
        report.add("aware_times", "timestamps carry their UTC offset: used as given, server_tz not applied", [],
                   rejected=False)
        clock = ServerClock.parse("UTC")
    else:
        clock = _server_clock(server_tz, path)
    step(0.55, "checking values")
    if layout.is_ticks:
        bars = _bars_from_ticks(table, ns, clock, symbol, timeframe or Timeframe.M1, path, report)
    else:
        bars = _bars_from_rows(table, ns, clock, symbol, timeframe, path, report)
    step(1.0, "done")
    return ImportResult(
        path=str(path),
        file_hash=hashlib.sha256(data).hexdigest(),
        source_format=layout.source_format,
        server_tz=clock.spec,
        bars=bars,
        rows_read=len(table.rows),
        findings=report.findings,
    )


def _read_settled(path: Path) -> bytes:
    """The file's bytes, refused if it changed while being read (a download or export still writing it):
    size and modification time before and after, and the bytes read against the size."""
    try:
        before = path.stat()
        data = path.read_bytes()
        after = path.stat()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=path) from None
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(data) != after.st_size:
        raise InputError(
            f"the file changed while it was read ({before.st_size} bytes before, {len(data)} read, {after.st_size} "
            "after): another program is still writing it; nothing imported, import it again when it is complete",
            file=path)
    return data


def _server_clock(server_tz: str | None, path: Path) -> ServerClock:
    spec = server_tz if server_tz is not None else _settings().data.server_tz
    try:
        return ServerClock.parse(spec)
    except ValueError as exc:
        raise InputError(f"server_tz: {exc}", file=path) from None


def _settings():
    from ita_desktop.config import load_settings  # read only when the file leaves something to configure

    return load_settings()


def _split_rows(encoded: bytes, layout: Layout, path: Path, report: Report) -> _Table:
    """Split with pandas; lines with the wrong number of fields (or none) are rejected here.

    pandas reads UTF-8 bytes, not a StringIO of text: a StringIO copies a big text into a
    4-bytes-per-character buffer on its first read (~90 MB for a year of M1, 30 ms with the GIL
    held). ``low_memory=False``: each SLICE of rows in one pass, not in smaller pieces joined
    again with the GIL held.
    """
    n_fields = _fields_per_line(encoded, layout.delimiter)
    if len(n_fields) == 0:
        raise InputError("header only: no data rows", file=path, line=1)
    width = len(layout.header)
    file_rows = np.arange(2, len(n_fields) + 2, dtype=np.int64)
    line_ok = np.ones(len(file_rows), dtype=bool)
    report.reject(line_ok, n_fields == 0, file_rows, "blank_row", "blank line")
    report.reject(line_ok, n_fields != width, file_rows, "wrong_field_count",
                  f"number of fields differs from the header's {width} (truncated or split wrongly)")
    wanted = sorted(layout.columns.values())
    chunks = pd.read_csv(
        io.BytesIO(encoded), encoding="utf-8", sep=layout.delimiter, header=0, index_col=False, usecols=wanted,
        dtype=str, keep_default_na=False, skip_blank_lines=False, quoting=csv.QUOTE_NONE, engine="c",
        chunksize=SLICE, low_memory=False,
    )
    frame = pd.concat(list(chunks), ignore_index=True)
    if len(frame) != len(file_rows):  # with usecols pandas keeps one row per line, whatever its width
        raise InputError("rows could not be split consistently with the header", file=path, line=1)
    frame.columns = [name for _, name in sorted((i, name) for name, i in layout.columns.items())]
    if b'"' in encoded:  # fields quoted one by one
        for name in frame:
            frame[name] = sliced(lambda part: part.str.strip().str.strip('"').to_numpy(), frame[name])
    return _Table(layout, frame, file_rows, line_ok)


def sliced(convert: Callable[[pd.Series], np.ndarray], values: pd.Series) -> np.ndarray:
    """``convert`` applied SLICE rows at a time and joined: each pandas call holds the GIL, so a
    whole-column call on a big file would freeze the window for 100+ ms while an import job runs."""
    return np.concatenate([convert(values.iloc[k : k + SLICE]) for k in range(0, max(len(values), 1), SLICE)])


def _fields_per_line(encoded: bytes, delimiter: str) -> np.ndarray:
    """Fields on each data line (0 for a blank one) of UTF-8 text, counted on the bytes: a Python
    loop or pandas string method would take seconds on a million lines."""
    buf = np.frombuffer(encoded, dtype=np.uint8)
    ends = np.flatnonzero(buf == ord("\n"))
    if len(buf) and buf[-1] != ord("\n"):
        ends = np.r_[ends, len(buf)]  # last line without a line end
    starts = np.r_[0, ends[:-1] + 1]
    delimiters = np.flatnonzero(buf == ord(delimiter))
    line_of_delimiter = np.concatenate(
        [np.searchsorted(ends, delimiters[k : k + SLICE]) for k in range(0, len(delimiters), SLICE)] or [delimiters]
    )
    fields = np.bincount(line_of_delimiter, minlength=len(ends)) + 1
    fields[ends == starts] = 0
    return fields[1:]  # the header is not data


def _time_strings(table: _Table) -> pd.Series:
    frame = table.frame
    if "date" in frame:
        joined = sliced(lambda part: (part + " " + frame["time"].loc[part.index]).to_numpy(), frame["date"])
        return pd.Series(joined, index=frame.index, dtype=frame["date"].dtype)
    return frame["datetime"]


def _parse_times(table: _Table, path: Path, report: Report) -> tuple[np.ndarray, bool]:
    """Times as int64 ns (naive wall time, or UTC when ``aware``), bad ones rejected.

    The format is the one that reads most of the first rows; rows in any other format are
    reported, not guessed, since 01/02 can be either January or February.
    """
    values = _time_strings(table)
    column = table.column("date" if "date" in table.frame else "datetime")
    sample = values[table.ok].head(_SAMPLE)
    if sample.empty:
        return np.zeros(len(values), dtype=np.int64), False
    best, best_hits = None, 0
    for fmt in _TIME_FORMATS:
        hits = int(pd.to_datetime(sample, format=fmt, errors="coerce", utc="%z" in fmt).notna().sum())
        if hits > best_hits:
            best, best_hits = fmt, hits
    if best is None and sample.str.fullmatch(r"\d{9,13}").all():
        best = _EPOCH
    if best is None:
        row = int(table.rows[table.ok][0])
        raise InputError(f"cannot read time {quoted(sample.iloc[0])}: not a date format this importer knows",
                         file=path, line=row, column=column)
    if best == _EPOCH:
        number = pd.to_numeric(values.where(values.str.fullmatch(r"\d{9,13}")), errors="coerce").to_numpy()
        unit = 10**6 if np.nanmax(number) < 1e11 else 10**3  # seconds or milliseconds, to microseconds
        bad = ~np.isfinite(number)
        us = np.where(bad, 0, number).astype(np.int64) * unit
        shown, aware = "epoch seconds", False
    else:
        aware = "%z" in best
        # microseconds: pandas' nanoseconds end in 2262, and a year 2262 cell must be a finding, not a crash
        parsed = sliced(lambda v: pd.DatetimeIndex(pd.to_datetime(v, format=best, errors="coerce", utc=aware))
                        .as_unit("us").asi8, values)
        bad = parsed == _NAT
        us = np.where(bad, 0, parsed)
        shown = best
    report.reject(table.ok, bad, table.rows, "unparseable_time",
                  f"time does not match the file's format {shown!r}", column=column)
    _reject_implausible_times(table, us, report, column)
    ns = np.where(table.ok, us, 0) * 1000
    return ns, aware


def _reject_implausible_times(table: _Table, us: np.ndarray, report: Report, column: int) -> None:
    """Times before 1971 or more than a year ahead of today are no market history: rejected with their rows."""
    earliest = 365 * DAY * 10**6  # 1971-01-01
    latest = (int(time_module.time()) + 366 * DAY) * 10**6
    report.reject(table.ok, (us < earliest) | (us > latest), table.rows, "implausible_time",
                  "time before 1971 or more than a year in the future", column=column)


def _numbers(table: _Table, name: str, report: Report, *, empty_ok: bool = False) -> np.ndarray:
    """One column as float64; empty/NaN and non-numeric cells reject their row (unless ``empty_ok``)."""
    text = table.frame[name]
    number = sliced(lambda v: pd.to_numeric(v, errors="coerce").to_numpy(dtype=np.float64), text)
    unread = np.flatnonzero(~np.isfinite(number))  # usually few: look at their text only
    lowered = text.iloc[unread].str.strip().str.lower().to_numpy()
    blank = np.zeros(len(text), dtype=bool)
    blank[unread[lowered == ""]] = True
    missing = np.zeros(len(text), dtype=bool)
    missing[unread[np.isin(lowered, _MISSING[1:] if empty_ok else _MISSING)]] = True
    column = table.column(name)
    report.reject(table.ok, missing, table.rows, "missing_value", f"empty or NaN {name}", column=column)
    unreadable = ~np.isfinite(number) & ~(blank if empty_ok else missing)
    if (table.ok & unreadable).any():
        example = text[table.ok & unreadable].iloc[0]
        report.reject(table.ok, unreadable, table.rows, "unparseable_number",
                      f"{name} is not a number (e.g. {quoted(example)})", column=column)
    return number


def _counts(table: _Table, name: str, report: Report) -> np.ndarray:
    """An optional count column (tick volume, spread) as int64; zeros when the file has none."""
    if name not in table.frame:
        return np.zeros(len(table.frame), dtype=np.int64)
    number = _numbers(table, name, report)
    report.reject(table.ok, np.abs(number) > MAX_COUNT, table.rows, "implausible_value",
                  f"{name} above {MAX_COUNT:.0e}", column=table.column(name))
    fractional = table.ok & (np.mod(number, 1) != 0)
    if fractional.any():
        report.add("fractional_count", f"{name} has fractions: stored rounded to whole numbers",
                   table.rows[fractional], rejected=False, column=table.column(name))
    return np.rint(np.where(table.ok, number, 0)).astype(np.int64)


def _raise_if_nothing_left(table: _Table, path: Path, report: Report) -> None:
    if table.ok.any():
        return
    first = report.first_rejected()
    assert first is not None, "rows only leave `ok` through Report.reject, which records them"
    row, finding, column = first
    raise InputError(f"no usable rows: all {len(table.rows)} rows rejected; first: {finding.message}",
                     file=path, line=row, column=column)


def _bars_from_rows(table: _Table, ns: np.ndarray, clock: ServerClock, symbol: str,
                    timeframe: Timeframe | None, path: Path, report: Report) -> Bars:
    cols = {name: _numbers(table, name, report) for name in PRICES}
    cols["tick_volume"] = _counts(table, "tick_volume", report)
    cols["spread"] = _counts(table, "spread", report)
    check_price_magnitudes(cols, PRICES, table.rows, table.ok, report)
    time = np.zeros(len(ns), dtype=np.int64)
    time[table.ok] = clock.to_utc(ns[table.ok] // 10**9)
    check_prices(cols, table.rows, table.ok, report)
    check_duplicates(time, cols, table.rows, table.ok, report)
    check_order(time, table.rows, table.ok, report)
    _raise_if_nothing_left(table, path, report)
    keep = np.flatnonzero(table.ok)
    keep = keep[np.argsort(time[keep], kind="stable")]
    tf = _settle_timeframe(time[keep], table.rows[keep], timeframe, path)
    return Bars.from_columns(symbol, tf, {"time": time[keep]} | {name: values[keep] for name, values in cols.items()})


def _bars_from_ticks(table: _Table, ns: np.ndarray, clock: ServerClock, symbol: str,
                     timeframe: Timeframe, path: Path, report: Report) -> Bars:
    """Ticks to bars on the bid. An empty bid or ask cell means that side did not change, so the
    last known value carries forward: that is the export's meaning, not a guess."""
    quoted = {}
    for side in ("bid", "ask"):
        quoted[side] = _numbers(table, side, report, empty_ok=True)
        report.reject(table.ok, quoted[side] <= 0, table.rows, "nonpositive_price", f"zero or negative {side}",
                      column=table.column(side))
        report.reject(table.ok, quoted[side] > MAX_PRICE, table.rows, "implausible_value",
                      f"{side} above {MAX_PRICE:.0e}", column=table.column(side))
    # Carry forward only what trusted rows quoted.
    bid, ask = (pd.Series(np.where(table.ok, quoted[side], np.nan)).ffill().to_numpy() for side in ("bid", "ask"))
    report.reject(table.ok, np.isnan(bid) | np.isnan(ask), table.rows, "no_quote_yet",
                  "no bid and ask known yet (earlier rows quote only one side)")
    report.reject(table.ok, ask < bid, table.rows, "ask_below_bid", "ask is below bid")
    ms = ns // 10**6
    seconds = ms // 1000
    utc_ms = np.zeros(len(ms), dtype=np.int64)
    utc_ms[table.ok] = (clock.to_utc(seconds[table.ok]) - seconds[table.ok]) * 1000 + ms[table.ok]
    check_order(utc_ms, table.rows, table.ok, report)
    _raise_if_nothing_left(table, path, report)
    keep = np.flatnonzero(table.ok)
    keep = keep[np.argsort(utc_ms[keep], kind="stable")]
    point = 10.0 ** -_price_digits(table.frame.loc[keep, ["bid", "ask"]])
    price = bid[keep]
    ticks = {
        "open": price, "high": price, "low": price, "close": price,
        "tick_volume": np.ones(len(keep), dtype=np.int64),
        "spread": np.rint((ask[keep] - price) / point).astype(np.int64),
        "ingest_id": np.zeros(len(keep), dtype=np.int32),
    }
    if timeframe in UTC_ALIGNED:
        starts = bucket_starts(utc_ms[keep] // 1000, timeframe)
    else:  # session-aligned buckets follow the trader's session settings
        settings = _settings()
        starts = bucket_starts(utc_ms[keep] // 1000, timeframe, clock=settings.sessions.clock,
                               day_start=settings.data.day_start)
    return Bars.from_columns(symbol, timeframe, aggregate(starts, ticks))


def _price_digits(quotes: pd.DataFrame) -> int:
    """Decimals the feed quotes with (5 for EURUSD, 2 for gold): one point is 10**-digits."""
    decimals = [quotes[side].str.strip().str.partition(".")[2].str.len().max() for side in quotes]
    return int(max(d for d in decimals if pd.notna(d)))


def _settle_timeframe(time: np.ndarray, rows: np.ndarray, given: Timeframe | None, path: Path) -> Timeframe:
    """The timeframe is the most common step between bars. A given one is contradicted by bars
    closer together than it allows, or by a most common step that is another timeframe."""
    steps = np.diff(time)
    if given is not None:
        close = np.flatnonzero(steps < _shortest_step(given))
        if len(close):
            raise InputError(f"timeframe {given.value} was given but this bar is {int(steps[close[0]])} s after "
                             "the one before it", file=path, line=int(rows[close[0] + 1]))
    if len(steps) == 0:
        if given is not None:
            return given
        raise InputError("a single bar: cannot infer the timeframe; give it", file=path, line=int(rows[0]))
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[np.argmax(counts)])
    at = int(rows[1:][steps == step][0])
    inferred = _timeframe_for_step(step)
    if given is not None and inferred not in (None, given):
        raise InputError(
            f"timeframe {given.value} was given but bars are {step} s apart (the most common step, first here): "
            f"the data is {inferred.value}", file=path, line=at,
        )
    if given is None and inferred is None:
        raise InputError(f"bars are {step} s apart (the most common step, first here): not an MT5 timeframe",
                         file=path, line=at)
    if given is None:
        _refuse_mixed_spacing(steps, rows, inferred, path)
    return given or inferred


def _refuse_mixed_spacing(steps: np.ndarray, rows: np.ndarray, inferred: Timeframe, path: Path) -> None:
    """An inferred timeframe is held to the same spacing as a given one: bars closer than it are
    another timeframe mixed in (20 M1 rows ahead of M5 ones), not bars of this series."""
    close = np.flatnonzero(steps < _shortest_step(inferred))
    if len(close):
        raise InputError(
            f"bars are {int(steps[close[0]])} s apart here but the file's most common step is {inferred.seconds} s "
            f"({inferred.value}): mixed timeframes in one file; split it or give --timeframe",
            file=path, line=int(rows[close[0] + 1]))


def _timeframe_for_step(step: int) -> Timeframe | None:
    if 28 * DAY <= step <= 31 * DAY:
        return Timeframe.MN1
    return next((tf for tf in Timeframe if tf is not Timeframe.MN1 and tf.seconds == step), None)


def _shortest_step(timeframe: Timeframe) -> int:
    """The closest two bars of a timeframe can be in UTC (days shrink by an hour when DST starts)."""
    if timeframe.is_intraday:
        return timeframe.seconds
    return (28 * DAY if timeframe is Timeframe.MN1 else timeframe.seconds) - 3600
