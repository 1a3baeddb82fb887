"""Hostile CSVs from issue 20: mixed spacing under an inferred timeframe, a file truncated while it is
read, timestamps outside pandas' range, implausible values, and huge cells echoed into messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from ita_desktop.data.csv_import import read_csv
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.workflows.bar_ingest import import_file
from ita_desktop.storage.store import Store

HEADER = "time,open,high,low,close,tick_volume\n"


def rows(start_minute: int, n: int, step: int, day: str = "2024-01-02") -> list[str]:
    out = []
    for k in range(n):
        m = start_minute + k * step
        out.append(f"{day} {m // 60:02d}:{m % 60:02d}:00,1.1,1.2,1.0,1.1,5\n")
    return out


def write(tmp_path: Path, lines: list[str], name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(lines))
    return path


def test_an_inferred_m5_series_refuses_bars_one_minute_apart_naming_the_row(tmp_path: Path):
    path = write(tmp_path, rows(0, 20, 1) + rows(20 + 4, 40, 5))  # 20 at 1 min, then 40 at 5 min
    with pytest.raises(InputError) as caught:
        read_csv(path, symbol="EURUSD", server_tz="UTC")
    error = caught.value
    assert error.line == 3 and "60 s apart" in error.message and "M5" in error.message


def test_a_file_truncated_while_it_is_read_is_refused_and_nothing_is_stored(ita_home, tmp_path: Path, monkeypatch):
    path = write(tmp_path, rows(0, 200, 1))
    real_read = Path.read_bytes

    def read_then_truncate(self: Path) -> bytes:
        data = real_read(self)
        if self == path:
            with open(self, "r+b") as handle:  # the writer rewrites the file as we finish reading it
                handle.truncate(len(data) // 2)
        return data

    monkeypatch.setattr(Path, "read_bytes", read_then_truncate)
    with Store.open() as store:
        with pytest.raises(InputError) as caught:
            import_file(store, path, symbol="EURUSD", server_tz="UTC")
        assert store.bars.load("EURUSD", Timeframe.M1) is None or len(store.bars.load("EURUSD", Timeframe.M1)) == 0
    assert "changed while it was read" in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize("when", ["2262-05-01 00:00:00", "9999-12-31 23:59:00", "1677-01-01 00:00:00",
                                  "1601-01-01 00:00:00"])
def test_a_timestamp_outside_pandas_range_is_a_finding_with_its_row_not_a_crash(tmp_path: Path, when: str):
    path = write(tmp_path, rows(0, 10, 1) + [f"{when},1.1,1.2,1.0,1.1,5\n"])
    result = read_csv(path, symbol="EURUSD", server_tz="UTC")
    assert len(result.bars) == 10
    [finding] = [f for f in result.findings if f.kind == "implausible_time"]
    assert finding.rows == [12] and finding.rejected


def test_implausible_years_prices_and_volumes_are_rejected_with_their_rows(tmp_path: Path):
    lines = rows(0, 10, 1) + [
        "1960-05-01 00:00:00,1.1,1.2,1.0,1.1,5\n",   # row 12: before 1971
        "2024-01-02 00:20:00,1e308,1e308,1.0,1.1,5\n",  # row 13: a price no market quotes
        "2024-01-02 00:21:00,1.1,1.2,1.0,1.1,1e30\n",   # row 14: tick volume that would wrap in int64
        "2199-01-02 00:22:00,1.1,1.2,1.0,1.1,5\n",   # row 15: far in the future
    ]
    result = read_csv(write(tmp_path, lines), symbol="EURUSD", server_tz="UTC")
    assert len(result.bars) == 10
    by_kind = {f.kind: f.rows for f in result.findings}
    assert by_kind["implausible_time"] == [12, 15]
    assert sorted(by_kind["implausible_value"]) in ([13, 14], [13], [14])
    assert {r for f in result.findings for r in f.rows} == {12, 13, 14, 15}
    assert result.rows_rejected == 4


def test_epoch_seconds_far_outside_the_range_are_rejected_not_wrapped(tmp_path: Path):
    path = tmp_path / "epoch.csv"
    lines = [f"{1_704_153_600 + 60 * k},1.1,1.2,1.0,1.1,5\n" for k in range(10)] + ["99999999999,1.1,1.2,1.0,1.1,5\n"]
    path.write_text(HEADER + "".join(lines))
    result = read_csv(path, symbol="EURUSD", server_tz="UTC")
    assert len(result.bars) == 10 and [f.rows for f in result.findings if f.kind == "implausible_time"] == [[12]]


def test_a_five_million_digit_cell_is_quoted_cut_in_the_finding_and_the_stored_ingest(ita_home, tmp_path: Path):
    huge = "9" * 5_000_000
    path = write(tmp_path, rows(0, 10, 1) + [f"2024-01-02 00:30:00,1.1,1.2,1.0,x{huge},5\n"])
    with Store.open() as store:
        summary = import_file(store, path, symbol="EURUSD", server_tz="UTC")
        ingest = store.ingests.get(summary.ingest_id)
    [finding] = [f for f in summary.findings if f.kind == "unparseable_number"]
    assert len(finding.message) < 200 and "5,000,001 characters" in finding.message
    assert len(ingest.findings_json) < 2_000


def test_an_unknown_time_format_quotes_the_cell_cut(tmp_path: Path):
    path = write(tmp_path, [f"{'Z' * 100_000},1.1,1.2,1.0,1.1,5\n"])
    with pytest.raises(InputError) as caught:
        read_csv(path, symbol="EURUSD", server_tz="UTC")
    assert len(str(caught.value)) < 300 and caught.value.line == 2
