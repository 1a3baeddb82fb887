"""A series' detector tables as the chart's overlay layers: plain arrays built on a worker (no Qt).

The detection itself is the core's (``core.detection.detect``: the settings' parameters); this
only turns its tables into shapes and counts for the legend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ita_desktop.domain.bars import Bars
from ita_desktop.ui.chart.overlays.detector_layers import OverlayOptions, detector_layers
from ita_desktop.ui.chart.overlays.shapes import LayerShapes

if TYPE_CHECKING:
    from ita_desktop.detectors.dispatcher import DetectionResult


@dataclass
class OverlayData:
    """Layers for one series, as computed on a worker; ``key`` names the series they belong to."""

    key: tuple[str, str, int]
    layers: dict[str, LayerShapes]
    counts: dict[str, int] = field(default_factory=dict)


def series_key(bars: Bars) -> tuple[str, str, int]:
    """Identifies the series a result belongs to (symbol, timeframe, last bar time)."""
    return (bars.symbol, bars.timeframe.value, int(bars.time[-1]) if len(bars) else 0)


def overlay_data(bars: Bars, result: DetectionResult, options: OverlayOptions | None = None) -> OverlayData:
    """The detector layers of ``result`` (detected over ``bars``) with their legend counts."""
    layers = detector_layers(result.tables, len(bars), options)
    return OverlayData(series_key(bars), layers, {name: layer.objects for name, layer in layers.items()})
