"""Seeded demo bars, so the app shows something sensible before a terminal or file is connected.

Demo data must never pass for market data: every demo series has ``Bars.demo = True`` and its
symbol carries the suffix ``.demo`` (``EURUSD.demo``), which the store, the chart title and
exports keep. Use ``demo_symbol`` / ``is_demo_symbol`` rather than testing the suffix by hand.

The generator is shaped for ICT work, not for statistics: volatility follows the New York
session clock (thin Asia and rollover, active London and New York AM), the market is shut from
Friday 17:00 to Sunday 17:00 New York, and in the killzones it plants displacement legs (which
leave fair value gaps) that are often preceded by a raid on a nearby high or low.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ita_desktop.domain.resample import resample
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.clock import DAY, local_seconds
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe

DEMO_SUFFIX = ".demo"
NEW_YORK = "America/New_York"
WEEK_OPEN_MINUTE = 17 * 60  # Sunday 17:00 New York opens the FX week; Friday 17:00 closes it


@dataclass(frozen=True)
class DemoInstrument:
    """Typical levels for one symbol; sigma is the relative one-minute move at activity 1."""

    price: float
    digits: int
    sigma: float
    spread: int  # points, in liquid hours
    volume: int  # ticks in an ordinary liquid minute


INSTRUMENTS: dict[str, DemoInstrument] = {
    "EURUSD": DemoInstrument(1.0850, 5, 7.0e-5, 6, 60),
    "GBPUSD": DemoInstrument(1.2700, 5, 8.0e-5, 9, 60),
    "USDJPY": DemoInstrument(151.50, 3, 7.0e-5, 8, 70),
    "XAUUSD": DemoInstrument(2350.0, 2, 2.2e-4, 25, 120),
}

# Activity by New York time (start "HH:MM", multiplier), each holding until the next.
_ACTIVITY = (
    ("00:00", 0.6), ("02:00", 1.7), ("05:00", 1.0), ("07:00", 2.0), ("10:00", 1.1),
    ("12:00", 0.7), ("13:30", 1.0), ("16:00", 0.5), ("17:00", 0.3), ("20:00", 0.5),
)
_SPREAD_WIDENING = (("00:00", 1.0), ("17:00", 3.0), ("18:00", 1.5), ("20:00", 1.3))
KILLZONE_ACTIVITY = 1.5       # minutes at least this active may start a displacement
DISPLACEMENT_CHANCE = 1 / 150  # per killzone minute: two or three legs a day
RAID_CHANCE = 0.7              # share of displacements that first raid the opposite side
RAID_LOOKBACKS = (60, 30, 15, 8)


def demo_symbol(symbol: str) -> str:
    """``EURUSD`` -> ``EURUSD.demo`` (unchanged if already a demo name)."""
    return symbol if is_demo_symbol(symbol) else symbol + DEMO_SUFFIX


def is_demo_symbol(symbol: str) -> bool:
    return symbol.endswith(DEMO_SUFFIX)


def _per_minute(table: tuple[tuple[str, float], ...]) -> np.ndarray:
    out = np.empty(1440)
    for (start, value), (end, _) in zip(table, table[1:] + (("24:00", 0.0),)):
        h0, m0 = map(int, start.split(":"))
        h1, m1 = map(int, end.split(":"))
        out[h0 * 60 + m0 : h1 * 60 + m1] = value
    return out


ACTIVITY_BY_MINUTE = _per_minute(_ACTIVITY)
SPREAD_BY_MINUTE = _per_minute(_SPREAD_WIDENING)


def market_open(weekday: np.ndarray, minute: np.ndarray) -> np.ndarray:
    """FX hours on the New York clock; weekday 0 is Monday, minute is minutes after midnight."""
    return ((weekday <= 3)
            | ((weekday == 4) & (minute < WEEK_OPEN_MINUTE))
            | ((weekday == 6) & (minute >= WEEK_OPEN_MINUTE)))


def generate_demo_bars(
    symbol: str = "EURUSD",
    *,
    start_utc: int,
    days: int,
    seed: int = 7,
    timeframe: Timeframe = Timeframe.M1,
) -> Bars:
    """``days`` calendar days of demo bars from ``start_utc`` (weekends stay empty); same seed, same bars."""
    base = symbol.removesuffix(DEMO_SUFFIX).upper()
    spec = INSTRUMENTS.get(base)
    if spec is None:
        raise InputError(f"no demo profile for {symbol!r}; demo symbols: {', '.join(INSTRUMENTS)}")
    if days <= 0:
        raise InputError(f"demo data needs at least one day, not {days}")
    rng = np.random.default_rng(seed)

    grid = start_utc - start_utc % 60 + 60 * np.arange(days * 1440, dtype=np.int64)
    ny = local_seconds(grid, NEW_YORK)
    minute_all = ny // 60 % 1440
    is_open = market_open((ny // DAY + 3) % 7, minute_all)  # 1970-01-01 was a Thursday
    time, minute = grid[is_open], minute_all[is_open]
    n = len(time)
    if n == 0:
        return Bars.from_columns(demo_symbol(base), timeframe, {c: np.empty(0) for c in ("time", "open", "high", "low", "close")}, demo=True)

    trading_day = (ny[is_open] - WEEK_OPEN_MINUTE * 60) // DAY
    day_mood = rng.lognormal(0.0, 0.25, int(trading_day[-1] - trading_day[0]) + 1)
    activity = ACTIVITY_BY_MINUTE[minute] * day_mood[trading_day - trading_day[0]]
    sigma = spec.sigma * activity
    returns = sigma * rng.standard_t(5, n) * np.sqrt(3 / 5)  # fat tails, unit variance
    legs = _plant_displacements(returns, sigma, activity, rng)

    gap = np.zeros(n)
    week_opens = np.flatnonzero(np.diff(time) > 3600) + 1
    gap[week_opens] = rng.normal(0.0, 8 * spec.sigma, len(week_opens))
    close = spec.price * np.exp(np.cumsum(gap + returns))
    open_ = np.r_[spec.price, close[:-1]] * np.exp(gap)
    high = np.maximum(open_, close) * (1 + sigma * rng.exponential(0.5, n))
    low = np.minimum(open_, close) * (1 - sigma * rng.exponential(0.5, n))
    _plant_raids(open_, high, low, close, legs, sigma * close, rng)

    spread = np.rint(spec.spread * SPREAD_BY_MINUTE[minute] + rng.integers(0, spec.spread // 2 + 1, n))
    volume = np.maximum(1, np.rint(spec.volume * activity * rng.lognormal(0.0, 0.3, n)))
    bars = Bars.from_columns(demo_symbol(base), Timeframe.M1, {
        "time": time,
        "open": open_.round(spec.digits), "high": high.round(spec.digits),
        "low": low.round(spec.digits), "close": close.round(spec.digits),
        "tick_volume": volume.astype(np.int64), "spread": spread.astype(np.int32),
    }, demo=True)
    return resample(bars, timeframe, clock=NEW_YORK)


def _plant_displacements(returns: np.ndarray, sigma: np.ndarray, activity: np.ndarray,
                         rng: np.random.Generator) -> list[tuple[int, int]]:
    """Add runs of 2-4 strong same-direction bars in killzones; returns (start, direction) per leg."""
    starts = np.flatnonzero((activity >= KILLZONE_ACTIVITY) & (rng.random(len(returns)) < DISPLACEMENT_CHANCE))
    legs = []
    for start in starts:
        direction = 1 if rng.random() < 0.5 else -1
        stop = min(start + int(rng.integers(2, 5)), len(returns))
        returns[start:stop] = direction * np.abs(returns[start:stop]) + direction * rng.uniform(4, 8) * sigma[start:stop]
        legs.append((int(start), direction))
    return legs


def _plant_raids(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                 legs: list[tuple[int, int]], move: np.ndarray, rng: np.random.Generator) -> None:
    """Before a leg, let the bar before it wick through the nearest reachable recent high (for a
    down leg) or low (for an up leg) and close back inside: a liquidity raid, then displacement."""
    for start, direction in legs:
        bar = start - 1
        if bar < max(RAID_LOOKBACKS) or rng.random() >= RAID_CHANCE:
            continue
        body_top, body_bottom = max(open_[bar], close[bar]), min(open_[bar], close[bar])
        for lookback in RAID_LOOKBACKS:
            window = slice(bar - lookback, bar)
            if direction < 0:
                level = high[window].max()
                if body_top < level < body_top + 6 * move[bar]:
                    high[bar] = max(high[bar], level + rng.uniform(0.3, 1.5) * move[bar])
                    break
            else:
                level = low[window].min()
                if body_bottom - 6 * move[bar] < level < body_bottom:
                    low[bar] = min(low[bar], level - rng.uniform(0.3, 1.5) * move[bar])
                    break
