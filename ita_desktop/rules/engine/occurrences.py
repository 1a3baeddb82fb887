"""Setup occurrences as values: which event made each step, and the order it leads to.

An occurrence is confirmed at the close of its last step's bar (``signal_bar``); every
step's ``bar`` is the bar from which that event was usable (confirmed_at / touched_at), and
``obj_bar`` the object's own bar (the sweep's extreme, the FVG's middle candle). Times are
UTC epoch seconds; ``to_dict`` adds ISO UTC and session-clock (New York) renderings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from ita_desktop.domain.clock import utc_iso


@dataclass(frozen=True)
class StepHit:
    """The event that made one step."""

    name: str
    event: str
    row: int  # row in the step's detector table (time step: the bar)
    bar: int  # event bar: usable from here (confirmed_at, touched_at for a retest)
    obj_bar: int  # the object's own bar
    time: int  # UTC open time of ``bar``
    price: float
    direction: int
    low: float
    high: float
    top: float
    bottom: float


@dataclass(frozen=True)
class OrderPlan:
    """The order an occurrence places (prices absolute; NaN = not used), before it becomes an ORDER row."""

    entry: str  # market | limit | stop
    entry_price: float  # limit/stop price; market: the signal bar's close (reference only)
    stop_price: float
    stop_distance: float
    targets: tuple[dict[str, float], ...]  # {"price"| "r", "fraction"?}
    expiry_bar: int  # last bar a pending order may fill; -1 none / not yet in the data
    expiry_time: int | None  # UTC of the expiry (``expiry.at``), known at the signal
    time_exit_bar: int  # -1 none / not yet in the data
    time_exit_time: int | None  # UTC of ``management.close_at`` after the signal
    breakeven_at_r: float | None
    max_bars: int | None
    risk_pct: float


@dataclass(frozen=True)
class Occurrence:
    id: int
    rule_id: str
    rule_version: str
    symbol: str
    timeframe: str
    direction: int  # the trade's: +1 long, -1 short
    signal_bar: int
    signal_time: int  # UTC open time of the signal bar (the order exists from the next bar)
    steps: tuple[StepHit, ...]
    order: OrderPlan | None = None
    skipped: str | None = None  # why no order (a filter, a stop on the wrong side ...)
    clock: str = field(default="America/New_York", compare=False)

    def key(self) -> tuple:
        """What identifies an occurrence across runs (no-look-ahead and live tests compare these)."""
        return (self.signal_bar, self.direction, tuple((s.row, s.bar) for s in self.steps), self.skipped)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        tz = ZoneInfo(self.clock)
        d["signal_utc"], d["signal_local"] = _iso(self.signal_time, tz)
        for s in d["steps"]:
            s["utc"], s["local"] = _iso(s["time"], tz)
        return _clean(d)


def _iso(t: int, tz: ZoneInfo) -> tuple[str, str]:
    return utc_iso(int(t)), datetime.fromtimestamp(int(t), tz=timezone.utc).astimezone(tz).isoformat()


def _clean(v: Any) -> Any:
    """NaN -> None for JSON."""
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v
