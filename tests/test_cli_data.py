"""`ita data import | list | export` driven through cli.main.main, against a real store in a temp ITA_HOME."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ita_desktop.cli.main import main
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.ingest import ImportResult
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.workflows.bar_ingest import import_file
from ita_desktop.paths import app_paths
from ita_desktop.storage.store import Store

MT5_HEADER = "time,open,high,low,close,tick_volume,spread\n"
T0 = 1_641_168_000  # 2022-01-03 00:00 UTC


def mt5_csv(path: Path, n: int, *, start: int = T0, close_shift: float = 0.0) -> Path:
    """A small MetaTrader 5 copy_rates export (aware UTC times) written by the test."""
    lines = [MT5_HEADER]
    for i in range(n):
        stamp = pd.Timestamp(start + 60 * i, unit="s", tz="UTC").isoformat(sep=" ")
        o = 1.13 + i * 1e-5
        c = round(o + 2e-5 + close_shift, 5)
        lines.append(f"{stamp},{o:.5f},{max(o, c) + 3e-5:.5f},{min(o, c) - 3e-5:.5f},{c:.5f},{10 + i},{i % 3}\n")
    path.write_text("".join(lines))
    return path


def dump_store() -> list[str]:
    with sqlite3.connect(app_paths().database) as conn:
        return list(conn.iterdump())


def store_bars(symbol: str, n: int) -> Bars:
    price = np.round(1.13 + 1e-5 * np.arange(n), 5)
    bars = Bars.from_columns(
        symbol,
        Timeframe.M1,
        {"time": T0 + 60 * np.arange(n), "open": price, "high": price + 1e-4, "low": price - 1e-4, "close": price,
         "tick_volume": np.arange(n), "spread": np.full(n, 7)},
    )
    with Store.open() as store:
        store.bars.write(ImportResult("made.csv", "h", "test", "UTC", bars, n), symbol=symbol, timeframe=Timeframe.M1, source="mt5")
    return bars


def test_import_prints_what_was_stored_and_progress_on_stderr(ita_home: Path, tmp_path: Path, capsys) -> None:
    path = mt5_csv(tmp_path / "EURUSD_M1.csv", 90)
    assert main(["data", "import", str(path), "--symbol", "EURUSD"]) == 0
    out, err = capsys.readouterr()
    assert f"ingest 1: EURUSD M1 from {path}" in out
    assert "rows read 90, stored 90, rejected 0" in out
    assert "bars new 90, replaced 0, unchanged 0" in out
    assert "first 2022-01-03T00:00:00Z  last 2022-01-03T01:29:00Z" in out
    assert "importing EURUSD_M1.csv: 100%" in err
    with Store.open() as store:
        assert len(store.bars.load("EURUSD", Timeframe.M1)) == 90


def test_import_json_reports_merge_counts_of_an_overlapping_file(ita_home: Path, tmp_path: Path, capsys) -> None:
    assert main(["data", "import", str(mt5_csv(tmp_path / "a.csv", 60)), "--symbol", "EURUSD", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    # b.csv: 30 minutes later, 60 bars, prices shifted: 30 overlap (replaced), 30 new
    b = mt5_csv(tmp_path / "b.csv", 60, start=T0 + 30 * 60, close_shift=1e-4)
    assert main(["data", "import", str(b), "--symbol", "EURUSD", "--timeframe", "m1", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (first["ingest_id"], first["new"]) == (1, 60)
    assert (second["ingest_id"], second["new"], second["replaced"], second["unchanged"]) == (2, 30, 30, 0)
    assert second["source_format"] and second["timeframe"] == "M1"
    assert second["first_utc_iso"] == "2022-01-03T00:30:00Z"
    with Store.open() as store:
        assert len(store.bars.load("EURUSD", Timeframe.M1)) == 90


def test_a_failed_import_exits_1_names_file_and_line_and_leaves_the_store_unchanged(
    ita_home: Path, tmp_path: Path, capsys
) -> None:
    assert main(["data", "import", str(mt5_csv(tmp_path / "good.csv", 50)), "--symbol", "EURUSD"]) == 0
    before = dump_store()
    capsys.readouterr()

    bad = tmp_path / "bad.csv"
    bad.write_text(MT5_HEADER + "not a time,1,2,0.5,1.5,3,0\nalso bad,1,2,0.5,1.5,3,0\n")
    assert main(["data", "import", str(bad), "--symbol", "EURUSD"]) == 1
    assert f"{bad}:2:" in capsys.readouterr().err

    five_minute = mt5_csv(tmp_path / "m1.csv", 50, start=T0 + 3600)
    assert main(["data", "import", str(five_minute), "--symbol", "EURUSD", "--timeframe", "M5"]) == 1
    assert f"error: {five_minute}:3: timeframe M5 was given" in capsys.readouterr().err

    assert main(["data", "import", str(tmp_path / "missing.csv"), "--symbol", "EURUSD"]) == 1
    assert "missing.csv" in capsys.readouterr().err
    assert main(["data", "import", str(five_minute), "--symbol", "EURUSD", "--timeframe", "M7"]) == 1
    assert "unknown timeframe 'M7'" in capsys.readouterr().err
    assert dump_store() == before


def test_import_file_cancelled_from_its_progress_callback_stores_nothing(ita_home: Path, tmp_path: Path) -> None:
    """The GUI cancels an import by raising from progress; the store must not see half of it."""
    stages: list[str] = []

    def cancel_midway(fraction: float, stage: str) -> None:
        stages.append(stage)
        if fraction >= 0.5:
            raise KeyboardInterrupt

    path = mt5_csv(tmp_path / "a.csv", 30)
    with Store.open() as store:
        with pytest.raises(KeyboardInterrupt):
            import_file(store, path, symbol="EURUSD", progress=cancel_midway)
        assert len(stages) >= 2
        assert store.ingests.list() == [] and store.bars.series() == []
        summary = import_file(store, path, symbol="EURUSD")
        assert (summary.ingest_id, summary.new, summary.timeframe) == (1, 30, Timeframe.M1)


def test_list_shows_series_and_ingests(ita_home: Path, capsys) -> None:
    assert main(["data", "list"]) == 0
    assert "the store is empty" in capsys.readouterr().out
    store_bars("EURUSD", 100)
    store_bars("GBPUSD", 10)

    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "EURUSD       M1          100  2022-01-03T00:00:00Z  2022-01-03T01:39:00Z" in out
    assert "GBPUSD       M1           10" in out
    assert "2 ingests:" in out

    assert main(["data", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["symbol"], s["bars"], s["is_demo"]) for s in listed["series"]] == [("EURUSD", 100, False), ("GBPUSD", 10, False)]
    assert [(i["ingest_id"], i["source"], i["path"], i["findings"]) for i in listed["ingests"]] == [
        (1, "mt5", "made.csv", []),
        (2, "mt5", "made.csv", []),
    ]


def test_export_writes_utc_csv_for_a_half_open_range(ita_home: Path, tmp_path: Path, capsys) -> None:
    bars = store_bars("EURUSD", 100)
    out = tmp_path / "out.csv"
    args = ["data", "export", "--symbol", "EURUSD", "--timeframe", "M1", "--out", str(out)]
    assert main([*args, "--from", "2022-01-03T00:10", "--to", "2022-01-03T00:20:00+00:00"]) == 0
    assert "wrote 10 bars" in capsys.readouterr().out

    frame = pd.read_csv(out)
    assert list(frame.columns) == ["time", "open", "high", "low", "close", "tick_volume", "spread"]
    assert frame["time"].iloc[0] == "2022-01-03 00:10:00+00:00" and frame["time"].iloc[-1] == "2022-01-03 00:19:00+00:00"
    np.testing.assert_array_equal(frame["close"], bars.close[10:20])
    np.testing.assert_array_equal(frame["tick_volume"], bars.tick_volume[10:20])
    # a time with an offset is converted to UTC: 01:00+01:00 is 00:00 UTC
    assert main([*args, "--to", "2022-01-03T01:05:00+01:00"]) == 0
    assert len(pd.read_csv(out)) == 5


def test_an_exported_file_imports_back_as_unchanged_bars(ita_home: Path, tmp_path: Path, capsys) -> None:
    store_bars("EURUSD", 100)
    out = tmp_path / "round.csv"
    assert main(["data", "export", "--symbol", "EURUSD", "--timeframe", "M1", "--out", str(out)]) == 0
    assert main(["data", "import", str(out), "--symbol", "EURUSD", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.split("\n", 1)[1])  # after the export's own line
    assert (summary["new"], summary["replaced"], summary["unchanged"]) == (0, 0, 100)


def test_export_refuses_bad_input_with_exit_1(ita_home: Path, tmp_path: Path, capsys) -> None:
    store_bars("EURUSD", 10)
    out = tmp_path / "x.csv"
    base = ["data", "export", "--out", str(out)]
    assert main([*base, "--symbol", "GBPUSD", "--timeframe", "H1"]) == 1
    assert "no GBPUSD H1 bars, nor finer ones to build them from, stored" in capsys.readouterr().err
    assert main([*base, "--symbol", "EURUSD", "--timeframe", "M1", "--from", "last tuesday"]) == 1
    assert "--from: not an ISO time: 'last tuesday'" in capsys.readouterr().err
    assert main([*base, "--symbol", "EURUSD", "--timeframe", "M1", "--from", "2030-01-01"]) == 1
    assert not out.exists()
    bad_dir = tmp_path / "no" / "such" / "dir" / "x.csv"
    assert main(["data", "export", "--symbol", "EURUSD", "--timeframe", "M1", "--out", str(bad_dir)]) == 1
    assert "cannot write" in capsys.readouterr().err


@pytest.mark.realdata
def test_real_eurusd_file_imports_through_the_cli(ita_home: Path, eurusd_csv: Path, capsys) -> None:
    assert main(["data", "import", str(eurusd_csv), "--symbol", "EURUSD", "--server-tz", "+02:00", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows_read"] == 49_993
    assert summary["new"] + summary["rejected"] <= 49_993 and summary["new"] > 49_000
    assert summary["first_utc_iso"] == "2022-01-04T16:00:00Z"  # 18:00 at GMT+2
    assert main(["data", "import", str(eurusd_csv), "--symbol", "EURUSD", "--server-tz", "+02:00", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["new"], again["replaced"], again["unchanged"]) == (0, 0, summary["new"])


@pytest.mark.realdata
def test_a_clock_west_of_utc_is_typed_as_is(ita_home: Path, eurusd_csv: Path, capsys) -> None:
    """The EURUSD export's own clock, -03:30, written the way a trader types it: argparse alone would
    take "-03:30" for an option and stop with "expected one argument"."""
    assert main(["data", "import", str(eurusd_csv), "--symbol", "EURUSD", "--server-tz", "-03:30", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["first_utc_iso"] == "2022-01-04T21:30:00Z"  # 18:00 at -03:30
