"""OverlayItem: paints one layer's batches, only what meets the view, in a few batched calls.

Shapes are stored in data coordinates (x = bar index, y = price) but drawn in device pixels:
each frame maps the visible shapes with numpy (x' = sx·x + dx, y' = sy·y + dy), so markers and
labels keep their pixel size at every zoom, dashes do not stretch with the x scale, and long
lines are clipped to the viewport before Qt sees them. One pen/brush per batch and one
drawRects / drawLines call per batch, handed the numpy rows as they are (ui/chart/batched.py):
no pyqtgraph item, and no Python object, per box or line. A marker is its shape's path, built
once at the origin and drawn at each point: one antialiased path of every marker, spanning the
view, took three times as long to fill, and left a hole where two markers met (even-odd fill).
Labels are QStaticText laid out once per text.

When zoomed far out a layer may meet tens of thousands of shapes. A frame then drops boxes and
lines under MIN_PIXELS wide (a zone one pixel wide tells nothing), shares LAYER_BUDGET shapes
among the layer's batches keeping the longest (the long-lived zones and levels are what a wide
view is for), skips markers above MAX_MARKERS, and labels only when few enough to read
(MAX_LABELS). That bounds a frame's cost whatever the series length.
"""

from __future__ import annotations

from math import floor

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QPolygonF, QStaticText, QTransform,
)

from ita_desktop.ui.chart.batched import draw_lines, draw_rects
from ita_desktop.ui.chart.overlays.shapes import Boxes, LayerShapes, Markers, Segments, Style

LAYER_BUDGET = 350  # boxes + lines per layer and frame
MIN_BATCH_BUDGET = 60
MIN_PIXELS = 3.0
MAX_MARKERS = 150  # per batch; more means zoomed out too far to tell markers apart
MAX_LABELS = 40
PIXEL_PAD = 12.0  # drawn beyond the viewport edge so clipped lines end off screen
LABEL_POINT_SIZE = 8
MAX_TEXTS = 4096  # laid-out label texts kept per layer


