"""MT5Source (the real client code) against the stand-in MetaTrader5 module in tests/standins."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest

from ita_desktop import secrets
from ita_desktop.config import MT5Settings
from ita_desktop.data import mt5_source
from ita_desktop.data.mt5_source import DownloadCancelled, MT5Source, ticks_to_m1
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.clock import ServerClock
from ita_desktop.domain.errors import InputError, SourceError
from ita_desktop.domain.timeframes import Timeframe
from tests.standins import mt5_module as standin
from tests.support.real_bars import xauusd_bars

pytestmark = pytest.mark.standin

SERVER_TZ = "NY+7"
DAY = 86_400
M1 = standin.CONSTANTS["TIMEFRAME_M1"]


def settings(**overrides) -> MT5Settings:
    values = dict(server_tz=SERVER_TZ, reconnect_attempts=3, reconnect_backoff_s=0.5, history_chunk_days=1)
    values.update(overrides)
    return MT5Settings(**values)


class Sleeps(list):
    """Injected sleep: remembers the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def serve(bars: Bars, terminal: standin.Terminal | None = None, digits: int = 2) -> standin.Terminal:
    """Put UTC bars into a stand-in terminal the way MT5 holds them: labelled with server time."""
    terminal = terminal or standin.Terminal()
    server_time = ServerClock.parse(SERVER_TZ).to_server(bars.time)
    terminal.rates[(bars.symbol, M1)] = standin.rates_array({**bars.columns(), "time": server_time})
    terminal.symbols[bars.symbol] = standin.symbol(bars.symbol, digits=digits)
    return terminal


def source_for(terminal: standin.Terminal, sleeps: Sleeps | None = None, **overrides) -> MT5Source:
    return MT5Source(settings(**overrides), module=standin.new_module(terminal), sleep=Sleeps() if sleeps is None else sleeps)


