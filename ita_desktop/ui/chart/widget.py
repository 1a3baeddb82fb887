"""CandleChart: the fast candlestick view with a session-clock time axis, crosshair and overlay layers.

x is the bar index, so gaps (weekends, missing minutes) take no room; the time axis and the
readout turn indices back into session-clock times. Overlays are named layers (session
shading now; zones, levels and markers later) that can be switched on and off.
"""

from __future__ import annotations

from dataclasses import replace
from math import ceil, floor
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QGraphicsItem, QWidget

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.clock import local_seconds
from ita_desktop.ui.chart.axes import PriceAxis, TimeAxis, wall_time
from ita_desktop.ui.chart.candles import CandleItem
from ita_desktop.ui.chart.chart_data import ChartData, prepare_chart_data
from ita_desktop.ui.chart.live_items import FormingBar, FormingCandleItem, SignalMark, SignalMarkersItem
from ita_desktop.ui.chart.live_series import GrowingColumns, bars_columns, bars_view, series_columns
from ita_desktop.ui.chart.session_shading import SessionShadingItem, session_at, session_runs
from ita_desktop.ui.theme import SESSION_ALPHA, Theme, get_theme

DEFAULT_BARS = 300  # bars shown after loading or a reset: a few hours of M1, like a trading terminal
RIGHT_MARGIN = 8  # empty bar slots right of the last bar, room to see the last candle
MIN_BARS = 10
Y_PADDING = 0.06
PAN_FRACTION = 0.125
ZOOM_FACTOR = 1.25

SESSION_LABELS = {"asia": "Asia", "london": "London", "ny_am": "NY AM", "ny_pm": "NY PM"}


def clock_label(tz_name: str) -> str:
    return "NY" if tz_name == "America/New_York" else tz_name


