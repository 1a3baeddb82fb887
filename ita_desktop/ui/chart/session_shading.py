"""Session shading: which bars fall in Asia / London / NY AM / NY PM, drawn as bands behind candles.

Windows are wall-clock ``HH:MM`` pairs on the session clock (America/New_York by default);
an end of 00:00 means midnight, and a start after the end wraps past midnight. A run is a
maximal stretch of consecutive bars inside one window on one session day.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter

from ita_desktop.domain.clock import DAY_MINUTES, parse_hhmm

MIN_RUN_PIXELS = 8.0  # narrower bands (zoomed far out) are only stripes: they are not drawn


def session_runs(local_seconds: np.ndarray, window: tuple[str, str]) -> np.ndarray:
    """(k, 2) array of [start, stop) bar indices of the runs inside ``window``."""
    local = np.asarray(local_seconds, dtype=np.int64)
    if local.size == 0:
        return np.empty((0, 2), dtype=np.int64)
    start, end = parse_hhmm(window[0]), parse_hhmm(window[1])
    end = DAY_MINUTES if end == 0 else end
    minute = local // 60 % DAY_MINUTES
    day = local // 86_400
    if start < end:
        inside = (minute >= start) & (minute < end)
    else:  # wraps midnight: the part after midnight belongs to the previous day's session
        after_midnight = minute < end
        inside = (minute >= start) | after_midnight
        day = day - after_midnight
    begins = inside & np.concatenate(([True], ~inside[:-1] | (day[1:] != day[:-1])))
    ends = inside & np.concatenate((~inside[1:] | (day[1:] != day[:-1]), [True]))
    return np.column_stack((np.flatnonzero(begins), np.flatnonzero(ends) + 1)).astype(np.int64)


def session_at(runs: dict[str, np.ndarray], index: int) -> str | None:
    """Name of the session whose run holds bar ``index`` (for the crosshair readout)."""
    for name, r in runs.items():
        k = int(np.searchsorted(r[:, 1], index, side="right")) if len(r) else 0
        if k < len(r) and r[k, 0] <= index:
            return name
    return None


class SessionShadingItem(pg.GraphicsObject):
    """Vertical bands for each session run; paints only the runs that intersect the view."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: dict[str, np.ndarray] = {}
        self._brushes: dict[str, QColor] = {}
        self._bounds = QRectF()

    def set_runs(self, runs: dict[str, np.ndarray], count: int, low: float, high: float) -> None:
        """Runs per session over ``count`` bars whose prices lie in [low, high]."""
        self.prepareGeometryChange()
        self.runs = runs
        span = max(high - low, 1e-9)
        self._bounds = QRectF(-0.5, low - span, float(max(count, 1)), 3 * span) if count else QRectF()
        self.update()

    def set_colors(self, colors: dict[str, str], alpha: int, background: str) -> None:
        """Session colours at ``alpha`` over ``background``, blended here into opaque colours:
        an opaque fill costs a fraction of a translucent one, and the bands lie on the plain background."""
        bg = QColor(background)
        self._brushes = {}
        for name, color in colors.items():
            c = QColor(color)
            mix = lambda a, b: round(a * alpha / 255 + b * (255 - alpha) / 255)  # noqa: E731
            self._brushes[name] = QColor(mix(c.red(), bg.red()), mix(c.green(), bg.green()), mix(c.blue(), bg.blue()))
        self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:
        view = self.viewRect()
        if view is None or not self.runs:
            return
        visible: list[tuple[str, np.ndarray]] = []
        for name, r in self.runs.items():
            if not len(r):
                continue
            a = int(np.searchsorted(r[:, 1], view.left(), side="right"))
            b = int(np.searchsorted(r[:, 0], view.right() + 1, side="left"))
            visible.append((name, r[a:b]))
        count = sum(len(r) for _, r in visible)
        width = sum(int((r[:, 1] - r[:, 0]).sum()) for _, r in visible)
        if not count or width / count * abs(painter.worldTransform().m11()) < MIN_RUN_PIXELS:
            return
        top, height = self._bounds.top(), self._bounds.height()
        painter.setPen(pg.mkPen(None))
        for name, r in visible:
            if not len(r):
                continue
            painter.setBrush(self._brushes[name])
            painter.drawRects([QRectF(s - 0.5, top, e - s, height) for s, e in r.tolist()])
