"""Layers the rules and backtest side feed: trades and setup occurrences (plain arrays, no Qt).

They take simple arrays so the results panel, a backtest run or a live scan can draw without
the overlay code knowing their classes: one element per trade, or per setup step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ita_desktop.ui.chart.overlays.shapes import Boxes, LayerShapes, Markers, Segments, Style


def trade_layer(entry_bar: np.ndarray, exit_bar: np.ndarray, entry: np.ndarray, stop: np.ndarray,
                target: np.ndarray, direction: np.ndarray, exit_price: np.ndarray,
                labels: Sequence[str] | None = None) -> LayerShapes:
    """Per trade: a stop box (entry..stop) and a target box (entry..target) from the entry bar to the
    exit bar, the entry price as a line, a triangle at the entry and a dot at the exit.

    ``direction`` is +1 long, -1 short; ``labels`` (e.g. "+1.8R") go beside the exit marker.
    A trade still open has ``exit_bar`` -1 and is drawn to ``entry_bar`` + 1 until it exits.
    """
    entry_bar = np.asarray(entry_bar, np.int64)
    exit_bar = np.asarray(exit_bar, np.int64)
    x0 = entry_bar - 0.5
    x1 = np.where(exit_bar >= 0, exit_bar, entry_bar + 1) + 0.5
    entry, stop, target = (np.asarray(a, np.float64) for a in (entry, stop, target))
    direction, exit_price = np.asarray(direction, np.int64), np.asarray(exit_price, np.float64)
    layer = LayerShapes("trades")
    layer.add(Boxes(x0, x1, np.minimum(entry, stop), np.maximum(entry, stop), Style("stop", fill_alpha=55, line_alpha=0)))
    layer.add(Boxes(x0, x1, np.minimum(entry, target), np.maximum(entry, target),
                    Style("target", fill_alpha=55, line_alpha=0)))
    layer.add(Segments(x0, x1, entry, entry, Style("entry", width=1.5)))
    for side, shape in ((1, "up"), (-1, "down")):
        pick = direction == side
        layer.add(Markers(entry_bar[pick], entry[pick], shape, Style("bull" if side > 0 else "bear", fill_alpha=255)))
    done = exit_bar >= 0
    texts = [labels[k] for k in np.flatnonzero(done)] if labels is not None else None
    layer.add(Markers(exit_bar[done], exit_price[done], "cross", Style("exit", width=2.0, size=9.0), texts))
    layer.objects = len(entry_bar)
    return layer


def setup_layer(occurrence: np.ndarray, step_bar: np.ndarray, step_price: np.ndarray,
                step_name: Sequence[str], zones: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
                ) -> LayerShapes:
    """Setup occurrences as their steps: a dot and the step's name at each step, and a dotted line
    joining consecutive steps of one occurrence. Rows are steps, in order within an occurrence.

    ``zones`` (first bar, last bar, bottom, top per zone): the FVGs and order blocks the steps used,
    drawn here as outlined boxes so a setup never points at a zone a display filter hid."""
    occurrence = np.asarray(occurrence, np.int64)
    bar, price = np.asarray(step_bar, np.float64), np.asarray(step_price, np.float64)
    layer = LayerShapes("setups")
    if zones is not None and len(zones[0]):
        z0, z1, bottom, top = (np.asarray(a, np.float64) for a in zones)
        layer.add(Boxes(z0 - 0.5, z1 + 0.5, bottom, top, Style("step", fill_alpha=40, line_alpha=200, width=1.0)))
    same = occurrence[1:] == occurrence[:-1]
    layer.add(Segments(bar[:-1][same], bar[1:][same], price[:-1][same], price[1:][same], Style("step", dash=True)))
    layer.add(Markers(bar, price, "dot", Style("step", fill_alpha=255, size=7.0), list(step_name)))
    layer.objects = len(np.unique(occurrence))
    return layer
