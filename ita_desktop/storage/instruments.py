"""Instruments: the price grid of each symbol, inferred from the first bars stored for it."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session, select

from ita_desktop.domain.bars import Bars
from ita_desktop.storage.db import read_session, write_session
from ita_desktop.storage.models import Instrument

MAX_DIGITS = 8
_SAMPLE = 20_000


def infer_digits(prices: np.ndarray) -> int:
    """The fewest decimals that represent every sampled price (MT5 quotes sit on a 10**-digits grid)."""
    sample = np.asarray(prices[:_SAMPLE], dtype=np.float64)
    for digits in range(MAX_DIGITS + 1):
        scaled = sample * 10.0**digits
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled)) + 1e-9):
            return digits
    return MAX_DIGITS


def pip_size_for(digits: int) -> float:
    """FX convention: on 5- and 3-digit quotes a pip is ten points, otherwise one point."""
    point = 10.0**-digits
    return 10 * point if digits in (3, 5) else point


class Instruments:
    """Read and maintain the instruments table; writes join the caller's transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, symbol: str) -> Instrument | None:
        with read_session(self._engine) as session:
            return session.get(Instrument, symbol)

    def list(self) -> list[Instrument]:
        with read_session(self._engine) as session:
            return list(session.exec(select(Instrument).order_by(Instrument.symbol)))

    def define(self, symbol: str, *, digits: int, pip_size: float | None = None, is_demo: bool = False) -> Instrument:
        """Create or correct an instrument (the trader knows the pip of gold better than a guess)."""
        with write_session(self._engine) as session:
            row = session.get(Instrument, symbol) or Instrument(symbol=symbol, digits=digits, point=0, pip_size=0)
            row.digits, row.point = digits, 10.0**-digits
            row.pip_size = pip_size if pip_size is not None else pip_size_for(digits)
            row.is_demo = is_demo
            session.add(row)
            return row

    @staticmethod
    def ensure(session: Session, symbol: str, bars: Bars, *, is_demo: bool) -> Instrument:
        """The symbol's row, created from ``bars`` if new, inside the caller's write transaction."""
        row = session.get(Instrument, symbol)
        if row is None:
            prices = np.concatenate([bars.open[:_SAMPLE], bars.close[:_SAMPLE]])
            digits = infer_digits(prices) if len(prices) else 5
            row = Instrument(symbol=symbol, digits=digits, point=10.0**-digits, pip_size=pip_size_for(digits), is_demo=is_demo)
            session.add(row)
            session.flush()
        return row
