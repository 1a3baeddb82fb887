"""The Results panel's pictures (pyqtgraph): equity curve, R histogram and the sweep heatmap.

Each is a small PlotWidget with one ``show_*`` method and no knowledge of the panel, themed
from the app Theme so they sit in the dark window like the candle chart does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from ita_desktop.backtest.stats import LOWER_IS_BETTER, Stats, r_histogram
from ita_desktop.ui.theme import Theme

LOSS, WIN = "#ef5350", "#26a69a"


class _Plot(pg.PlotWidget):
    """A PlotWidget in the app's colours, with no context menu and no auto-range buttons."""

    def __init__(self, theme: Theme, left: str, bottom: str) -> None:
        super().__init__()
        self.setMinimumSize(160, 120)
        self.setMenuEnabled(False)
        self.getPlotItem().hideButtons()
        self.set_theme(theme)
        self.setLabel("left", left)
        self.setLabel("bottom", bottom)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.setBackground(theme.background)
        for name in ("left", "bottom"):
            axis = self.getAxis(name)
            axis.setPen(pg.mkPen(theme.grid))
            axis.setTextPen(pg.mkPen(theme.axis))
        self.showGrid(x=True, y=True, alpha=0.25)


class EquityChart(_Plot):
    """Closed-trade equity by trade number (gaps in time do not stretch it), with its running peak."""

    def __init__(self, theme: Theme) -> None:
        super().__init__(theme, "Equity", "Trade #")
        self.curve = self.plot([], [], pen=pg.mkPen(theme.highlight, width=2))
        self.peak = self.plot([], [], pen=pg.mkPen(theme.axis, width=1, style=pg.QtCore.Qt.PenStyle.DashLine))

        self.empty_text = pg.TextItem("", color=theme.axis, anchor=(0.5, 0.5))
        self.addItem(self.empty_text)
        self.empty_text.setVisible(False)

    def show_stats(self, stats: Stats | None, initial_equity: float) -> None:
        """The curve, or for a run without trades an empty state in words (not an axis of -400..400)."""
        if stats is not None and not len(stats.equity):
            self.show_empty("No trades in this run: nothing to draw. The funnel above says where the setups stopped.")
            return
        values = np.concatenate([[initial_equity], stats.equity]) if stats is not None else np.zeros(0)
        if stats is None:
            self.show_empty("No run selected.")
            return
        self._axes(True)
        self.empty_text.setVisible(False)
        x = np.arange(len(values), dtype=float)
        self.curve.setData(x, values)
        self.peak.setData(x, np.maximum.accumulate(values) if len(values) else values)
        if len(values):
            self.getPlotItem().enableAutoRange()

    def show_empty(self, message: str) -> None:
        self.curve.setData([], [])
        self.peak.setData([], [])
        self._axes(False)
        self.getPlotItem().disableAutoRange()
        self.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self.empty_text.setText(message)
        self.empty_text.setPos(0.5, 0.5)
        self.empty_text.setVisible(True)

    def is_empty(self) -> bool:
        return self.empty_text.isVisible()

    def _axes(self, on: bool) -> None:
        for name in ("left", "bottom"):
            self.showAxis(name, on)
        self.showGrid(x=on, y=on, alpha=0.25)

    def points(self) -> int:
        return len(self.curve.getData()[0]) if self.curve.getData()[0] is not None else 0


class RHistogram(_Plot):
    """Counts of R multiples in half-R bins: losses red, wins green (the shape says more than the mean)."""

    def __init__(self, theme: Theme, width: float = 0.5) -> None:
        super().__init__(theme, "Trades", "R multiple")
        self.width = width
        self.bars: pg.BarGraphItem | None = None
        self.counts = np.zeros(0, np.int64)

    def show_r(self, r: np.ndarray) -> None:
        if self.bars is not None:
            self.removeItem(self.bars)
            self.bars = None
        self.counts, edges = r_histogram(np.asarray(r, float), self.width)
        if not len(self.counts):
            return
        centres = (edges[:-1] + edges[1:]) / 2
        brushes = [pg.mkBrush(WIN if e >= 0 else LOSS) for e in edges[:-1]]
        self.bars = pg.BarGraphItem(x=centres, height=self.counts, width=self.width * 0.9, brushes=brushes,
                                    pen=pg.mkPen(None))
        self.addItem(self.bars)
        self.getPlotItem().enableAutoRange()


