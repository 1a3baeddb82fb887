"""`ita detect` through cli.main.main against a real store in a temp ITA_HOME, with the real XAUUSD file."""

from __future__ import annotations

import json

import pytest

from ita_desktop.cli.detect_cmd import parse_params
from ita_desktop.core.detection_service import MIN_WARMUP_BARS
from ita_desktop.cli.main import main
from ita_desktop.detectors.dispatcher import detect
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.storage.store import Store

pytestmark = pytest.mark.realdata


@pytest.fixture
def stored_xauusd(ita_home, xauusd_csv, capsys):
    assert main(["data", "import", str(xauusd_csv), "--symbol", "XAUUSD"]) == 0
    capsys.readouterr()
    with Store.open() as store:
        return store.bars.load("XAUUSD", Timeframe.M1)


def test_detect_json_matches_the_library(stored_xauusd, capsys):
    assert main(["detect", "--symbol", "XAUUSD", "--timeframe", "M1", "--kinds", "fvg,ob", "--json",
                 "--param", "fvg.min_atr=0.5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["tables"]) == {"fvg", "order_blocks"}
    ref = detect(stored_xauusd, ["fvg", "order_blocks"], {"fvg": {"min_atr": 0.5}})
    for name in ("fvg", "order_blocks"):
        got = out["tables"][name]
        rows = ref.tables[name]
        assert len(got) == len(rows) > 0
        assert [g["bar"] for g in got] == rows["bar"].tolist()
        assert [g["top"] for g in got] == rows["top"].tolist()
        assert got[0]["time"].endswith("Z") and got[0]["kind"] in ("FVG", "ORDER_BLOCK")
    assert out["params"]["fvg"]["min_atr"] == 0.5


def test_detect_window_with_warmup_table(stored_xauusd, capsys):
    assert main(["detect", "--symbol", "XAUUSD", "--timeframe", "M1", "--from", "2026-06-30",
                 "--to", "2026-07-01", "--kinds", "bos,sweeps", "--limit", "3"]) == 0
    text = capsys.readouterr().out
    # by default the levels' look-back (15 days): here every stored bar before the window
    with Store.open() as store:
        before = store.bars.load("XAUUSD", Timeframe.M1, None, 1_782_777_600)  # 2026-06-30T00:00Z
    assert len(before) > MIN_WARMUP_BARS and f"(+{len(before):,} warm-up bars before)" in text
    assert "\nstructure: " in text and "\nsweeps: " in text
    assert "CHOCH" in text or "BOS" in text
    # only objects confirmed inside the window are listed, with times inside it
    assert main(["detect", "--symbol", "XAUUSD", "--timeframe", "M1", "--from", "2026-06-30",
                 "--to", "2026-07-01", "--kinds", "structure", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    times = [r["confirmed_time"] for r in out["tables"]["structure"]]
    assert times and all("2026-06-30T" in t for t in times)


def test_detect_warmup_can_be_given_in_bars(stored_xauusd, capsys):
    assert main(["detect", "--symbol", "XAUUSD", "--timeframe", "M1", "--from", "2026-06-30", "--to", "2026-07-01",
                 "--kinds", "fvg", "--warmup", "300"]) == 0
    assert "(+300 warm-up bars before)" in capsys.readouterr().out
    assert main(["detect", "--symbol", "XAUUSD", "--timeframe", "M1", "--from", "2026-06-30", "--to", "2026-07-01",
                 "--kinds", "fvg", "--warmup", "0"]) == 0
    assert "warm-up" not in capsys.readouterr().out


def test_detect_bad_input_is_one_clear_error(stored_xauusd, capsys):
    assert main(["detect", "--symbol", "XAUUSD", "--timeframe", "M1", "--kinds", "fvgz"]) == 1
    assert "unknown detector kind 'fvgz'" in capsys.readouterr().err
    assert main(["detect", "--symbol", "XAUUSD", "--timeframe", "M1", "--param", "swings.len=3"]) == 1
    assert "unknown swings parameter" in capsys.readouterr().err
    assert main(["detect", "--symbol", "EURUSD", "--timeframe", "M1"]) == 1
    assert "no EURUSD M1 bars (or finer ones to build them from) stored" in capsys.readouterr().err


def test_parse_params():
    assert parse_params(["swings.length=3", "structure.break_on=wick", "fvg.middle_confirms=true",
                         "atr_length=21", "sweeps.sources=swings,equal"]) == {
        "swings": {"length": 3}, "structure": {"break_on": "wick"}, "fvg": {"middle_confirms": True},
        "atr_length": 21, "sweeps": {"sources": ["swings", "equal"]}}


def test_detect_on_m15_builds_the_bars_from_stored_m1(stored_xauusd, capsys):
    from ita_desktop.domain.resample import resample

    assert main(["detect", "--symbol", "XAUUSD", "--timeframe", "M15", "--kinds", "fvg", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    m15 = resample(stored_xauusd, Timeframe.M15)
    ref = detect(m15, ["fvg"])
    assert out["timeframe"] == "M15" and out["bars"] == len(m15)
    assert [g["bar"] for g in out["tables"]["fvg"]] == ref.tables["fvg"]["bar"].tolist()
