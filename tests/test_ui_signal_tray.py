"""The tray face in the real window (offscreen, real EURUSD store): a raised signal is remembered, the
message's click (Qt's messageClicked, no id) brings the chart to it, and without a tray the status bar says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from ita_desktop.bus.events import SignalRaised
from ita_desktop.storage.signal_store import SignalRecord
from ita_desktop.storage.store import Store
from ita_desktop.ui.main_window import MainWindow
from ita_desktop.ui.signal_tray import NO_TRAY
from tests.support.cores import new_core

WAIT_MS = 120_000
pytestmark = pytest.mark.realdata


def test_tray_click_on_the_last_message_puts_the_chart_at_its_signal(qtbot, eurusd_store: Path) -> None:
    with Store.open() as store:
        bars = store.bars.load("EURUSD", "M1")
        t = int(bars.time[20_000])
        store.signals.store([SignalRecord(occurrence_key="k", rule_id="ib_raid", rule_version="1", symbol="EURUSD",
                                          timeframe="M1", signal_time=t, direction=-1, source="live", status="pending",
                                          steps=[], occurrence={}, order_type="market", entry_price=1.13,
                                          stop_price=1.131)])
    window = MainWindow(new_core(), symbol="EURUSD", timeframe="M1")
    qtbot.addWidget(window)
    window.resize(1440, 900)
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    tray = window.workbench.tray
    if not tray.available:
        assert tray.icon is None and tray.no_tray_label.isVisible() and tray.no_tray_label.toolTip() == NO_TRAY
    qtbot.waitUntil(lambda: window.core.store_if_open is not None, timeout=WAIT_MS)
    window.core.bus.publish(SignalRaised(rule_id="ib_raid", rule_version="1", symbol="EURUSD", timeframe="M1",
                                         occurrence_id=1, direction=-1, signal_utc=t, occurrence_key="k"))
    qtbot.waitUntil(lambda: tray.last_key == "k", timeout=WAIT_MS)
    window.showMinimized()
    tray.open_last()  # what messageClicked calls
    qtbot.waitUntil(lambda: not window.isMinimized(), timeout=WAIT_MS)

    def at_signal() -> bool:
        first, stop = window.chart.visible_range()
        index = int(window.chart.bars.time.searchsorted(t))
        return first <= index < stop and stop - first < 2_000

    qtbot.waitUntil(at_signal, timeout=WAIT_MS)
    panel = window.workbench.signals  # the raised signal also docked and listed the Signals panel
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=WAIT_MS)
    qtbot.wait(300)  # late series listings refresh the panel: let them run before the window goes
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    window.close()
