"""The candlestick item: draws only what is visible, from cached pictures of bar chunks.

x is the bar index (bar i is centred on x = i), y is price. Each paint picks the aggregation
level that puts about one group per pixel column (see downsample.py), then replays a cached
QPicture per chunk of CHUNK groups that intersects the view. Panning replays pictures that
already exist; only a zoom to a new level records new ones, and only for the visible chunks.
"""

from __future__ import annotations

from collections import OrderedDict
from math import ceil, floor

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QRectF, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPicture

from ita_desktop.ui.chart.downsample import OHLC, Pyramid, level_for

CHUNK = 256
MAX_PICTURES = 512
BODY_WIDTH = 0.8  # of one bar (or group) slot


class CandleItem(pg.GraphicsObject):
    """Candles for one series. ``painted`` fires after each paint that drew candles."""

    painted = Signal()

    def __init__(self, up: str = "#26a69a", down: str = "#ef5350") -> None:
        super().__init__()
        self._pyramid: Pyramid | None = None
        self._count = 0
        self._bounds = QRectF()
        self._pictures: OrderedDict[tuple[int, int], QPicture] = OrderedDict()
        self.last_group = 1
        self.set_colors(up, down)

    # -- data -------------------------------------------------------------------------
    def set_series(self, pyramid: Pyramid | None) -> None:
        self.prepareGeometryChange()
        self._pyramid = pyramid
        self._pictures.clear()
        raw = pyramid.raw if pyramid is not None else None
        self._count = len(raw) if raw is not None else 0
        if self._count:
            lo, hi = float(raw.low.min()), float(raw.high.max())
            self._bounds = QRectF(-0.5, lo, float(self._count), max(hi - lo, 1e-9))
        else:
            self._bounds = QRectF()
        self.update()

    def set_colors(self, up: str, down: str) -> None:
        def pen(color: str) -> QPen:
            p = QPen(QColor(color))
            p.setCosmetic(True)
            p.setWidth(1)
            return p

        self._up_pen, self._down_pen = pen(up), pen(down)
        self._up_brush, self._down_brush = pg.mkBrush(up), pg.mkBrush(down)
        self._pictures.clear()
        self.update()

    # -- QGraphicsItem ----------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self._pyramid is None or not self._count:
            return
        px_per_bar = abs(painter.worldTransform().m11())
        group = level_for(1.0 / px_per_bar if px_per_bar > 0 else float(self._count))
        self.last_group = group
        view = self.viewRect()
        if view is None:
            return
        first = max(0, floor(view.left() / group))
        last = min(ceil(self._count / group), ceil((view.right() + 1) / group))
        for chunk in range(first // CHUNK, (max(last, first + 1) - 1) // CHUNK + 1):
            painter.drawPicture(0, 0, self._picture(group, chunk))
        self.painted.emit()

    # -- pictures ---------------------------------------------------------------------
    def _picture(self, group: int, chunk: int) -> QPicture:
        key = (group, chunk)
        picture = self._pictures.get(key)
        if picture is not None:
            self._pictures.move_to_end(key)
            return picture
        picture = self._record(self._pyramid.level(group), chunk)
        self._pictures[key] = picture
        if len(self._pictures) > MAX_PICTURES:
            self._pictures.popitem(last=False)
        return picture

    def _record(self, series: OHLC, chunk: int) -> QPicture:
        """Wicks and bodies of groups [chunk*CHUNK, (chunk+1)*CHUNK), batched by colour.

        A flat body (open == close) is drawn as a line, and a bar with high == low gets no wick:
        a QPicture replays a zero-length line as a stroke over the whole view height.
        """
        g = series.group
        lo, hi = chunk * CHUNK, min((chunk + 1) * CHUNK, len(series))
        o, h, l, c = (a[lo:hi] for a in (series.open, series.high, series.low, series.close))
        x = np.arange(lo, hi, dtype=np.float64) * g + (g - 1) / 2.0
        half = BODY_WIDTH * g / 2.0
        top, bottom = np.maximum(o, c), np.minimum(o, c)
        up = c >= o
        flat = top <= bottom
        picture = QPicture()
        painter = QPainter(picture)
        for side, pen, brush in ((up, self._up_pen, self._up_brush), (~up, self._down_pen, self._down_brush)):
            if not side.any():
                continue
            painter.setPen(pen)
            painter.setBrush(brush)
            wick = side & (h > l)
            xs, ls, hs = x[wick].tolist(), l[wick].tolist(), h[wick].tolist()
            lines = [QLineF(xi, li, xi, hi_) for xi, li, hi_ in zip(xs, ls, hs)]
            body = side & ~flat
            xs, bs, ts = x[body].tolist(), bottom[body].tolist(), top[body].tolist()
            rects = [QRectF(xi - half, bi, 2 * half, ti - bi) for xi, bi, ti in zip(xs, bs, ts)]
            doji = side & flat
            lines += [QLineF(xi - half, yi, xi + half, yi) for xi, yi in zip(x[doji].tolist(), top[doji].tolist())]
            painter.drawLines(lines)
            if rects:
                painter.drawRects(rects)
        painter.end()
        return picture
