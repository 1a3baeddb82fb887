"""Rectangles and lines from numpy rows to QPainter in one call, with no Python object per shape.

QPainter.drawRects / drawLines take a C array of QRectF / QLineF, each four doubles in a row
(left, top, width, height; x1, y1, x2, y2). PySide6 (6.4.3 and later) accepts a wrapped pointer
to the first element and a count, so an (n, 4) float64 array is handed to Qt as it is. Building
a QRectF or QLineF per shape in Python (about 1 µs each) cost more than Qt took to draw it, and
a zoom frame built thousands. pyqtgraph draws its own primitives the same way (Qt/internals.py).
"""

from __future__ import annotations

import numpy as np
import shiboken6
from PySide6.QtCore import QLineF, QRectF
from PySide6.QtGui import QPainter


def _rows(values: np.ndarray) -> np.ndarray:
    """``values`` as C-contiguous (n, 4) float64: the memory layout of n QRectF or QLineF."""
    rows = np.ascontiguousarray(values, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != 4:
        raise ValueError(f"expected an (n, 4) array of rows, got shape {rows.shape}")
    return rows


def draw_rects(painter: QPainter, rects: np.ndarray) -> None:
    """Draw rows of (left, top, width, height) with the painter's current pen and brush."""
    rows = _rows(rects)
    if len(rows):  # ``rows`` stays referenced until Qt has read it: the pointer is into its buffer
        painter.drawRects(shiboken6.wrapInstance(rows.ctypes.data, QRectF), len(rows))


def draw_lines(painter: QPainter, lines: np.ndarray) -> None:
    """Draw rows of (x1, y1, x2, y2) with the painter's current pen."""
    rows = _rows(lines)
    if len(rows):
        painter.drawLines(shiboken6.wrapInstance(rows.ctypes.data, QLineF), len(rows))
