"""The context JSON sent with the picture: what is visible, in numbers, each detector object with a stable id.

Built from the core's detection of the window (``WindowDetection``): the visible bars are the
last ``visible_bars`` of it, objects are those whose span meets the visible bars (and, for
levels, whose price is near the visible range), newest first, a few per table. An id names
the table, the direction and the bar time (``fvg-bull-20240105T1415``), so the same object has
the same id in every review of that chart, whatever warm-up it was detected with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ita_desktop.detectors.objects import Kind, LevelKind, State
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.clock import parse_hhmm, utc_iso

VISIBLE_BARS = 120
RECENT_BARS = 40
PER_TABLE = 10
LEVEL_MARGIN = 0.25  # levels within a quarter of the visible range above or below it count as visible
TABLES = ("levels", "equal", "fvg", "order_blocks", "structure", "sweeps", "swings", "displacement")
SHORT = {"levels": "lvl", "equal": "eq", "fvg": "fvg", "order_blocks": "ob", "structure": "ms", "sweeps": "swp",
         "swings": "sw", "displacement": "disp"}


@dataclass
class ContextObject:
    """Where an id points: its table and row, and the drawing facts the window needs."""

    id: str
    table: str
    row: int
    bar: int  # index in the visible bars (may be negative: before the window)
    price: float
    top: float
    bottom: float


@dataclass
class ReviewContext:
    payload: dict[str, Any]  # what is sent (JSON-able)
    symbol: str
    timeframe: str
    first_time: int  # visible window, UTC seconds
    last_time: int
    price_low: float
    price_high: float
    times: np.ndarray  # visible bar times (drawing: time -> bar index)
    objects: dict[str, ContextObject] = field(default_factory=dict)

    @property
    def ids(self) -> set[str]:
        return set(self.objects)


def _stamp(seconds: int) -> str:
    return datetime.fromtimestamp(int(seconds), timezone.utc).strftime("%Y%m%dT%H%M")


def _num(value: float, digits: int) -> float | None:
    return None if not math.isfinite(value) else round(float(value), digits)


def _kind_name(table: str, row: np.void) -> str:
    kind = Kind(int(row["kind"]))
    if kind in (Kind.LEVEL, Kind.SWEEP):
        try:
            sub = LevelKind(int(row["sub"])).name
        except ValueError:
            sub = str(int(row["sub"]))
        return f"{kind.name.lower()}:{sub}"
    return kind.name.lower()


def session_now(last_time: int, clock: str, windows: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """The session clock's wall time at the last bar and the session window it falls in (if any)."""
    wall = datetime.fromtimestamp(last_time, ZoneInfo(clock))
    minute = wall.hour * 60 + wall.minute
    active = None
    for name, (start, end) in windows.items():
        a, b = parse_hhmm(start), parse_hhmm(end)
        b = 1440 if b == 0 else b
        inside = a <= minute < b if a < b else (minute >= a or minute < b)
        if inside:
            active = name
            break
    return {"clock": clock, "wall_time": wall.strftime("%a %Y-%m-%d %H:%M"), "session": active}


def build_context(bars: Bars, tables: dict[str, np.ndarray], *, digits: int, clock: str,
                  windows: dict[str, tuple[str, str]], occurrence: dict[str, Any] | None = None,
                  visible_bars: int = VISIBLE_BARS, recent_bars: int = RECENT_BARS) -> ReviewContext:
    """The context of the chart ending at ``bars``' last bar (``tables`` detected over ``bars``)."""
    n = len(bars)
    if n == 0:
        raise ValueError("no bars to review")
    v0 = max(0, n - visible_bars)
    last = n - 1
    low = float(np.min(bars.low[v0:]))
    high = float(np.max(bars.high[v0:]))
    span = max(high - low, 1e-12)
    times = bars.time
    objects: dict[str, ContextObject] = {}
    listed: list[dict[str, Any]] = []
    for table in TABLES:
        rows = tables.get(table)
        if rows is None or not len(rows):
            continue
        start = np.where(rows["start"] >= 0, rows["start"], rows["bar"])
        end = np.where(rows["end"] >= 0, rows["end"], last)
        meets = (rows["confirmed_at"] <= last) & (end >= v0) & (start <= last) & (rows["bar"] >= 0)
        if table in ("levels", "equal"):
            meets &= (rows["price"] >= low - LEVEL_MARGIN * span) & (rows["price"] <= high + LEVEL_MARGIN * span)
        picked = np.flatnonzero(meets)
        picked = picked[np.argsort(rows["bar"][picked], kind="stable")][::-1][:PER_TABLE]
        for k in sorted(picked, key=lambda i: int(rows["bar"][i])):
            row = rows[k]
            bar = int(row["bar"])
            direction = int(row["direction"])
            kind = _kind_name(table, row)
            side = {1: "bull", -1: "bear"}.get(direction, "")
            base = "-".join(p for p in (SHORT[table], kind.split(":")[-1].lower() if table == "levels" else side,
                                        _stamp(int(times[bar]))) if p)
            oid, dup = base, 2
            while oid in objects:
                oid, dup = f"{base}-{dup}", dup + 1
            top, bottom, price = float(row["top"]), float(row["bottom"]), float(row["price"])
            objects[oid] = ContextObject(oid, table, int(k), bar - v0, price, top, bottom)
            item: dict[str, Any] = {
                "id": oid, "kind": kind, "direction": side or None, "state": State(int(row["state"])).name.lower(),
                "time": utc_iso(int(times[bar])), "price": _num(price, digits),
            }
            if math.isfinite(top) and math.isfinite(bottom) and top != bottom:
                item["top"], item["bottom"] = _num(top, digits), _num(bottom, digits)
            if int(row["end"]) >= 0:
                item["end_time"] = utc_iso(int(times[min(int(row["end"]), last)]))
            listed.append(item)
    r0 = max(v0, n - recent_bars)
    recent = [[utc_iso(int(times[i])), *(round(float(c[i]), digits) for c in (bars.open, bars.high, bars.low, bars.close))]
              for i in range(r0, n)]
    payload = {
        "symbol": bars.symbol, "timeframe": bars.timeframe.value, "digits": digits,
        "visible": {"from": utc_iso(int(times[v0])), "to": utc_iso(int(times[last])), "bars": n - v0,
                    "price_low": round(low, digits), "price_high": round(high, digits)},
        "recent_bars": {"columns": ["time", "open", "high", "low", "close"], "rows": recent},
        "objects": listed,
        "occurrence": occurrence,
        "session_now": session_now(int(times[last]), clock, windows),
    }
    return ReviewContext(payload, bars.symbol, bars.timeframe.value, int(times[v0]), int(times[last]), low, high,
                         np.array(times[v0:], dtype=np.int64), objects)
