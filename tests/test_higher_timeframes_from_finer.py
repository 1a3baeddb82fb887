"""Every command builds a higher timeframe from the finest series stored, not only from M1 (issue 18:
with only M5 stored, `ita scan fvg_reversal` stopped with "no stored EURUSD bars (M15 or M1)", and
`ita data export --timeframe M5` failed on an M1 store)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ita_desktop.cli.main import main
from ita_desktop.domain.resample import resample
from ita_desktop.domain.timeframes import Timeframe
from tests.support.real_bars import eurusd_bars, store_bars

pytestmark = pytest.mark.realdata


@pytest.fixture
def m5_only_store(ita_home: Path, eurusd_csv: Path) -> Path:
    store_bars(resample(eurusd_bars(eurusd_csv), Timeframe.M5))
    return ita_home


def test_an_m15_rule_scans_and_backtests_on_a_store_holding_only_m5(m5_only_store, eurusd_csv, capsys):
    assert main(["scan", "fvg_reversal", "--symbol", "EURUSD", "--json"]) == 0
    scanned = json.loads(capsys.readouterr().out)
    assert scanned["timeframe"] == "M15" and scanned["source_timeframe"] == "M5" and scanned["bars"] > 1000
    assert main(["backtest", "fvg_reversal", "--symbol", "EURUSD", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["stats"]["funnel"]["orders"] == scanned["orders"]


def test_the_same_occurrences_from_m5_as_from_m1(ita_home, eurusd_csv, tmp_path, monkeypatch, capsys):
    """M15 built from M5 is M15 built from M1, so the rule finds the same setups."""
    m1 = eurusd_bars(eurusd_csv)
    store_bars(m1)
    assert main(["scan", "fvg_reversal", "--symbol", "EURUSD", "--json"]) == 0
    from_m1 = json.loads(capsys.readouterr().out)
    other = tmp_path / "m5_home"
    other.mkdir()
    monkeypatch.setenv("ITA_HOME", str(other))
    store_bars(resample(m1, Timeframe.M5))
    assert main(["scan", "fvg_reversal", "--symbol", "EURUSD", "--json"]) == 0
    from_m5 = json.loads(capsys.readouterr().out)
    assert from_m1["source_timeframe"] == "M1" and from_m5["source_timeframe"] == "M5"
    assert len(from_m1["occurrences"]) > 0
    assert [o["signal_utc"] for o in from_m5["occurrences"]] == [o["signal_utc"] for o in from_m1["occurrences"]]


@pytest.mark.parametrize(("stored", "asked"), [("M1", "M5"), ("M5", "M15"), ("M1", "H4")])
def test_data_export_writes_what_the_app_can_build(ita_home, eurusd_csv, tmp_path, capsys, stored, asked):
    m1 = eurusd_bars(eurusd_csv)
    store_bars(m1 if stored == "M1" else resample(m1, Timeframe(stored)))
    out = tmp_path / "x.csv"
    assert main(["data", "export", "--symbol", "EURUSD", "--timeframe", asked, "--out", str(out)]) == 0
    assert "built from finer stored bars" in capsys.readouterr().out
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    expected = resample(m1, Timeframe(asked))
    assert len(rows) == len(expected)
    assert float(rows[10]["high"]) == pytest.approx(expected.high[10])
