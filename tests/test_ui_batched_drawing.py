"""Numpy rows handed to QPainter in one call (ui/chart/batched.py) paint what a QRectF/QLineF per
shape painted, and the candles drawn from cached chunk rows are the candles drawn one by one."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QLineF, QRectF
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QTransform

from ita_desktop.ui.chart.batched import draw_lines, draw_rects
from ita_desktop.ui.chart.candles import BODY_WIDTH, CHUNK, CandleItem
from ita_desktop.ui.chart.downsample import Pyramid

SIZE = (900, 500)


def paint(draw, transform: QTransform | None = None) -> QImage:
    image = QImage(*SIZE, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QColor("#101010"))
    painter = QPainter(image)
    if transform is not None:
        painter.setTransform(transform)
    draw(painter)
    painter.end()
    return image


def test_rows_paint_the_same_pixels_as_one_object_per_shape(qapp):
    rng = np.random.default_rng(3)
    rects = np.column_stack((rng.uniform(0, 800, 200), rng.uniform(0, 400, 200), rng.uniform(1, 90, 200),
                             rng.uniform(1, 60, 200)))
    lines = rng.uniform(0, 850, (300, 4))
    pen = QPen(QColor(200, 120, 40, 200))
    pen.setDashPattern([4.0, 3.0])  # a dash pattern runs on from line to line within one call

    def batched(p: QPainter) -> None:
        p.setPen(pen)
        p.setBrush(QColor(40, 160, 150, 70))
        draw_rects(p, np.asfortranarray(rects))  # any layout: the helper makes the rows contiguous
        draw_lines(p, lines)

    def objects(p: QPainter) -> None:
        p.setPen(pen)
        p.setBrush(QColor(40, 160, 150, 70))
        p.drawRects([QRectF(*r) for r in rects.tolist()])
        p.drawLines([QLineF(*r) for r in lines.tolist()])

    assert paint(batched) == paint(objects)
    assert paint(batched) != paint(lambda p: draw_rects(p, rects[:-1]))  # the comparison can see one rect
    assert paint(lambda p: (draw_rects(p, np.empty((0, 4))), draw_lines(p, np.empty((0, 4))))) == paint(lambda p: None)
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        draw_rects(QPainter(), rects[:, :3])


def candles_one_by_one(p: QPainter, item: CandleItem, level, start: int, stop: int, skip: int = -1) -> None:
    """Groups [start, stop) of ``level`` but ``skip``, every candle as its own QLineF / QRectF:
    up colour first, then down (as the item layers them)."""
    group = level.group
    o, h, l, c = (a[start:stop] for a in (level.open, level.high, level.low, level.close))
    x = np.arange(start, stop, dtype=np.float64) * group + (group - 1) / 2.0
    half = BODY_WIDTH * group / 2.0
    for up, pen, brush in ((True, item._up_pen, item._up_brush), (False, item._down_pen, item._down_brush)):
        p.setPen(pen)
        p.setBrush(brush)
        lines, rects = [], []
        for i in range(len(o)):
            if (c[i] >= o[i]) != up or i == skip - start:
                continue
            top, bottom = max(o[i], c[i]), min(o[i], c[i])
            if h[i] > l[i]:
                lines.append(QLineF(x[i], l[i], x[i], h[i]))
            if top > bottom:
                rects.append(QRectF(x[i] - half, bottom, 2 * half, top - bottom))
            else:
                lines.append(QLineF(x[i] - half, top, x[i] + half, top))
        for line in lines:
            p.drawLine(line)
        for rect in rects:
            p.drawRect(rect)


@pytest.mark.parametrize("px_per_bar", [3.0, 0.3])  # groups of 1 and of 4 bars
def test_candles_from_chunk_rows_are_the_candles_one_by_one(qapp, monkeypatch, px_per_bar):
    rng = np.random.default_rng(5)
    n = 3 * CHUNK + 40
    close = 100 + np.cumsum(rng.normal(0, 0.5, n))
    open_ = np.r_[100.0, close[:-1]]
    open_[::17] = close[::17]  # flat bodies
    high = np.maximum(open_, close) + rng.exponential(0.3, n)
    low = np.minimum(open_, close) - rng.exponential(0.3, n)
    high[::23] = low[::23] = open_[::23] = close[::23]  # bars with no range: no wick, a flat body
    pyramid = Pyramid(open_, high, low, close)
    pyramid.build_all()
    item = CandleItem()
    item.set_series(pyramid)
    first = 30.0 if px_per_bar > 1 else 0.0
    view = QRectF(first, float(low.min()), SIZE[0] / px_per_bar, float(high.max() - low.min()))
    monkeypatch.setattr(item, "viewRect", lambda: view)
    sy = -SIZE[1] / view.height()
    transform = QTransform(px_per_bar, 0, 0, sy, -first * px_per_bar, -view.bottom() * sy)

    image = paint(lambda p: item.paint(p, None), transform)
    group = item.last_group
    assert group == (1 if px_per_bar > 1 else 4)
    level = pyramid.level(group)
    last = int(np.ceil((view.right() + 1) / group))
    start = int(first // group) // CHUNK * CHUNK  # whole chunks: the item draws every chunk it meets
    stop = min(len(level), ((last - 1) // CHUNK + 1) * CHUNK)
    assert image == paint(lambda p: candles_one_by_one(p, item, level, start, stop), transform)
    visible = int(first) // group + 10
    assert image != paint(lambda p: candles_one_by_one(p, item, level, start, stop, skip=visible), transform)
