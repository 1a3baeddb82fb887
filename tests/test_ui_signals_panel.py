"""The Signals panel in the real window (offscreen, real EURUSD store): lists stored signals with
filters, refreshes when the bus says a signal was raised or updated, and a click puts the chart there."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from ita_desktop.bus.events import SignalRaised, SignalUpdated
from ita_desktop.storage.signal_store import SignalRecord
from ita_desktop.storage.store import Store
from ita_desktop.ui.main_window import MainWindow
from tests.support.cores import new_core

WAIT_MS = 120_000
pytestmark = pytest.mark.realdata


def _record(key: str, t: int, source: str = "live", status: str = "pending", **kw) -> SignalRecord:
    values = dict(occurrence_key=key, rule_id="ib_raid", rule_version="1", symbol="EURUSD", timeframe="M1",
                  signal_time=t, direction=-1, source=source, status=status, steps=[{"name": "raid", "time": t - 600}],
                  occurrence={}, order_type="market", entry_price=1.13, stop_price=1.131)
    values.update(kw)
    return SignalRecord(**values)


def test_signals_panel_lists_filters_refreshes_on_the_bus_and_jumps_the_chart(qtbot, eurusd_store: Path) -> None:
    with Store.open() as store:
        bars = store.bars.load("EURUSD", "M1")
        t1, t2, t3 = (int(bars.time[i]) for i in (1000, 20_000, 40_000))
        store.signals.store([_record("a", t1, status="stop", outcome={"r_multiple": -1.0}), _record("b", t2, "replay")])
    window = MainWindow(new_core(), symbol="EURUSD", timeframe="M1")
    qtbot.addWidget(window)
    window.resize(1440, 900)
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    panel = window.workbench.signals
    assert window.workbench.signals_dock is None  # docked on first use
    qtbot.waitUntil(lambda: window.core.store_if_open is not None, timeout=WAIT_MS)
    window.workbench.signals_action.trigger()  # View > Signals
    assert window.workbench.signals_dock.isVisible()
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2, timeout=WAIT_MS)
    assert panel.table.item(0, 8).text() == "replay" and panel.table.item(1, 10).text() == "-1.00"  # newest first

    panel.status_box.setCurrentText("closed")
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=WAIT_MS)
    assert panel.table.item(0, 9).text() == "stop"
    panel.status_box.setCurrentText("any status")
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2, timeout=WAIT_MS)

    window.core.store.signals.store([_record("c", t3)])
    window.core.bus.publish(SignalRaised(rule_id="ib_raid", rule_version="1", symbol="EURUSD", timeframe="M1",
                                         occurrence_id=3, direction=-1, signal_utc=t3, occurrence_key="c"))
    qtbot.waitUntil(lambda: panel.table.rowCount() == 3, timeout=WAIT_MS)
    window.core.store.signals.update("c", "filled", {"entry_price": 1.13})
    window.core.bus.publish(SignalUpdated(rule_id="ib_raid", symbol="EURUSD", occurrence_id=3, state="filled",
                                          time_utc=t3 + 60, occurrence_key="c"))
    qtbot.waitUntil(lambda: panel.table.item(0, 9).text() == "filled", timeout=WAIT_MS)

    qtbot.waitUntil(lambda: window.chart.bars is not None and window.chart.bars.symbol == "EURUSD", timeout=WAIT_MS)
    rect = panel.table.visualItemRect(panel.table.item(1, 0))  # the replay signal at bar 20,000
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    first, stop = window.chart.visible_range()
    index = int(window.chart.bars.time.searchsorted(t2))
    assert first <= index < stop and stop - first < 2_000
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    window.close()


def test_signals_panel_shows_only_the_latest_refresh_when_jobs_finish_out_of_order(qtbot, ita_home: Path) -> None:
    """A slow refresh (the old filter) that finishes after a newer one must not replace the newer list."""
    import threading

    from ita_desktop.core.job_engine import JobEngine
    from ita_desktop.ui.job_bridge import JobBridge
    from ita_desktop.ui.panels.signals_panel import SignalsPanel

    with Store.open() as store:
        store.signals.store([_record("a", 1_700_000_000, status="stop", outcome={"r_multiple": -1.0}),
                             _record("b", 1_700_003_600, "replay")])
    core = new_core()
    release = threading.Event()

    class GatedLive:  # the real service; the first (closed-only) listing waits until released
        def signals(self, **wanted):
            if wanted.get("status") == "closed":
                release.wait(30)
            return core.live.signals(**wanted)

    runner = JobBridge(JobEngine(2))
    panel = SignalsPanel(runner, GatedLive())
    qtbot.addWidget(panel)
    panel.status_box.blockSignals(True)
    panel.status_box.setCurrentText("closed")
    panel.refresh()  # slow: held
    panel.status_box.setCurrentText("any status")
    panel.status_box.blockSignals(False)
    with qtbot.waitSignal(panel.listed, timeout=WAIT_MS):
        panel.refresh()  # fast: both signals
    assert panel.table.rowCount() == 2
    release.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=WAIT_MS)
    qtbot.wait(50)
    assert panel.table.rowCount() == 2  # the stale closed-only list (1 row) was dropped
    runner.shutdown(5000)
    core.close()
