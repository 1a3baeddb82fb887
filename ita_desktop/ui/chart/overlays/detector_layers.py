"""Detector tables -> overlay layers (plain arrays; runs on the detection worker, no Qt).

One function per legend entry. Each reads the OBJECT_DTYPE rows of ``DetectionResult.tables``
(field meanings: detectors/objects.py and docs/detector_definitions.md) and draws a thing where
its row says it lives: a zone from its ``bar`` to the bar that ended it (``end``: FVG filled,
order block closed through), a level from its ``start`` to its ``end`` (exclusive; the next
level of its kind takes over there), anything still alive to the chart's right edge.

A bar's slot is [i - 0.5, i + 0.5], so a box "from bar a to bar b" spans [a - 0.5, b + 0.5].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ita_desktop.detectors.objects import TABLE_NAMES, Kind, LevelKind, State, Table, empty_objects, table_of_level_kind
from ita_desktop.ui.chart.overlays.shapes import Boxes, LayerShapes, Markers, Segments, Style

RIGHT_EDGE_BARS = 8  # live things reach this far past the last bar (the chart's right margin)
SWEEP_TAIL_BARS = 30  # a sweep's level line starts at most this far before the raid


@dataclass(frozen=True)
class OverlayOptions:
    """Display filters (not detector parameters: the rules keep their own).

    ``fvg_min_atr`` hides gaps smaller than this many ATRs: on M1 the detector finds a gap every
    few bars, most a fraction of a pip and filled within minutes, which buries the ones a trader
    watches. NaN sizes (no ATR yet at the series start) count as too small when filtering. It is
    the trader's saved setting ``chart.fvg_min_atr``; the legend says how many gaps it hides, and
    the zones a drawn setup used are drawn by the setup layer whatever their size.
    """

    fvg_min_atr: float = 1.0


OPEN_LABELS = {
    LevelKind.MIDNIGHT_OPEN: "Midnight open", LevelKind.DAILY_OPEN: "Daily open",
    LevelKind.WEEKLY_OPEN: "Weekly open", LevelKind.NY_OPEN: "NY open",
}
IB_LABELS = {LevelKind.IB_HIGH: "IB high", LevelKind.IB_LOW: "IB low", LevelKind.IB_MID: "IB mid"}
LIQUIDITY_LABELS = {
    LevelKind.PDH: "PDH", LevelKind.PDL: "PDL", LevelKind.PWH: "PWH", LevelKind.PWL: "PWL",
    LevelKind.ASIA_HIGH: "Asia H", LevelKind.ASIA_LOW: "Asia L", LevelKind.LONDON_HIGH: "London H",
    LevelKind.LONDON_LOW: "London L", LevelKind.NY_AM_HIGH: "NY AM H", LevelKind.NY_AM_LOW: "NY AM L",
    LevelKind.NY_PM_HIGH: "NY PM H", LevelKind.NY_PM_LOW: "NY PM L", LevelKind.SESSION_HIGH: "Session H",
    LevelKind.SESSION_LOW: "Session L",
}
SWEEP_LABELS = {**LIQUIDITY_LABELS, **OPEN_LABELS, **IB_LABELS, LevelKind.IB_EXT: "IB ext",
                LevelKind.EQUAL_HIGHS: "EQH", LevelKind.EQUAL_LOWS: "EQL",
                LevelKind.SWING_HIGH: "swing H", LevelKind.SWING_LOW: "swing L"}
SWING_SWEEPS = (int(LevelKind.SWING_HIGH), int(LevelKind.SWING_LOW))
LIQUIDITY_SWEEPS = tuple(int(k) for k in LIQUIDITY_LABELS) + (int(LevelKind.EQUAL_HIGHS), int(LevelKind.EQUAL_LOWS))


def _ends(end: np.ndarray, n_bars: int, exclusive: bool) -> np.ndarray:
    """Right x of spans whose last bar is ``end`` (or, ``exclusive``, whose end bar is not in them)."""
    edge = n_bars - 0.5 + RIGHT_EDGE_BARS
    stop = end - 0.5 if exclusive else end + 0.5
    return np.where(end >= 0, stop, edge).astype(np.float64)


def _level_lines(rows: np.ndarray, labels: dict[LevelKind, str], n_bars: int, style: Style,
                 text=None) -> Segments:
    x0 = rows["start"] - 0.5
    x1 = np.maximum(_ends(rows["end"], n_bars, exclusive=True), x0 + 1.0)
    texts = text(rows) if text else _labels_of(rows["sub"], labels)
    return Segments(x0, x1, rows["price"], rows["price"], style, texts)


def _labels_of(codes: np.ndarray, labels: dict, prefix: str = "", default: str | None = None) -> list[str]:
    """``prefix + labels[code]`` per row, looked up by integer code (no enum built per row: a 5,000,000-bar
    series has hundreds of thousands of rows)."""
    by_code = {int(k): prefix + v for k, v in labels.items()}
    if default is not None:
        fallback = prefix + default
        return [by_code.get(c, fallback) for c in codes.tolist()]
    return [by_code[c] for c in codes.tolist()]


def _levels_of(levels: np.ndarray, kinds) -> np.ndarray:
    return levels[np.isin(levels["sub"], [int(k) for k in kinds])]


def opening_levels(tables: dict[str, np.ndarray], n_bars: int) -> LayerShapes:
    layer = LayerShapes("opens")
    rows = _levels_of(tables.get("levels", _EMPTY), OPEN_LABELS)
    layer.add(_level_lines(rows, OPEN_LABELS, n_bars, Style("opens", dash=True)))
    layer.objects = len(rows)
    return layer


def initial_balance(tables: dict[str, np.ndarray], n_bars: int) -> LayerShapes:
    layer = LayerShapes("ib")
    levels = tables.get("levels", _EMPTY)
    layer.add(_level_lines(_levels_of(levels, (LevelKind.IB_HIGH, LevelKind.IB_LOW)), IB_LABELS, n_bars, Style("ib")))
    layer.add(_level_lines(_levels_of(levels, (LevelKind.IB_MID,)), IB_LABELS, n_bars, Style("ib", dash=True)))
    layer.objects = layer.count()
    return layer


def ib_extensions(tables: dict[str, np.ndarray], n_bars: int) -> LayerShapes:
    layer = LayerShapes("ib_ext")
    rows = _levels_of(tables.get("levels", _EMPTY), (LevelKind.IB_EXT,))
    layer.add(_level_lines(rows, {}, n_bars, Style("ib", dash=True, line_alpha=150), text=_ib_ext_labels))
    layer.objects = len(rows)
    return layer


def _ib_ext_labels(rows: np.ndarray) -> list[str]:
    """"IB +1.5×" / "IB −2×" per row (each distinct label formatted once)."""
    made: dict[tuple[bool, float], str] = {}
    out = []
    for up, extra in zip((rows["direction"] >= 0).tolist(), rows["extra"].tolist()):
        text = made.get((up, extra))
        if text is None:
            text = made[(up, extra)] = f"IB {'+' if up else '−'}{extra:g}×"
        out.append(text)
    return out


def liquidity(tables: dict[str, np.ndarray], n_bars: int) -> LayerShapes:
    """PDH/PDL/PWH/PWL, session highs and lows, and equal highs/lows (superseded clusters left out:
    the cluster that replaced one covers the same swings)."""
    layer = LayerShapes("liquidity")
    levels = tables.get("levels", _EMPTY)
    for side, role in ((1, "buyside"), (-1, "sellside")):
        rows = _levels_of(levels, [k for k in LIQUIDITY_LABELS if _side(k) == side])
        daily = np.isin(rows["sub"], [int(k) for k in (LevelKind.PDH, LevelKind.PDL, LevelKind.PWH, LevelKind.PWL)])
        layer.add(_level_lines(rows[daily], LIQUIDITY_LABELS, n_bars, Style(role, width=1.5)))
        # a session high or low is resting liquidity until price takes it: drawn to that bar, not on
        # to the next session (on H1 the untaken-or-not lines of every session made a wall)
        session = rows[~daily].copy()
        taken = (session["touched_at"] >= 0) & ((session["end"] < 0) | (session["touched_at"] < session["end"]))
        session["end"][taken] = session["touched_at"][taken] + 1
        layer.add(_level_lines(session, LIQUIDITY_LABELS, n_bars, Style(role, dash=True, line_alpha=200)))
    equal = tables.get("equal", _EMPTY)
    live = equal[~((equal["state"] == State.FILLED) & (equal["filled_at"] < 0))]
    for kind, role, text in ((Kind.EQUAL_HIGHS, "buyside", "EQH"), (Kind.EQUAL_LOWS, "sellside", "EQL")):
        rows = live[live["kind"] == kind]
        x0 = rows["start"] - 0.5
        layer.add(Segments(x0, _ends(rows["end"], n_bars, exclusive=False), rows["price"], rows["price"],
                           Style(role, width=1.0), [text] * len(rows)))
    layer.objects = layer.count()
    return layer


def _side(kind: LevelKind) -> int:
    return 1 if kind.name.endswith("_HIGH") or kind in (LevelKind.PDH, LevelKind.PWH) else -1


def sweeps(tables: dict[str, np.ndarray], n_bars: int, *, of_swings: bool) -> LayerShapes:
    """A triangle beyond the raid's extreme at the bar that made it, and a short line at the swept
    level from where that level came from (at most SWEEP_TAIL_BARS back) to the close back inside."""
    layer = LayerShapes("swing_sweeps" if of_swings else "sweeps")
    rows = tables.get("sweeps", _EMPTY)
    rows = rows[np.isin(rows["sub"], SWING_SWEEPS) == of_swings]
    if not of_swings:  # the liquidity the layer above draws; raids of opens and IB levels only with a setup
        rows = rows[np.isin(rows["sub"], LIQUIDITY_SWEEPS)]
    origin = _sweep_origins(rows, tables)
    x0 = np.maximum(origin, rows["start"] - SWEEP_TAIL_BARS) - 0.5
    for direction, role, shape in ((-1, "bear", "down"), (1, "bull", "up")):
        pick = rows["direction"] == direction
        r = rows[pick]
        layer.add(Segments(x0[pick], r["end"] + 0.5, r["price"], r["price"], Style("sweep", dash=True)))
        labels = None if of_swings else _labels_of(r["sub"], SWEEP_LABELS, "Sweep ", "level")
        layer.add(Markers(r["bar"], r["extra"], shape, Style(role, fill_alpha=255, size=9.0), labels))
    layer.objects = len(rows)
    return layer


def _sweep_origins(rows: np.ndarray, tables: dict[str, np.ndarray]) -> np.ndarray:
    """The bar each swept level came from: the swing, the newest swing of an equal cluster, a level's start."""
    origin = rows["start"].astype(np.int64).copy()
    table_of = {int(k): table_of_level_kind(int(k)) for k in np.unique(rows["sub"])}
    for sub, table in table_of.items():
        source = tables.get(TABLE_NAMES[table])
        if source is None:
            continue
        pick = np.flatnonzero((rows["sub"] == sub) & (rows["ref"] >= 0) & (rows["ref"] < len(source)))
        column = "start" if table == Table.LEVELS else "bar"
        origin[pick] = source[column][rows["ref"][pick]]
    return origin


