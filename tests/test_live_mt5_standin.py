"""MT5 live feed against the stand-in's live mode, streamed from the real EURUSD M1 (127.0.0.1-free:
the stand-in is an in-process module): no bar lost or processed twice after each fault, a gap
backfilled at start is stored as missed, the server clock is checked, and a live run's signals
equal a full-pass scan's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ita_desktop import secrets
from ita_desktop.config import MT5Settings, load_settings
from ita_desktop.core.app_core import Core
from ita_desktop.paths import app_paths
from tests.standins import mt5_module as standin
from tests.support.real_bars import EURUSD_SERVER_TZ, eurusd_bars, eurusd_naive_seconds, store_bars

pytestmark = [pytest.mark.realdata, pytest.mark.standin]
SERVER_TO_UTC = 3 * 3600 + 1800  # the file's broker clock is UTC-03:30
HISTORY = 20_000  # bars stored before the session starts


@pytest.fixture(scope="module")
def market(eurusd_csv: Path):
    naive, frame = eurusd_naive_seconds(eurusd_csv)
    cols = {c: frame[c].astype(float).to_numpy() for c in ("open", "high", "low", "close")}
    rates = standin.rates_array({"time": naive, **cols, "tick_volume": frame["volume"].astype(np.int64).to_numpy(),
                                 "spread": np.full(len(naive), 8)})
    return rates, standin.ticks_from_rates(rates, 1e-5), eurusd_bars(eurusd_csv)


def _terminal(market, **faults) -> standin.Terminal:
    rates, ticks, _ = market
    t = standin.Terminal(rates={("EURUSD", 1): rates}, ticks={"EURUSD": ticks},
                         symbols={"EURUSD": standin.symbol("EURUSD", digits=5)})
    for k, v in faults.items():
        setattr(t, k, v)
    return t


def _core(**mt5) -> Core:
    settings = load_settings()
    values = dict(server_tz=EURUSD_SERVER_TZ, reconnect_attempts=2, reconnect_backoff_s=0.0, history_chunk_days=2)
    values.update(mt5)
    return Core(settings.model_copy(update={"mt5": MT5Settings(**values)}), app_paths().ensure())


class Drive:
    """Moves the terminal's clock poll by poll (uneven steps: seconds to a quarter of an hour)."""

    def __init__(self, terminal: standin.Terminal, feed, start_server: int) -> None:
        self.terminal, self.feed, self.now = terminal, feed, start_server
        self.bars: list[int] = []
        self.steps: list = []
        self.rng = np.random.default_rng(7)

    def utc_now(self) -> float:
        return float(self.now + SERVER_TO_UTC)

    def polls(self, n: int, before=None) -> None:
        for i in range(n):
            if before is not None:
                before(i, self)
            self.terminal.live_now = self.now
            step = self.feed.poll()
            self.steps.append(step)
            self.bars += [b.time for b in step.bars]
            self.now += int(self.rng.choice([7, 31, 95, 240, 900]))


def _run(market, n_polls: int = 120, before=None, rules=(), terminal=None, **mt5):
    rates, _, bars = market
    store_bars(bars.slice(0, HISTORY))
    terminal = terminal or _terminal(market)
    core = _core(**mt5)
    drive = Drive(terminal, None, int(rates["time"][HISTORY + 30]) + 20)  # 30 bars after the store ends
    feed = core.live.mt5("EURUSD", list(rules), module=standin.new_module(terminal), publish=False,
                         source_sleep=lambda s: None, clock=drive.utc_now, sleep=lambda s: None)
    drive.feed = feed
    drive.polls(n_polls, before)
    return core, feed, drive


def _expected(market, drive) -> np.ndarray:
    """Every bar closed by the drive's last poll after the stored history (the forming one excluded)."""
    rates, _, bars = market
    last_poll = drive.terminal.live_now
    forming = int(np.searchsorted(rates["time"], last_poll, side="right")) - 1
    return bars.time[HISTORY:forming]


