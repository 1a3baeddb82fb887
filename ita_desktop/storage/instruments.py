"""Instruments: the price grid of each symbol, inferred from the first bars stored for it."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session, select

from ita_desktop.domain.bars import Bars
from ita_desktop.domain.prices import SAMPLE, infer_digits, pip_size_for
from ita_desktop.storage.db import read_session, write_session
from ita_desktop.storage.models import Instrument


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
            prices = np.concatenate([bars.open[:SAMPLE], bars.close[:SAMPLE]])
            digits = infer_digits(prices) if len(prices) else 5
            row = Instrument(symbol=symbol, digits=digits, point=10.0**-digits, pip_size=pip_size_for(digits), is_demo=is_demo)
            session.add(row)
            session.flush()
        return row
