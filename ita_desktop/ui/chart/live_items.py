"""Chart items of live mode: the forming candle and the signals' markers with entry, stop and targets.

The forming candle is its own tiny item at x = bar count, so a tick repaints one candle and never
touches the closed bars' cached rows. A signal marker is an arrow at its signal bar and short
horizontal lines from there: entry (the theme's foreground), stop (down colour) and each target
(up colour), so the trader reads the trade plan where it was raised.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QLineF, QPointF, QRectF
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF

from ita_desktop.ui.chart.candles import BODY_WIDTH

PLAN_BARS = 30  # how far right of the signal bar its entry/stop/target lines reach


@dataclass(frozen=True)
class FormingBar:
    index: float  # x of the forming bar (the count of closed bars)
    open: float
    high: float
    low: float
    close: float


def _pen(color: str, width: int = 1, dash: bool = False) -> QPen:
    pen = QPen(QColor(color))
    pen.setCosmetic(True)
    pen.setWidth(width)
    if dash:
        pen.setDashPattern([4, 3])
    return pen


class FormingCandleItem(pg.GraphicsObject):
    """The candle still forming (moved by ticks); hidden when there is none."""

    def __init__(self, up: str = "#26a69a", down: str = "#ef5350") -> None:
        super().__init__()
        self.bar: FormingBar | None = None
        self.set_colors(up, down)

    def set_colors(self, up: str, down: str) -> None:
        self._up, self._down = up, down
        self.update()

    def set_bar(self, bar: FormingBar | None) -> None:
        self.prepareGeometryChange()
        self.bar = bar
        self.update()

    def boundingRect(self) -> QRectF:
        b = self.bar
        if b is None:
            return QRectF()
        return QRectF(b.index - 0.5, b.low, 1.0, max(b.high - b.low, 1e-9))

    def paint(self, painter: QPainter, option, widget=None) -> None:
        b = self.bar
        if b is None:
            return
        color = self._up if b.close >= b.open else self._down
        painter.setPen(_pen(color))
        painter.setBrush(pg.mkBrush(color))
        if b.high > b.low:
            painter.drawLine(QLineF(b.index, b.low, b.index, b.high))
        half = BODY_WIDTH / 2
        top, bottom = max(b.open, b.close), min(b.open, b.close)
        if top > bottom:
            painter.drawRect(QRectF(b.index - half, bottom, 2 * half, top - bottom))
        else:
            painter.drawLine(QLineF(b.index - half, top, b.index + half, top))


@dataclass(frozen=True)
class SignalMark:
    """One raised signal placed on the chart (prices None where the rule gives none)."""

    key: str
    index: int  # bar index of the signal
    direction: int
    entry: float | None
    stop: float | None
    targets: tuple[float, ...]
    label: str


class SignalMarkersItem(pg.GraphicsObject):
    """Arrows at the signals' bars and their entry/stop/target lines."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: dict[str, SignalMark] = {}
        self._bounds = QRectF()
        self.set_colors("#d1d4dc", "#26a69a", "#ef5350")

    def set_colors(self, entry: str, up: str, down: str) -> None:
        self._entry_pen, self._target_pen, self._stop_pen = _pen(entry, 1, dash=True), _pen(up), _pen(down)
        self._up, self._down = QColor(up), QColor(down)
        self.update()

    def add(self, mark: SignalMark) -> None:
        self.prepareGeometryChange()
        self.marks[mark.key] = mark
        prices = [p for m in self.marks.values() for p in (m.entry, m.stop, *m.targets) if p is not None]
        xs = [m.index for m in self.marks.values()]
        if prices:
            self._bounds = QRectF(min(xs) - 1, min(prices), max(xs) - min(xs) + PLAN_BARS + 2,
                                  max(max(prices) - min(prices), 1e-9))
        self.update()

    def clear(self) -> None:
        self.prepareGeometryChange()
        self.marks.clear()
        self._bounds = QRectF()
        self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:
        px = abs(painter.worldTransform().m11()) or 1.0
        py = abs(painter.worldTransform().m22()) or 1.0
        for m in self.marks.values():
            x0, x1 = m.index - 0.5, m.index + PLAN_BARS
            for price, pen in ((m.entry, self._entry_pen), (m.stop, self._stop_pen),
                               *((t, self._target_pen) for t in m.targets)):
                if price is not None:
                    painter.setPen(pen)
                    painter.drawLine(QLineF(x0, price, x1, price))
            if m.entry is None:
                continue
            # an arrow of ~10 px pointing the trade's way, just beyond the entry line
            w, h = 6.0 / px, 10.0 / py
            tip_y = m.entry - m.direction * 2.0 / py
            base_y = tip_y - m.direction * h
            painter.setPen(QPen(QColor(0, 0, 0, 0)))
            painter.setBrush(pg.mkBrush(self._up if m.direction > 0 else self._down))
            painter.drawPolygon(QPolygonF([QPointF(m.index, tip_y), QPointF(m.index - w, base_y),
                                           QPointF(m.index + w, base_y)]))
