"""Chart overlays from the detectors (and, later, setups and trades), each a switchable layer.

shapes.py and the *_layers.py builders are Qt-free arrays built on worker threads; item.py
paints a layer; layers.py lists the legend's layers and wires them to a CandleChart.
"""

from ita_desktop.ui.chart.overlays.detector_layers import OverlayOptions, detector_layers
from ita_desktop.ui.chart.overlays.layers import LAYERS, OverlaySet
from ita_desktop.ui.chart.overlays.overlay_data import OverlayData, overlay_data, overlay_options, series_key
from ita_desktop.ui.chart.overlays.shapes import Boxes, LayerShapes, Markers, Segments, Style
from ita_desktop.ui.chart.overlays.trade_layers import setup_layer, trade_layer

__all__ = [
    "LAYERS", "Boxes", "LayerShapes", "Markers", "OverlayData", "OverlayOptions", "OverlaySet", "Segments", "Style",
    "detector_layers", "overlay_data", "overlay_options", "series_key", "setup_layer", "trade_layer",
]