def assert_same_bars(got: Bars, want: Bars) -> None:
    for name in ("time", "open", "high", "low", "close", "tick_volume", "spread"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


def small_bars(n: int = 5, start: int = 1_700_000_000 // 60 * 60) -> Bars:
    close = 1.1 + np.arange(n) * 1e-4
    return Bars.from_columns("EURUSD", Timeframe.M1, {
        "time": start + 60 * np.arange(n), "open": close - 5e-5, "high": close + 1e-4,
        "low": close - 1e-4, "close": close, "tick_volume": np.full(n, 10), "spread": np.full(n, 3),
    })


@pytest.fixture(scope="module")
def xauusd(xauusd_csv) -> Bars:
    return xauusd_bars(xauusd_csv)


def test_standin_dtypes_and_codes_match_the_package_contract_used_by_the_source():
    assert mt5_source.RATES_DTYPE == standin.RATES_DTYPE
    assert mt5_source.TICKS_DTYPE == standin.TICKS_DTYPE
    assert mt5_source.RATES_DTYPE.names == ("time", "open", "high", "low", "close", "tick_volume", "spread", "real_volume")
    assert [mt5_source.RATES_DTYPE[n].str for n in mt5_source.RATES_DTYPE.names] == ["<i8", "<f8", "<f8", "<f8", "<f8", "<u8", "<i4", "<u8"]
    assert [mt5_source.TICKS_DTYPE[n].str for n in mt5_source.TICKS_DTYPE.names] == ["<i8", "<f8", "<f8", "<f8", "<u8", "<i8", "<u4", "<f8"]
    assert mt5_source.IPC_FAILURES == {v for k, v in standin.CONSTANTS.items() if k.startswith("RES_E_INTERNAL_FAIL")}
    assert mt5_source.RES_E_INTERNAL_FAIL_TIMEOUT == standin.CONSTANTS["RES_E_INTERNAL_FAIL_TIMEOUT"] == -10005
    for tf in Timeframe:
        assert tf.mt5_constant == standin.CONSTANTS[f"TIMEFRAME_{tf.value}"]


@pytest.mark.realdata
def test_chunked_download_equals_the_real_xauusd_bars_in_utc_with_progress(xauusd):
    terminal = serve(xauusd)
    progress: list[tuple[int, int]] = []
    start, end = xauusd.first_time, xauusd.last_time + 60
    with source_for(terminal) as source:
        got = source.fetch_bars("XAUUSD", Timeframe.M1, start, end, progress=lambda d, t: progress.append((d, t)))

    chunks = -(-(end - start) // DAY)
    assert chunks >= 4
    assert len(terminal.calls_to("copy_rates_range")) == chunks
    assert progress == [(i, chunks) for i in range(1, chunks + 1)]
    assert got.symbol == "XAUUSD" and not got.demo
    assert_same_bars(got, xauusd)  # times back in real UTC, no duplicates at chunk borders
    # the request bounds went out in server time: NY+7 is UTC+3 in summer
    first_call = terminal.calls_to("copy_rates_range")[0]
    assert first_call[2] == start + 3 * 3600


@pytest.mark.realdata
def test_download_of_a_middle_range_keeps_start_inclusive_and_end_exclusive(xauusd):
    start, end = int(xauusd.time[1000]), int(xauusd.time[2000])
    with source_for(serve(xauusd), history_chunk_days=30) as source:
        got = source.fetch_bars("XAUUSD", Timeframe.M1, start, end)
    assert_same_bars(got, xauusd.between(start, end))
    assert got.time[0] == start and got.time[-1] < end


@pytest.mark.realdata
def test_cancel_stops_before_the_next_chunk_and_hands_back_the_finished_chunks(xauusd):
    terminal = serve(xauusd)
    done: list[int] = []
    start, end = xauusd.first_time, xauusd.last_time + 60
    with source_for(terminal) as source, pytest.raises(DownloadCancelled) as caught:
        source.fetch_bars("XAUUSD", Timeframe.M1, start, end,
                          progress=lambda d, t: done.append(d), cancel=lambda: len(done) >= 2)
    assert len(terminal.calls_to("copy_rates_range")) == 2
    partial = caught.value.partial
    server_cut = ServerClock.parse(SERVER_TZ).to_server(np.array([start]))[0] + 2 * DAY
    assert_same_bars(partial, xauusd.between(start, int(ServerClock.parse(SERVER_TZ).to_utc(np.array([server_cut]))[0])))
    assert "2 of" in str(caught.value)


@pytest.mark.realdata
def test_transient_ipc_timeouts_are_retried_with_doubling_backoff(xauusd):
    terminal = serve(xauusd)
    terminal.ipc_timeouts = 2
    sleeps = Sleeps()
    with source_for(terminal, sleeps) as source:
        got = source.fetch_bars("XAUUSD", Timeframe.M1, xauusd.first_time, xauusd.last_time + 60)
    assert_same_bars(got, xauusd)
    assert sleeps == [0.5, 1.0]
    assert len(terminal.calls_to("initialize")) == 3  # first connect + one reconnect per timeout


def test_connection_lost_mid_download_reconnects_and_completes():
    bars = small_bars(3 * 1440, start=1_700_006_400)
    terminal = serve(bars, digits=5)
    terminal.lose_connection_after = 2
    sleeps = Sleeps()
    with source_for(terminal, sleeps) as source:
        got = source.fetch_bars("EURUSD", Timeframe.M1, bars.first_time, bars.last_time + 60)
    assert_same_bars(got, bars)
    assert sleeps == [0.5]
    assert ("shutdown", ()) in terminal.calls


def test_terminal_starting_up_is_waited_for():
    terminal = serve(small_bars(), digits=5)
    terminal.init_failures = 2
    sleeps = Sleeps()
    source = source_for(terminal, sleeps)
    source.connect()
    assert terminal.initialized and sleeps == [0.5, 1.0]


def test_permanently_dead_terminal_is_a_source_error_naming_the_code_after_the_configured_attempts():
    terminal = serve(small_bars(), digits=5)
    terminal.dead = True
    sleeps = Sleeps()
    source = source_for(terminal, sleeps, reconnect_attempts=4, reconnect_backoff_s=2.0)
    with pytest.raises(SourceError) as caught:
        source.fetch_bars("EURUSD", Timeframe.M1, 1_700_000_000, 1_700_086_400)
    assert caught.value.code == -10003
    assert "-10003" in str(caught.value) and "IPC initialize failed" in str(caught.value)
    assert len(terminal.calls_to("initialize")) == 5
    assert sleeps == [2.0, 4.0, 8.0, 16.0]
    assert terminal.calls_to("copy_rates_range") == []


def test_terminal_dying_mid_download_gives_up_with_the_mt5_code():
    bars = small_bars(3 * 1440, start=1_700_006_400)
    terminal = serve(bars, digits=5)
    terminal.lose_connection_after, terminal.dead_after_loss = 1, True
    with source_for(terminal) as source, pytest.raises(SourceError) as caught:
        source.fetch_bars("EURUSD", Timeframe.M1, bars.first_time, bars.last_time + 60)
    assert caught.value.code == -10003  # the last thing that failed was re-initializing
    assert len(terminal.calls_to("copy_rates_range")) == 2


def test_ipc_failure_raised_as_an_exception_by_a_remote_module_is_retried():
    """mt5linux (rpyc under Wine) raises when the link breaks instead of returning None."""
    bars = small_bars()
    terminal = serve(bars, digits=5)
    module = standin.new_module(terminal)
    failures = [EOFError("connection closed by peer")]

    def flaky_copy(*args):
        if failures:
            raise failures.pop()
        return terminal.copy_rates_range(*args)

    module.copy_rates_range = flaky_copy
    sleeps = Sleeps()
    with MT5Source(settings(), module=module, sleep=sleeps) as source:
        got = source.fetch_bars("EURUSD", Timeframe.M1, bars.first_time, bars.last_time + 60)
    assert_same_bars(got, bars)
    assert sleeps == [0.5]


def test_rates_with_another_field_order_are_read_by_field_name():
    """A bridge may rebuild the array with its own field order; values must not swap columns."""
    bars = small_bars()
    terminal = serve(bars, digits=5)
    module = standin.new_module(terminal)
    reordered = np.dtype([(n, standin.RATES_DTYPE[n]) for n in reversed(standin.RATES_DTYPE.names)])

    def bridged_copy(*args):
        rates = terminal.copy_rates_range(*args)
        out = np.empty(len(rates), reordered)
        for name in reordered.names:
            out[name] = rates[name]
        return out

    module.copy_rates_range = bridged_copy
    with MT5Source(settings(), module=module, sleep=Sleeps()) as source:
        assert_same_bars(source.fetch_bars("EURUSD", Timeframe.M1, bars.first_time, bars.last_time + 60), bars)


def test_empty_range_is_not_an_error():
    bars = small_bars()
    terminal = serve(bars, digits=5)
    with source_for(terminal) as source:
        later = source.fetch_bars("EURUSD", Timeframe.M1, bars.last_time + DAY, bars.last_time + 3 * DAY)
        nothing = source.fetch_bars("EURUSD", Timeframe.M1, bars.first_time, bars.first_time)
    assert len(later) == 0 and later.symbol == "EURUSD" and later.timeframe is Timeframe.M1
    assert len(nothing) == 0
    # two open-market days answered empty: each asked twice (the same answer twice ends it), reported as missing;
    # the zero-length range asked nothing
    assert len(terminal.calls_to("copy_rates_range")) == 4
    assert [f.kind for f in source.findings] == []  # findings belong to the last fetch (the empty range)


def test_reversed_range_is_bad_input_found_before_connecting():
    terminal = serve(small_bars(), digits=5)
    with pytest.raises(InputError, match="before it starts"):
        source_for(terminal).fetch_bars("EURUSD", Timeframe.M1, 2_000, 1_000)
    assert terminal.calls == []


def test_none_with_a_non_ipc_error_code_fails_at_once():
    terminal = serve(small_bars(), digits=5)
    terminal.fail_with = standin.INVALID_PARAMS
    sleeps = Sleeps()
    with source_for(terminal, sleeps) as source, pytest.raises(SourceError) as caught:
        source.fetch_bars("EURUSD", Timeframe.M1, 1_700_000_000, 1_700_086_400)
    assert caught.value.code == -2 and "Invalid params" in str(caught.value)
    assert sleeps == []


def test_unknown_symbol_is_a_clear_error_without_retries():
    sleeps = Sleeps()
    with source_for(serve(small_bars(), digits=5), sleeps) as source, pytest.raises(SourceError) as caught:
        source.fetch_bars("NOPE", Timeframe.M1, 1_700_000_000, 1_700_086_400)
    assert caught.value.code == -4 and "NOPE" in str(caught.value)
    assert sleeps == []


def test_hidden_symbol_is_selected_into_market_watch_first():
    bars = small_bars()
    terminal = serve(bars, digits=5)
    terminal.symbols["EURUSD"] = standin.symbol("EURUSD", digits=5, visible=False)
    with source_for(terminal) as source:
        got = source.fetch_bars("EURUSD", Timeframe.M1, bars.first_time, bars.last_time + 60)
    assert terminal.calls_to("symbol_select") == [("EURUSD", True)]
    assert len(got) == len(bars)


def test_login_uses_the_keyring_password_and_never_logs_it(ita_home, caplog):
    secrets.set_secret("mt5_password", "s3cret-pass")
    terminal = serve(small_bars(), digits=5)
    terminal.login, terminal.password = 1234, "s3cret-pass"
    terminal.ipc_timeouts = 1  # make the source log a reconnect warning
    caplog.set_level(logging.DEBUG)
    with source_for(terminal, login=1234, server="Broker-Demo", terminal_path="C:\\MT5\\terminal64.exe") as source:
        source.fetch_bars("EURUSD", Timeframe.M1, 1_700_000_000, 1_700_086_400)
    first = terminal.init_kwargs[0]
    assert (first["path"], first["login"], first["password"], first["server"], first["timeout"]) == (
        "C:\\MT5\\terminal64.exe", 1234, "s3cret-pass", "Broker-Demo", 60000)
    assert "reconnect" in caplog.text and "s3cret-pass" not in caplog.text


def test_wrong_password_fails_at_once_with_the_auth_code(ita_home):
    secrets.set_secret("mt5_password", "wrong-pass")
    terminal = serve(small_bars(), digits=5)
    terminal.login, terminal.password = 1234, "right-pass"
    sleeps = Sleeps()
    with pytest.raises(SourceError) as caught:
        source_for(terminal, sleeps, login=1234).connect()
    assert caught.value.code == -6 and "mt5_password" in str(caught.value)
    assert sleeps == [] and len(terminal.calls_to("initialize")) == 1


def test_login_without_a_stored_password_says_how_to_store_it(ita_home):
    with pytest.raises(SourceError, match="ita secret set mt5_password"):
        source_for(serve(small_bars(), digits=5), login=1234).connect()


def test_missing_metatrader5_package_is_a_clear_source_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "MetaTrader5", None)  # makes the import fail, as on Linux
    with pytest.raises(SourceError, match="MetaTrader5 Python package is not installed"):
        MT5Source(settings()).connect()


def test_latest_bars_come_from_copy_rates_from_pos_in_utc():
    bars = small_bars(50)
    with source_for(serve(bars, digits=5)) as source:
        got = source.fetch_latest("EURUSD", Timeframe.M1, 10)
    assert_same_bars(got, bars.slice(40, 50))


def ticks_for(bars: Bars, point: float) -> np.ndarray:
    """Four ticks per bar (open, high, low, close) with ask = bid + spread, at server times."""
    n = len(bars)
    bid = np.stack([bars.open, bars.high, bars.low, bars.close], axis=1).ravel()
    server = ServerClock.parse(SERVER_TZ).to_server(bars.time)
    msc = (server[:, None] * 1000 + np.array([0, 15_000, 30_000, 59_999])).ravel()
    ask = bid + np.repeat(bars.spread, 4) * point
    return standin.ticks_array({"bid": bid, "ask": ask, "time_msc": msc, "flags": np.full(4 * n, 6)})


@pytest.mark.realdata
def test_ticks_of_real_xauusd_bars_aggregate_back_to_those_bars(xauusd):
    part = xauusd.slice(0, 3000)
    terminal = serve(part)
    terminal.ticks["XAUUSD"] = ticks_for(part, 0.01)
    progress: list[tuple[int, int]] = []
    with source_for(terminal) as source:
        got = source.fetch_tick_bars("XAUUSD", part.first_time, part.last_time + 60,
                                     progress=lambda d, t: progress.append((d, t)))
    assert_same_bars(got, Bars.from_columns("XAUUSD", Timeframe.M1, {
        **part.columns(), "tick_volume": np.full(len(part), 4)}))
    assert progress[-1][0] == progress[-1][1] == len(terminal.calls_to("copy_ticks_range")) >= 2


def test_tick_aggregation_uses_bid_counts_ticks_takes_the_smallest_spread_and_skips_bidless_ticks():
    base = 1_700_000_040 * 1000
    ticks = standin.ticks_array({
        "time_msc": base + np.array([0, 10_000, 20_000, 30_000, 60_000, 61_000]),
        "bid": np.array([1.10000, 1.10020, 0.0, 1.09990, 1.10010, 1.10005]),
        "ask": np.array([1.10003, 1.10022, 1.10030, 1.09995, 1.10011, 1.10009]),
    })
    bars = ticks_to_m1(ticks, 1e-5, "EURUSD")
    np.testing.assert_array_equal(bars.time, [1_700_000_040, 1_700_000_100])
    np.testing.assert_allclose(bars.open, [1.10000, 1.10010])
    np.testing.assert_allclose(bars.high, [1.10020, 1.10010])
    np.testing.assert_allclose(bars.low, [1.09990, 1.10005])
    np.testing.assert_allclose(bars.close, [1.09990, 1.10005])
    np.testing.assert_array_equal(bars.tick_volume, [3, 2])
    np.testing.assert_array_equal(bars.spread, [2, 1])


def test_no_ticks_give_empty_bars():
    empty = ticks_to_m1(np.empty(0, mt5_source.TICKS_DTYPE), 1e-5, "EURUSD")
    assert len(empty) == 0 and empty.timeframe is Timeframe.M1
