"""What an overlay layer draws, as plain numpy arrays: boxes, segments, markers (no Qt here).

Builders turn detector tables (or trades, setup occurrences) into these batches on a worker
thread; the GUI thread only hands the finished arrays to an OverlayItem. Coordinates are the
chart's: x in bar indexes (bar i is centred on x = i), y in price. A batch has one style, so
one pen and one brush serve all its shapes and the item draws it with one batched call.

Each batch keeps a :class:`SpanIndex` so a frame finds the shapes that meet the view without
scanning every object of a million-bar series.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

SHORT_QUANTILE = 99.0  # spans longer than this quantile are "long" and scanned on their own
SMALL_SPANS = 256  # up to this many spans, none is "long": the window scan stays short anyway


@dataclass(frozen=True)
class Style:
    """How a batch looks. ``role`` names a colour of the overlay palette (see overlays/palette.py),
    so a theme switch recolours every layer without rebuilding it."""

    role: str
    width: float = 1.0
    dash: bool = False
    fill_alpha: int = 0  # 0: outline only
    line_alpha: int = 255
    size: float = 8.0  # marker size in pixels
    label_at: str = "end"  # segments: "end" (right end of the visible part, levels) or "mid" (BOS/CHOCH)


class SpanIndex:
    """Which spans [x0, x1] meet [left, right], in about O(log n + visible).

    Spans are sorted by x0; every "short" span is at most ``max_short`` long, so candidates are
    those with x0 in [left - max_short, right]. The few long spans (a zone still open after
    20,000 bars) are checked directly: a long span would otherwise widen every window.
    """

    def __init__(self, x0: np.ndarray, x1: np.ndarray) -> None:
        length = x1 - x0
        n = len(x0)
        if n <= SMALL_SPANS:  # a live layer's few open rows: every span "short" (a quantile costs ~0.1 ms)
            self.max_short = float(length.max()) if n else 0.0
        else:
            k = min(n - 1, int(np.ceil(n * SHORT_QUANTILE / 100.0)) - 1)
            self.max_short = float(np.partition(length, k)[k])  # the quantile's rank, without interpolation
        long = length > self.max_short
        short_ids = np.flatnonzero(~long)
        order = np.argsort(x0[short_ids], kind="stable")
        self.short_ids = short_ids[order]
        self.short_x0 = x0[self.short_ids]
        self.short_x1 = x1[self.short_ids]
        self.long_ids = np.flatnonzero(long)
        self.long_x0 = x0[self.long_ids]
        self.long_x1 = x1[self.long_ids]
        #: the extent of every span: a view outside it meets none (checked before the window scan)
        self.lo = float(x0.min()) if n else 0.0
        self.hi = float(x1.max()) if n else -1.0

    def moved_right(self, lo: np.ndarray, hi: np.ndarray, moved: np.ndarray) -> SpanIndex:
        """This index after the right ends of spans ``moved`` (ids) grew; ``lo``/``hi`` are every span's ends
        now. No re-sort (a live layer's open zones move to the new right edge at every bar): spans grown
        longer than ``max_short`` join the long ones, so the window scan stays exact."""
        out = copy.copy(self)
        is_long = np.zeros(len(hi), dtype=bool)
        is_long[self.long_ids] = True
        too_long = moved[((hi[moved] - lo[moved]) > self.max_short) & ~is_long[moved]]
        if len(too_long):
            keep = ~np.isin(self.short_ids, too_long)
            out.short_ids, out.short_x0 = self.short_ids[keep], self.short_x0[keep]
            out.long_ids = np.concatenate((self.long_ids, too_long))
            out.long_x0 = lo[out.long_ids]
        out.short_x1, out.long_x1 = hi[out.short_ids], hi[out.long_ids]
        out.hi = max(self.hi, float(hi[moved].max())) if len(moved) else self.hi
        return out

    def visible(self, left: float, right: float) -> np.ndarray:
        if right < self.lo or left > self.hi:
            return _NONE
        a = int(np.searchsorted(self.short_x0, left - self.max_short, side="left"))
        b = int(np.searchsorted(self.short_x0, right, side="right"))
        ids = self.short_ids[a:b][self.short_x1[a:b] >= left]
        if len(self.long_ids):
            keep = (self.long_x0 <= right) & (self.long_x1 >= left)
            if keep.any():
                ids = np.concatenate((ids, self.long_ids[keep]))
        return ids


_NONE = np.zeros(0, dtype=np.int64)


def _f64(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64)


@dataclass
class Boxes:
    """Rectangles [x0, x1] x [y0, y1] (zones: FVGs, order blocks, trade stop/target boxes)."""

    x0: np.ndarray
    x1: np.ndarray
    y0: np.ndarray
    y1: np.ndarray
    style: Style
    index: SpanIndex = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.x0, self.x1, self.y0, self.y1 = map(_f64, (self.x0, self.x1, self.y0, self.y1))
        self.index = SpanIndex(self.x0, self.x1)

    def __len__(self) -> int:
        return len(self.x0)

    def with_right(self, x1: np.ndarray, moved: np.ndarray) -> Boxes:
        """These boxes with right ends ``x1`` (only ``moved`` ids changed, growing): a copy, index not rebuilt."""
        out = copy.copy(self)
        out.x1 = _f64(x1)
        out.index = self.index.moved_right(self.x0, out.x1, moved)
        return out


@dataclass
class Segments:
    """Lines from (x0, y0) to (x1, y1) with optional labels (levels, BOS/CHOCH, CE midlines)."""

    x0: np.ndarray
    x1: np.ndarray
    y0: np.ndarray
    y1: np.ndarray
    style: Style
    labels: list[str] | None = None
    index: SpanIndex = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.x0, self.x1, self.y0, self.y1 = map(_f64, (self.x0, self.x1, self.y0, self.y1))
        if self.labels is not None and len(self.labels) != len(self.x0):
            raise ValueError(f"{len(self.labels)} labels for {len(self.x0)} segments")
        self.index = SpanIndex(np.minimum(self.x0, self.x1), np.maximum(self.x0, self.x1))

    def __len__(self) -> int:
        return len(self.x0)

    def with_right(self, x1: np.ndarray, moved: np.ndarray) -> Segments:
        """These segments with x1 ``x1`` (only ``moved`` ids changed, growing): a copy, index not rebuilt."""
        out = copy.copy(self)
        out.x1 = _f64(x1)
        out.index = self.index.moved_right(np.minimum(self.x0, out.x1), np.maximum(self.x0, out.x1), moved)
        return out


MARKER_SHAPES = ("up", "down", "dot", "cross")


@dataclass
class Markers:
    """Fixed-size pixel markers at (x, y): sweep bars, exits, setup steps. ``shape`` is one of
    MARKER_SHAPES; a triangle "up" sits below its point, "down" above it, so neither hides the wick."""

    x: np.ndarray
    y: np.ndarray
    shape: str
    style: Style
    labels: list[str] | None = None
    index: SpanIndex = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.shape not in MARKER_SHAPES:
            raise ValueError(f"unknown marker shape {self.shape!r}; expected one of {MARKER_SHAPES}")
        self.x, self.y = _f64(self.x), _f64(self.y)
        if self.labels is not None and len(self.labels) != len(self.x):
            raise ValueError(f"{len(self.labels)} labels for {len(self.x)} markers")
        self.index = SpanIndex(self.x, self.x)

    def __len__(self) -> int:
        return len(self.x)


Batch = Boxes | Segments | Markers


@dataclass
class LayerShapes:
    """Everything one legend entry draws, in paint order (first is lowest)."""

    name: str
    batches: list[Batch] = field(default_factory=list)
    objects: int = 0  # things drawn (an FVG is one object: its box and its CE line)
    total: int | None = None  # things found, when a display filter drew fewer (the legend says "of N")

    def add(self, batch: Batch) -> None:
        if len(batch):
            self.batches.append(batch)

    def count(self) -> int:
        return sum(len(b) for b in self.batches)

    def of_role(self, role: str) -> list[Batch]:
        """The batches drawn in ``role`` (tests and the legend's counts look shapes up this way)."""
        return [b for b in self.batches if b.style.role == role]