def sweep_matrix(rows: Sequence[dict[str, Any]], paths: Sequence[str], statistic: str
                 ) -> tuple[list[Any], list[Any], np.ndarray]:
    """The statistic over the first two swept paths as a matrix [y, x] (x: first path's values).

    With more than two paths each cell holds the best value over the others (best by the
    statistic's own direction: a drawdown is best low); with one path the matrix has one row."""
    x_path = paths[0]
    y_path = paths[1] if len(paths) > 1 else None
    xs = list(dict.fromkeys(r[x_path] for r in rows))
    ys = list(dict.fromkeys(r[y_path] for r in rows)) if y_path else [None]
    better = min if statistic in LOWER_IS_BETTER else max
    grid = np.full((len(ys), len(xs)), np.nan)
    for row in rows:
        value = row.get(statistic)
        if value is None or not math.isfinite(float(value)):
            continue
        j, i = xs.index(row[x_path]), ys.index(row[y_path]) if y_path else 0
        grid[i, j] = float(value) if math.isnan(grid[i, j]) else better(grid[i, j], float(value))
    return xs, ys, grid


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:.2f}" if abs(value) < 100 else f"{value:,.0f}"


class SweepHeatmap(_Plot):
    """Two swept parameters -> a colour grid with each cell's value written in it; one -> bars."""

    def __init__(self, theme: Theme) -> None:
        super().__init__(theme, "", "")
        self.image: pg.ImageItem | None = None
        self.bars: pg.BarGraphItem | None = None
        self.texts: list[pg.TextItem] = []
        self.matrix = np.zeros((0, 0))
        self.getPlotItem().setMouseEnabled(x=False, y=False)

    def clear_view(self) -> None:
        for item in [self.image, self.bars, *self.texts]:
            if item is not None:
                self.removeItem(item)
        self.image = self.bars = None
        self.texts = []
        self.matrix = np.zeros((0, 0))

    def show_sweep(self, rows: Sequence[dict[str, Any]], paths: Sequence[str], statistic: str) -> None:
        self.clear_view()
        if not rows or not paths:
            return
        xs, ys, grid = sweep_matrix(rows, paths, statistic)
        self.matrix = grid
        self._ticks("bottom", xs)
        self.setLabel("bottom", paths[0])
        if len(paths) == 1:
            self._bars(grid[0], statistic)
        else:
            self._ticks("left", ys)
            self.setLabel("left", paths[1])
            self._heat(grid)
        self.setTitle(f"{statistic} by {' × '.join(paths[:2])}" + (" (best over the other paths)" if len(paths) > 2
                                                                       else ""), color=self.theme.foreground)
        self.getPlotItem().enableAutoRange()

    def _ticks(self, axis: str, values: Sequence[Any]) -> None:
        self.getAxis(axis).setTicks([[(i, str(v)) for i, v in enumerate(values)]])

    def _bars(self, values: np.ndarray, statistic: str) -> None:
        heights = np.nan_to_num(values)
        brushes = [pg.mkBrush(WIN if v >= 0 else LOSS) for v in heights]
        self.bars = pg.BarGraphItem(x=np.arange(len(values)), height=heights, width=0.7, brushes=brushes,
                                    pen=pg.mkPen(None))
        self.addItem(self.bars)
        self.setLabel("left", statistic)
        for i, v in enumerate(values):
            self._text(_fmt(v), i, float(np.nan_to_num(v)), anchor=(0.5, 1.0 if v >= 0 else 0.0))

    def _heat(self, grid: np.ndarray) -> None:
        finite = grid[np.isfinite(grid)]
        lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        if hi == lo:
            hi = lo + 1.0
        # ImageItem reads image[x, y]; the matrix is [y, x]
        self.image = pg.ImageItem(np.nan_to_num(grid.T, nan=lo), levels=(lo, hi))
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.image.setRect(QRectF(-0.5, -0.5, grid.shape[1], grid.shape[0]))
        self.addItem(self.image)
        for (i, j), v in np.ndenumerate(grid):
            light = not math.isnan(v) and (v - lo) / (hi - lo) > 0.6  # viridis is yellow at the top: dark text
            self._text(_fmt(v), j, i, anchor=(0.5, 0.5), color="#111111" if light else "#f0f0f0")

    def _text(self, text: str, x: float, y: float, anchor: tuple[float, float], color: str | None = None) -> None:
        item = pg.TextItem(text, color=color or self.theme.foreground, anchor=anchor)
        item.setPos(x, y)
        self.addItem(item)
        self.texts.append(item)

    def cell_texts(self) -> list[str]:
        return [t.toPlainText() for t in self.texts]
