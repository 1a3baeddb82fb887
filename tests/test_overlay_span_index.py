"""The overlay shapes' window scan (ui/chart/overlays/shapes.py SpanIndex), including the index of a live
layer whose open spans' right ends moved to the new right edge without a re-sort (``moved_right``): for
any view it finds exactly the spans that meet it, as a brute-force scan and a freshly built index do."""

from __future__ import annotations

import numpy as np
import pytest

from ita_desktop.ui.chart.overlays.shapes import Boxes, Segments, SpanIndex, Style


def _meets(x0: np.ndarray, x1: np.ndarray, left: float, right: float) -> set[int]:
    return set(np.flatnonzero((x0 <= right) & (x1 >= left)).tolist())


@pytest.mark.parametrize("n", [5, 300, 5000])
def test_moved_right_finds_what_a_fresh_index_finds(n: int) -> None:
    rng = np.random.default_rng(n)
    x0 = rng.uniform(0, 10_000, n).round()
    x1 = x0 + rng.exponential(30, n).round()
    edge = float(x1.max() + 5)
    x1[rng.random(n) < 0.2] = edge  # open spans reach the right edge
    boxes = Boxes(x0, x1, np.zeros(n), np.ones(n), Style("bull"))
    moved = np.flatnonzero(boxes.x1 == edge)
    new_x1 = boxes.x1.copy()
    new_x1[moved] = edge + 400  # the edge moved right by 400 bars: the open spans grew past max_short
    grown = boxes.with_right(new_x1, moved)
    fresh = SpanIndex(x0, new_x1)
    assert np.array_equal(boxes.x1[moved], np.full(len(moved), edge))  # the original is untouched
    for left, right in [(-50, 20), (100, 400), (5000, 5100), (edge - 10, edge + 10), (edge + 100, edge + 500),
                        (edge + 401, edge + 900), (-1e9, 1e9)]:
        want = _meets(x0, new_x1, left, right)
        assert set(grown.index.visible(left, right).tolist()) == want
        assert set(fresh.visible(left, right).tolist()) == want


def test_segments_moved_right_keep_their_labels_and_find_the_same_spans() -> None:
    segs = Segments([0, 10, 20], [5, 30, 30], [1, 2, 3], [1, 2, 3], Style("buyside"), ["PDH", "EQH", "Asia H"])
    moved = np.array([1, 2])
    out = segs.with_right(np.array([5.0, 90.0, 90.0]), moved)
    assert out.labels == ["PDH", "EQH", "Asia H"] and list(out.x1) == [5.0, 90.0, 90.0]
    assert set(out.index.visible(60, 70).tolist()) == {1, 2}
    assert set(out.index.visible(6, 12).tolist()) == {1}
    assert set(segs.index.visible(60, 70).tolist()) == set()
