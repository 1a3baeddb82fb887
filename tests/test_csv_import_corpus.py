"""The broken-CSV corpus: each hand-written file in tests/data/broken_csv and what the importer
must say about it. Expected texts are written out here, not generated from the importer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ita_desktop.data.csv_import import read_csv
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe

CORPUS = Path(__file__).parent / "data" / "broken_csv"

# file -> (line, column, message): the one InputError a file that cannot be read must raise.
UNREADABLE = {
    "empty.csv": (1, None, "file is empty"),
    "header_only.csv": (1, None, "header only: no data rows"),
    "binary_junk.csv": (3, None, "binary data (NUL byte): not a CSV text file"),
    "not_utf8.csv": (1, None, "not UTF-8 text (byte 0xf6)"),
    "wrong_delimiter.csv": (1, None, "header has a single column 'time|open|high|low|close': "
                                     "fields must be separated by comma, semicolon or tab"),
    "missing_column.csv": (1, None, "no 'low' column in the header (found: time, open, high, close, volume)"),
    "truncated_header.csv": (1, None, "no 'high' column in the header (found: <DATE>, <TIME>, <OPEN>, <HI)"),
    "no_header.csv": (1, None, "no recognisable header: line 1 is '2024-01-02 00:00:00,1.1,1.2,1.0,1.1,5'; "
                               "name the columns time, open, high, low, close"),
    "unknown_time_format.csv": (2, 1, "cannot read time 'Jan 2 2024 00:00': not a date format this importer knows"),
    "all_rows_bad.csv": (2, None, "no usable rows: all 3 rows rejected; first: high is below low"),
    "delimiter_mismatch.csv": (2, None, "no usable rows: all 2 rows rejected; first: number of fields differs "
                                        "from the header's 6 (truncated or split wrongly)"),
}

# file -> (rows read, rows rejected, bars, [(kind, file rows, rejected, message), ...]) for files that import.
READABLE = {
    "truncated_line.csv": (5, 1, 4, [
        ("wrong_field_count", [6], True, "number of fields differs from the header's 9 (truncated or split wrongly)")]),
    "extra_field.csv": (3, 1, 2, [
        ("wrong_field_count", [3], True, "number of fields differs from the header's 6 (truncated or split wrongly)")]),
    "blank_line.csv": (4, 1, 3, [("blank_row", [4], True, "blank line")]),
    "text_in_price.csv": (4, 1, 3, [("unparseable_number", [4], True, "high is not a number (e.g. '1.2x')")]),
    "nan_price.csv": (3, 2, 1, [
        ("missing_value", [4], True, "empty or NaN low"),
        ("missing_value", [3], True, "empty or NaN close")]),
    "negative_price.csv": (4, 1, 3, [("nonpositive_price", [5], True, "zero or negative price")]),
    "zero_price.csv": (2, 1, 1, [("nonpositive_price", [3], True, "zero or negative price")]),
    "high_below_low.csv": (2, 1, 1, [("high_below_low", [3], True, "high is below low")]),
    "open_outside_range.csv": (3, 1, 2, [("open_outside_range", [4], True, "open is outside [low, high]")]),
    "close_outside_range.csv": (2, 1, 1, [("close_outside_range", [2], True, "close is outside [low, high]")]),
    "duplicate_identical.csv": (4, 1, 3, [
        ("duplicate_identical", [4], True, "exact copy of an earlier row with the same time: copy dropped")]),
    "duplicate_conflicting.csv": (4, 2, 2, [
        ("duplicate_conflicting", [3, 5], True, "same time on rows with different values: all copies rejected")]),
    "unsorted_times.csv": (4, 0, 4, [
        ("out_of_order", [4], False, "time earlier than a row above it; rows are valid, so sorted by time")]),
    "mixed_date_formats.csv": (4, 1, 3, [
        ("unparseable_time", [5], True, "time does not match the file's format '%Y-%m-%d %H:%M:%S'")]),
    "mixed_timezones.csv": (3, 1, 2, [
        ("unparseable_time", [4], True, "time does not match the file's format '%Y-%m-%d %H:%M:%S%z'"),
        ("aware_times", [], False, "timestamps carry their UTC offset: used as given, server_tz not applied")]),
    "ticks_one_side_first.csv": (3, 1, 1, [  # two good ticks make one M1 bar
        ("no_quote_yet", [2], True, "no bid and ask known yet (earlier rows quote only one side)")]),
}


def _read(name: str):
    return read_csv(CORPUS / name, symbol="EURUSD", timeframe=Timeframe.M1, server_tz="UTC")


def test_corpus_is_covered_by_the_tables():
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(UNREADABLE | READABLE)
    assert len(UNREADABLE) + len(READABLE) >= 15


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_unreadable_file_raises_one_located_error(name: str):
    line, column, message = UNREADABLE[name]
    with pytest.raises(InputError) as caught:
        _read(name)
    err = caught.value
    assert (err.file, err.line, err.column, err.message) == (str(CORPUS / name), line, column, message)
    assert str(err).startswith(f"{CORPUS / name}:{line}:")


@pytest.mark.parametrize("name", sorted(READABLE))
def test_readable_file_reports_every_rejected_row(name: str):
    rows_read, rejected, bars, expected = READABLE[name]
    result = _read(name)
    assert [(f.kind, f.rows, f.rejected, f.message) for f in result.findings] == expected
    assert (result.rows_read, result.rows_rejected, len(result.bars)) == (rows_read, rejected, bars)
    assert np.all(np.diff(result.bars.time) > 0)


def test_unsorted_rows_are_sorted_not_dropped():
    bars = _read("unsorted_times.csv").bars
    assert bars.close.tolist() == [1.10010, 1.10020, 1.10030, 1.10040]


def test_identical_duplicate_keeps_one_copy():
    bars = _read("duplicate_identical.csv").bars
    assert bars.tick_volume.tolist() == [12, 15, 9]


def test_one_sided_ticks_carry_the_other_side_forward():
    bars = _read("ticks_one_side_first.csv").bars
    # Row 3 quotes bid 1.10001 with the ask of row 2 (1.10012); row 4 quotes both.
    assert (bars.open[0], bars.close[0], bars.tick_volume[0]) == (1.10001, 1.10003, 2)
    assert bars.spread[0] == 11  # max(1.10012 - 1.10001, 1.10014 - 1.10003) in 0.00001 points