class CandleChart(pg.GraphicsLayoutWidget):
    """Candles of one Bars series. ``drawn`` fires once the first frame after ``set_data`` is painted."""

    drawn = Signal()
    view_changed = Signal(int, int)

    def __init__(
        self,
        theme: Theme | None = None,
        session_clock: str = "America/New_York",
        session_windows: dict[str, tuple[str, str]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent=parent)
        self.theme = theme or get_theme("dark")
        self.session_clock = session_clock
        self.session_windows = dict(session_windows or {})
        self.data: ChartData | None = None
        self.bars: Bars | None = None
        self.digits = 5
        self._awaiting_draw = False
        self._layers: dict[str, QGraphicsItem] = {}
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self.readout = pg.LabelItem(justify="left")
        self.addItem(self.readout, row=0, col=0)
        self.time_axis = TimeAxis()
        self.price_axis = PriceAxis("right")
        self.plot = self.addPlot(row=1, col=0, axisItems={"bottom": self.time_axis, "right": self.price_axis})
        self.plot.hideAxis("left")
        self.plot.showAxis("right")
        self.price_axis.setStyle(showValues=True)  # pyqtgraph hides values on a right axis by default
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.ci.layout.setRowStretchFactor(1, 1)
        self.view = self.plot.getViewBox()
        self.view.setMouseEnabled(x=True, y=False)
        self.view.disableAutoRange()

        self.candles = CandleItem()
        self.candles.setZValue(0)
        self.plot.addItem(self.candles)
        self.candles.painted.connect(self._on_painted)
        self.sessions = SessionShadingItem()
        self.add_layer("sessions", self.sessions, z=-10)
        self.forming = FormingCandleItem()
        self.forming.setZValue(1)
        self.plot.addItem(self.forming, ignoreBounds=True)
        self.signal_marks = SignalMarkersItem()  # not a named layer: overlays and layouts list those
        self.signal_marks.setZValue(50)
        self.plot.addItem(self.signal_marks, ignoreBounds=True)
        self.follow_latest = True  # live: appended bars keep the latest in view (off: the view stays put)
        self._growing: GrowingColumns | None = None  # a live series' columns, made on the first append
        self._vline = pg.InfiniteLine(angle=90, movable=False)
        self._hline = pg.InfiniteLine(angle=0, movable=False)
        # the crosshair's price and time, in boxes on the price and time axes' edge of the plot
        self._price_tag = pg.TextItem("", anchor=(1, 0.5))
        self._time_tag = pg.TextItem("", anchor=(0.5, 1))
        for line in (self._vline, self._hline, self._price_tag, self._time_tag):
            line.setZValue(100)
            line.setVisible(False)
            self.plot.addItem(line, ignoreBounds=True)
        self._mouse: QPointF | None = None  # last pointer position over the plot (scene coordinates)

        self.view.sigXRangeChanged.connect(self._on_x_range)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.set_theme(self.theme)
        self._show_title()

    # -- data -------------------------------------------------------------------------
    def set_data(self, bars: Bars | None, digits: int | None = None) -> None:
        """Show ``bars`` (None or empty clears the chart) at the default view on the latest bars.

        Prepares the series on the calling thread; for big series prepare it on a worker with
        ``prepare_chart_data`` and pass the result to ``set_prepared``.
        """
        if bars is None or not len(bars):
            self.set_prepared(None)
        else:
            self.set_prepared(prepare_chart_data(bars, self.session_clock, self.session_windows, digits))

    def set_prepared(self, data: ChartData | None) -> None:
        """Show a prepared series (cheap: the GUI thread only hands arrays to the items)."""
        self._crosshair_visible(False)
        self._mouse = None
        self.data = data
        self.bars = data.bars if data is not None else None
        self._growing = data.growing if data is not None else None
        self.forming.set_bar(None)
        self.signal_marks.clear()
        if data is None:
            self.candles.set_series(None)
            self.sessions.set_runs({}, 0, 0.0, 0.0)
            self.time_axis.set_local_times(np.empty(0, dtype=np.int64))
            self._show_title()
            return
        if data.clock != self.session_clock:
            raise ValueError(f"chart data was prepared for {data.clock}, the chart shows {self.session_clock}")
        n = len(data.bars)
        self.digits = data.digits
        self.price_axis.set_digits(data.digits, max(abs(data.low), abs(data.high)))
        self.time_axis.set_local_times(data.display if data.display is not None else data.local)
        self.sessions.set_runs(data.session_runs, n, data.low, data.high)
        self.candles.set_series(data.pyramid)
        self.view.setLimits(xMin=-0.5 - 4 * RIGHT_MARGIN, xMax=n - 0.5 + 4 * RIGHT_MARGIN,
                            minXRange=MIN_BARS, maxXRange=n + 8 * RIGHT_MARGIN)
        self._awaiting_draw = True
        self.reset_view()
        self._show_title()

    # -- live ----------------------------------------------------------------------------
    def append_bars(self, bars: Bars) -> None:
        """Closed bars after the last one shown, appended without a reload: the columns grow in place,
        each aggregation level recomputes its last groups and only the chunks holding the new bars
        are redrawn. With ``follow_latest`` the view slides to keep the newest bar in sight."""
        data = self.data
        if data is None or not len(bars):
            return
        if self._growing is None:
            self._growing = series_columns(data)  # a copy of the series: prepare with live_series.growable instead
        new = bars_columns(bars)
        new["local"] = local_seconds(bars.time, data.clock)
        if data.display is not None:
            clock = data.display_clock
            new["display"] = clock.wall(bars.time) if clock is not None else new["local"]
        grow = self._growing
        grow.append(new)
        first = data.pyramid.append(bars.open, bars.high, bars.low, bars.close)
        series = bars_view(grow, data.bars)
        self.data = replace(data, bars=series, growing=grow, local=grow.view("local"),
                            display=grow.view("display") if data.display is not None else None,
                            low=min(data.low, float(bars.low.min())), high=max(data.high, float(bars.high.max())))
        self.bars = series
        n = len(series)
        self.time_axis.set_local_times(self.data.display if self.data.display is not None else self.data.local)
        self.sessions.set_runs(self._grown_runs(len(series) - len(bars)), n, self.data.low, self.data.high)
        self.candles.extend(first)
        self.view.setLimits(xMin=-0.5 - 4 * RIGHT_MARGIN, xMax=n - 0.5 + 4 * RIGHT_MARGIN,
                            minXRange=MIN_BARS, maxXRange=n + 8 * RIGHT_MARGIN)
        if self.forming.bar is not None and self.forming.bar.index < n:
            self.forming.set_bar(None)  # the bar that was forming has closed
        x0, x1 = self.view.viewRange()[0]
        if self.follow_latest and x1 < n + RIGHT_MARGIN - 0.5:
            shift = n - 0.5 + RIGHT_MARGIN - x1
            self.set_x_window(x0 + shift, x1 + shift)
        else:
            self._on_x_range()

    def _grown_runs(self, old: int) -> dict[str, np.ndarray]:
        """Session runs after an append: each session's runs recomputed from its last run's start (or the
        first new bar) on, so the cost is the bars since then, never the whole series."""
        local = self.data.local
        out = {}
        for name, window in self.session_windows.items():
            runs = self.sessions.runs.get(name, np.empty((0, 2), dtype=np.int64))
            s0 = int(runs[-1, 0]) if len(runs) and runs[-1, 1] >= old else old
            keep = runs[runs[:, 0] < s0] if len(runs) else runs
            out[name] = np.concatenate((keep, session_runs(local[s0:], window) + s0)).astype(np.int64)
        return out

    def set_forming(self, open_: float, high: float, low: float, close: float) -> None:
        """The bar still forming, drawn right of the last closed bar (one small item repainted)."""
        if self.data is None:
            return
        self.forming.set_bar(FormingBar(float(self.count), open_, high, low, close))
        self._fit_y()

    def add_signal_mark(self, mark: SignalMark) -> None:
        self.signal_marks.add(mark)

    @property
    def count(self) -> int:
        return len(self.bars) if self.bars is not None else 0

    # -- view -------------------------------------------------------------------------
    def visible_range(self) -> tuple[int, int]:
        """[first, stop) indices of the bars whose slot [i - 0.5, i + 0.5] reaches into the view."""
        x0, x1 = self.view.viewRange()[0]
        return max(0, floor(x0 + 0.5)), min(self.count, ceil(x1 + 0.5))

    def set_x_window(self, left: float, right: float) -> None:
        self.view.setXRange(left, right, padding=0)

    def show_range(self, first_bar: int, last_bar: int, context: float = 0.5, min_context: int = 30) -> None:
        """Jump to bars first_bar..last_bar (inclusive), with ``context`` of their width (at least
        ``min_context`` bars) on each side: a trade is read against the bars that led to it."""
        first, last = sorted((int(first_bar), int(last_bar)))
        pad = max((last - first + 1) * context, min_context)
        self.set_x_window(first - 0.5 - pad, last + 0.5 + pad)

    def reset_view(self) -> None:
        n = self.count
        if not n:
            return
        width = min(DEFAULT_BARS, n)
        self.set_x_window(n - width - 0.5, n - 0.5 + RIGHT_MARGIN)

    def pan(self, fraction: float) -> None:
        """Move the view by ``fraction`` of its width (negative: towards older bars)."""
        x0, x1 = self.view.viewRange()[0]
        shift = (x1 - x0) * fraction
        self.set_x_window(x0 + shift, x1 + shift)

    def zoom(self, factor: float, center: float | None = None) -> None:
        """Scale the visible width by ``factor`` (< 1 zooms in) around ``center`` (default: mid view)."""
        x0, x1 = self.view.viewRange()[0]
        c = (x0 + x1) / 2 if center is None else center
        self.set_x_window(c - (c - x0) * factor, c + (x1 - c) * factor)

    def go_home(self) -> None:
        x0, x1 = self.view.viewRange()[0]
        self.set_x_window(-0.5, -0.5 + (x1 - x0))

    def go_end(self) -> None:
        x0, x1 = self.view.viewRange()[0]
        right = self.count - 0.5 + RIGHT_MARGIN
        self.set_x_window(right - (x1 - x0), right)

    def _on_x_range(self, *_args) -> None:
        if self.data is None:
            return
        first, stop = self._fit_y()
        if self._mouse is not None and self._vline.isVisible():
            self._on_mouse_moved(self._mouse)  # a wheel zoom or a jump moved the bars under the pointer
        self.view_changed.emit(first, stop)

    def _fit_y(self) -> tuple[int, int]:
        """Fit the price range to the visible bars (and the forming one); returns the visible [first, stop)."""
        first, stop = self.visible_range()
        span = self.data.pyramid.low_high(first, stop)
        fb = self.forming.bar
        if fb is not None and (span is None or first <= fb.index <= stop + RIGHT_MARGIN):
            span = (fb.low, fb.high) if span is None else (min(span[0], fb.low), max(span[1], fb.high))
        if span is not None:
            lo, hi = span
            pad = (hi - lo) * Y_PADDING or max(abs(hi) * 1e-4, 1e-6)
            self.view.setYRange(lo - pad, hi + pad, padding=0)
        # the view's new transform now, not when the next paint prepares (pyqtgraph's default): set during
        # that paint it marks every item changed again, and the chart paints a second time right after
        self.view.updateMatrix()
        return first, stop

    # -- input ------------------------------------------------------------------------
    def keyPressEvent(self, ev: QKeyEvent) -> None:
        key = ev.key()
        actions = {
            Qt.Key.Key_Left: lambda: self.pan(-PAN_FRACTION),
            Qt.Key.Key_Right: lambda: self.pan(PAN_FRACTION),
            Qt.Key.Key_Plus: lambda: self.zoom(1 / ZOOM_FACTOR),
            Qt.Key.Key_Equal: lambda: self.zoom(1 / ZOOM_FACTOR),
            Qt.Key.Key_Minus: lambda: self.zoom(ZOOM_FACTOR),
            Qt.Key.Key_Home: self.go_home,
            Qt.Key.Key_End: self.go_end,
        }
        action = actions.get(key)
        if action is None or self.bars is None:
            super().keyPressEvent(ev)
            return
        action()
        ev.accept()

    def _on_mouse_clicked(self, ev) -> None:
        if ev.double() and ev.button() == Qt.MouseButton.LeftButton:
            self.reset_view()
            ev.accept()

    def _on_mouse_moved(self, pos: QPointF) -> None:
        inside = self.bars is not None and self.view.sceneBoundingRect().contains(pos)
        self._crosshair_visible(inside)
        self._mouse = QPointF(pos) if inside else None
        if not inside:
            self._show_title()
            return
        p = self.view.mapSceneToView(pos)
        i = int(min(max(round(p.x()), 0), self.count - 1))
        self._vline.setPos(i)
        self._hline.setPos(p.y())
        (x0, x1), (y0, _y1) = self.view.viewRange()
        self._price_tag.setText(f"{p.y():.{self.digits}f}")
        self._price_tag.setPos(x1, p.y())
        self._time_tag.setText(f"{self.time_text(i)} {self.clock_name}")
        self._time_tag.setPos(i, y0)
        self._show_title(i)

    def _crosshair_visible(self, on: bool) -> None:
        for item in (self._vline, self._hline, self._price_tag, self._time_tag):
            item.setVisible(on)

    def crosshair_tags(self) -> tuple[str, str]:
        """The price and time the crosshair shows on the axes ("" when it is hidden)."""
        if not self._vline.isVisible():
            return "", ""
        return self._price_tag.toPlainText(), self._time_tag.toPlainText()

    @property
    def clock_name(self) -> str:
        """The short name of the clock the chart's times are on (the time axis, readout and crosshair)."""
        if self.data is not None and self.data.display_label:
            return self.data.display_label
        return clock_label(self.session_clock)

    def time_text(self, index: int) -> str:
        data = self.data
        wall = data.display if data.display is not None else data.local
        return wall_time(int(wall[index])).strftime("%a %d %b %Y %H:%M")

    # -- readout ----------------------------------------------------------------------
    def readout_text(self, index: int | None = None) -> str:
        """Symbol, timeframe, DEMO badge and, for a bar, its session-clock time, OHLC and session."""
        t = self.theme
        if self.bars is None:
            return f"<span style='color:{t.axis}'>No data</span>"
        b = self.bars
        parts = [f"<b>{b.symbol}</b> · {b.timeframe.value} · <span style='color:{t.axis}'>times {self.clock_name}</span>"]
        if b.demo:
            parts.append(f"<span style='color:{t.demo}'><b>DEMO</b></span>")
        if index is not None:
            when = self.time_text(index)
            d = self.digits
            color = t.up if b.close[index] >= b.open[index] else t.down
            ohlc = "  ".join(f"{k} <span style='color:{color}'>{v:.{d}f}</span>" for k, v in
                             (("O", b.open[index]), ("H", b.high[index]), ("L", b.low[index]), ("C", b.close[index])))
            parts += [f"{when} {self.clock_name}", ohlc]
            session = session_at(self.sessions.runs, index)
            if session:
                parts.append(SESSION_LABELS.get(session, session))
        return " &nbsp; ".join(parts)

    def _show_title(self, index: int | None = None) -> None:
        self.readout.setText(self.readout_text(index), color=self.theme.foreground, size="10pt")

    # -- drawn signal -----------------------------------------------------------------
    def _on_painted(self) -> None:
        if self._awaiting_draw:
            self._awaiting_draw = False
            QTimer.singleShot(0, self.drawn.emit)  # after this paint returns: a slot may grab() the window

    # -- layers -----------------------------------------------------------------------
    def add_layer(self, name: str, item: QGraphicsItem, z: float | None = None) -> None:
        """Put an overlay item on the chart under ``name`` (in data coordinates: x = bar index, y = price)."""
        if name in self._layers:
            raise ValueError(f"chart layer {name!r} already exists")
        if z is not None:
            item.setZValue(z)
        self.plot.addItem(item, ignoreBounds=True)
        self._layers[name] = item

    def set_layer_visible(self, name: str, visible: bool) -> None:
        self.layer(name).setVisible(visible)

    def layer(self, name: str) -> QGraphicsItem:
        try:
            return self._layers[name]
        except KeyError:
            raise KeyError(f"no chart layer {name!r}; layers: {', '.join(self._layers)}") from None

    def layer_names(self) -> list[str]:
        return list(self._layers)

    def remove_layer(self, name: str) -> None:
        self.plot.removeItem(self._layers.pop(name))

    # -- look -------------------------------------------------------------------------
    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.setBackground(theme.background)
        for axis in (self.time_axis, self.price_axis):
            axis.setPen(pg.mkPen(theme.grid))
            axis.setTextPen(pg.mkPen(theme.axis))
            axis.setStyle(tickAlpha=255)  # opaque grid lines in theme.grid: blending them cost ~4 ms a frame
        self.plot.showGrid(x=True, y=True, alpha=1.0)
        self.candles.set_colors(theme.up, theme.down)
        self.forming.set_colors(theme.up, theme.down)
        self.signal_marks.set_colors(theme.foreground, theme.up, theme.down)
        self.sessions.set_colors(theme.sessions, SESSION_ALPHA.get(theme.name, 36), theme.background)
        pen = pg.mkPen(theme.crosshair, style=Qt.PenStyle.DashLine)
        self._vline.setPen(pen)
        self._hline.setPen(pen)
        for tag in (self._price_tag, self._time_tag):
            tag.fill = pg.mkBrush(theme.grid)
            tag.border = pg.mkPen(theme.crosshair)
            tag.setColor(theme.foreground)
        self._show_title()

    def export_png(self, path: str | Path) -> tuple[int, int]:
        """Save the chart as it looks now (for the vision review), without the crosshair; returns the
        image size in pixels."""
        shown = self._vline.isVisible()
        self._crosshair_visible(False)
        try:
            image = self.grab()
        finally:
            self._crosshair_visible(shown)
        if not image.save(str(path), "PNG"):
            raise OSError(f"could not write PNG to {path}")
        return image.width(), image.height()
