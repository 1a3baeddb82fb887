"""MT5 history downloads against the stand-in terminal with injected faults (issue 20).

Short, empty and None answers with code OK; a broker clock with DST (Europe/Athens) showing the
autumn hour twice and skipping the spring hour; a configured clock that does not match the
broker's; a bridge that raises and a last_error() that answers None.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from ita_desktop.config import MT5Settings
from ita_desktop.data.mt5_source import MT5Source
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.clock import ServerClock, local_seconds
from ita_desktop.domain.errors import SourceError
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.workflows.bar_ingest import download_mt5
from ita_desktop.storage.store import Store
from tests.standins import mt5_module as standin

pytestmark = pytest.mark.standin

M1 = standin.CONSTANTS["TIMEFRAME_M1"]
MONDAY = int(datetime(2024, 1, 8, tzinfo=timezone.utc).timestamp())  # three open-market days follow


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def m1_bars(start: int, n: int, symbol: str = "EURUSD") -> Bars:
    close = 1.1 + (np.arange(n) % 97) * 1e-5
    return Bars.from_columns(symbol, Timeframe.M1, {
        "time": start + 60 * np.arange(n), "open": close, "high": close + 1e-4, "low": close - 1e-4,
        "close": close, "tick_volume": np.full(n, 7), "spread": np.full(n, 2)})


def terminal_with(bars: Bars, labels: np.ndarray, **faults) -> standin.Terminal:
    """A terminal holding ``bars`` under server-time ``labels`` (in this order, as the terminal stores them)."""
    rates = standin.rates_array({**bars.columns(), "time": labels})
    return standin.Terminal(rates={(bars.symbol, M1): rates}, symbols={bars.symbol: standin.symbol(bars.symbol, digits=5)},
                            **faults)


def source(terminal: standin.Terminal, server_tz: str, sleeps: Sleeps | None = None) -> MT5Source:
    settings = MT5Settings(server_tz=server_tz, history_chunk_days=1, reconnect_attempts=2, reconnect_backoff_s=0.1)
    return MT5Source(settings, module=standin.new_module(terminal), sleep=sleeps if sleeps is not None else Sleeps())


def three_days(**faults) -> tuple[Bars, standin.Terminal]:
    bars = m1_bars(MONDAY, 3 * 1440)
    return bars, terminal_with(bars, bars.time, **faults)


def test_a_chunk_answered_short_with_code_ok_is_asked_again_and_completed():
    bars, terminal = three_days(short_answers=[None, ("first", 720)])
    sleeps = Sleeps()
    with source(terminal, "UTC", sleeps) as src:
        got = src.fetch_bars("EURUSD", Timeframe.M1, MONDAY, MONDAY + 3 * 86_400)
    np.testing.assert_array_equal(got.time, bars.time)
    assert src.findings == []
    assert len(terminal.calls_to("copy_rates_range")) == 4  # three chunks and one re-ask
    assert sleeps == [1.0]


def test_chunks_that_stay_short_empty_or_none_are_reported_as_a_finding_of_the_missing_bars(ita_home):
    # chunk 2 answers its first 720 bars twice (the same answer twice ends the re-asks); chunk 3 answers None with code OK twice
    bars, terminal = three_days(short_answers=[None, ("first", 720), ("first", 720),
                                               "none", "none"])
    settings = MT5Settings(server_tz="UTC", history_chunk_days=1)
    with Store.open() as store:
        summary = download_mt5(store, "EURUSD", Timeframe.M1, MONDAY, MONDAY + 3 * 86_400,
                               settings=settings, module=standin.new_module(terminal))
        ingest = store.ingests.get(summary.ingest_id)
    assert summary.new == 1440 + 720
    [finding] = [f for f in summary.findings if f.kind == "mt5_missing_bars"]
    assert "about 2160 bars" in finding.message and "1 gap(s)" in finding.message
    assert "2024-01-09T12:00:00Z to 2024-01-11T00:00:00Z (2160 bars)" in finding.message
    assert not finding.rejected and summary.rejected == 0
    assert [f["kind"] for f in ingest.findings] == ["mt5_missing_bars"]


def test_an_empty_answer_is_asked_again_and_weekend_hours_are_not_counted_missing():
    friday = MONDAY + 4 * 86_400
    bars = m1_bars(friday, 3 * 1440)
    open_ = bars.take(~((bars.time >= friday + 22 * 3600) & (bars.time < friday + 2 * 86_400 + 22 * 3600)))
    terminal = terminal_with(open_, open_.time, short_answers=["empty"])
    with source(terminal, "UTC") as src:
        got = src.fetch_bars("EURUSD", Timeframe.M1, friday, friday + 3 * 86_400)
    np.testing.assert_array_equal(got.time, open_.time)
    assert src.findings == []  # Saturday and Sunday to 22:00 UTC hold no bars, and nobody expects any
    assert len(terminal.calls_to("copy_rates_range")) == 4


ATHENS_FALL_BACK = int(datetime(2024, 10, 27, 1, 0, tzinfo=timezone.utc).timestamp())  # 04:00 EEST -> 03:00 EET


def test_the_repeated_autumn_hour_of_an_athens_clock_keeps_every_bar_at_its_true_instant():
    bars = m1_bars(ATHENS_FALL_BACK - 2 * 3600, 4 * 60)  # 23:00..03:00 UTC: 03:00-03:59 Athens is shown twice
    labels = local_seconds(bars.time, "Europe/Athens")
    assert len(np.unique(labels)) == len(labels) - 60
    terminal = terminal_with(bars, labels)
    with source(terminal, "Europe/Athens") as src:
        got = src.fetch_bars("EURUSD", Timeframe.M1, int(bars.time[0]), int(bars.time[-1]) + 60)
    np.testing.assert_array_equal(got.time, bars.time)
    np.testing.assert_array_equal(got.close, bars.close)
    assert src.findings == []


def test_an_autumn_hour_shown_once_is_placed_by_rule_in_the_summer_hour_and_reported():
    bars = m1_bars(ATHENS_FALL_BACK - 2 * 3600, 2 * 60)  # stops at the fall-back instant: the hour shows once
    labels = local_seconds(bars.time, "Europe/Athens")
    with source(terminal_with(bars, labels), "Europe/Athens") as src:
        got = src.fetch_bars("EURUSD", Timeframe.M1, int(bars.time[0]), int(bars.time[-1]) + 60)
    np.testing.assert_array_equal(got.time, bars.time)
    [finding] = src.findings
    assert finding.kind == "server_time_ambiguous" and not finding.rejected
    assert finding.rows == list(range(61, 121))


def test_bars_labelled_in_the_skipped_spring_hour_are_rejected_and_reported():
    spring = int(datetime(2024, 3, 31, 1, 0, tzinfo=timezone.utc).timestamp())  # 03:00 EET -> 04:00 EEST
    bars = m1_bars(spring - 3600, 120)
    labels = local_seconds(bars.time, "Europe/Athens")
    labels[60:70] = labels[0] + 3600 + 60 * np.arange(10)  # ten bars labelled 03:00..03:09, a time Athens skipped
    with source(terminal_with(bars, labels), "Europe/Athens") as src:
        got = src.fetch_bars("EURUSD", Timeframe.M1, int(bars.time[0]), int(bars.time[-1]) + 60)
    assert len(got) == 110
    [finding] = src.findings
    assert finding.kind == "server_time_skipped" and finding.rejected and finding.rows == list(range(61, 71))


def test_a_broker_clock_going_back_where_the_configured_offset_does_not_is_reported_never_merged(ita_home):
    bars = m1_bars(ATHENS_FALL_BACK - 2 * 3600, 4 * 60)
    labels = local_seconds(bars.time, "Europe/Athens")  # the broker runs Athens time; the trader configured +03:00
    terminal = terminal_with(bars, labels)
    with Store.open() as store:
        summary = download_mt5(store, "EURUSD", Timeframe.M1, int(bars.time[0]) - 3600, int(bars.time[-1]) + 3600,
                               settings=MT5Settings(server_tz="+03:00", history_chunk_days=1),
                               module=standin.new_module(terminal))
    repeated = [f for f in summary.findings if f.kind == "server_time_repeated"]
    assert repeated and repeated[0].count == 60 and repeated[0].rejected
    assert "mt5.server_tz" in repeated[0].message
    assert summary.rows_read == 240 and summary.new == 180 and summary.rejected == 60


def test_a_bridge_raising_value_error_is_a_source_error_naming_the_call():
    bars, terminal = three_days(raise_on_copy=[ValueError("buffer size must be a multiple of element size")])
    with source(terminal, "UTC") as src, pytest.raises(SourceError) as caught:
        src.fetch_bars("EURUSD", Timeframe.M1, MONDAY, MONDAY + 86_400)
    assert "ValueError in copy_rates_range" in str(caught.value) and "multiple of element size" in str(caught.value)


def test_last_error_answering_none_after_a_failed_call_is_retried_as_a_broken_link():
    bars, terminal = three_days(ipc_timeouts=1, last_error_answers=[None])
    sleeps = Sleeps()
    with source(terminal, "UTC", sleeps) as src:
        got = src.fetch_bars("EURUSD", Timeframe.M1, MONDAY, MONDAY + 86_400)
    assert len(got) == 1440 and len(sleeps) == 1


def test_last_error_always_none_ends_in_a_source_error_not_a_type_error():
    bars, terminal = three_days(fail_with=(-1, "x"), last_error_answers=[None] * 10)
    with source(terminal, "UTC") as src, pytest.raises(SourceError) as caught:
        src.fetch_bars("EURUSD", Timeframe.M1, MONDAY, MONDAY + 86_400)
    assert "gave no code" in str(caught.value)


def test_placement_of_a_nonfolding_zone_matches_the_clock_conversion():
    clock = ServerClock.parse("NY+7")
    utc = MONDAY + 60 * np.arange(10_000)
    from ita_desktop.data.mt5_history_checks import place_in_utc

    placed = place_in_utc([clock.to_server(utc)], clock)
    np.testing.assert_array_equal(placed.utc, utc)
    assert placed.keep.all() and placed.findings == []


def test_a_tick_chunk_answered_empty_with_code_ok_is_asked_again():
    bars = m1_bars(MONDAY, 2 * 1440)
    msc = bars.time * 1000 + 500
    ticks = standin.ticks_array({"time_msc": msc, "bid": bars.close, "ask": bars.close + 2e-5})
    terminal = standin.Terminal(ticks={"EURUSD": ticks}, symbols={"EURUSD": standin.symbol("EURUSD", digits=5)},
                                short_answers=["empty"])
    with source(terminal, "UTC") as src:
        got = src.fetch_ticks("EURUSD", MONDAY, MONDAY + 2 * 86_400)
    assert len(got) == 2 * 1440 and src.findings == []
    assert len(terminal.calls_to("copy_ticks_range")) == 3


def test_a_price_no_market_quotes_from_the_terminal_is_rejected_with_its_row(ita_home):
    bars, terminal = three_days()
    rates = terminal.rates[("EURUSD", M1)]
    rates["high"][5] = 1e308
    with Store.open() as store:
        summary = download_mt5(store, "EURUSD", Timeframe.M1, MONDAY, MONDAY + 86_400,
                               settings=MT5Settings(server_tz="UTC", history_chunk_days=1),
                               module=standin.new_module(terminal))
    assert [(f.kind, f.rows) for f in summary.findings] == [("implausible_value", [6])]
    assert summary.new == 1439