def fair_value_gaps(tables: dict[str, np.ndarray], n_bars: int, options: OverlayOptions) -> LayerShapes:
    """Boxes from the middle candle to the bar that closed through the gap, CE as a dashed midline;
    gaps already entered (touched) are fainter than untouched ones."""
    layer = LayerShapes("fvg")
    rows = tables.get("fvg", _EMPTY)
    layer.total = len(rows)
    if options.fvg_min_atr > 0:
        rows = rows[rows["extra"] >= options.fvg_min_atr]
    for direction, role in ((1, "bull"), (-1, "bear")):
        r = rows[rows["direction"] == direction]
        x0, x1 = r["bar"] - 0.5, _ends(r["end"], n_bars, exclusive=False)
        live = r["end"] < 0
        fresh = live & (r["touched_at"] < 0)
        entered = live & ~fresh
        recent, old = _ended_by_age(r["end"], n_bars)
        for pick, alpha in ((fresh, 70), (entered, 38), (recent, 22), (old, 11)):
            layer.add(Boxes(x0[pick], x1[pick], r["bottom"][pick], r["top"][pick],
                            Style(role, fill_alpha=alpha, line_alpha=0)))
        # the CE only where it can still be traded: a filled gap's midline is one more line in the wall
        layer.add(Segments(x0[live], x1[live], r["price"][live], r["price"][live], Style("ce", dash=True)))
    layer.objects = len(rows)
    return layer


