"""The chart at its defaults (issue 18): crosshair price and time on the axes, a readout that follows
the bars after a wheel zoom or a jump, an exported PNG without the crosshair, one clock setting named
everywhere, and labels of different layers that never sit on each other."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from ita_desktop.config import load_settings
from ita_desktop.domain.resample import resample
from ita_desktop.domain.display_clock import DisplayClock
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.ui.chart import CandleChart
from ita_desktop.ui.chart.chart_data import prepare_chart_data
from tests.support.real_bars import eurusd_bars

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def eurusd(eurusd_csv: Path):
    return eurusd_bars(eurusd_csv)


@pytest.fixture
def chart(qtbot, ita_home, eurusd) -> CandleChart:
    settings = load_settings()
    widget = CandleChart(session_clock=settings.sessions.clock, session_windows=dict(settings.sessions.windows))
    qtbot.addWidget(widget)
    widget.resize(1200, 700)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_data(eurusd)
    return widget


def _point_at_bar(chart, index: int):
    from PySide6.QtCore import QPointF

    y = float(np.mean(chart.view.viewRange()[1]))
    return chart.view.mapViewToScene(QPointF(index, y))


def test_the_crosshair_shows_price_and_time_on_the_axes(chart, eurusd):
    i = len(eurusd) - 50
    chart.scene().sigMouseMoved.emit(_point_at_bar(chart, i))
    price, when = chart.crosshair_tags()
    assert len(price.split(".")[1]) == 5  # the symbol's digits
    y0, y1 = chart.view.viewRange()[1]
    assert y0 <= float(price) <= y1
    ny = datetime.fromtimestamp(int(eurusd.time[i]), timezone.utc).astimezone(__import__("zoneinfo").ZoneInfo(
        "America/New_York"))
    assert when.endswith(" NY") and ny.strftime("%H:%M") in when


def test_the_readout_follows_a_wheel_zoom_and_a_jump(chart, eurusd):
    pos = _point_at_bar(chart, len(eurusd) - 100)
    chart.scene().sigMouseMoved.emit(pos)
    before = chart.readout.text
    chart.zoom(4.0, center=len(eurusd) - 20)  # what the wheel does: the pointer stays, the bars move
    after_zoom = chart.readout.text
    index = int(round(chart.view.mapSceneToView(pos).x()))
    assert after_zoom != before and f"{eurusd.close[index]:.5f}" in after_zoom
    chart.show_range(1000, 1010)  # a jump to a trade
    index = int(round(chart.view.mapSceneToView(pos).x()))
    assert f"{eurusd.close[index]:.5f}" in chart.readout.text


def test_the_exported_png_has_no_crosshair(chart, eurusd, tmp_path):
    chart.scene().sigMouseMoved.emit(_point_at_bar(chart, len(eurusd) - 50))
    assert chart._vline.isVisible()
    with_cross = chart.grab().toImage()
    chart.export_png(tmp_path / "c.png")
    exported = QImage(str(tmp_path / "c.png"))
    assert chart._vline.isVisible()  # still on the screen afterwards
    chart.scene().sigMouseMoved.emit(chart.view.sceneBoundingRect().topLeft() - chart.view.sceneBoundingRect().center())
    clean = chart.grab().toImage()
    assert exported.size() == clean.size()
    same = sum(exported.pixel(x, y) == clean.pixel(x, y) for x in range(0, clean.width(), 7)
               for y in range(0, clean.height(), 7))
    total = len(range(0, clean.width(), 7)) * len(range(0, clean.height(), 7))
    assert same / total > 0.99 and with_cross != clean


@pytest.mark.parametrize(("kind", "short"), [("utc", "UTC"), ("broker", "broker"), ("new_york", "NY")])
def test_one_setting_puts_every_time_on_the_chosen_clock(qtbot, chart, eurusd, kind, short):
    clock = DisplayClock.of(kind, "NY+7")
    settings = load_settings()
    chart.set_prepared(prepare_chart_data(eurusd, settings.sessions.clock, dict(settings.sessions.windows), 5, clock))
    i = len(eurusd) - 30
    expected = clock.text(int(eurusd.time[i]), "%H:%M")
    assert f"{expected} {short}" in chart.readout_text(i) and f"times {short}" in chart.readout_text()
    chart.scene().sigMouseMoved.emit(_point_at_bar(chart, i))
    assert chart.crosshair_tags()[1].endswith(short)
    utc = datetime.fromtimestamp(int(eurusd.time[i]), timezone.utc)
    if kind == "utc":
        assert expected == utc.strftime("%H:%M")
    if kind == "broker":  # NY+7: New York plus seven hours
        ny = utc.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
        assert expected == f"{(ny.hour + 7) % 24:02d}:{ny.minute:02d}"


def test_the_display_clock_is_a_saved_setting_the_results_follow(qtbot, ita_home):
    from ita_desktop.core.job_engine import JobEngine
    from ita_desktop.ui.job_bridge import JobBridge
    from ita_desktop.ui.panels.results_panel import ResultsPanel
    from ita_desktop.ui.settings_dialog import SettingsDialog
    from ita_desktop.ui.theme import get_theme

    dialog = SettingsDialog(load_settings())
    qtbot.addWidget(dialog)
    dialog.display_clock.setCurrentIndex(dialog.display_clock.findData("utc"))
    assert dialog.save()
    settings = load_settings()
    assert settings.ui.display_clock == "utc"
    runner = JobBridge(JobEngine(2))
    try:
        panel = ResultsPanel(runner, get_theme("dark"), DisplayClock.from_settings(settings))
        qtbot.addWidget(panel)
        headers = [panel.trades.horizontalHeaderItem(c).text() for c in range(panel.trades.columnCount())]
        assert "Entry (UTC)" in headers and "Exit (UTC)" in headers
        panel.set_display_clock(DisplayClock.of("new_york"))
        assert panel.trades.horizontalHeaderItem(2).text() == "Entry (NY)"
    finally:
        runner.shutdown(5000)


def test_labels_of_different_layers_never_overlap(qtbot, ita_home, eurusd):
    """Every label drawn in one frame, whatever its layer, claims its own rectangle."""
    from ita_desktop.ui.chart.overlays import LAYERS, OverlaySet, overlay_data
    from tests.support.cores import new_core

    settings = load_settings()
    m15 = resample(eurusd, Timeframe.M15)
    chart = CandleChart(session_clock=settings.sessions.clock, session_windows=dict(settings.sessions.windows))
    qtbot.addWidget(chart)
    chart.resize(1400, 800)
    chart.show()
    qtbot.waitExposed(chart)
    overlays = OverlaySet(chart, chart.theme, parent=chart)
    chart.set_data(m15)
    for spec in LAYERS:
        overlays.set_visible(spec.name, True)
    with qtbot.waitSignal(overlays.drawn, timeout=30_000):
        overlays.set_layers(overlay_data(m15, new_core().detection.detect(m15)).layers)
    chart.grab()
    rects = [r for rows in overlays.labels.rows.values() for r in rows]
    unique = list(dict.fromkeys(rects))
    assert len(unique) > 10
    for k, (l0, t0, r0, b0) in enumerate(unique):
        for l1, t1, r1, b1 in unique[k + 1:]:
            assert not (l0 < r1 and l1 < r0 and t0 < b1 and t1 < b0)
