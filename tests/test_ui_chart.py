"""The candlestick chart on real bars, offscreen: downsampling, view changes, axes, sessions, export."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtWidgets import QApplication

from ita_desktop.config import load_settings
from ita_desktop.domain.bars import Bars
from ita_desktop.ui.chart import CandleChart
from ita_desktop.ui.chart.downsample import OHLC, Pyramid, aggregate_ohlc, level_for
from ita_desktop.ui.chart.session_shading import session_runs
from ita_desktop.ui.chart.widget import DEFAULT_BARS
from tests.support.real_bars import eurusd_bars

NEW_YORK = ZoneInfo("America/New_York")


def brute_force(o, h, l, c, group):
    rows = []
    for s in range(0, len(o), group):
        e = min(s + group, len(o))
        rows.append((o[s], max(h[s:e]), min(l[s:e]), c[e - 1]))
    return [np.array(col) for col in zip(*rows)]


def random_ohlc(rng, n):
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) + rng.exponential(1, n)
    low = np.minimum(open_, close) - rng.exponential(1, n)
    spikes = rng.integers(0, n, max(1, n // 50))  # lone extremes that a naive decimation would drop
    high[spikes] += 50
    low[spikes[::2]] -= 50
    return open_, high, low, close


@pytest.mark.parametrize("seed", range(20))
def test_aggregation_keeps_every_extreme(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5000))
    o, h, l, c = random_ohlc(rng, n)
    pyramid = Pyramid(o, h, l, c)
    for group in (2, 4, 8, 64, 1024, 8192):
        expected = brute_force(o, h, l, c, group)
        level = pyramid.level(group)
        assert level.group == group
        for got, want in zip((level.open, level.high, level.low, level.close), expected):
            np.testing.assert_array_equal(got, want)
        assert level.high.max() == h.max() and level.low.min() == l.min()
    factor = int(rng.integers(1, 40))
    direct = aggregate_ohlc(OHLC(1, o, h, l, c), factor)
    for got, want in zip((direct.open, direct.high, direct.low, direct.close), brute_force(o, h, l, c, factor)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("seed", range(5))
def test_visible_low_high_is_exact(seed):
    rng = np.random.default_rng(100 + seed)
    n = 300_000
    o, h, l, c = random_ohlc(rng, n)
    pyramid = Pyramid(o, h, l, c)
    for _ in range(30):
        a = int(rng.integers(0, n))
        b = int(rng.integers(a + 1, n + 1))
        assert pyramid.low_high(a, b) == (l[a:b].min(), h[a:b].max())
    assert pyramid.low_high(5, 5) is None


def test_level_is_the_power_of_two_that_fills_a_pixel():
    assert level_for(0.2) == 1
    assert level_for(1.0) == 1
    assert level_for(1.5) == 2
    assert level_for(833.0) == 1024
    assert level_for(1024.0) == 1024


@pytest.fixture(scope="module")
def eurusd(eurusd_csv: Path) -> Bars:
    return eurusd_bars(eurusd_csv)


@pytest.fixture
def chart(qtbot, ita_home) -> CandleChart:
    settings = load_settings()
    widget = CandleChart(session_clock=settings.sessions.clock, session_windows=dict(settings.sessions.windows))
    qtbot.addWidget(widget)
    widget.resize(1200, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def show(qtbot, chart: CandleChart, bars: Bars) -> None:
    with qtbot.waitSignal(chart.drawn, timeout=10_000):
        chart.set_data(bars)


def test_chart_draws_latest_bars_and_signals_drawn(qtbot, chart, eurusd):
    show(qtbot, chart, eurusd)
    first, stop = chart.visible_range()
    assert stop == len(eurusd) and stop - first == DEFAULT_BARS
    (_, _), (y0, y1) = chart.view.viewRange()
    assert y0 < eurusd.low[first:stop].min() and y1 > eurusd.high[first:stop].max()
    assert y1 - y0 < 2 * (eurusd.high[first:stop].max() - eurusd.low[first:stop].min())
    assert chart.candles.last_group == 1
    assert chart.price_axis.digits == 5


def test_zoom_pan_and_reset_change_the_visible_range(qtbot, chart, eurusd):
    show(qtbot, chart, eurusd)
    start = chart.visible_range()
    chart.zoom(4.0)
    zoomed_out = chart.visible_range()
    assert zoomed_out[1] - zoomed_out[0] > 3 * (start[1] - start[0])
    with qtbot.waitSignal(chart.view_changed, timeout=1000) as changed:
        chart.pan(-0.5)
    panned = chart.visible_range()
    assert tuple(changed.args) == panned
    assert panned[0] < zoomed_out[0] and panned[1] < zoomed_out[1]
    chart.reset_view()
    assert chart.visible_range() == start


def test_keyboard_and_double_click(qtbot, chart, eurusd):
    show(qtbot, chart, eurusd)
    start = chart.visible_range()
    qtbot.keyClick(chart, Qt.Key.Key_Left)
    left = chart.visible_range()
    assert left[0] < start[0]
    qtbot.keyClick(chart, Qt.Key.Key_Minus)
    assert chart.visible_range()[1] - chart.visible_range()[0] > left[1] - left[0]
    qtbot.keyClick(chart, Qt.Key.Key_Plus)
    qtbot.keyClick(chart, Qt.Key.Key_Plus)
    assert chart.visible_range()[1] - chart.visible_range()[0] < left[1] - left[0]
    qtbot.keyClick(chart, Qt.Key.Key_Home)
    assert chart.visible_range()[0] == 0
    qtbot.keyClick(chart, Qt.Key.Key_End)
    assert chart.visible_range()[1] == len(eurusd)
    chart.pan(-3)
    center = chart.mapFromScene(chart.view.sceneBoundingRect().center().toPoint())
    pos = QPoint(center.x(), center.y())
    # What a real double click sends: press, release, double-click, release.
    qtbot.mouseClick(chart.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseDClick(chart.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseRelease(chart.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert chart.visible_range() == start


def test_mouse_wheel_zooms_x_only(qtbot, chart, eurusd):
    show(qtbot, chart, eurusd)
    before = chart.visible_range()
    center = chart.mapFromScene(chart.view.sceneBoundingRect().center().toPoint())
    pos = QPointF(center)
    event = QWheelEvent(pos, chart.viewport().mapToGlobal(pos), QPoint(0, 0), QPoint(0, -240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(chart.viewport(), event)
    after = chart.visible_range()
    assert after[1] - after[0] > before[1] - before[0]  # wheel back: zoomed out on x
    (_, _), (y0, y1) = chart.view.viewRange()
    assert y0 < eurusd.low[after[0]:after[1]].min() and y1 > eurusd.high[after[0]:after[1]].max()  # y refitted


def test_zoomed_out_chart_draws_aggregated_groups(qtbot, chart, eurusd):
    show(qtbot, chart, eurusd)
    chart.set_x_window(-0.5, len(eurusd) - 0.5)
    chart.grab()  # forces a paint at this zoom
    assert chart.candles.last_group >= 32
    (_, _), (y0, y1) = chart.view.viewRange()
    assert y0 < eurusd.low.min() and y1 > eurusd.high.max()


def test_export_png_writes_the_chart_size(qtbot, chart, eurusd, tmp_path):
    show(qtbot, chart, eurusd)
    path = tmp_path / "view.png"
    width, height = chart.export_png(path)
    image = QImage(str(path))
    ratio = chart.devicePixelRatioF()
    assert (image.width(), image.height()) == (width, height) == (round(1200 * ratio), round(700 * ratio))
    colours = {image.pixel(x, y) for x in range(0, width, 7) for y in range(0, height, 7)}
    assert len(colours) > 10  # candles, shading and labels, not a blank frame


def test_session_shading_marks_the_asia_window_in_new_york_time(qtbot, chart, eurusd):
    show(qtbot, chart, eurusd)
    runs = chart.layer("sessions").runs["asia"]
    # Independent check with zoneinfo: the bars of Tue 2022-01-04 20:00-24:00 New York.
    ny = [datetime.fromtimestamp(int(t), timezone.utc).astimezone(NEW_YORK) for t in eurusd.time[:3000]]
    expected = [i for i, d in enumerate(ny) if d.date().isoformat() == "2022-01-04" and d.hour >= 20]
    assert len(expected) > 200
    run = runs[np.searchsorted(runs[:, 1], expected[0], side="right")]
    assert list(range(run[0], run[1])) == expected
    assert (ny[run[0]].hour, ny[run[0]].minute) == (20, 0)
    assert ny[run[1]].hour == 0  # the next bar is past midnight: the run ends with the window


def test_session_runs_wrap_midnight_and_split_by_day():
    day = 86_400
    minutes = np.array([19 * 60 + 59, 20 * 60, 23 * 60 + 59, 24 * 60 + 1, 24 * 60 + 20 * 60 + 5], dtype=np.int64)
    local = 10 * day + minutes * 60
    np.testing.assert_array_equal(session_runs(local, ("20:00", "00:00")), [[1, 3], [4, 5]])
    np.testing.assert_array_equal(session_runs(local, ("20:00", "01:00")), [[1, 4], [4, 5]])


def test_time_axis_ticks_on_round_new_york_times(qtbot, chart, eurusd):
    show(qtbot, chart, eurusd)
    first, stop = chart.visible_range()
    [(step, ticks)] = chart.time_axis.tickValues(first, stop - 1, 1100)
    assert 3 <= len(ticks) <= 12
    ny = [datetime.fromtimestamp(int(eurusd.time[int(t)]), timezone.utc).astimezone(NEW_YORK) for t in ticks]
    assert all((d.hour * 60 + d.minute) % (step // 60) == 0 for d in ny)  # M1 data has these minutes
    labels = chart.time_axis.tickStrings(ticks, 1, step)
    assert labels[0] == ny[0].strftime("%H:%M") or labels[0] == ny[0].strftime("%a %d")
    chart.set_x_window(-0.5, len(eurusd))
    [(step, ticks)] = chart.time_axis.tickValues(-0.5, len(eurusd), 1100)
    assert step >= 86_400 and all(label[:2].isdigit() for label in chart.time_axis.tickStrings(ticks, 1, step))


def test_layers_switch_on_and_off(qtbot, chart, eurusd):
    import pyqtgraph as pg

    show(qtbot, chart, eurusd)
    level = pg.InfiniteLine(pos=float(eurusd.close[-1]), angle=0)
    chart.add_layer("levels", level)
    assert chart.layer_names() == ["sessions", "levels"]
    with pytest.raises(ValueError):
        chart.add_layer("levels", pg.InfiniteLine())
    chart.set_layer_visible("levels", False)
    chart.set_layer_visible("sessions", False)
    assert not level.isVisible() and not chart.layer("sessions").isVisible()
    chart.remove_layer("levels")
    with pytest.raises(KeyError):
        chart.set_layer_visible("levels", True)


def test_crosshair_readout_shows_ohlc_time_and_session(qtbot, chart, eurusd):
    show(qtbot, chart, eurusd)
    i = len(eurusd) - 10
    text = chart.readout_text(i)
    when = datetime.fromtimestamp(int(eurusd.time[i]), timezone.utc).astimezone(NEW_YORK)
    assert "EURUSD" in text and when.strftime("%H:%M") in text and f"{eurusd.close[i]:.5f}" in text
    center = chart.view.sceneBoundingRect().center()
    chart.scene().sigMouseMoved.emit(center)
    assert chart._vline.isVisible() and "O " in chart.readout.text
    demo = Bars.from_columns("EURUSD.demo", eurusd.timeframe, eurusd.columns(), demo=True)
    chart.set_data(demo)
    assert "DEMO" in chart.readout_text()
