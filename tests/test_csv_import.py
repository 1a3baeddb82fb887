"""read_csv on each format it sniffs, written as small real files: MT5 Export Bars (intraday and
D1), MT5 Export Ticks, copy_rates dumps, generic OHLC files, quoted lines, UTF-16; plus time
zones, timeframe inference, and the import's own metadata (hash, progress)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from ita_desktop.data import csv_formats
from ita_desktop.data.csv_import import read_csv
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe

MT5_HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def write(tmp_path: Path, text: str, name: str = "bars.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_mt5_export_bars_in_winter_and_summer_through_ny_plus_7(tmp_path: Path):
    path = write(tmp_path, MT5_HEADER
                 + "2024.01.02\t00:00:00\t1.10000\t1.10020\t1.09990\t1.10010\t12\t100\t3\n"
                 + "2024.01.02\t00:01:00\t1.10010\t1.10030\t1.10000\t1.10020\t15\t200\t4\n"
                 + "2024.07.01\t00:00:00\t1.07000\t1.07020\t1.06990\t1.07010\t9\t300\t5\n")
    result = read_csv(path, symbol="EURUSD", server_tz="NY+7")
    assert (result.source_format, result.server_tz, result.findings) == ("mt5_bars", "NY+7", [])
    bars = result.bars
    assert bars.timeframe is Timeframe.M1
    # NY+7 is GMT+2 in January and GMT+3 in July.
    assert bars.time.tolist() == [utc("2024-01-01 22:00"), utc("2024-01-01 22:01"), utc("2024-06-30 21:00")]
    assert bars.tick_volume.tolist() == [12, 15, 9]  # <TICKVOL>, not <VOL>
    assert bars.spread.tolist() == [3, 4, 5]
    assert bars.open.tolist() == [1.1, 1.1001, 1.07]


def test_mt5_export_daily_bars_without_time_column(tmp_path: Path):
    header = "<DATE>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
    days = ["2024.01.02", "2024.01.03", "2024.01.04", "2024.01.05", "2024.01.08"]
    path = write(tmp_path, header + "".join(f"{d}\t1.1\t1.2\t1.0\t1.15\t1000\t0\t2\n" for d in days))
    bars = read_csv(path, symbol="EURUSD", server_tz="+02:00").bars
    assert bars.timeframe is Timeframe.D1
    assert bars.time[0] == utc("2024-01-01 22:00")
    assert bars.time[-1] == utc("2024-01-07 22:00")


def test_mt5_export_ticks_become_m1_bars_on_the_bid(tmp_path: Path):
    path = write(tmp_path, "<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>\n"
                 "2024.01.02\t00:00:05.120\t1.10000\t1.10010\t\t\t6\n"
                 "2024.01.02\t00:00:30.000\t1.10020\t\t\t\t2\n"       # ask unchanged: 1.10010, crossed? no: bid rose
                 "2024.01.02\t00:00:59.999\t1.09990\t1.10005\t\t\t6\n"
                 "2024.01.02\t00:01:00.000\t\t1.10030\t\t\t4\n"       # bid unchanged: 1.09990
                 "2024.01.02\t00:03:10.500\t1.10100\t1.10102\t\t\t6\n")
    result = read_csv(path, symbol="EURUSD", server_tz="UTC")
    assert result.source_format == "mt5_ticks"
    assert result.rows_read == 5
    assert [f.kind for f in result.findings] == ["ask_below_bid"]  # row 3: bid 1.10020 over the carried ask 1.10010
    assert result.findings[0].rows == [3]
    bars = result.bars
    assert bars.timeframe is Timeframe.M1
    assert bars.time.tolist() == [utc("2024-01-02 00:00"), utc("2024-01-02 00:01"), utc("2024-01-02 00:03")]
    assert bars.open.tolist() == [1.1, 1.0999, 1.101]
    assert bars.high.tolist() == [1.1, 1.0999, 1.101]
    assert bars.low.tolist() == [1.0999, 1.0999, 1.101]
    assert bars.close.tolist() == [1.0999, 1.0999, 1.101]
    assert bars.tick_volume.tolist() == [2, 1, 1]
    assert bars.spread.tolist() == [15, 40, 2]  # max(ask - bid) in 0.00001 points (5 digits quoted)


def test_ticks_aggregate_to_a_requested_timeframe(tmp_path: Path):
    rows = "".join(f"2024.01.02\t00:0{m}:00.000\t1.1{m}000\t1.1{m}002\t\t\t6\n" for m in range(8))
    path = write(tmp_path, "<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>\n" + rows)
    bars = read_csv(path, symbol="EURUSD", server_tz="UTC", timeframe=Timeframe.M5).bars
    assert bars.timeframe is Timeframe.M5
    assert bars.time.tolist() == [utc("2024-01-02 00:00"), utc("2024-01-02 00:05")]
    assert (bars.open.tolist(), bars.close.tolist()) == ([1.1, 1.15], [1.14, 1.17])
    assert bars.tick_volume.tolist() == [5, 3]


def test_copy_rates_with_epoch_seconds_are_server_time(tmp_path: Path):
    naive = utc("2024-01-02 00:00")  # MT5 returns server wall time counted as if it were UTC
    rows = "".join(f"{naive + 60 * i},1.1,1.2,1.0,1.15,{10 + i},2,0\n" for i in range(3))
    path = write(tmp_path, "time,open,high,low,close,tick_volume,spread,real_volume\n" + rows)
    result = read_csv(path, symbol="EURUSD", server_tz="+02:00")
    assert result.source_format == "mt5_copy_rates"
    assert result.bars.time[0] == utc("2024-01-01 22:00")
    assert result.bars.tick_volume.tolist() == [10, 11, 12]


def test_generic_semicolon_file_with_aliases_and_quoted_fields(tmp_path: Path):
    path = write(tmp_path, 'Timestamp;O;H;L;C;Vol\n'
                 '"2024-03-01 10:00";"1.1";"1.2";"1.0";"1.15";"7"\n'
                 '"2024-03-01 11:00";"1.15";"1.25";"1.1";"1.2";"8"\n')
    result = read_csv(path, symbol="EURUSD", server_tz="UTC")
    assert result.source_format == "generic_ohlc"
    assert result.bars.timeframe is Timeframe.H1
    assert result.bars.time.tolist() == [utc("2024-03-01 10:00"), utc("2024-03-01 11:00")]
    assert result.bars.tick_volume.tolist() == [7, 8]


def test_whole_line_quoted_crlf_file_like_the_eurusd_export(tmp_path: Path):
    path = write(tmp_path, '"Time\tOpen\tHigh\tLow\tClose\tVolume"\r\n'
                 '"2022-01-04 18:00:00\t1.12834\t1.1284\t1.12834\t1.12838\t24"\r\n'
                 '"2022-01-04 18:01:00\t1.1284\t1.1284\t1.12837\t1.12837\t6"\r\n')
    bars = read_csv(path, symbol="EURUSD", server_tz="-03:30").bars
    assert bars.time.tolist() == [utc("2022-01-04 21:30"), utc("2022-01-04 21:31")]
    assert bars.close.tolist() == [1.12838, 1.12837]


def test_utf16_export_with_bom(tmp_path: Path):
    text = MT5_HEADER + "".join(f"2024.01.02\t00:0{m}:00\t1.1\t1.2\t1.0\t1.1\t5\t0\t1\n" for m in range(3))
    path = write(tmp_path, "\ufeff" + text, encoding="utf-16-le")
    assert len(read_csv(path, symbol="EURUSD", server_tz="UTC").bars) == 3


def test_given_timeframe_coarser_than_the_data_names_the_row(tmp_path: Path):
    path = write(tmp_path, MT5_HEADER + "".join(f"2024.01.02\t00:0{m}:00\t1.1\t1.2\t1.0\t1.1\t5\t0\t1\n" for m in range(3)))
    with pytest.raises(InputError) as caught:
        read_csv(path, symbol="EURUSD", server_tz="UTC", timeframe=Timeframe.H1)
    assert (caught.value.line, caught.value.message) == (3, "timeframe H1 was given but this bar is 60 s after the one before it")


def test_given_timeframe_finer_than_the_data_names_the_row(tmp_path: Path):
    path = write(tmp_path, MT5_HEADER + "".join(f"2024.01.02\t00:{m:02d}:00\t1.1\t1.2\t1.0\t1.1\t5\t0\t1\n" for m in (0, 5, 10, 20)))
    with pytest.raises(InputError) as caught:
        read_csv(path, symbol="EURUSD", server_tz="UTC", timeframe=Timeframe.M1)
    assert (caught.value.line, caught.value.message) == (
        3, "timeframe M1 was given but bars are 300 s apart (the most common step, first here): the data is M5")


def test_a_step_that_is_no_timeframe_is_an_error(tmp_path: Path):
    path = write(tmp_path, MT5_HEADER + "".join(f"2024.01.02\t00:{m:02d}:00\t1.1\t1.2\t1.0\t1.1\t5\t0\t1\n" for m in (0, 7, 14)))
    with pytest.raises(InputError, match="bars are 420 s apart"):
        read_csv(path, symbol="EURUSD", server_tz="UTC")


def test_single_bar_needs_a_timeframe(tmp_path: Path):
    path = write(tmp_path, MT5_HEADER + "2024.01.02\t00:00:00\t1.1\t1.2\t1.0\t1.1\t5\t0\t1\n")
    with pytest.raises(InputError, match="a single bar: cannot infer the timeframe"):
        read_csv(path, symbol="EURUSD", server_tz="UTC")
    assert read_csv(path, symbol="EURUSD", server_tz="UTC", timeframe=Timeframe.H4).bars.timeframe is Timeframe.H4


def test_server_tz_defaults_to_the_settings(tmp_path: Path, ita_home: Path):
    path = write(tmp_path, MT5_HEADER + "".join(f"2024.01.02\t00:0{m}:00\t1.1\t1.2\t1.0\t1.1\t5\t0\t1\n" for m in range(2)))
    result = read_csv(path, symbol="EURUSD")
    assert result.server_tz == "NY+7"
    assert result.bars.time[0] == utc("2024-01-01 22:00")


def test_unknown_server_tz_is_an_input_error(tmp_path: Path):
    path = write(tmp_path, MT5_HEADER + "2024.01.02\t00:00:00\t1.1\t1.2\t1.0\t1.1\t5\t0\t1\n")
    with pytest.raises(InputError, match="server_tz: cannot read server time zone 'Mars/Olympus'"):
        read_csv(path, symbol="EURUSD", server_tz="Mars/Olympus")


def test_missing_file_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="cannot read file"):
        read_csv(tmp_path / "nope.csv", symbol="EURUSD")


def test_hash_and_progress(tmp_path: Path):
    path = write(tmp_path, MT5_HEADER + "".join(f"2024.01.02\t00:0{m}:00\t1.1\t1.2\t1.0\t1.1\t5\t0\t1\n" for m in range(3)))
    seen: list[tuple[float, str]] = []
    result = read_csv(path, symbol="EURUSD", server_tz="UTC", progress=lambda f, stage: seen.append((f, stage)))
    assert result.file_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_progress_callback_can_cancel(tmp_path: Path):
    path = write(tmp_path, MT5_HEADER + "2024.01.02\t00:00:00\t1.1\t1.2\t1.0\t1.1\t5\t0\t1\n")

    class Cancelled(Exception):
        pass

    def cancel(fraction: float, stage: str) -> None:
        if fraction > 0.3:
            raise Cancelled(stage)

    with pytest.raises(Cancelled):
        read_csv(path, symbol="EURUSD", server_tz="UTC", progress=cancel)


def test_fractional_volume_is_reported_not_hidden(tmp_path: Path):
    path = write(tmp_path, "date,time,open,high,low,close,volume\n"
                 "2024-01-02,00:00,1.1,1.2,1.0,1.1,5.5\n2024-01-02,00:01,1.1,1.2,1.0,1.1,6\n")
    result = read_csv(path, symbol="EURUSD", server_tz="UTC")
    assert [(f.kind, f.rows, f.rejected) for f in result.findings] == [("fractional_count", [2], False)]
    assert np.array_equal(result.bars.tick_volume, [6, 6])  # 5.5 rounds half to even


def test_ticks_to_daily_bars_follow_the_session_settings(tmp_path: Path, ita_home: Path):
    path = write(tmp_path, "<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>\n"
                 "2024.01.07\t23:30:00.000\t1.10000\t1.10010\t\t\t6\n"    # Sunday 18:30 NY: Monday's day
                 "2024.01.08\t22:59:59.000\t1.10100\t1.10110\t\t\t6\n"    # Monday 17:59 NY: still Monday's day
                 "2024.01.08\t23:00:00.000\t1.10200\t1.10210\t\t\t6\n")   # Monday 18:00 NY: Tuesday's day
    bars = read_csv(path, symbol="EURUSD", server_tz="UTC", timeframe=Timeframe.D1).bars
    assert bars.time.tolist() == [utc("2024-01-07 23:00"), utc("2024-01-08 23:00")]
    assert bars.tick_volume.tolist() == [2, 1]


BLOCK_TEXT = ('"Time\tOpen\tHigh\tLow\tClose\tVolume\tComment"\r\n'
              '"2022-01-04 18:00:00\t1.12834\t1.1284\t1.12834\t1.12838\t24\tZürich €"\r\n'
              '"2022-01-04 18:01:00\t1.1284\t1.1284\t1.12837\t1.12837\t6\t東京"\r\n'
              '"2022-01-04 18:02:00\t1.12837\t1.1285\t1.12837\t1.1284\t7\tok"')  # no line end at the end


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
@pytest.mark.parametrize("block", [1, 2, 3, 5, 7, 64, 1 << 18])
def test_text_is_converted_in_blocks_with_the_same_result_at_every_block_size(monkeypatch, encoding, block):
    """The importer decodes, normalises line ends and unwraps quoted lines a block at a time (so a
    big file never holds the GIL in one call): characters, \\r\\n pairs and lines split across blocks."""
    monkeypatch.setattr(csv_formats, "BLOCK", block)
    expected = BLOCK_TEXT.replace("\r\n", "\n").replace('"', "").encode("utf-8")
    assert csv_formats.normalised_utf8(BLOCK_TEXT.encode(encoding), Path("f.csv")) == expected


@pytest.mark.parametrize("block", [3, 1 << 18])
def test_undecodable_bytes_name_their_line_whatever_the_block_size(monkeypatch, block):
    monkeypatch.setattr(csv_formats, "BLOCK", block)
    data = BLOCK_TEXT.encode("utf-8")
    broken = data.replace("東".encode(), b"\xff\xfe\xfd")
    with pytest.raises(InputError) as caught:
        csv_formats.normalised_utf8(broken, Path("f.csv"))
    assert (caught.value.line, caught.value.message) == (3, "not UTF-8 text (byte 0xff)")
    truncated = BLOCK_TEXT.encode("utf-16")[:-1]
    with pytest.raises(InputError) as caught:
        csv_formats.normalised_utf8(truncated, Path("f.csv"))
    assert (caught.value.line, caught.value.message) == (4, "not UTF-16 text (truncated or broken character)")
