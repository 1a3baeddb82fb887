"""MT5 live from the window (View > MT5 Live) against the local MT5 stand-in (an in-process module with
MT5's functions and exact numpy dtypes, streaming the real EURUSD M1): Start backfills the bars since
the store's last one and appends each bar the terminal closes to the chart, overlays included; the
connection indicator shows the feed; Stop ends it. Without the MetaTrader5 package, or with a
terminal that refuses to initialize, the dock says so in the window's words."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from ita_desktop.ui.main_window import MainWindow
from tests.standins import mt5_module as standin
from tests.support.real_bars import store_bars
from tests.test_live_mt5_standin import HISTORY, SERVER_TO_UTC, _core, _terminal, market  # noqa: F401
from tests.test_ui_screenshots import save

WAIT_MS = 120_000
pytestmark = [pytest.mark.realdata, pytest.mark.standin]


def _window(qtbot, market):  # noqa: F811
    store_bars(market[2].slice(0, HISTORY))
    window = MainWindow(_core(), symbol="EURUSD", timeframe="M1")
    qtbot.addWidget(window)
    window.resize(1440, 900)
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    qtbot.waitUntil(lambda: window.core.store_if_open is not None, timeout=WAIT_MS)
    window.workbench.live_action.trigger()  # View > MT5 Live
    panel = window.workbench.live
    panel.symbols_edit.setText("EURUSD")
    panel.rules_edit.setText("ib_raid")
    return window, panel


def _closed_before(rates: np.ndarray, now: int) -> int:
    """Bars the terminal has closed at server time ``now`` (the forming one excluded)."""
    return int(np.searchsorted(rates["time"], now, side="right")) - 1


def test_standin_mt5_live_from_the_window_appends_closed_bars_and_stops(qtbot, ita_home: Path, market) -> None:  # noqa: F811
    rates, _, bars = market
    terminal = _terminal(market)
    terminal.live_now = int(rates["time"][HISTORY + 30]) + 20  # 30 bars closed since the store's last one
    window, panel = _window(qtbot, market)
    panel.mt5_options = {"module": standin.new_module(terminal), "source_sleep": lambda s: None,
                         "clock": lambda: float(terminal.live_now + SERVER_TO_UTC), "interval_s": 0.05}
    with qtbot.waitSignal(panel.started, timeout=WAIT_MS):
        panel.start_button.click()
    chart = window.chart
    qtbot.waitUntil(lambda: chart.count == HISTORY + 30, timeout=WAIT_MS)  # the backfill appended
    qtbot.waitUntil(lambda: "EURUSD M1: connected" in panel.status.text() and "30 bars closed" in panel.status.text(),
                    timeout=WAIT_MS)
    window.workbench.connection.refresh()
    assert window.workbench.connection.text().startswith("MT5 EURUSD ● connected")

    for minutes in (1, 7, 25):  # the terminal's clock moves on: each closed bar appends, none twice
        terminal.live_now += minutes * 60
        expected = _closed_before(rates, terminal.live_now)
        qtbot.waitUntil(lambda e=expected: chart.count == e, timeout=WAIT_MS)
        assert np.array_equal(chart.bars.time, bars.time[:expected])
        assert np.array_equal(chart.bars.close, bars.close[:expected])
    feed = window.workbench.live_chart.overlays
    qtbot.waitUntil(lambda: feed.idle and feed.n_bars == chart.count, timeout=WAIT_MS)  # overlays followed
    qtbot.waitUntil(lambda: chart.forming.bar is not None, timeout=WAIT_MS)  # the forming candle from the ticks
    qtbot.waitUntil(lambda: "EURUSD M1: connected" in panel.status.text(), timeout=WAIT_MS)
    window.workbench.connection.refresh()
    save(window, "mt5_live_standin.png")  # the MT5 Live dock, the indicator, the chart with its overlays

    panel.stop_button.click()
    qtbot.waitUntil(lambda: not panel.running and panel.feeds[0].source is not None, timeout=WAIT_MS)
    panel.feeds[0].stop(5.0)
    assert "EURUSD M1: stopped" in panel.status.text()
    window.workbench.connection.refresh()
    assert window.workbench.connection.isHidden()
    assert panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
    window.close()


@pytest.mark.skipif(importlib.util.find_spec("MetaTrader5") is not None, reason="the MetaTrader5 package is installed")
def test_mt5_live_without_the_metatrader5_package_says_so(qtbot, ita_home: Path, market) -> None:  # noqa: F811
    window, panel = _window(qtbot, market)
    panel.start_button.click()
    qtbot.waitUntil(lambda: "Cannot start MT5 live" in panel.status.text(), timeout=WAIT_MS)
    assert "MetaTrader5 Python package is not installed" in panel.status.text()
    assert panel.start_button.isEnabled() and not panel.running
    window.close()


def test_standin_mt5_live_with_a_terminal_that_will_not_start_shows_why(qtbot, ita_home: Path, market) -> None:  # noqa: F811
    terminal = _terminal(market, dead=True)
    window, panel = _window(qtbot, market)
    panel.mt5_options = {"module": standin.new_module(terminal), "source_sleep": lambda s: None, "interval_s": 0.05}
    with qtbot.waitSignal(panel.started, timeout=WAIT_MS):
        panel.start_button.click()
    qtbot.waitUntil(lambda: "not connected:" in panel.status.text(), timeout=WAIT_MS)
    assert "(trying again)" in panel.status.text() and "initialize" in panel.status.text().lower()
    window.workbench.connection.refresh()
    assert "○ disconnected" in window.workbench.connection.text()
    panel.stop(join_s=5.0)
    window.close()
