"""MT5 downloads and demo data into the store through the engine functions and the CLI.

The MT5 side is the stand-in module in tests/standins (MT5's functions and exact dtypes),
since no terminal runs here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ita_desktop.cli.main import main
from ita_desktop.config import MT5Settings, save_user_settings
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.workflows.bar_ingest import download_mt5, store_demo
from ita_desktop.storage.store import Store
from tests.standins import mt5_module as standin
from tests.support.real_bars import xauusd_bars


def _terminal(bars, **failures) -> standin.Terminal:
    rates = standin.rates_array({
        "time": bars.time, "open": bars.open, "high": bars.high, "low": bars.low, "close": bars.close,
        "tick_volume": bars.tick_volume, "spread": bars.spread,
    })
    return standin.Terminal(rates={("XAUUSD", 1): rates}, symbols={"XAUUSD": standin.symbol("XAUUSD", digits=2)},
                            **failures)


@pytest.mark.standin
@pytest.mark.realdata
def test_mt5_download_against_standin_stores_the_real_bars_as_one_ingest(ita_home, xauusd_csv):
    bars = xauusd_bars(xauusd_csv)
    module = standin.new_module(_terminal(bars))
    settings = MT5Settings(server_tz="UTC", history_chunk_days=1)
    done = []
    with Store.open() as store:
        summary = download_mt5(store, "XAUUSD", Timeframe.M1, int(bars.time[0]), int(bars.time[-1]) + 60,
                               settings=settings, module=module, progress=lambda d, t: done.append((d, t)))
        loaded = store.bars.load("XAUUSD", Timeframe.M1)
        ingest = store.ingests.get(summary.ingest_id)
    assert summary.new == len(bars) == 4676 and summary.rejected == 0
    np.testing.assert_array_equal(loaded.time, bars.time)
    np.testing.assert_array_equal(loaded.close, bars.close)
    assert ingest.source == "mt5" and done[-1][0] == done[-1][1] > 1


@pytest.mark.standin
def test_mt5_bars_with_impossible_prices_are_rejected_and_reported_by_download_row(ita_home):
    t = np.arange(5) * 60 + 1_700_000_000 // 60 * 60
    from ita_desktop.domain.bars import Bars

    bars = Bars.from_columns("XAUUSD", Timeframe.M1, {
        "time": t, "open": np.full(5, 2000.0), "high": np.array([2001, 2001, 1999, 2001, 2001.0]),
        "low": np.full(5, 1999.5), "close": np.full(5, 2000.5)})
    module = standin.new_module(_terminal(bars))
    with Store.open() as store:
        summary = download_mt5(store, "XAUUSD", Timeframe.M1, int(t[0]), int(t[-1]) + 60,
                               settings=MT5Settings(server_tz="UTC"), module=module)
    assert summary.rows_stored == 4 and summary.rejected == 1
    (finding,) = summary.findings
    assert finding.kind == "high_below_low" or finding.kind == "open_outside_range"
    assert finding.rows == [3]


@pytest.mark.standin
def test_dead_terminal_stores_nothing_and_cli_exits_1_naming_the_code(ita_home, capsys, monkeypatch):
    dead = standin.new_module(standin.Terminal(dead=True))
    monkeypatch.setattr("ita_desktop.data.mt5_source.load_mt5_module", lambda: dead)
    save_user_settings({"mt5": {"reconnect_attempts": 1, "reconnect_backoff_s": 0.0}})
    code = main(["data", "mt5", "--symbol", "XAUUSD", "--timeframe", "M1", "--from", "2026-06-29", "--to", "2026-06-30"])
    assert code == 1
    assert "-10003" in capsys.readouterr().err
    with Store.open() as store:
        assert store.bars.series() == [] and store.ingests.list() == []


@pytest.mark.standin
def test_empty_range_from_mt5_is_reported_not_stored(ita_home):
    module = standin.new_module(standin.Terminal(symbols={"XAUUSD": standin.symbol("XAUUSD", digits=2)}))
    with Store.open() as store, pytest.raises(InputError, match="no XAUUSD M1 bars"):
        download_mt5(store, "XAUUSD", Timeframe.M1, 1_700_000_000, 1_700_086_400,
                     settings=MT5Settings(server_tz="UTC"), module=module)


def test_demo_data_is_stored_under_the_demo_name_and_flagged(ita_home, capsys):
    assert main(["data", "demo", "--days", "5", "--json"]) == 0
    summaries = json.loads(capsys.readouterr().out)
    assert [s["timeframe"] for s in summaries] == ["M1", "M15", "H1"]
    with Store.open() as store:
        series = store.bars.series()
        assert {s.symbol for s in series} == {"EURUSD.demo"} and all(s.is_demo for s in series)
        assert store.bars.load("EURUSD.demo", Timeframe.M1).demo


def test_demo_is_deterministic_for_a_fixed_end(ita_home):
    with Store.open() as store:
        first = store_demo(store, days=3, end_utc=1_700_000_000, timeframes=(Timeframe.M5,))
        again = store_demo(store, days=3, end_utc=1_700_000_000, timeframes=(Timeframe.M5,))
    assert first[0].new > 0 and again[0].new == 0 and again[0].unchanged == first[0].new
