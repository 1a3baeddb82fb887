"""The overlay layers the legend lists, and the set of them on a chart.

Detection is the core's (``core.detection``); ``overlay_data.overlay_data`` turns its tables into
layer shapes off the GUI thread; ``OverlaySet`` puts the finished layers on a CandleChart as named
chart layers (one OverlayItem each) and remembers which are switched on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetricsF

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
    LayerSpec("review", "Vision review", True, 60, "the model's drawings that passed grounding (ungrounded ones are listed, not drawn)"),
)
SPECS = {spec.name: spec for spec in LAYERS}


def _label_font() -> QFont:
    font = QFont()
    font.setPointSize(LABEL_POINT_SIZE)
    return font


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

    @property
    def painted(self) -> bool:
        """Whether the layers given last have been painted (``drawn`` has fired or is queued)."""
        return not self._awaiting

    def frame_ahead(self) -> list[tuple]:
        """What the next frame will paint (GUI thread), for ``plan_ahead`` on a worker: each shown layer, in
        the order a paint draws them (by z), with its shapes, version and the frame it will be painted in."""
        shown = sorted((item for item in self.items.values() if item.isVisible()), key=lambda item: item.zValue())
        return [(item, item.shapes, item.version, item.frame_now()) for item in shown]

    def plan_ahead(self, frame: list[tuple], layers: Mapping[str, LayerShapes]) -> list[tuple]:
        """Plan the next frame's layers off the GUI thread, ``layers`` (name -> shapes) replacing the shapes
        ``frame_ahead`` saw: every layer places its labels in one space, in paint order, as the paint would.
        ``adopt`` hands the plans over after ``set_layers(layers)``."""
        space, plans = _LabelSpace(self.labels.band), []
        for item, shapes, version, at in frame:
            new = layers.get(item.name)
            if new is not None:
                shapes, version = new, version + 1  # set_layers will set it (one version step)
            if not shapes.batches:
                continue  # an empty layer draws nothing and places no label
            plan = item.plan_ahead(shapes, at, space) if at is not None else None
            if plan is None:
                return []  # a layer the paint must plan: the layers after it would place labels differently
            plans.append((item, shapes, version, plan))
        return plans

    def adopt(self, plans: list[tuple]) -> int:
        """Give each layer its plan from ``plan_ahead`` (GUI thread, right after ``set_layers``); a layer
        whose shapes or palette changed meanwhile plans at its paint as usual. Returns the plans taken."""
        shown = {item for item in self.items.values() if item.isVisible() and item.shapes.batches}
        if shown != {item for item, *_ in plans}:
            return 0  # a layer switched on or off since: its labels would change where the others' go
        return sum(item.adopt(plan, shapes, version) for item, shapes, version, plan in plans)

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
