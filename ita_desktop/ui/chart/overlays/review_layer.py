"""The model's drawings as an overlay layer: only the annotations that passed grounding, in bar-index coordinates.

Built from a stored review's parsed answer and grounding record (plain dicts) and the chart's bar
times, so a review reopened after a restart draws the same. ``highlight`` redraws one annotation
thicker in the highlight colour (a click in the Review panel).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ita_desktop.ui.chart.overlays.shapes import Boxes, LayerShapes, Markers, Segments, Style
from ita_desktop.vision.grounding import parse_time

REVIEW_LAYER = "review"
IDEA_BARS = 12  # a trade idea's lines reach this many bars right of the last bar


def _index(times: np.ndarray, text: str | None, default: int) -> int:
    seconds = None if text is None else parse_time(text)
    if seconds is None:
        return default
    return int(min(max(np.searchsorted(times, seconds, side="left"), 0), len(times) - 1))


def review_layer(answer: dict[str, Any] | None, grounding: dict[str, Any] | None, times: np.ndarray,
                 window: tuple[int, int], highlight: int | None = None) -> LayerShapes:
    """Shapes for the grounded annotations (and trade idea) of a review over a chart with bar ``times``."""
    layer = LayerShapes(REVIEW_LAYER)
    if not answer or not grounding or not len(times):
        return layer
    ok = {item["index"] for item in grounding["annotations"] if item["ok"]}
    first = _index(times, None, 0) if window is None else int(np.searchsorted(times, window[0]))
    last = int(min(np.searchsorted(times, window[1], side="right") - 1, len(times) - 1))
    drawn = 0
    for i, a in enumerate(answer["annotations"]):
        if i not in ok:
            continue
        style = Style("review_hi", width=3.0, fill_alpha=70) if i == highlight else Style("review", width=1.6, fill_alpha=40)
        x0 = _index(times, a.get("time"), first)
        x1 = _index(times, a.get("time2"), last)
        text = a.get("text") or a["kind"]
        if a["kind"] == "level":
            layer.add(Segments([x0], [last + 2], [a["price"]], [a["price"]], style, [text]))
        elif a["kind"] == "zone":
            top, bottom = max(a["price"], a["price2"]), min(a["price"], a["price2"])
            layer.add(Boxes([x0 - 0.5], [x1 + 0.5], [bottom], [top], style))
            layer.add(Segments([x0], [x1], [top], [top], Style(style.role, width=style.width, label_at="mid"), [text]))
        elif a["kind"] == "arrow":
            layer.add(Segments([x0], [x1], [a["price2"]], [a["price"]], style, [text]))
            shape = "up" if a["price"] >= a["price2"] else "down"
            layer.add(Markers([x1], [a["price"]], shape, Style(style.role, fill_alpha=255, size=11.0)))
        else:
            layer.add(Markers([x0], [a["price"]], "dot", Style(style.role, fill_alpha=255, size=8.0), [text]))
        drawn += 1
    idea = answer.get("trade_idea")
    if idea and grounding.get("trade_idea") and grounding["trade_idea"]["ok"]:
        x0, x1 = float(last), float(last + IDEA_BARS)
        layer.add(Segments([x0], [x1], [idea["entry"]], [idea["entry"]], Style("entry", width=2.0), [f"{idea['direction']} entry"]))
        layer.add(Segments([x0], [x1], [idea["stop"]], [idea["stop"]], Style("stop", width=2.0, dash=True), ["stop"]))
        targets = idea["targets"]
        layer.add(Segments([x0] * len(targets), [x1] * len(targets), targets, targets, Style("target", width=2.0, dash=True),
                           [f"T{k + 1}" for k in range(len(targets))]))
        drawn += 1
    layer.objects = drawn
    return layer
