"""Timeframes under MetaTrader 5's names, with their length and MT5 constant."""

from __future__ import annotations

from enum import Enum


class Timeframe(str, Enum):
    """A bar timeframe; the value is MT5's name (``M1`` ... ``MN1``)."""

    M1 = "M1"
    M5 = "M5"
    M15 = "M15"
    M30 = "M30"
    H1 = "H1"
    H4 = "H4"
    D1 = "D1"
    W1 = "W1"
    MN1 = "MN1"

    @property
    def minutes(self) -> int:
        """Nominal length in minutes (a month counts as 30 days; it is never used to step)."""
        return _MINUTES[self]

    @property
    def seconds(self) -> int:
        return self.minutes * 60

    @property
    def mt5_constant(self) -> int:
        """The value of ``mt5.TIMEFRAME_<name>`` in the MetaTrader5 package."""
        return _MT5_CONSTANTS[self]

    @property
    def is_intraday(self) -> bool:
        return self.minutes < 1440

    @classmethod
    def parse(cls, text: str) -> "Timeframe":
        """Accept ``M5``, ``m5`` or MT5 export spellings such as ``5`` minutes; raise ValueError."""
        key = text.strip().upper()
        if key in cls.__members__:
            return cls[key]
        if key.isdigit():
            for tf in cls:
                if tf.minutes == int(key):
                    return tf
        names = ", ".join(cls.__members__)
        raise ValueError(f"unknown timeframe {text!r}; expected one of {names}")


_MINUTES = {
    Timeframe.M1: 1,
    Timeframe.M5: 5,
    Timeframe.M15: 15,
    Timeframe.M30: 30,
    Timeframe.H1: 60,
    Timeframe.H4: 240,
    Timeframe.D1: 1440,
    Timeframe.W1: 10080,
    Timeframe.MN1: 43200,
}

# From the MetaTrader5 package: minutes for M1..M30, 0x4000|hours for H*, 0x8000|1 for W1, 0xC000|1 for MN1.
_MT5_CONSTANTS = {
    Timeframe.M1: 1,
    Timeframe.M5: 5,
    Timeframe.M15: 15,
    Timeframe.M30: 30,
    Timeframe.H1: 16385,
    Timeframe.H4: 16388,
    Timeframe.D1: 16408,
    Timeframe.W1: 32769,
    Timeframe.MN1: 49153,
}


def build_sources(stored, timeframe: Timeframe, *, dividing: bool = True) -> list[Timeframe]:
    """The stored timeframes finer than ``timeframe`` that bars of it may come from, finest first.

    The one rule of which series can build which (``dividing``: only those whose length divides
    ``timeframe``'s, what resampling needs; without it, every finer one, what session levels are read
    from). It lives here, at the bottom, so the core's series service (chart, CLI, levels) and the
    workflows' setup loading (which may not import the core) apply the same rule.
    """
    finer = {tf for tf in stored if tf.minutes < timeframe.minutes
             and (not dividing or timeframe.minutes % tf.minutes == 0)}
    return sorted(finer, key=lambda tf: tf.minutes)
