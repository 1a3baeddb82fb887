"""Detector overlays that advance with appended bars, from the detectors' changes (no Qt; a worker runs it).

``LiveLayers`` owns the chart's ``DetectionResult`` (the one the overlays were drawn from) and, for
each batch of appended bars, calls ``result.update`` and uses its ``Changes`` (the rows each table
created or changed) to redraw only what can have moved. The layer builders (detector_layers.py)
are row-wise, so a layer drawn from a partition of its rows is the union of the parts:

- settled rows: drawn the same whatever the bar count (a zone closed long ago, a sweep, a BOS).
  Sealed into chunks that are never rebuilt unless a change names one of their rows again;
  chunks merge when two neighbours reach the same size (log-structured, up to MAX_MERGE_ROWS
  rows), so a long replay keeps a few dozen chunks per table, not one per frame;
- young rows: settled since the last seal; one chunk rebuilt when it changes, sealed at YOUNG_ROWS;
- active rows: what depends on the bar count (open zones and levels drawn to the right edge,
  zones ended within AGE_FADE_BARS which fade later): rebuilt when a change names one of them or one
  settles; otherwise only the spans at the right edge move to the new edge (a few hundred rows).

So an update costs the detectors' step over the new bars plus the active and young rows, the
same at 100,000 or 5,000,000 bars of history, and the layers equal a full ``detector_layers``
over the same tables (tests/test_live_overlays.py checks both on the real EURUSD).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from ita_desktop.detectors.objects import State
from ita_desktop.ui.chart.overlays.detector_layers import (
    AGE_FADE_BARS, RIGHT_EDGE_BARS, OverlayOptions, fair_value_gaps, ib_extensions, initial_balance, liquidity,
    opening_levels, order_blocks, structure, sweeps,
)
from ita_desktop.ui.chart.overlays.shapes import Boxes, LayerShapes, Segments

if TYPE_CHECKING:
    from ita_desktop.detectors.dispatcher import DetectionResult

YOUNG_ROWS = 128  # rows settled since the last seal, rebuilt per update until sealed
#: sealed chunks merge only up to this many rows: a merge redraws its rows on the worker, and an unbounded
#: one (a 5,000,000-bar history) took hundreds of ms once in a while; older chunks past the view cost a
#: paint almost nothing (each batch's extent is checked before its shapes)
MAX_MERGE_ROWS = 4096
#: the tables each detector layer is drawn from (a layer of two tables is drawn per table and joined)
LAYER_TABLES: dict[str, tuple[str, ...]] = {
    "opens": ("levels",), "ib": ("levels",), "ib_ext": ("levels",), "liquidity": ("levels", "equal"),
    "sweeps": ("sweeps",), "swing_sweeps": ("sweeps",), "fvg": ("fvg",), "order_blocks": ("order_blocks",),
    "structure": ("structure",),
}
#: tables a layer reads whole besides its own rows (a sweep's origin: the swing, cluster or level it took)
AUX_TABLES = {"sweeps": ("swings", "equal", "levels"), "swing_sweeps": ("swings", "equal", "levels")}
TABLES = ("levels", "equal", "sweeps", "fvg", "order_blocks", "structure")


def layer_builders(options: OverlayOptions) -> dict[str, Callable[[dict[str, np.ndarray], int], LayerShapes]]:
    """Layer name -> builder(tables, n_bars), in the legend's order (what ``detector_layers`` draws)."""
    return {
        "opens": opening_levels, "ib": initial_balance, "ib_ext": ib_extensions, "liquidity": liquidity,
        "sweeps": partial(sweeps, of_swings=False), "swing_sweeps": partial(sweeps, of_swings=True),
        "fvg": partial(fair_value_gaps, options=options), "order_blocks": order_blocks, "structure": structure,
    }


def settled_mask(table: str, rows: np.ndarray, n_bars: int) -> np.ndarray:
    """Rows whose drawing no longer depends on the bar count (until a change names them again)."""
    end = rows["end"]
    if table in ("sweeps", "structure"):
        return np.ones(len(rows), dtype=bool)
    if table in ("fvg", "order_blocks"):  # ended zones fade AGE_FADE_BARS after their end
        return (end >= 0) & (end < n_bars - AGE_FADE_BARS)
    if table == "equal":  # superseded clusters are not drawn at all
        return (end >= 0) | ((rows["state"] == State.FILLED) & (rows["filled_at"] < 0))
    return end >= 0


