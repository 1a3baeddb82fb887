"""Chart overlays from the detectors on the real EURUSD bars: where they are drawn, and the legend.

The detector rows are the reference: a zone box must start at its row's bar and end at the bar
that ended it, a level line must sit at its row's price, in the layer arrays and on screen.
The painting tests at the end check what OverlayItem's batched calls put on the pixels.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen, QPolygonF, QTransform

from ita_desktop.config import load_settings
from ita_desktop.core.detection_service import detector_params
from ita_desktop.data.csv_import import read_csv
from ita_desktop.detectors.dispatcher import detect
from ita_desktop.detectors.objects import LevelKind
from ita_desktop.ui.chart import CandleChart
from ita_desktop.ui.chart.overlays import (
    LAYERS, Boxes, LayerShapes, Markers, OverlaySet, Segments, Style, overlay_data, series_key, setup_layer, trade_layer,
)
from ita_desktop.ui.chart.overlays import item as item_module
from ita_desktop.ui.chart.overlays.detector_layers import RIGHT_EDGE_BARS, OverlayOptions
from ita_desktop.ui.chart.overlays.item import OverlayItem, _LabelSpace
from ita_desktop.ui.chart.overlays.palette import overlay_palette
from ita_desktop.ui.main_window import MainWindow
from ita_desktop.ui.theme import get_theme
from tests.support.real_bars import store_bars
from tests.support.cores import new_core

WAIT_MS = 60_000


@pytest.fixture(scope="module")
def eurusd(eurusd_csv):
    return read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars


@pytest.fixture(scope="module")
def detected(eurusd):
    settings = load_settings()
    params = detector_params(settings)
    result = detect(eurusd, params=params)
    return result, overlay_data(eurusd, result)


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
    assert sum(len(b) for b in ce) == len(open_rows)  # a CE midline per gap still open (a filled one's is clutter)
    fills = {b.style.fill_alpha for b in layer.batches if isinstance(b, Boxes)}
    assert max(fills) == 70 and min(fills) < 20  # long-dead gaps fade (zones faded by age)
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
    from ita_desktop.ui.chart.overlays.detector_layers import LIQUIDITY_SWEEPS

    liquidity = np.isin(sweeps["sub"], LIQUIDITY_SWEEPS)  # opens' and IB raids are drawn with a setup only
    assert data.layers["sweeps"].objects == int(liquidity.sum()) < int((~swing).sum())
    assert data.layers["swing_sweeps"].objects == int(swing.sum())
    structure = data.layers["structure"]
    assert structure.objects == len(result.tables["structure"])
    lines = [b for b in structure.batches if isinstance(b, Segments)]
    row = result.tables["structure"][100]
    assert any(np.any((b.x0 == row["start"]) & (b.x1 == row["bar"]) & (b.y0 == row["price"])) for b in lines)


def test_overlays_are_drawn_and_toggled_from_the_legend(qtbot, ita_home, eurusd):
    store_bars(eurusd)
    window = MainWindow(new_core())
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


# -- painting: what OverlayItem hands the painter ---------------------------------------------
# A known layer is painted straight into an image through OverlayItem.paint, with a fixed
# data -> pixel transform, and compared pixel for pixel with the same shapes drawn the plain way
# (a QRectF / QLineF per shape, drawText per label, one QPainterPath of all markers).

SX, DX, SY, DY = 10.0, 5.0, -5.0, 550.0  # x' = 10 x + 5, y' = 550 - 5 y: exact for the values below
VIEW = QRectF(0.0, 0.0, 100.0, 100.0)


def _px(x: float) -> float:
    return SX * x + DX


def _py(y: float) -> float:
    return SY * y + DY


def _image(draw) -> QImage:
    image = QImage(1100, 600, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QColor("#101010"))
    painter = QPainter(image)
    draw(painter)
    painter.end()
    return image


def _paint_item(monkeypatch, layer: LayerShapes) -> tuple[QImage, OverlayItem]:
    item = OverlayItem(layer.name)
    item.set_palette(overlay_palette(get_theme("dark")))
    item.set_shapes(layer, 100, 0.0, 100.0)
    monkeypatch.setattr(item, "viewRect", lambda: VIEW)

    def draw(painter: QPainter) -> None:
        painter.setTransform(QTransform(SX, 0, 0, SY, DX, DY))
        item.paint(painter, None)

    return _image(draw), item


def _tools(style: Style) -> tuple[QPen, QBrush]:
    color = QColor(overlay_palette(get_theme("dark"))[style.role])
    line, fill = QColor(color), QColor(color)
    line.setAlpha(style.line_alpha)
    fill.setAlpha(style.fill_alpha)
    pen = QPen(line) if style.line_alpha else QPen(Qt.PenStyle.NoPen)
    pen.setWidthF(style.width)
    pen.setCosmetic(True)
    if style.dash and style.line_alpha:
        pen.setDashPattern([4.0, 3.0])
    return pen, QBrush(fill) if style.fill_alpha else QBrush(Qt.BrushStyle.NoBrush)


def _boxes(painter: QPainter, style: Style, boxes) -> None:
    pen, brush = _tools(style)
    painter.setPen(pen)
    painter.setBrush(brush)
    painter.drawRects([QRectF(_px(x0), _py(y1), _px(x1) - _px(x0), _py(y0) - _py(y1)) for x0, x1, y0, y1 in boxes])


def _lines(painter: QPainter, style: Style, lines) -> None:
    painter.setPen(_tools(style)[0])
    painter.drawLines([QLineF(_px(x0), _py(y0), _px(x1), _py(y1)) for x0, x1, y0, y1 in lines])


def _text(painter: QPainter, role: str, x: float, y: float, text: str) -> None:
    painter.setPen(QPen(QColor(overlay_palette(get_theme("dark"))[role])))
    painter.drawText(QPointF(x, y), text)


def test_a_layer_paints_the_shapes_and_labels_where_its_rows_say(qapp, monkeypatch):
    fvg, ob = Style("bull", fill_alpha=70, line_alpha=0), Style("ob_bull", fill_alpha=60)
    level, bos = Style("buyside", width=1.5), Style("bear", dash=True, label_at="mid")
    layer = LayerShapes("known")
    layer.add(Boxes([10, 50], [20, 70], [30, 60], [40, 80], fvg))
    layer.add(Boxes([75], [95], [5], [15], ob))
    # two levels close in price: the second label would cover the first, so it is not drawn
    layer.add(Segments([5, 5], [45, 45], [60, 60.5], [60, 60.5], level, ["PDH", "PWH"]))
    # a BOS labelled under its middle (bear), and one too short for its label
    layer.add(Segments([60, 92], [90, 93], [20, 10], [20, 10], bos, ["BOS", "CHoCH"]))
    up, cross = Style("bull", fill_alpha=255, size=9.0), Style("exit", width=2.0, size=9.0)
    layer.add(Markers([20], [10], "up", up, ["Sweep PDL"]))
    layer.add(Markers([40, 70], [90, 50], "dot", Style("bear", fill_alpha=255, size=5.0)))
    layer.add(Markers([85], [70], "cross", cross))
    image, item = _paint_item(monkeypatch, layer)
    assert item.last_drawn == 2 + 1 + 2 + 2 + 1 + 2 + 1

    font = QFont()
    font.setPointSize(8)
    metrics = QFontMetricsF(font)
    width = metrics.horizontalAdvance

    def expected(painter: QPainter) -> None:
        painter.setFont(font)
        _boxes(painter, fvg, [(10, 20, 30, 40), (50, 70, 60, 80)])
        _boxes(painter, ob, [(75, 95, 5, 15)])
        _lines(painter, level, [(5, 45, 60, 60), (5, 45, 60.5, 60.5)])
        _text(painter, "buyside", _px(45) - width("PDH") - 3, _py(60) - 3, "PDH")
        _lines(painter, bos, [(60, 90, 20, 20), (92, 93, 10, 10)])
        _text(painter, "bear", (_px(60) + _px(90)) / 2 - width("BOS") / 2, _py(20) + metrics.ascent() + 1, "BOS")
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        x, y, r = _px(20), _py(10), 4.5
        path = QPainterPath()
        path.addPolygon(QPolygonF([QPointF(x, y + 3), QPointF(x - r, y + 3 + 2 * r), QPointF(x + r, y + 3 + 2 * r)]))
        path.closeSubpath()
        painter.setPen(QPen(Qt.PenStyle.NoPen))
        painter.setBrush(_tools(up)[1])
        painter.drawPath(path)
        path = QPainterPath()
        for x, y in ((40, 90), (70, 50)):
            path.addEllipse(QPointF(_px(x), _py(y)), 2.5, 2.5)
        painter.setBrush(_tools(Style("bear", fill_alpha=255))[1])
        painter.drawPath(path)
        x, y = _px(85), _py(70)
        path = QPainterPath()
        path.moveTo(x - r, y - r)
        path.lineTo(x + r, y + r)
        path.moveTo(x - r, y + r)
        path.lineTo(x + r, y - r)
        painter.setPen(_tools(cross)[0])
        painter.setBrush(QBrush(Qt.BrushStyle.NoBrush))
        painter.drawPath(path)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        x, y = _px(20), _py(10)
        _text(painter, "bull", x - width("Sweep PDL") / 2, y + 3 + 2 * r + metrics.ascent(), "Sweep PDL")

    assert image == _image(expected)


def test_a_frame_draws_the_longest_shapes_within_the_budget_and_none_too_narrow(qapp, monkeypatch):
    monkeypatch.setattr(item_module, "LAYER_BUDGET", 3)
    monkeypatch.setattr(item_module, "MIN_BATCH_BUDGET", 1)
    style = Style("bull", fill_alpha=90, line_alpha=0)
    x0 = np.array([2.0, 12.0, 22.0, 42.0, 62.0, 80.0, 90.0])
    length = np.array([6.0, 9.0, 2.0, 15.0, 0.2, 4.0, 0.25])  # 0.2 and 0.25 bars are 2 and 2.5 pixels wide
    layer = LayerShapes("budget")
    layer.add(Boxes(x0, x0 + length, np.full(7, 20.0), np.full(7, 60.0), style))
    image, item = _paint_item(monkeypatch, layer)
    assert item.last_drawn == 3
    kept = [(x0[k], x0[k] + length[k], 20.0, 60.0) for k in (0, 1, 3)]
    assert image == _image(lambda p: _boxes(p, style, kept))

    monkeypatch.setattr(item_module, "LAYER_BUDGET", 10)  # room for all: the narrow ones still are not drawn
    image, item = _paint_item(monkeypatch, layer)
    assert item.last_drawn == 5
    kept = [(x0[k], x0[k] + length[k], 20.0, 60.0) for k in (0, 1, 2, 3, 5)]
    assert image == _image(lambda p: _boxes(p, style, kept))


def test_labels_skip_only_those_overlapping_a_label_already_drawn(qapp):
    """The banded look-up decides like comparing each label with every one drawn before."""
    rng = np.random.default_rng(8)
    space = _LabelSpace(12.8)
    drawn: list[QRectF] = []
    for left, top, width, height in zip(rng.uniform(0, 600, 3000).round(1), rng.uniform(-30, 400, 3000).round(1),
                                         rng.choice([0.0, 12.8, 25.6, 40.0], 3000), rng.choice([12.8, 6.4], 3000)):
        rect = QRectF(left, top, width, height)
        free = width > 0 and not any(rect.intersects(other) for other in drawn)
        assert space.take(left, top, left + width, top + height) == free, rect
        if free:
            drawn.append(rect)
    assert 50 < len(drawn) < 2000


def test_markers_at_one_point_draw_one_filled_marker(qapp, monkeypatch):
    """Two levels swept on one bar give two markers at one point: still a solid triangle, not the
    hole an even-odd fill of one shared path would leave."""
    style = Style("bear", fill_alpha=255, size=9.0)
    twice, once = LayerShapes("twice"), LayerShapes("once")
    twice.add(Markers([30, 30, 60], [50, 50, 40], "down", style))
    once.add(Markers([30, 60], [50, 40], "down", style))
    image, item = _paint_item(monkeypatch, twice)
    single = _paint_item(monkeypatch, once)[0]
    assert item.last_drawn == 3
    fill = QColor(overlay_palette(get_theme("dark"))["bear"])
    x, y = round(_px(30)), round(_py(50) - 3 - 4.5)  # inside the triangle above the point
    for dx, dy in ((0, 0), (-1, -2), (1, -2), (0, 2)):
        assert image.pixelColor(x + dx, y + dy) == single.pixelColor(x + dx, y + dy) == fill
    assert image.pixelColor(round(_px(60)), y - 10) == single.pixelColor(round(_px(60)), y - 10)


def test_a_repaint_of_the_same_view_replays_the_frame_and_new_shapes_replan_it(qapp, monkeypatch):
    """A repaint with the same view, shapes and colours (a tick's forming candle, the crosshair) draws the
    frame planned before, pixel for pixel, without planning it again; new shapes or colours plan anew."""
    level = Style("buyside", width=1.5)
    layer = LayerShapes("known")
    layer.add(Boxes([10, 50], [20, 70], [30, 60], [40, 80], Style("bull", fill_alpha=70, line_alpha=0)))
    layer.add(Segments([5, 5], [45, 45], [60, 60.5], [60, 60.5], level, ["PDH", "PWH"]))
    layer.add(Markers([20], [10], "up", Style("bull", fill_alpha=255, size=9.0), ["Sweep PDL"]))
    first, item = _paint_item(monkeypatch, layer)
    plan = item._plan
    planned = []
    monkeypatch.setattr(item, "_planned", lambda *a: planned.append(a) or OverlayItem._planned(item, *a))

    def draw(painter: QPainter) -> None:
        painter.setTransform(QTransform(SX, 0, 0, SY, DX, DY))
        item.paint(painter, None)

    again = _image(draw)
    assert again == first and item._plan is plan and not planned and item.last_drawn == 2 + 2 + 1
    moved = LayerShapes("known")
    moved.add(Boxes([30], [40], [30], [40], Style("bull", fill_alpha=70, line_alpha=0)))
    item.set_shapes(moved, 100, 0.0, 100.0)
    changed = _image(draw)
    assert len(planned) == 1 and changed != first and item.last_drawn == 1
    item.set_palette({**overlay_palette(get_theme("dark")), "bull": "#ff0000"})
    recoloured = _image(draw)
    assert len(planned) == 2 and recoloured != changed
