"""Chart overlays from the detectors on the real EURUSD bars: where they are drawn, and the legend.

The detector rows are the reference: a zone box must start at its row's bar and end at the bar
that ended it, a level line must sit at its row's price, in the layer arrays and on screen.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor

from ita_desktop.config import load_settings
from ita_desktop.data.csv_import import read_csv
from ita_desktop.detectors.dispatcher import detect
from ita_desktop.detectors.objects import LevelKind
from ita_desktop.ui.chart import CandleChart
from ita_desktop.ui.chart.overlays import (
    LAYERS, Boxes, OverlaySet, Segments, compute_overlays, detector_params, series_key, setup_layer, trade_layer,
)
from ita_desktop.ui.chart.overlays.detector_layers import RIGHT_EDGE_BARS, OverlayOptions
from ita_desktop.ui.chart.overlays.palette import overlay_palette
from ita_desktop.ui.main_window import MainWindow
from tests.support.real_bars import store_bars

WAIT_MS = 60_000


@pytest.fixture(scope="module")
def eurusd(eurusd_csv):
    return read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars


@pytest.fixture(scope="module")
def detected(eurusd):
    settings = load_settings()
    params = detector_params(settings)
    return detect(eurusd, params=params), compute_overlays(eurusd, params)


@pytest.fixture
def chart_with_overlays(qtbot, eurusd, detected):
    settings = load_settings()
    chart = CandleChart(session_clock=settings.sessions.clock, session_windows=dict(settings.sessions.windows))
    qtbot.addWidget(chart)
    chart.resize(1400, 800)
    chart.show()
    overlays = OverlaySet(chart, chart.theme)
    chart.set_data(eurusd)
    _, data = detected
    overlays.set_layers(data.layers, data.key)
    return chart, overlays


def _box_rows(layer, x0: float) -> list[tuple[Boxes, int]]:
    return [(b, int(k)) for b in layer.batches if isinstance(b, Boxes) for k in np.flatnonzero(b.x0 == x0)]


def test_fvg_box_starts_at_its_bar_and_ends_at_its_filled_bar(detected, eurusd):
    result, data = detected
    rows = result.tables["fvg"]
    shown = rows[rows["extra"] >= OverlayOptions().fvg_min_atr]
    filled = shown[shown["filled_at"] >= 0]
    assert len(filled) > 100
    layer = data.layers["fvg"]
    for row in filled[:: max(1, len(filled) // 50)]:
        matches = [(b, k) for b, k in _box_rows(layer, row["bar"] - 0.5)
                   if b.y0[k] == row["bottom"] and b.y1[k] == row["top"]]
        assert len(matches) == 1, row
        box, k = matches[0]
        assert box.x1[k] == row["filled_at"] + 0.5 == row["end"] + 0.5
        assert box.style.role == ("bull" if row["direction"] > 0 else "bear")
    open_rows = shown[shown["end"] < 0]
    for row in open_rows:
        (box, k), = [(b, k) for b, k in _box_rows(layer, row["bar"] - 0.5) if b.y1[k] == row["top"]]
        assert box.x1[k] == len(eurusd) - 0.5 + RIGHT_EDGE_BARS
    ce = [b for b in layer.batches if isinstance(b, Segments)]
    assert all(b.style.dash and b.style.role == "ce" for b in ce)
    assert sum(len(b) for b in ce) == len(shown)  # one CE midline per gap shown
    assert layer.objects == len(shown) < len(rows)  # the display filter hides the smallest gaps


def test_order_block_boxes_end_where_broken_and_breakers_are_dashed(detected):
    result, data = detected
    rows = result.tables["order_blocks"]
    layer = data.layers["order_blocks"]
    breakers = rows[rows["state"] == 2]
    for row in breakers[:: max(1, len(breakers) // 30)]:
        (box, k), = [(b, k) for b, k in _box_rows(layer, row["bar"] - 0.5)
                     if b.y0[k] == row["bottom"] and b.y1[k] == row["top"]]
        assert box.x1[k] == row["filled_at"] + 0.5
        assert box.style.dash and box.style.role == ("ob_bear" if row["direction"] > 0 else "ob_bull")
    live = rows[rows["state"] < 2]
    for row in live:
        (box, k), = [(b, k) for b, k in _box_rows(layer, row["bar"] - 0.5) if b.y1[k] == row["top"]]
        assert not box.style.dash


def test_pdh_line_sits_at_the_level_price_on_screen(qtbot, chart_with_overlays, detected):
    chart, overlays = chart_with_overlays
    result, _ = detected
    levels = result.tables["levels"]
    pdh = levels[(levels["sub"] == LevelKind.PDH) & (levels["end"] > 0)][3]
    layer = overlays.shapes("liquidity")
    (seg, k), = [(b, int(k)) for b in layer.batches if isinstance(b, Segments)
                 for k in np.flatnonzero((b.x0 == pdh["start"] - 0.5) & (b.y0 == pdh["price"]))]
    assert seg.y1[k] == pdh["price"] and seg.x1[k] == pdh["end"] - 0.5
    assert seg.labels[k] == "PDH" and seg.style.role == "buyside"

    start, end = int(pdh["start"]), int(pdh["end"])
    chart.set_x_window(start - 20, min(end, start + 400))
    lo, hi = chart.view.viewRange()[1]
    if not lo < pdh["price"] < hi:  # the price left this stretch: widen the price range to include it
        chart.view.setYRange(min(lo, pdh["price"]) - 0.0005, max(hi, pdh["price"]) + 0.0005, padding=0)
    image = chart.grab().toImage()
    ratio = image.devicePixelRatio()
    colour = QColor(overlay_palette(chart.theme)["buyside"])
    hits = 0
    for x in np.linspace(start + 2, min(end, start + 400) - 2, 40):
        point = chart.mapFromScene(chart.view.mapViewToScene(QPointF(float(x), float(pdh["price"]))))
        for dy in (-1, 0, 1):
            pixel = image.pixelColor(round(point.x() * ratio), round((point.y() + dy) * ratio))
            if abs(pixel.red() - colour.red()) + abs(pixel.green() - colour.green()) + abs(pixel.blue() - colour.blue()) < 40:
                hits += 1
                break
    assert hits >= 20, f"the PDH line was found at only {hits} of 40 places along {pdh['price']}"
    assert overlays.items["liquidity"].last_drawn > 0


def test_level_layers_follow_their_rows(detected, eurusd):
    result, data = detected
    levels = result.tables["levels"]
    opens = levels[np.isin(levels["sub"], [LevelKind.MIDNIGHT_OPEN, LevelKind.DAILY_OPEN,
                                            LevelKind.WEEKLY_OPEN, LevelKind.NY_OPEN])]
    segs = [b for b in data.layers["opens"].batches if isinstance(b, Segments)]
    x0 = np.concatenate([b.x0 for b in segs])
    y0 = np.concatenate([b.y0 for b in segs])
    assert sorted(zip(x0.tolist(), y0.tolist())) == sorted(zip((opens["start"] - 0.5).tolist(), opens["price"].tolist()))
    ib = data.layers["ib"]
    labels = {label for b in ib.batches for label in (b.labels or [])}
    assert labels == {"IB high", "IB low", "IB mid"}
    sweeps = result.tables["sweeps"]
    swing = np.isin(sweeps["sub"], [LevelKind.SWING_HIGH, LevelKind.SWING_LOW])
    assert data.layers["sweeps"].objects == int((~swing).sum())
    assert data.layers["swing_sweeps"].objects == int(swing.sum())
    structure = data.layers["structure"]
    assert structure.objects == len(result.tables["structure"])
    lines = [b for b in structure.batches if isinstance(b, Segments)]
    row = result.tables["structure"][100]
    assert any(np.any((b.x0 == row["start"]) & (b.x1 == row["bar"]) & (b.y0 == row["price"])) for b in lines)


def test_overlays_are_drawn_and_toggled_from_the_legend(qtbot, ita_home, eurusd):
    store_bars(eurusd)
    window = MainWindow(load_settings())
    qtbot.addWidget(window)
    window.offer_first_run = False
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    chart, overlays, legend = window.chart, window.overlays, window.legend
    assert overlays.key == series_key(chart.bars)  # ready waited for the overlays
    assert legend.count() == len(LAYERS) + 1
    for spec in LAYERS:
        assert chart.layer(spec.name).isVisible() == spec.visible == legend.is_checked(spec.name)
    assert overlays.shapes("fvg").objects > 0 and "(" in legend.row_of("fvg").text()
    assert overlays.items["fvg"].last_drawn > 0  # painted in the default view

    legend.set_checked("fvg", False)
    assert not chart.layer("fvg").isVisible() and not overlays.visible["fvg"]
    legend.set_checked("swing_sweeps", True)
    assert chart.layer("swing_sweeps").isVisible()
    legend.set_checked("sessions", False)
    assert not chart.layer("sessions").isVisible() and not window.sessions_action.isChecked()
    window.sessions_action.setChecked(True)
    assert legend.is_checked("sessions") and chart.layer("sessions").isVisible()
    legend.set_checked("fvg", True)
    assert chart.layer("fvg").isVisible()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    window.close()


def test_trade_and_setup_layers_draw_from_plain_arrays(chart_with_overlays):
    chart, overlays = chart_with_overlays
    trades = trade_layer(entry_bar=[100, 300, 500], exit_bar=[140, 320, -1], entry=[1.13, 1.131, 1.132],
                         stop=[1.129, 1.132, 1.131], target=[1.133, 1.128, 1.135], direction=[1, -1, 1],
                         exit_price=[1.133, 1.132, np.nan], labels=["+3.0R", "-1.0R", ""])
    boxes = [b for b in trades.batches if isinstance(b, Boxes)]
    stop = next(b for b in boxes if b.style.role == "stop")
    assert stop.x0.tolist() == [99.5, 299.5, 499.5] and stop.x1.tolist() == [140.5, 320.5, 501.5]
    assert stop.y0[1] == 1.131 and stop.y1[1] == 1.132
    setups = setup_layer([0, 0, 0, 1, 1], [90, 95, 100, 290, 300], [1.129, 1.131, 1.13, 1.132, 1.131],
                         ["sweep", "FVG", "entry", "sweep", "entry"])
    assert setups.objects == 2 and sum(len(b) for b in setups.of_role("step")) == 3 + 5  # 3 joins, 5 dots
    overlays.set_layers({"trades": trades, "setups": setups})
    chart.set_x_window(80, 360)
    chart.grab()
    assert overlays.items["trades"].last_drawn > 0 and overlays.items["setups"].last_drawn > 0
    with pytest.raises(KeyError, match="no overlay layer"):
        overlays.set_layers({"trade": trades})