@dataclass
class _Chunk:
    rows: np.ndarray  # sorted row indexes of its table
    shapes: dict[str, LayerShapes] = field(default_factory=dict)  # layer -> shapes of these rows


class LiveLayers:
    """The detector layers of a growing series; ``advance(bars)`` appends bars and returns every layer."""

    def __init__(self, result: DetectionResult, options: OverlayOptions | None = None) -> None:
        self.result = result
        self.options = options or OverlayOptions()
        self.builders = layer_builders(self.options)
        self._layers_of = {t: [name for name, tabs in LAYER_TABLES.items() if t in tabs] for t in TABLES}
        tables = result.tables
        n = result.n_bars
        self._drawn_n = n  # the bar count the active chunks are drawn for
        self._settled = {t: np.zeros(0, dtype=bool) for t in TABLES}
        self._sealed: dict[str, list[_Chunk]] = {t: [] for t in TABLES}
        self._young: dict[str, _Chunk] = {t: _Chunk(np.zeros(0, np.int64)) for t in TABLES}
        self._active: dict[str, _Chunk] = {}
        for t in TABLES:
            rows = tables.get(t)
            if rows is None:
                self._active[t] = _Chunk(np.zeros(0, np.int64))
                continue
            done = settled_mask(t, rows, n)
            self._settled[t] = done.copy()
            self._sealed[t] = self._history_chunks(t, np.flatnonzero(done), tables, n)
            self._active[t] = self._chunk(t, np.flatnonzero(~done), tables, n)

    @property
    def n_bars(self) -> int:
        return self.result.n_bars

    # -- building ------------------------------------------------------------------------
    def _chunk(self, table: str, idx: np.ndarray, tables: dict[str, np.ndarray], n: int) -> _Chunk:
        idx = np.asarray(idx, dtype=np.int64)
        chunk = _Chunk(idx)
        if table not in tables or not len(idx):
            return chunk
        part = tables[table].take(idx)  # take: a fifth of fancy indexing's time on these structured rows
        for name in self._layers_of[table]:
            given: dict[str, Any] = {table: part}
            for aux in AUX_TABLES.get(name, ()):
                if aux != table and aux in tables:
                    given[aux] = tables[aux]
            chunk.shapes[name] = self.builders[name](given, n)
        return chunk

    def layers(self) -> dict[str, LayerShapes]:
        """Every detector layer now: the union of its tables' sealed, young and active chunks."""
        out: dict[str, LayerShapes] = {}
        for name, tabs in LAYER_TABLES.items():
            layer = LayerShapes(name)
            total = None
            for t in tabs:
                for chunk in (*self._sealed[t], self._young[t], self._active[t]):
                    part = chunk.shapes.get(name)
                    if part is None:
                        continue
                    layer.batches.extend(part.batches)
                    layer.objects += part.objects
                    if part.total is not None:
                        total = (total or 0) + part.total
            layer.total = 0 if total is None and name == "fvg" else total  # the legend's "of N" even at none
            out[name] = layer
        return out

    # -- advancing -----------------------------------------------------------------------
    def advance(self, bars: Any) -> dict[str, LayerShapes]:
        """Append ``bars`` (a Bars, or anything ``DetectionResult.update`` takes) and return the layers."""
        changes = self.result.update(bars)
        self.apply(changes.index)
        return self.layers()

    def apply(self, changed: dict[str, np.ndarray]) -> None:
        """Redraw after an update whose changed rows per table are ``changed`` (``Changes.index``)."""
        tables = self.result.tables
        n, old_n = self.result.n_bars, self._drawn_n
        self._drawn_n = n
        for t in TABLES:
            rows = tables.get(t)
            if rows is None:
                continue
            touched = np.asarray(changed.get(t, np.zeros(0, np.int64)), dtype=np.int64)
            settled = self._settled[t]
            if len(settled) < len(rows):  # room doubles: a copy per update would cost O(history)
                grown = np.zeros(max(2 * len(settled), len(rows), 1024), dtype=bool)
                grown[: len(settled)] = settled
                settled = grown
            reopened = touched[settled[touched]] if len(touched) else touched
            young_rows = self._young[t].rows
            young_dirty = False
            if len(reopened):  # a settled row changed again: redraw the chunk it sits in without it
                settled[reopened] = False
                self._sealed[t] = [self._without(t, c, reopened, tables, n) for c in self._sealed[t]]
                kept = young_rows[~np.isin(young_rows, reopened)]
                young_dirty = len(kept) != len(young_rows)
                young_rows = kept
            active = self._active[t]
            candidates = np.union1d(active.rows, touched) if len(touched) else active.rows
            done = settled_mask(t, rows.take(candidates), n) if len(candidates) else np.zeros(0, dtype=bool)
            fresh = candidates[done]
            if not len(touched) and not len(reopened) and not len(fresh):
                # the same rows, drawn the same but for the right edge the open ones reach: moved in place
                self._active[t] = _Chunk(active.rows, {name: _moved_edge(shapes, old_n, n)
                                                       for name, shapes in active.shapes.items()})
                continue
            settled[fresh] = True
            self._settled[t] = settled
            if len(fresh) or young_dirty:
                young_rows = np.union1d(young_rows, fresh)
                if len(young_rows) >= YOUNG_ROWS:
                    self._seal(t, young_rows, tables, n)
                    young_rows = np.zeros(0, np.int64)
                self._young[t] = self._chunk(t, young_rows, tables, n)
            self._active[t] = self._chunk(t, candidates[~done], tables, n)

    def _history_chunks(self, table: str, rows: np.ndarray, tables, n: int) -> list[_Chunk]:
        """The rows settled before the first update, in chunks halving towards the newest (the older half,
        then half the rest, ... down to MAX_MERGE_ROWS): a change naming a settled row again (mostly a
        recent one) redraws its small chunk, not the whole history's."""
        chunks = []
        while len(rows) > MAX_MERGE_ROWS:
            half = len(rows) // 2
            chunks.append(self._chunk(table, rows[:half], tables, n))
            rows = rows[half:]
        if len(rows):
            chunks.append(self._chunk(table, rows, tables, n))
        return chunks

    def _without(self, table: str, chunk: _Chunk, rows: np.ndarray, tables, n: int) -> _Chunk:
        drop = np.isin(chunk.rows, rows)
        return self._chunk(table, chunk.rows[~drop], tables, n) if drop.any() else chunk

    def _seal(self, table: str, rows: np.ndarray, tables, n: int) -> None:
        """Seal ``rows`` as a chunk; merge the newest chunks while the older is at most twice the newer."""
        chunks = self._sealed[table]
        while chunks and len(chunks[-1].rows) <= 2 * len(rows) and len(chunks[-1].rows) + len(rows) <= MAX_MERGE_ROWS:
            rows = np.union1d(chunks.pop().rows, rows)
        chunks.append(self._chunk(table, rows, tables, n))


def _moved_edge(shapes: LayerShapes, old_n: int, n: int) -> LayerShapes:
    """``shapes`` with every span that reached the old right edge (``_ends`` of a live row) reaching the new
    one. Only live rows end there: a closed row ends at a bar before the last. New arrays and batches, so
    the layers on the chart (painted on the GUI thread) are never changed under it."""
    old_edge, edge = old_n - 0.5 + RIGHT_EDGE_BARS, n - 0.5 + RIGHT_EDGE_BARS
    out = LayerShapes(shapes.name, objects=shapes.objects, total=shapes.total)
    for batch in shapes.batches:
        if isinstance(batch, (Boxes, Segments)):
            at_edge = np.flatnonzero(batch.x1 == old_edge)
            if len(at_edge):
                x1 = batch.x1.copy()
                x1[at_edge] = edge
                batch = batch.with_right(x1, at_edge)
        out.batches.append(batch)
    return out
