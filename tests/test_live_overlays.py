"""The chart's detector overlays advanced from the detectors' changes (ui/chart/overlays/live_layers.py),
on the real EURUSD M1: after appending bars in batches of every size a live session or a replay frame
gives, every layer draws exactly what a full detection over the same bars draws (same shapes at the
same bars, so the same times), and nothing appears before the bar at which it became known."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ita_desktop.detectors.dispatcher import detect
from ita_desktop.ui.chart.overlays.detector_layers import OverlayOptions, detector_layers
from ita_desktop.ui.chart.overlays.live_layers import YOUNG_ROWS, LiveLayers
from ita_desktop.ui.chart.overlays.shapes import Boxes, LayerShapes, Markers

pytestmark = pytest.mark.realdata


def drawn(layer: LayerShapes) -> Counter:
    """A layer as a multiset of (kind, style, coordinates, label): batch order and splits do not matter."""
    out: Counter = Counter()
    for b in layer.batches:
        labels = getattr(b, "labels", None) or [None] * len(b)
        if isinstance(b, Markers):
            out.update(("m", b.style, b.shape, float(x), float(y), t) for x, y, t in zip(b.x, b.y, labels))
        else:
            kind = "b" if isinstance(b, Boxes) else "s"
            out.update((kind, b.style, float(a), float(c), float(d), float(e), t)
                       for a, c, d, e, t in zip(b.x0, b.x1, b.y0, b.y1, labels))
    return out


def assert_same_layers(live: dict[str, LayerShapes], full: dict[str, LayerShapes]) -> None:
    assert set(live) == set(full)
    for name in full:
        assert drawn(live[name]) == drawn(full[name]), f"layer {name} differs"
        assert live[name].objects == full[name].objects, name
        assert live[name].total == full[name].total, name


@pytest.fixture(scope="module")
def eurusd(eurusd_csv: Path):
    from ita_desktop.data.csv_import import read_csv

    return read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars


@pytest.mark.parametrize("batches", [(1,) * 400 + (7, 60, 500, 3000), (2000, 1, 1, 4000, 900)])
def test_live_layers_equal_a_full_detection_after_appends(eurusd, batches) -> None:
    options = OverlayOptions(fvg_min_atr=0.5)
    start = 30_000
    live = LiveLayers(detect(eurusd.slice(0, start)), options)
    n = start
    checks = 0
    for i, k in enumerate(batches):
        layers = live.advance(eurusd.slice(n, n + k))
        n += k
        if i % 97 == 0 or i >= len(batches) - 3:
            full = detector_layers(detect(eurusd.slice(0, n)).tables, n, options)
            assert_same_layers(layers, full)
            checks += 1
    assert live.n_bars == n and checks >= 4
    # enough rows settled on the way to have sealed and merged chunks, not only the young one
    assert any(len(chunks) >= 2 for chunks in live._sealed.values()) or n - start < 4 * YOUNG_ROWS


def test_live_layers_draw_nothing_before_it_was_known(eurusd) -> None:
    """At each point only objects confirmed at or before the last appended bar are drawn (no look-ahead):
    the layers at bar k are those of a detection over bars [0, k), and the FVG boxes drawn at k are
    exactly the gaps known by bar k - 1."""
    options = OverlayOptions(fvg_min_atr=0.0)
    start = 20_000
    live = LiveLayers(detect(eurusd.slice(0, start)), options)
    everything = detect(eurusd.slice(0, start + 3000)).tables["fvg"]
    n = start
    for k in (1, 1, 5, 50, 500, 1):
        layers = live.advance(eurusd.slice(n, n + k))
        n += k
        known = everything[everything["confirmed_at"] <= n - 1]
        boxes = sorted(float(x0) for b in layers["fvg"].batches if isinstance(b, Boxes) for x0 in b.x0)
        assert boxes == sorted(float(x) for x in known["bar"] - 0.5)
        later = everything[everything["confirmed_at"] > n - 1]
        assert len(later)  # there is a future to leak
