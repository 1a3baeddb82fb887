"""The overlay layers the legend lists, and the one call the detection worker makes.

``compute_overlays`` runs the detectors over a series and turns their tables into layer shapes,
all off the GUI thread; ``OverlaySet`` puts the finished layers on a CandleChart as named chart
layers (one OverlayItem each) and remembers which are switched on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetricsF

from ita_desktop.domain.bars import Bars
from ita_desktop.ui.chart.overlays.detector_layers import OverlayOptions, detector_layers
from ita_desktop.ui.chart.overlays.item import LABEL_POINT_SIZE, OverlayItem, _LabelSpace
from ita_desktop.ui.chart.overlays.palette import overlay_palette
from ita_desktop.ui.chart.overlays.shapes import LayerShapes
from ita_desktop.ui.theme import Theme


@dataclass(frozen=True)
class LayerSpec:
    name: str
    title: str
    visible: bool  # on by default
    z: float
    tip: str = ""


#: Legend order (top to bottom). Defaults keep M1 to H1 readable (checked on screenshots of the real
#: EURUSD at M1, M15, M30 and H1): the levels a trader marks by hand (PDH/PDL, session highs and lows),
#: the sweeps of them, FVGs of at least chart.fvg_min_atr ATRs, order blocks and structure are on;
#: opening levels, the initial balance, IB extensions and the raids of every minor swing (one every
#: few bars on M1) are off until asked for (the legend keeps the trader's choice across restarts).
LAYERS: tuple[LayerSpec, ...] = (
    LayerSpec("opens", "Opening levels", False, 20),
    LayerSpec("ib", "Initial balance", False, 21),
    LayerSpec("ib_ext", "IB extensions", False, 19),
    LayerSpec("liquidity", "Liquidity levels", True, 22, "PDH/PDL, PWH/PWL (solid), session highs/lows (dashed), EQH/EQL"),
    LayerSpec("sweeps", "Sweeps of levels", True, 40),
    LayerSpec("swing_sweeps", "Sweeps of swings", False, 39),
    LayerSpec("fvg", "FVGs", True, 5, "at least chart.fvg_min_atr ATRs (Settings); CE dashed; faint once "
              "touched; ends at the close through. Gaps a drawn setup used are drawn with the setup"),
    LayerSpec("order_blocks", "Order blocks", True, 6, "dashed, opposite colour: became a breaker"),
    LayerSpec("structure", "BOS / CHoCH", True, 30),
    LayerSpec("setups", "Setup occurrences", True, 45),
    LayerSpec("trades", "Trades", True, 50),
)
SPECS = {spec.name: spec for spec in LAYERS}


@dataclass
class OverlayData:
    """Layers for one series, as computed on a worker; ``key`` names the series they belong to."""

    key: tuple[str, str, int]
    layers: dict[str, LayerShapes]
    counts: dict[str, int] = field(default_factory=dict)
    #: where the session and day levels come from ("M1", or the chart's own timeframe), and the levels
    #: that bars that coarse cannot know exactly (name -> local times inside a bar; fine_levels.inexact_levels)
    levels_from: str = ""
    inexact_levels: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _label_font() -> QFont:
    font = QFont()
    font.setPointSize(LABEL_POINT_SIZE)
    return font


def series_key(bars: Bars) -> tuple[str, str, int]:
    """Identifies the series a result belongs to (symbol, timeframe, last bar time)."""
    return (bars.symbol, bars.timeframe.value, int(bars.time[-1]) if len(bars) else 0)


def compute_overlays(bars: Bars, params: Mapping[str, Any] | Any = None,
                     options: OverlayOptions | None = None, fine_bars: Bars | None = None) -> OverlayData:
    """Run every detector over ``bars`` and build the detector layers (worker thread: seconds of
    numba compile on a cold cache, ~100 ms per million bars warm). ``fine_bars``: the finest stored
    series under a higher-timeframe chart, which the session and day levels are computed from."""
    from ita_desktop.detectors.dispatcher import detect

    result = detect(bars, params=params, fine_bars=fine_bars)
    layers = detector_layers(result.tables, len(bars), options)
    counts = {name: layer.objects for name, layer in layers.items()}
    counts.update({f"{name}_total": layer.total for name, layer in layers.items() if layer.total is not None})
    source = fine_bars if fine_bars is not None and fine_bars.timeframe.minutes < bars.timeframe.minutes else bars
    inexact = {}
    if len(source):
        from ita_desktop.detectors.fine_levels import inexact_levels

        p = result.params
        inexact = inexact_levels(source.time, source.timeframe.minutes, p.session_levels, tz_name=p.session_tz,
                                 day_start=p.day_start)
    return OverlayData(series_key(bars), layers, counts, source.timeframe.value, inexact)


def overlay_options(settings: Any) -> OverlayOptions:
    """The display filters the trader saved (``chart.fvg_min_atr``)."""
    chart = getattr(settings, "chart", None)
    return OverlayOptions(fvg_min_atr=float(chart.fvg_min_atr)) if chart is not None else OverlayOptions()


def detector_params(settings: Any) -> dict[str, Any]:
    """Detector parameters that follow the user's settings: the session clock, trading-day start and
    session windows, so the levels drawn match the shading."""
    from ita_desktop.detectors.levels import SessionLevelParams

    return {"session_tz": settings.sessions.clock, "day_start": settings.data.day_start,
            "session_levels": SessionLevelParams.from_settings(settings)}


class OverlaySet(QObject):
    """The overlay layers of one chart. ``drawn`` fires once after ``set_layers`` has been painted."""

    drawn = Signal()
    visibility_changed = Signal(str, bool)

    def __init__(self, chart, theme: Theme, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.chart = chart
        self.items: dict[str, OverlayItem] = {}
        self.visible = {spec.name: spec.visible for spec in LAYERS}
        self.key: tuple[str, str, int] | None = None
        self._awaiting = False
        palette = overlay_palette(theme)
        # one label space for every layer of the chart, emptied before each frame is painted
        self.labels = _LabelSpace(QFontMetricsF(_label_font()).height())
        chart.scene().sigPrepareForPaint.connect(self._clear_labels)
        for spec in LAYERS:
            item = OverlayItem(spec.name)
            item.share_labels(self.labels)
            item.set_palette(palette)
            item.setVisible(spec.visible)
            item.painted.connect(self._on_painted)
            chart.add_layer(spec.name, item, z=spec.z)
            self.items[spec.name] = item

    def set_layers(self, layers: Mapping[str, LayerShapes], key: tuple[str, str, int] | None = None) -> None:
        """Show ``layers`` (name -> shapes) over the chart's current series; names not given are kept.

        Raises KeyError for a name no LayerSpec declares (a typo would otherwise draw nothing)."""
        data = self.chart.data
        n, low, high = (len(data.bars), data.low, data.high) if data is not None else (0, 0.0, 0.0)
        for name, shapes in layers.items():
            if name not in self.items:
                raise KeyError(f"no overlay layer {name!r}; layers: {', '.join(self.items)}")
            self.items[name].set_shapes(shapes, n, low, high)
        if key is not None:
            self.key = key
        self._awaiting = True
        if not any(self.visible.values()) or data is None:
            self._awaiting = False
            QTimer.singleShot(0, self.drawn.emit)

    def _clear_labels(self) -> None:
        self.labels.clear()

    def clear(self) -> None:
        """Forget every layer (a new series is loading; its overlays come later)."""
        self.key = None
        for item in self.items.values():
            item.set_shapes(None, 0, 0.0, 0.0)

    def set_visible(self, name: str, visible: bool) -> None:
        """Switch a layer on or off: only a visibility flag, so it is instant at any size."""
        if self.visible.get(name) == visible:
            return
        self.visible[name] = visible
        self.chart.set_layer_visible(name, visible)
        self.visibility_changed.emit(name, visible)

    def shapes(self, name: str) -> LayerShapes:
        return self.items[name].shapes

    def set_theme(self, theme: Theme) -> None:
        palette = overlay_palette(theme)
        for item in self.items.values():
            item.set_palette(palette)

    def _on_painted(self) -> None:
        if self._awaiting:
            self._awaiting = False
            QTimer.singleShot(0, self.drawn.emit)  # after this paint: a slot may grab() the window
