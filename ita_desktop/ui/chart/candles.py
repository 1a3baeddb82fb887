"""The candlestick item: draws only what is visible, from cached drawing rows of bar chunks.

x is the bar index (bar i is centred on x = i), y is price. Each paint picks the aggregation
level that puts about one group per pixel column (see downsample.py), then draws, per colour,
the wicks and bodies of each chunk of CHUNK groups that meets the view, from numpy rows cached
per chunk and handed to QPainter as they are (see batched.py). Panning draws rows that already
exist; only a zoom to a new level builds new ones (numpy only, ~0.06 ms a chunk), and only for
the visible chunks. Rows replaced recorded QPictures: recording a chunk cost ~0.65 ms (a zoom
frame recorded up to eight) and replaying pictures was slower than drawing the rows directly.
"""

from __future__ import annotations

from collections import OrderedDict
from math import ceil, floor
from typing import NamedTuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtGui import QColor, QPainter, QPen

from ita_desktop.ui.chart.batched import draw_lines, draw_rects
from ita_desktop.ui.chart.downsample import OHLC, Pyramid, level_for

CHUNK = 256
MAX_CHUNKS = 512  # cached chunks (about 16 KB each)
BODY_WIDTH = 0.8  # of one bar (or group) slot


class SideRows(NamedTuple):
    """The candles of one colour in a chunk, as drawing rows."""

    lines: np.ndarray  # (n, 4) x1, y1, x2, y2: wicks, and flat bodies
    rects: np.ndarray  # (n, 4) left, top, width, height: bodies


ChunkRows = tuple[SideRows, SideRows]  # up (close >= open), down


class CandleItem(pg.GraphicsObject):
    """Candles for one series. ``painted`` fires after each paint that drew candles."""

    painted = Signal()

    def __init__(self, up: str = "#26a69a", down: str = "#ef5350") -> None:
        super().__init__()
        self._pyramid: Pyramid | None = None
        self._count = 0
        self._bounds = QRectF()
        self._chunks: OrderedDict[tuple[int, int], ChunkRows] = OrderedDict()
        self.last_group = 1
        self.set_colors(up, down)

    # -- data -------------------------------------------------------------------------
    def set_series(self, pyramid: Pyramid | None) -> None:
        self.prepareGeometryChange()
        self._pyramid = pyramid
        self._chunks.clear()
        raw = pyramid.raw if pyramid is not None else None
        self._count = len(raw) if raw is not None else 0
        if self._count:
            lo, hi = float(raw.low.min()), float(raw.high.max())
            self._bounds = QRectF(-0.5, lo, float(self._count), max(hi - lo, 1e-9))
        else:
            self._bounds = QRectF()
        self.update()

    def extend(self, first_changed: int) -> None:
        """The series (the same pyramid) grew: drop only the cached rows of chunks at or after raw bar
        ``first_changed``; every other chunk keeps its rows (like finplot's update_data: the slice redrawn)."""
        raw = self._pyramid.raw if self._pyramid is not None else None
        if raw is None:
            return
        self.prepareGeometryChange()
        self._count = len(raw)
        for key in [k for k in self._chunks if (k[1] + 1) * CHUNK * k[0] > first_changed]:
            del self._chunks[key]
        top = self._bounds
        lo, hi = min(top.top(), float(raw.low[first_changed:].min())), max(top.bottom(), float(raw.high[first_changed:].max()))
        self._bounds = QRectF(-0.5, lo, float(self._count), max(hi - lo, 1e-9))
        self.update()

    def set_colors(self, up: str, down: str) -> None:
        def pen(color: str) -> QPen:
            p = QPen(QColor(color))
            p.setCosmetic(True)
            p.setWidth(1)
            return p

        self._up_pen, self._down_pen = pen(up), pen(down)
        self._up_brush, self._down_brush = pg.mkBrush(up), pg.mkBrush(down)
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
        chunks = [self._rows(group, chunk) for chunk in range(first // CHUNK, (max(last, first + 1) - 1) // CHUNK + 1)]
        for side, (pen, brush) in enumerate(((self._up_pen, self._up_brush), (self._down_pen, self._down_brush))):
            painter.setPen(pen)
            painter.setBrush(brush)
            for rows in chunks:  # down candles over up ones, across chunks as within one
                draw_lines(painter, rows[side].lines)
                draw_rects(painter, rows[side].rects)
        self.painted.emit()

    # -- rows -------------------------------------------------------------------------
    def _rows(self, group: int, chunk: int) -> ChunkRows:
        key = (group, chunk)
        rows = self._chunks.get(key)
        if rows is not None:
            self._chunks.move_to_end(key)
            return rows
        rows = self._chunks[key] = chunk_rows(self._pyramid.level(group), chunk)
        if len(self._chunks) > MAX_CHUNKS:
            self._chunks.popitem(last=False)
        return rows


def chunk_rows(series: OHLC, chunk: int) -> ChunkRows:
    """Wicks and bodies of groups [chunk*CHUNK, (chunk+1)*CHUNK) of ``series``.

    A flat body (open == close) is a line across the body's width, and a bar with high == low
    gets no wick: its flat body is all there is to draw.
    """
    g = series.group
    lo, hi = chunk * CHUNK, min((chunk + 1) * CHUNK, len(series))
    o, h, l, c = (a[lo:hi] for a in (series.open, series.high, series.low, series.close))
    x = np.arange(lo, hi, dtype=np.float64) * g + (g - 1) / 2.0
    half = BODY_WIDTH * g / 2.0
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    up = c >= o
    flat = top <= bottom
    sides = []
    for side in (up, ~up):
        wick, doji, body = side & (h > l), side & flat, side & ~flat
        lines = np.concatenate((np.column_stack((x[wick], l[wick], x[wick], h[wick])),
                                np.column_stack((x[doji] - half, top[doji], x[doji] + half, top[doji]))))
        rects = np.column_stack((x[body] - half, bottom[body], np.full(int(body.sum()), 2 * half), top[body] - bottom[body]))
        sides.append(SideRows(lines, rects))
    return sides[0], sides[1]
