"""A series' detector tables as the chart's overlay layers: plain arrays built on a worker (no Qt).

The detection itself is the core's (``core.detection.detect``: the settings' parameters); this
only turns its tables into shapes and counts for the legend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
    #: where the session and day levels come from ("M1", or the chart's own timeframe), and the levels
    #: that bars that coarse cannot know exactly (name -> local times inside a bar; fine_levels.inexact_levels)
    levels_from: str = ""
    inexact_levels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: the detection the layers came from and the display filters used: a live chart advances both on
    #: appended bars (ui/live_overlays.py) instead of detecting the whole series again
    result: DetectionResult | None = None
    options: OverlayOptions = field(default_factory=OverlayOptions)


def series_key(bars: Bars) -> tuple[str, str, int]:
    """Identifies the series a result belongs to (symbol, timeframe, last bar time)."""
    return (bars.symbol, bars.timeframe.value, int(bars.time[-1]) if len(bars) else 0)


def overlay_data(bars: Bars, result: DetectionResult, options: OverlayOptions | None = None, *,
                 levels_from: str = "", inexact_levels: dict[str, tuple[str, ...]] | None = None) -> OverlayData:
    """The detector layers of ``result`` (detected over ``bars``) with their legend counts: drawn objects
    per layer and, for a filtered layer, ``<layer>_total`` found (the legend's "210/2,362").
    ``levels_from``/``inexact_levels``: where the levels came from (core.detection's chart detection)."""
    layers = detector_layers(result.tables, len(bars), options)
    counts = {name: layer.objects for name, layer in layers.items()}
    counts.update({f"{name}_total": layer.total for name, layer in layers.items() if layer.total is not None})
    return OverlayData(series_key(bars), layers, counts, levels_from or bars.timeframe.value,
                       dict(inexact_levels or {}), result, options or OverlayOptions())


def overlay_options(settings: Any) -> OverlayOptions:
    """The display filters the trader saved (``chart.fvg_min_atr``)."""
    chart = getattr(settings, "chart", None)
    return OverlayOptions(fvg_min_atr=float(chart.fvg_min_atr)) if chart is not None else OverlayOptions()