#: Zones that ended longer ago than this many bars before the last bar are drawn fainter still.
AGE_FADE_BARS = 500


def _ended_by_age(end: np.ndarray, n_bars: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks of zones that ended recently (within AGE_FADE_BARS of the last bar) and long ago:
    zoomed out, the dead zones of months past fade into the background instead of forming a wall."""
    ended = end >= 0
    recent = ended & (end >= n_bars - AGE_FADE_BARS)
    return recent, ended & ~recent


def order_blocks(tables: dict[str, np.ndarray], n_bars: int) -> LayerShapes:
    """Order-block boxes from the OB candle to the close through them. One that became a breaker
    (a close through it) is drawn dashed in the opposite colour, the side it now works for."""
    layer = LayerShapes("order_blocks")
    rows = tables.get("order_blocks", _EMPTY)
    for direction, role, flipped in ((1, "ob_bull", "ob_bear"), (-1, "ob_bear", "ob_bull")):
        r = rows[rows["direction"] == direction]
        x0, x1 = r["bar"] - 0.5, _ends(r["end"], n_bars, exclusive=False)
        breaker = r["state"] == State.FILLED
        live = ~breaker & (r["end"] < 0)
        done = ~breaker & ~live
        layer.add(Boxes(x0[live], x1[live], r["bottom"][live], r["top"][live], Style(role, fill_alpha=60, width=1.0)))
        recent, old = _ended_by_age(np.where(done, r["end"], -1), n_bars)
        layer.add(Boxes(x0[recent], x1[recent], r["bottom"][recent], r["top"][recent],
                        Style(role, fill_alpha=30, line_alpha=120, width=1.0)))
        layer.add(Boxes(x0[old], x1[old], r["bottom"][old], r["top"][old], Style(role, fill_alpha=14, line_alpha=50)))
        young_breaker = breaker & ((r["end"] < 0) | (r["end"] >= n_bars - AGE_FADE_BARS))
        for pick, fill, line in ((young_breaker, 18, 255), (breaker & ~young_breaker, 10, 90)):
            layer.add(Boxes(x0[pick], x1[pick], r["bottom"][pick], r["top"][pick],
                            Style(flipped, fill_alpha=fill, line_alpha=line, dash=True)))
    layer.objects = len(rows)
    return layer


def structure(tables: dict[str, np.ndarray], n_bars: int) -> LayerShapes:
    """BOS / CHOCH: a line at the broken swing's price from the swing to the breaking bar, labelled
    in the middle, and a dot on the break."""
    layer = LayerShapes("structure")
    rows = tables.get("structure", _EMPTY)
    for direction, role in ((1, "bull"), (-1, "bear")):
        for kind, text, dash in ((Kind.BOS, "BOS", False), (Kind.CHOCH, "CHoCH", True)):
            r = rows[(rows["direction"] == direction) & (rows["kind"] == kind)]
            layer.add(Segments(r["start"].astype(np.float64), r["bar"].astype(np.float64), r["price"], r["price"],
                               Style(role, dash=dash, label_at="mid"), [text] * len(r)))
        r = rows[rows["direction"] == direction]
        layer.add(Markers(r["bar"], r["price"], "dot", Style(role, fill_alpha=255, size=5.0)))
    layer.objects = len(rows)
    return layer


_EMPTY = empty_objects(0)


#: The detector kinds each layer is drawn from (their tables; a kind's dependencies are detected with it).
#: On a first start the window draws a layer as soon as these kinds' kernels are cached
#: (ui/early_layers.py); cli/prepare_kernels.DETECTOR_ORDER compiles the default-visible layers' kinds first.
LAYER_KINDS: dict[str, tuple[str, ...]] = {
    "opens": ("levels",), "ib": ("levels",), "ib_ext": ("levels",), "liquidity": ("levels", "equal"),
    "sweeps": ("sweeps", "levels", "equal", "swings"), "swing_sweeps": ("sweeps", "levels", "equal", "swings"),
    "fvg": ("fvg",), "order_blocks": ("order_blocks",), "structure": ("structure",),
}


def detector_layers(tables: dict[str, np.ndarray], n_bars: int, options: OverlayOptions | None = None,
                    only: tuple[str, ...] | None = None) -> dict[str, LayerShapes]:
    """Every detector layer the legend lists (session shading is the chart's own layer), or those in ``only``."""
    options = options or OverlayOptions()
    build = {
        "opens": lambda: opening_levels(tables, n_bars), "ib": lambda: initial_balance(tables, n_bars),
        "ib_ext": lambda: ib_extensions(tables, n_bars), "liquidity": lambda: liquidity(tables, n_bars),
        "sweeps": lambda: sweeps(tables, n_bars, of_swings=False),
        "swing_sweeps": lambda: sweeps(tables, n_bars, of_swings=True),
        "fvg": lambda: fair_value_gaps(tables, n_bars, options), "order_blocks": lambda: order_blocks(tables, n_bars),
        "structure": lambda: structure(tables, n_bars),
    }
    return {name: make() for name, make in build.items() if only is None or name in only}
