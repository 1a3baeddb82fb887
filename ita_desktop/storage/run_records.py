"""Backtest runs and their trades: written in one transaction, read back by run or by inputs.

The backtest layer hands plain values (dicts of trade records, JSON-able settings and stats);
only this module turns them into rows, so no SQL leaks upwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from ita_desktop.storage.db import read_session, write_session
from ita_desktop.storage.models import Run, TradeRecord

_TRADE_FIELDS = tuple(name for name in TradeRecord.model_fields if name not in ("id", "run_id"))


class Runs:
    """Store and read backtest runs."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, *, rule_id: str, rule_version: str, symbols: Sequence[str], timeframe: str,
            first_utc: int | None, last_utc: int | None, ingest_ids: Sequence[int], settings: dict[str, Any],
            stats: dict[str, Any], inputs_hash: str, trades: Sequence[dict[str, Any]], label: str = "",
            rule_version_id: int | None = None, warmup_bars: int = 0, warmup_from_utc: int | None = None) -> Run:
        """Write a run and all its trades; nothing is written if any row fails."""
        run = Run(rule_id=rule_id, rule_version=str(rule_version), label=label, symbols=",".join(symbols),
                  rule_version_id=rule_version_id, warmup_bars=int(warmup_bars), warmup_from_utc=warmup_from_utc,
                  timeframe=timeframe, first_utc=first_utc, last_utc=last_utc,
                  ingest_ids_json=json.dumps(sorted(int(i) for i in ingest_ids)),
                  settings_json=json.dumps(settings, sort_keys=True), stats_json=json.dumps(stats, sort_keys=True),
                  inputs_hash=inputs_hash, n_trades=len(trades), created_at=int(time.time()))
        with write_session(self._engine) as session:
            session.add(run)
            session.flush()
            for rec in trades:
                session.add(TradeRecord(run_id=run.run_id, **{k: rec[k] for k in _TRADE_FIELDS}))
        return run

    def get(self, run_id: int) -> Run | None:
        with read_session(self._engine) as session:
            return session.get(Run, run_id)

    def list(self, rule_id: str | None = None) -> list[Run]:
        with read_session(self._engine) as session:
            query = select(Run).order_by(Run.run_id)
            if rule_id is not None:
                query = query.where(Run.rule_id == rule_id)
            return list(session.exec(query))

    def with_inputs(self, inputs_hash: str) -> list[Run]:
        """Earlier runs of exactly the same inputs (for the determinism check and caching)."""
        with read_session(self._engine) as session:
            return list(session.exec(select(Run).where(Run.inputs_hash == inputs_hash).order_by(Run.run_id)))

    def trades(self, run_id: int) -> list[dict[str, Any]]:
        """The run's trades as dicts, in the order they were stored (by entry)."""
        with read_session(self._engine) as session:
            rows = session.exec(select(TradeRecord).where(TradeRecord.run_id == run_id).order_by(TradeRecord.id))
            return [{k: getattr(row, k) for k in _TRADE_FIELDS} for row in rows]
