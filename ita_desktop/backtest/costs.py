"""Simulation settings: the instrument's money per price, costs, sizing and the fill policy.

Kept apart from the simulator so a run can store them as JSON and re-create them exactly
(re-running the same inputs must give the same trades).

Prices in bars are BID prices (MetaTrader's bars). A buy fills at the ask = bid + spread and
a long is closed at the bid; a sell fills at the bid and a short is closed at the ask. So the
spread is paid once per round trip, by whichever side crosses it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

#: How a bar that reaches both a stop and a target is read when no lower timeframe is given.
#: The bar's path is open -> first extreme -> second extreme -> close:
#:  worst          the extreme against the position first (a long sees the low first): stop first
#:  best           the extreme in favour of the position first: targets first
#:  open_distance  the extreme nearer to the open first (same path for longs and shorts)
INTRABAR_POLICIES = {"worst": 0, "best": 1, "open_distance": 2}


@dataclass(frozen=True)
class SimSettings:
    """Everything besides bars and orders that changes a simulation's result."""

    initial_equity: float = 10_000.0
    #: Money per 1.0 move of the price per lot (EURUSD 100,000; XAUUSD 100).
    contract_size: float = 100_000.0
    #: Size of one point (10**-digits); spreads and slippage are given in points.
    point: float = 0.00001
    #: Fixed spread in points; None = the bars' own spread column (points, per bar).
    spread_points: float | None = None
    #: Commission in account money per lot per round trip, charged as each part is closed.
    commission_per_lot: float = 0.0
    #: Points of slippage on stop exits and stop entries (always against the trader).
    slippage_points: float = 0.0
    #: Positions open at once for this rule and symbol (1 = one at a time; 0 = no limit).
    max_positions: int = 1
    intrabar: str = "worst"
    #: Size from equity including closed trades (True) or from the initial equity (False).
    compound: bool = True
    #: Lots are rounded down to this step (0 = no rounding); below min_lot the order is skipped.
    lot_step: float = 0.0
    min_lot: float = 0.0

    def __post_init__(self) -> None:
        if self.intrabar not in INTRABAR_POLICIES:
            raise ValueError(f"intrabar policy {self.intrabar!r} unknown; expected one of {sorted(INTRABAR_POLICIES)}")
        for name in ("initial_equity", "contract_size", "point"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("commission_per_lot", "slippage_points", "lot_step", "min_lot"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.spread_points is not None and self.spread_points < 0:
            raise ValueError(f"spread_points must be >= 0, got {self.spread_points}")
        if self.max_positions < 0:
            raise ValueError(f"max_positions must be >= 0, got {self.max_positions}")

    @property
    def policy_code(self) -> int:
        return INTRABAR_POLICIES[self.intrabar]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "SimSettings":
        data = dict(data or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown simulation setting(s) {unknown}; expected some of {sorted(names)}")
        return cls(**data)

    @classmethod
    def for_instrument(cls, digits: int, contract_size: float, **overrides: Any) -> "SimSettings":
        """Settings for an instrument of the store (point from its digits)."""
        return cls(point=10.0**-digits, contract_size=contract_size, **overrides)


#: Contract sizes for common symbols (money per 1.0 price per lot); others need it stated.
CONTRACT_SIZES = {"XAUUSD": 100.0, "XAGUSD": 5_000.0}


def default_contract_size(symbol: str) -> float:
    """MT5's usual contract size: 100,000 for FX pairs, 100 oz for gold; 1 for anything else (CFDs vary)."""
    key = symbol.upper()
    if key in CONTRACT_SIZES:
        return CONTRACT_SIZES[key]
    if len(key) == 6 and key.isalpha():
        return 100_000.0
    return 1.0