def _check_no_lost_or_twice(core: Core, market, drive) -> None:
    got = np.array(drive.bars)
    expected = _expected(market, drive)
    assert len(got) == len(np.unique(got)), "a bar was processed twice"
    np.testing.assert_array_equal(got, expected)  # none lost, none extra, in order
    stored = core.store.bars.load("EURUSD", "M1")
    _, _, bars = market
    n = HISTORY + len(expected)
    np.testing.assert_array_equal(stored.time, bars.time[:n])
    np.testing.assert_array_equal(stored.close, bars.close[:n])
    assert {i.source for i in core.store.ingests.list("EURUSD")} >= {"live"}
    # one live ingest row per session and UTC day (not per closed bar), and every closed bar names one
    live = [i for i in core.store.ingests.list("EURUSD") if i.source == "live"]
    days = {int(t) // 86_400 for t in expected}
    assert 1 <= len(live) <= len(days) * 4 < len(expected), (len(live), len(days), len(expected))  # reconnects: new sessions
    assert sum(i.bars_new for i in live) == len(expected)
    assert set(stored.ingest_id[HISTORY:n].tolist()) == {i.ingest_id for i in live}
    for i in live:
        mine = stored.time[HISTORY:n][stored.ingest_id[HISTORY:n] == i.ingest_id]
        assert (i.first_utc, i.last_utc, i.rows_stored) == (int(mine[0]), int(mine[-1]), len(mine))


def test_standin_live_feed_loses_and_repeats_no_bar_and_backfills_first(ita_home: Path, market) -> None:
    core, feed, drive = _run(market)
    with core:
        _check_no_lost_or_twice(core, market, drive)
        assert drive.steps[0].bars[0].time == market[2].time[HISTORY]  # the gap since the store came first
        assert feed.status.connected and feed.status.gap_fills >= 1
        assert feed.status.clock_warning is None and abs(feed.status.server_offset_s) < 60
        assert feed.session.forming is not None
        before = core.store.bars.load("EURUSD", "M1")
        assert core.store.bars.tail_size("EURUSD", "M1") > 0  # closed bars appended as rows, no chunk rewrite
        feed.session.stop()
        feed.run()  # the feed's thread ending: the live tail is folded into the month chunks
        assert core.store.bars.tail_size("EURUSD", "M1") == 0
        after = core.store.bars.load("EURUSD", "M1")
        for c in ("time", "open", "high", "low", "close", "tick_volume", "spread", "ingest_id"):
            np.testing.assert_array_equal(getattr(after, c), getattr(before, c))


@pytest.mark.parametrize("fault", ["initialize_false", "ipc_timeout_mid_stream", "terminal_gone", "not_in_market_watch"])
def test_standin_live_feed_after_a_fault_loses_and_repeats_no_bar(ita_home: Path, market, fault: str) -> None:
    terminal = _terminal(market)
    if fault == "initialize_false":
        terminal.init_failures = 6  # more than one poll's reconnect attempts: the feed waits and tries again
    if fault == "not_in_market_watch":
        terminal.symbols["EURUSD"] = standin.symbol("EURUSD", digits=5, visible=False)

    def before(i: int, drive: Drive) -> None:
        if i == 40 and fault == "ipc_timeout_mid_stream":
            terminal.ipc_timeouts = 2
        if i == 40 and fault == "terminal_gone":
            terminal.gone_until = drive.now + 3 * 3600  # gone for a dozen polls
            terminal.initialized = False

    core, feed, drive = _run(market, before=before, terminal=terminal)
    with core:
        _check_no_lost_or_twice(core, market, drive)
        assert feed.status.connected
        if fault == "initialize_false":
            assert not drive.steps[0].bars and len(terminal.calls_to("initialize")) > 3  # refused, waited, retried
        if fault == "terminal_gone":
            assert feed.status.reconnects >= 1 and feed.status.gap_fills >= 2
        if fault == "not_in_market_watch":
            assert terminal.calls_to("symbol_select")


def test_standin_live_feed_retries_a_login_refused_until_it_is_fixed(ita_home: Path, market) -> None:
    terminal = _terminal(market, password="right", login=1234)
    secrets.set_secret("mt5_password", "wrong")

    def before(i: int, drive: Drive) -> None:
        if i == 10:
            assert not drive.feed.status.connected and "Authorization" in drive.feed.status.last_error
            secrets.set_secret("mt5_password", "right")

    core, feed, drive = _run(market, before=before, terminal=terminal, login=1234, server="Standin-Demo")
    with core:
        _check_no_lost_or_twice(core, market, drive)


def test_standin_live_feed_warns_when_the_terminal_clock_disagrees(ita_home: Path, market) -> None:
    core, feed, drive = _run(market, n_polls=20, terminal=_terminal(market, tick_offset_s=300))
    with core:
        assert feed.status.clock_warning and "mt5.server_tz" in feed.status.clock_warning
        assert feed.status.server_offset_s == pytest.approx(300, abs=60)


def test_standin_live_run_signals_equal_a_full_pass_scan(ita_home: Path, market) -> None:
    """Bars missed before the start are stored as missed; the rest raised; together: the scan's occurrences."""
    core, feed, drive = _run(market, n_polls=700, rules=("ib_raid",))
    with core:
        _check_no_lost_or_twice(core, market, drive)
        end = int(_expected(market, drive)[-1]) + 60
        start = int(market[2].time[HISTORY])
        scanned = core.backtests.scan("ib_raid", "EURUSD").occurrences
        # the scan's occurrences signalled on bars the live run closed (an M15 bar closes with its last M1 bar)
        wanted = {(o.signal_time, o.direction) for o in scanned if start <= o.signal_time and o.signal_time + 900 <= end}
        stored = core.store.signals.list(symbol="EURUSD")
        assert wanted and {(r.signal_time, r.direction) for r in stored} == wanted
        raised = [r for s in drive.steps for r in s.raised]
        missed = [r for s in drive.steps for r in s.missed]
        assert raised and all(r.source == "live" for r in raised)
        assert all(r.source == "missed" for r in missed)


def test_standin_scheduled_refresh_tops_up_history_unless_a_live_session_stores_it(ita_home: Path, market) -> None:
    rates, _, bars = market
    store_bars(bars.slice(0, HISTORY))
    terminal = _terminal(market)
    module = standin.new_module(terminal)
    now = int(bars.time[HISTORY + 500]) + 30
    with _core() as core:
        summary = core.live.refresh_history("EURUSD", "M1", module=module, now_utc=now)
        assert summary is not None and summary.new == 500
        stored = core.store.bars.load("EURUSD", "M1")
        np.testing.assert_array_equal(stored.time, bars.time[:HISTORY + 500])
        assert core.live.refresh_history("EURUSD", "M1", module=module, now_utc=now) is None  # nothing newer
        feed = core.live.mt5("EURUSD", [], module=module, publish=False)
        assert core.live.refresh_history("EURUSD", "M1", module=module, now_utc=now + 3600) is None  # live stores it
        feed.session.stop()
        # the schedule runs the same refresh on the job engine
        schedule = core.live.schedule_refresh([("EURUSD", "M1")], 3600, module=module, run_now=True,
                                              clock=lambda: now + 3600)
        import time as _time

        deadline = _time.monotonic() + 60
        while len(core.store.bars.load("EURUSD", "M1")) == HISTORY + 500 and _time.monotonic() < deadline:
            _time.sleep(0.1)
        assert len(core.store.bars.load("EURUSD", "M1")) > HISTORY + 500
        core.jobs.unschedule(schedule)


def test_standin_live_feed_paused_polls_nothing_and_resumed_catches_up(ita_home: Path, market) -> None:
    """The tray's Pause live (core.live.pause): the running feed stops asking the terminal and processing;
    Resume: it polls again and processes the bars closed meanwhile, none lost."""
    import time

    rates, _, bars = market
    store_bars(bars.slice(0, HISTORY))
    terminal = _terminal(market)
    terminal.live_now = int(rates["time"][HISTORY + 30]) + 20
    core = _core()
    with core:
        core.live.pause()
        feed = core.live.mt5("EURUSD", [], module=standin.new_module(terminal), publish=False,
                             source_sleep=lambda s: None, interval_s=0.02)
        feed.start()
        time.sleep(0.5)
        asked = [fn for fn, _args in terminal.calls if fn.startswith("copy_")]
        assert not asked and feed.session.last_time == int(bars.time[HISTORY - 1])  # nothing polled or processed
        core.live.resume()
        deadline = time.monotonic() + 60
        while feed.session.last_time < int(bars.time[HISTORY + 29]) and time.monotonic() < deadline:
            time.sleep(0.02)
        feed.stop()
        assert feed.session.last_time == int(bars.time[HISTORY + 29])  # the 30 bars closed meanwhile, processed
        np.testing.assert_array_equal(core.store.bars.load("EURUSD", "M1").time, bars.time[:HISTORY + 30])
