"""The one row format for everything a detector finds, shared by every detector.

Every detector (swings, structure, FVG, order blocks, equal highs/lows, sweeps,
displacement, sessions, levels) writes rows of ``OBJECT_DTYPE`` into a growing numpy
structured array. Numba kernels write the rows directly (``out[k].kind = ...``); the thin
Python layer below turns rows into frozen :class:`DetectedObject` dataclasses with
``to_dict()`` (times as ISO UTC strings plus the bar indexes).

Field meanings (bar indexes are positions in the Bars the detector ran on):

=============  =====================================================================
kind           :class:`Kind`
sub            sub-kind: LEVEL -> :class:`LevelKind`; SESSION -> session index;
               SWEEP -> the :class:`LevelKind` swept (which also names the table its
               ``ref`` points into, see :func:`table_of_level_kind`); BOS/CHOCH -> the
               trend before the event (-1, 0, +1); else 0
direction      +1 bullish/up, -1 bearish/down, 0 none
state          :class:`State`: 0 open/active, 1 touched/mitigated,
               2 filled / broken (breaker) / invalidated
bar            the bar the object refers to (swing bar, FVG middle candle i-1, OB
               candle, sweep bar, a level's source bar)
start          first bar of its span
end            last bar of its span, -1 while open/live
confirmed_at   FIRST bar index at which it is known with no look-ahead
updated_at     last bar index at which any field of this row changed (live diffs:
               rows changed by bar n are those with ``updated_at == n``)
touched_at     -1 until FVG re-entered / OB mitigated / level traded through
filled_at      -1 until FVG closed through / OB closed through (breaker) / ...
top, bottom    zone bounds (top >= bottom); for a single price both equal ``price``
price          the level, the CE of a zone, or the broken swing's price
ref            index of a related row (see :data:`REF_TABLE`), else -1
extra          one detector-specific number: FVG size in ATR, sweep extreme, OB
               displacement candle bar, equal-highs swing count, BOS/CHOCH trend after,
               displacement body in ATR
=============  =====================================================================

Per-detector meanings of every field: docs/detector_definitions.md.

Use :func:`empty_objects` to allocate (all integer "not yet" fields are -1, floats NaN).

Bar indexes and ``ref`` are int32 (72-byte rows instead of 104): a full pass writes 0.67 rows
a bar, so the row size is most of the detectors' memory and, through first-touch page faults,
a third of their time; 2**31 bars is 4,000 years of M1.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np

from ita_desktop.domain.clock import utc_iso

OBJECT_DTYPE = np.dtype(
    [
        ("kind", np.int16),
        ("sub", np.int16),
        ("direction", np.int8),
        ("state", np.int8),
        ("bar", np.int32),
        ("start", np.int32),
        ("end", np.int32),
        ("confirmed_at", np.int32),
        ("updated_at", np.int32),
        ("touched_at", np.int32),
        ("filled_at", np.int32),
        ("ref", np.int32),
        ("top", np.float64),
        ("bottom", np.float64),
        ("price", np.float64),
        ("extra", np.float64),
    ],
    align=True,
)

#: Fields that may still change after a row is first written ("life" fields). Everything
#: else is fixed at ``confirmed_at`` (the no-look-ahead tests rely on this split).
LIFE_FIELDS: tuple[str, ...] = ("state", "end", "updated_at", "touched_at", "filled_at")
#: Fields fixed once a row is confirmed.
FIXED_FIELDS: tuple[str, ...] = tuple(n for n in OBJECT_DTYPE.names if n not in LIFE_FIELDS)


class Kind(IntEnum):
    NONE = 0
    SWING_HIGH = 1
    SWING_LOW = 2
    EQUAL_HIGHS = 3
    EQUAL_LOWS = 4
    BOS = 5
    CHOCH = 6
    FVG = 7
    ORDER_BLOCK = 8
    SWEEP = 9
    DISPLACEMENT = 10
    SESSION = 11
    LEVEL = 12


class State(IntEnum):
    OPEN = 0  # open / active
    TOUCHED = 1  # touched / mitigated
    FILLED = 2  # filled / broken (OB -> breaker) / invalidated


class LevelKind(IntEnum):
    """What a LEVEL row is (its ``sub``), and what a SWEEP swept (the sweep's ``sub``)."""

    NONE = 0
    ASIA_HIGH = 1
    ASIA_LOW = 2
    LONDON_HIGH = 3
    LONDON_LOW = 4
    NY_AM_HIGH = 5
    NY_AM_LOW = 6
    NY_PM_HIGH = 7
    NY_PM_LOW = 8
    PDH = 9
    PDL = 10
    PWH = 11
    PWL = 12
    MIDNIGHT_OPEN = 13
    DAILY_OPEN = 14
    WEEKLY_OPEN = 15
    NY_OPEN = 16
    IB_HIGH = 17
    IB_LOW = 18
    IB_MID = 19
    IB_EXT = 20
    SESSION_HIGH = 21
    SESSION_LOW = 22
    # Levels that come from the swing / liquidity detectors rather than the session clock:
    SWING_HIGH = 23
    SWING_LOW = 24
    EQUAL_HIGHS = 25
    EQUAL_LOWS = 26


class Table(IntEnum):
    """Which result table a ``ref`` points into (tables are keyed by name in DetectionResult)."""

    NONE = 0
    SWINGS = 1  # Kind.SWING_HIGH / SWING_LOW rows
    EQUAL = 2  # Kind.EQUAL_HIGHS / EQUAL_LOWS rows
    STRUCTURE = 3  # Kind.BOS / CHOCH rows
    FVG = 4
    ORDER_BLOCKS = 5
    SWEEPS = 6
    DISPLACEMENT = 7
    SESSIONS = 8  # Kind.SESSION rows (sessions.py)
    LEVELS = 9  # Kind.LEVEL rows (levels.py)


#: Table name (as used in DetectionResult.tables) for each Table.
TABLE_NAMES: dict[Table, str] = {
    Table.SWINGS: "swings",
    Table.EQUAL: "equal",
    Table.STRUCTURE: "structure",
    Table.FVG: "fvg",
    Table.ORDER_BLOCKS: "order_blocks",
    Table.SWEEPS: "sweeps",
    Table.DISPLACEMENT: "displacement",
    Table.SESSIONS: "sessions",
    Table.LEVELS: "levels",
}

#: What ``ref`` means per kind: the table it indexes into.
#: BOS/CHOCH -> the swing broken; EQUAL_* -> the latest swing of the cluster;
#: ORDER_BLOCK -> the BOS/CHOCH row that made it; SWEEP -> depends on ``sub``
#: (see :func:`table_of_level_kind`); DISPLACEMENT/FVG/SWING/LEVEL/SESSION -> -1.
REF_TABLE: dict[Kind, Table] = {
    Kind.BOS: Table.SWINGS,
    Kind.CHOCH: Table.SWINGS,
    Kind.EQUAL_HIGHS: Table.SWINGS,
    Kind.EQUAL_LOWS: Table.SWINGS,
    Kind.ORDER_BLOCK: Table.STRUCTURE,
}


def table_of_level_kind(level_kind: int) -> Table:
    """The table a SWEEP's ``ref`` indexes, given the sweep's ``sub`` (the LevelKind swept)."""
    lk = LevelKind(level_kind)
    if lk in (LevelKind.SWING_HIGH, LevelKind.SWING_LOW):
        return Table.SWINGS
    if lk in (LevelKind.EQUAL_HIGHS, LevelKind.EQUAL_LOWS):
        return Table.EQUAL
    return Table.LEVELS


#: Default liquidity side of a level kind: +1 buy-side (above highs), -1 sell-side (below
#: lows), 0 for two-sided levels (opens, IB mid/ext) whose side the caller must choose.
LEVEL_SIDE: dict[LevelKind, int] = {
    lk: (1 if lk.name.endswith(("_HIGH", "HIGHS")) or lk.name in ("PDH", "PWH") else
         -1 if lk.name.endswith(("_LOW", "LOWS")) or lk.name in ("PDL", "PWL") else 0)
    for lk in LevelKind
}


def empty_objects(n: int) -> np.ndarray:
    """A zeroed object buffer of ``n`` rows with the -1 / NaN "not yet" defaults set."""
    out = np.zeros(n, dtype=OBJECT_DTYPE)
    for name in ("end", "confirmed_at", "updated_at", "touched_at", "filled_at", "ref"):
        out[name] = -1
    for name in ("top", "bottom", "price", "extra"):
        out[name] = np.nan
    return out


def grow(buf: np.ndarray, min_size: int | None = None) -> np.ndarray:
    """Double ``buf`` (or more, to at least ``min_size``), keeping its rows; new rows get the defaults."""
    size = max(2 * len(buf), 16, min_size or 0)
    new = empty_objects(size)
    new[: len(buf)] = buf
    return new


def _iso(times: np.ndarray | None, index: int) -> str | None:
    if times is None or index < 0 or index >= len(times):
        return None
    return utc_iso(int(times[index]))


@dataclass(frozen=True)
class DetectedObject:
    """One row as a Python value: enums decoded, plus ISO UTC times when bar times are given."""

    kind: Kind
    sub: int
    direction: int
    state: State
    bar: int
    start: int
    end: int
    confirmed_at: int
    updated_at: int
    touched_at: int
    filled_at: int
    top: float
    bottom: float
    price: float
    ref: int
    extra: float
    index: int = -1  # row index in its table
    time: str | None = None  # ISO UTC of ``bar``
    confirmed_time: str | None = None  # ISO UTC of ``confirmed_at``

    @property
    def sub_name(self) -> str:
        if self.kind in (Kind.LEVEL, Kind.SWEEP):
            try:
                return LevelKind(self.sub).name
            except ValueError:
                return str(self.sub)
        return str(self.sub)

    @classmethod
    def from_row(cls, row: np.void, index: int = -1, times: np.ndarray | None = None) -> "DetectedObject":
        vals = {name: row[name].item() for name in OBJECT_DTYPE.names}
        vals["kind"] = Kind(vals["kind"])
        vals["state"] = State(vals["state"])
        return cls(
            **vals,
            index=index,
            time=_iso(times, vals["bar"]),
            confirmed_time=_iso(times, vals["confirmed_at"]),
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            if isinstance(v, IntEnum):
                v = v.name
            elif isinstance(v, float) and v != v:  # NaN -> null for JSON
                v = None
            d[name] = v
        if self.kind in (Kind.LEVEL, Kind.SWEEP):
            d["sub_name"] = self.sub_name
        return d


def rows_to_objects(rows: np.ndarray, times: np.ndarray | None = None, indexes: np.ndarray | None = None) -> list[DetectedObject]:
    """Rows (an OBJECT_DTYPE array) as DetectedObjects; ``indexes`` are the rows' table indexes."""
    idx = np.arange(len(rows)) if indexes is None else indexes
    return [DetectedObject.from_row(rows[k], int(idx[k]), times) for k in range(len(rows))]