class OverlayItem(pg.GraphicsObject):
    """One legend entry on the chart. ``painted`` fires after each paint (used for "drawn")."""

    painted = Signal()

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.shapes = LayerShapes(name)
        self._bounds = QRectF()
        self._palette: dict[str, str] = {}
        self._tools: dict[Style, tuple[QPen, QBrush]] = {}
        self._label_pens: dict[str, QPen] = {}
        self._marker_paths: dict[tuple[str, float], QPainterPath] = {}
        self._font = QFont()
        self._font.setPointSize(LABEL_POINT_SIZE)
        self._metrics = QFontMetricsF(self._font)
        # plain floats: a plan made on the overlay worker must not touch the font (its engines are per thread)
        self._ascent, self._line_height = self._metrics.ascent(), self._metrics.height()
        self._texts: dict[str, tuple[QStaticText, float]] = {}  # label text -> (laid out, advance)
        self._placed = _LabelSpace(self._metrics.height())  # labels drawn in the current paint
        self._shared_labels = False  # True: the OverlaySet shares one space among its layers, cleared per frame
        self.last_drawn = 0  # shapes drawn by the last paint (tests and the benchmark read it)
        self._version = 0  # bumped when the shapes or colours change: the plan of a frame is then stale
        self._plan: _Plan | None = None  # the last frame's draw calls

    # -- data -------------------------------------------------------------------------
    def set_shapes(self, shapes: LayerShapes | None, n_bars: int, low: float, high: float) -> None:
        """Show ``shapes`` over a series of ``n_bars`` bars with prices in [low, high].

        The bounds cover the whole series (and beyond in price), so the item is asked to paint
        whenever the chart is: shapes outside them are not lost, only the view decides."""
        self.prepareGeometryChange()
        self.shapes = shapes or LayerShapes(self.name)
        self._version += 1
        if len(self._texts) > MAX_TEXTS:  # laid-out labels are kept across updates (the same texts recur)
            self._texts.clear()
        span = max(high - low, 1e-9)
        self._bounds = QRectF(-0.5, low - span, float(max(n_bars, 1)) + 16, 3 * span) if n_bars else QRectF()
        self.update()

    def share_labels(self, space: "_LabelSpace") -> None:
        """Place labels in ``space``, shared with the chart's other layers, so a label of one layer
        never sits on another layer's ("CHoCH" over "EQL"); the owner clears it before each frame."""
        self._placed = space
        self._shared_labels = True
        self._version += 1

    def set_palette(self, palette: dict[str, str]) -> None:
        self._palette = dict(palette)
        self._version += 1
        self._tools.clear()
        self._label_pens.clear()
        self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    @property
    def version(self) -> int:
        """Bumped by every change of shapes, palette or label space (a plan made before it is stale)."""
        return self._version

    # -- paint ------------------------------------------------------------------------
    def paint(self, painter: QPainter, option, widget=None) -> None:
        """Draw the shapes meeting the view. What to draw (visible shapes mapped to pixels, labels placed)
        is planned once per view, shapes and palette, then replayed: a repaint of part of the chart (a
        tick's forming candle, the crosshair) or of an unchanged view costs the Qt calls only."""
        view = self.viewRect()
        if view is None or not self.shapes.batches:
            self.last_drawn = 0
            self._plan = None
            self.painted.emit()
            return
        frame = frame_key(painter.worldTransform(), view)
        key = (self._version, *frame)
        plan = self._plan
        if plan is None or plan.key != key:
            if not self._shared_labels:
                self._placed.clear()
            plan = self._plan = self._planned(key, frame, self.shapes, self._placed)
        elif self._shared_labels:
            for rect in plan.labels:  # the frame's other layers avoid these labels as when planned
                self._placed.add(*rect)
        painter.save()
        painter.resetTransform()
        painter.setFont(self._font)
        for op, *args in plan.ops:
            if op == "rects":
                draw_rects(painter, args[0])
            elif op == "lines":
                draw_lines(painter, args[0])
            elif op == "tools":
                painter.setPen(args[0])
                painter.setBrush(args[1])
            elif op == "label":
                painter.drawStaticText(args[0], args[1])
            elif op == "markers":
                path, xs, ys = args
                painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
                for x, y in zip(xs, ys):  # the transform is the identity here (reset above)
                    painter.translate(x, y)
                    painter.drawPath(path)
                    painter.translate(-x, -y)
                painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.restore()
        self.last_drawn = plan.drawn
        self.painted.emit()

    # -- a frame planned ahead, on the overlay worker ------------------------------------
    def frame_now(self) -> tuple[float, ...] | None:
        """The frame (device transform and view, as ``frame_key``) the next paint will see, unless the view
        changes first (GUI thread): what ``plan_ahead`` plans for."""
        view, views = self.viewRect(), self.scene().views() if self.scene() is not None else []
        if view is None or not views:
            return None
        return frame_key(self.deviceTransform(views[0].viewportTransform()), view)

    def plan_ahead(self, shapes: LayerShapes, frame: tuple[float, ...], space: "_LabelSpace") -> "_Plan | None":
        """Plan ``shapes`` for ``frame`` off the GUI thread (the live overlays' worker, the labels placed in
        ``space`` as the frame's paint would); None when a label's text was never laid out (that needs the
        font: the paint plans it). Touches no Qt object shared with the GUI thread but pens and paths, which
        are values. ``adopt`` hands the plan to the item with the shapes."""
        if not shapes.batches:
            return None
        try:
            return self._planned(frame, frame, shapes, space, ahead=True)
        except _NotLaidOut:
            return None

    def adopt(self, plan: "_Plan", shapes: LayerShapes, version: int) -> bool:
        """Use ``plan`` (made by ``plan_ahead`` for ``shapes``) for the next paint if the item still shows those
        shapes at ``version`` (no palette or shapes changed since): that paint then only replays it."""
        if self.shapes is not shapes or self._version != version:
            return False
        plan.key = (version, *plan.key)
        self._plan = plan
        return True

    def _planned(self, key: tuple, frame: tuple[float, ...], shapes: LayerShapes, space: "_LabelSpace",
                 ahead: bool = False) -> "_Plan":
        """The draw calls of one frame: the visible shapes in pixels, within the layer's budget, the labels
        placed in ``space``."""
        sx, sy, dx, dy, left, right, top, bottom = frame
        xa, xb = sorted((sx * left + dx, sx * right + dx))
        ya, yb = sorted((sy * top + dy, sy * bottom + dy))
        frame = _Frame(sx, sy, dx, dy, xa - PIXEL_PAD, xb + PIXEL_PAD, ya - PIXEL_PAD, yb + PIXEL_PAD)
        margin = PIXEL_PAD / abs(sx) if sx else 0.0
        plan = _Plan(key, space, ahead)
        visible = [(b, b.index.visible(left - margin, right + margin)) for b in shapes.batches]
        spans = [(b, self._wide_enough(b, ids, abs(sx))) for b, ids in visible if len(ids) and not isinstance(b, Markers)]
        budget = max(LAYER_BUDGET // max(len(spans), 1), MIN_BATCH_BUDGET)
        for batch, ids in spans:
            if len(ids):
                ids = self._longest(batch, ids, budget)
                draw = self._boxes if isinstance(batch, Boxes) else self._segments
                plan.drawn += draw(plan, batch, ids, frame)
        for batch, ids in visible:
            if isinstance(batch, Markers) and 0 < len(ids) <= MAX_MARKERS:
                plan.drawn += self._markers(plan, batch, ids, frame)
        return plan

    @staticmethod
    def _wide_enough(batch: Boxes | Segments, ids: np.ndarray, px_per_bar: float) -> np.ndarray:
        """Drop shapes under MIN_PIXELS wide unless they are tall (a sloped line is never dropped)."""
        wide = np.abs(batch.x1[ids] - batch.x0[ids]) * px_per_bar >= MIN_PIXELS
        if isinstance(batch, Segments):
            wide |= batch.y1[ids] != batch.y0[ids]
        return ids[wide]

    @staticmethod
    def _longest(batch: Boxes | Segments, ids: np.ndarray, budget: int) -> np.ndarray:
        if len(ids) <= budget:
            return ids
        length = np.abs(batch.x1[ids] - batch.x0[ids])
        return ids[np.argpartition(-length, budget)[:budget]]

    def _tools_for(self, style: Style) -> tuple[QPen, QBrush]:
        tools = self._tools.get(style)
        if tools is None:
            color = QColor(self._palette.get(style.role, "#ff00ff"))  # magenta: a role nobody coloured
            line = QColor(color)
            line.setAlpha(style.line_alpha)
            pen = QPen(line) if style.line_alpha else QPen(Qt.PenStyle.NoPen)
            pen.setWidthF(style.width)
            pen.setCosmetic(True)
            if style.dash and style.line_alpha:
                pen.setDashPattern([4.0, 3.0])
            fill = QColor(color)
            fill.setAlpha(style.fill_alpha)
            brush = QBrush(fill) if style.fill_alpha else QBrush(Qt.BrushStyle.NoBrush)
            tools = self._tools[style] = (pen, brush)
        return tools

    def _boxes(self, plan: "_Plan", b: Boxes, ids: np.ndarray, f: "_Frame") -> int:
        x0, x1 = f.x(b.x0[ids]), f.x(b.x1[ids])
        y0, y1 = f.y(b.y0[ids]), f.y(b.y1[ids])
        rects = _rows4(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(np.abs(x1 - x0), 1.0),
                       np.maximum(np.abs(y1 - y0), 1.0))
        plan.ops.append(("tools", *self._tools_for(b.style)))
        plan.ops.append(("rects", rects))
        return len(ids)

    def _segments(self, plan: "_Plan", s: Segments, ids: np.ndarray, f: "_Frame") -> int:
        x0, x1 = f.x(s.x0[ids]), f.x(s.x1[ids])
        y0, y1 = f.y(s.y0[ids]), f.y(s.y1[ids])
        pen, brush = self._tools_for(s.style)
        plan.ops.append(("tools", pen, brush))
        plan.ops.append(("lines", _rows4(x0, y0, x1, y1)))
        if s.labels is not None and len(ids) <= MAX_LABELS:
            below = s.style.role in ("bear", "sellside")
            dy = self._ascent + 1 if below else -3.0
            self._set_label_pen(plan, s.style)
            for k, xa, xb, ya, yb in zip(ids.tolist(), x0.tolist(), x1.tolist(), y0.tolist(), y1.tolist()):
                text = s.labels[k]
                static, w = self._text(text, plan.ahead)
                if s.style.label_at == "mid":
                    if abs(xb - xa) < w:  # a label longer than its line would float over other bars
                        continue
                    x = (xa + xb) / 2 - w / 2
                    if x < f.left + PIXEL_PAD or x + w > f.right - PIXEL_PAD:
                        continue  # half out of the plot: "OS" for BOS at the left edge
                else:  # right end of the visible part, inside the line and the plot
                    x = max(min(xb, f.right - PIXEL_PAD) - w - 3, f.left + PIXEL_PAD + 2)
                self._label(plan, x, (ya + yb) / 2 + dy, w, static)
        return len(ids)

    def _markers(self, plan: "_Plan", m: Markers, ids: np.ndarray, f: "_Frame") -> int:
        xs, ys = f.x(m.x[ids]).tolist(), f.y(m.y[ids]).tolist()
        path = self._marker_path(m.shape, m.style.size)
        pen, brush = self._tools_for(m.style)
        plan.ops.append(("tools", pen if m.shape == "cross" else _NO_PEN,
                         brush if m.shape != "cross" else _NO_BRUSH))
        plan.ops.append(("markers", path, xs, ys))
        if m.labels is not None and len(ids) <= MAX_LABELS:
            r = m.style.size / 2
            dy = {"up": 3 + 2 * r + self._ascent, "down": -3 - 2 * r - 2}.get(m.shape, -r - 2)
            self._set_label_pen(plan, m.style)
            lo, hi = f.left + PIXEL_PAD + 2, f.right - PIXEL_PAD - 2  # inside the plot: never cut by its edges
            for k, x, y in zip(ids.tolist(), xs, ys):
                static, w = self._text(m.labels[k], plan.ahead)
                self._label(plan, min(max(x - w / 2, lo), hi - w), y + dy, w, static)
        return len(ids)

    def _marker_path(self, shape: str, size: float) -> QPainterPath:
        """The marker's outline around a point at the origin (triangles sit beside it, off the wick)."""
        key = (shape, size)
        path = self._marker_paths.get(key)
        if path is None:
            r = size / 2
            path = self._marker_paths[key] = QPainterPath()
            if shape in ("up", "down"):  # "up" below the point, pointing at it; "down" above it
                s = 1.0 if shape == "up" else -1.0
                path.addPolygon(QPolygonF([QPointF(0, s * 3), QPointF(-r, s * (3 + 2 * r)), QPointF(r, s * (3 + 2 * r))]))
                path.closeSubpath()
            elif shape == "dot":
                path.addEllipse(QPointF(0, 0), r, r)
            else:  # cross
                path.moveTo(-r, -r)
                path.lineTo(r, r)
                path.moveTo(-r, r)
                path.lineTo(r, -r)
        return path

    def _text(self, text: str, ahead: bool = False) -> tuple[QStaticText, float]:
        """``text`` laid out once for the label font, and its advance width (``ahead``: off the GUI thread,
        where only texts already laid out are used)."""
        cached = self._texts.get(text)
        if cached is None:
            if ahead:
                raise _NotLaidOut(text)
            static = QStaticText(text)
            static.setTextFormat(Qt.TextFormat.PlainText)
            static.prepare(QTransform(), self._font)
            cached = self._texts[text] = (static, self._metrics.horizontalAdvance(text))
        return cached

    def _label(self, plan: "_Plan", x: float, y: float, width: float, text: QStaticText) -> None:
        """Draw a label with its baseline at ``y`` unless it would overlap one already drawn in this frame."""
        top = y - self._ascent
        rect = (x, top, x + width, top + self._line_height)
        if plan.space.take(*rect):
            plan.ops.append(("label", QPointF(x, top), text))
            plan.labels.append(rect)

    def _set_label_pen(self, plan: "_Plan", style: Style) -> None:
        pen = self._label_pens.get(style.role)
        if pen is None:
            pen = self._label_pens[style.role] = QPen(
                QColor(self._palette.get(style.role, self._palette.get("label", "#ffffff"))))
        plan.ops.append(("tools", pen, _NO_BRUSH))


def frame_key(t: QTransform, view: QRectF) -> tuple[float, ...]:
    """What a layer's plan depends on besides its shapes and palette: the data -> device scale and offset
    (sx, sy, dx, dy) and the view (left, right, top, bottom, in data coordinates)."""
    return t.m11(), t.m22(), t.dx(), t.dy(), view.left(), view.right(), view.top(), view.bottom()


class _NotLaidOut(Exception):
    """A label text not yet laid out, met while planning off the GUI thread."""


_NO_PEN = QPen(Qt.PenStyle.NoPen)
_NO_BRUSH = QBrush(Qt.BrushStyle.NoBrush)


class _Plan:
    """One frame's draw calls for a layer, for the view, shapes and palette in ``key``."""

    __slots__ = ("key", "ops", "labels", "drawn", "space", "ahead")

    def __init__(self, key: tuple, space: "_LabelSpace", ahead: bool = False) -> None:
        self.key = key
        self.space = space  # where its labels are placed while planning
        self.ahead = ahead  # planned off the GUI thread (plan_ahead)
        self.ops: list[tuple] = []  # ("tools", pen, brush) | ("rects"/"lines", rows) | ("label", at, text) | ("markers", path, xs, ys)
        self.labels: list[tuple[float, float, float, float]] = []  # label rectangles drawn (device pixels)
        self.drawn = 0  # shapes drawn


class _LabelSpace:
    """The label rectangles drawn so far in one paint, filed by horizontal band of ``band`` pixels,
    so checking a new label looks at the few labels of its own rows rather than at all of them."""

    __slots__ = ("band", "rows", "__weakref__")  # weakref: a Qt signal may call clear

    def __init__(self, band: float) -> None:
        self.band = band
        self.rows: dict[int, list[tuple[float, float, float, float]]] = {}

    def clear(self) -> None:
        self.rows.clear()

    def take(self, left: float, top: float, right: float, bottom: float) -> bool:
        """Claim the rectangle unless it overlaps one claimed before (interiors meet, as in
        QRectF.intersects); False means "do not draw". An empty one claims nothing (draws nothing)."""
        if right <= left or bottom <= top:
            return False
        keys = range(floor(top / self.band), floor(bottom / self.band) + 1)
        for key in keys:
            for x0, y0, x1, y1 in self.rows.get(key, ()):
                if left < x1 and x0 < right and top < y1 and y0 < bottom:
                    return False
        self.add(left, top, right, bottom)
        return True

    def add(self, left: float, top: float, right: float, bottom: float) -> None:
        """Claim the rectangle whatever it overlaps (a label drawn again from a layer's plan)."""
        for key in range(floor(top / self.band), floor(bottom / self.band) + 1):
            self.rows.setdefault(key, []).append((left, top, right, bottom))


class _Frame:
    """Data -> device mapping of one paint, with coordinates clipped to just beyond the viewport."""

    __slots__ = ("sx", "sy", "dx", "dy", "left", "right", "top", "bottom")

    def __init__(self, sx: float, sy: float, dx: float, dy: float, left: float, right: float, top: float,
                 bottom: float) -> None:
        self.sx, self.sy, self.dx, self.dy = sx, sy, dx, dy
        self.left, self.right, self.top, self.bottom = left, right, top, bottom

    # np.clip's own wrapper cost more than the clipping on these short arrays (a plan maps ~100 batches)
    def x(self, values: np.ndarray) -> np.ndarray:
        out = self.sx * values + self.dx
        return _minimum(_maximum(out, self.left, out=out), self.right, out=out)

    def y(self, values: np.ndarray) -> np.ndarray:
        out = self.sy * values + self.dy
        return _minimum(_maximum(out, self.top - 4000.0, out=out), self.bottom + 4000.0, out=out)


_minimum, _maximum = np.minimum, np.maximum


def _rows4(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """(n, 4) float64 rows of four columns (what np.column_stack gives, without its checks)."""
    rows = np.empty((len(a), 4))
    rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3] = a, b, c, d
    return rows
