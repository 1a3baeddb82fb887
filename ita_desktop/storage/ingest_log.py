"""The ingest log: every import ever written, newest last, so any stored bar can be traced to its file."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import select

from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.storage.db import read_session
from ita_desktop.storage.models import Ingest


class Ingests:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, ingest_id: int) -> Ingest | None:
        with read_session(self._engine) as session:
            return session.get(Ingest, ingest_id)

    def list(self, symbol: str | None = None, timeframe: Timeframe | str | None = None) -> list[Ingest]:
        """Ingests in the order they were written, optionally for one symbol and/or timeframe."""
        query = select(Ingest).order_by(Ingest.ingest_id)
        if symbol is not None:
            query = query.where(Ingest.symbol == symbol)
        if timeframe is not None:
            query = query.where(Ingest.timeframe == Timeframe(timeframe).value)
        with read_session(self._engine) as session:
            return list(session.exec(query))
