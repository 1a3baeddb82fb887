"""Backtest runs and their trades: written in one transaction, read back by run or by inputs.

The backtest layer hands plain values (dicts of trade records, JSON-able settings and stats);
only this module turns them into rows, so no SQL leaks upwards. Writing a run is plain
sqlite3 (a backtest from the command line never loads the ORM, issue 19); reading runs back
goes through the ORM models, imported on first use.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ita_desktop.storage.plain_sql import write_transaction

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ita_desktop.storage.models import Run

# The columns of ``models.TradeRecord`` a run writes (all but id and run_id), in the model's order;
# a test holds them equal to the model's fields.
TRADE_FIELDS = ("symbol", "occurrence", "rule_version", "direction", "entry_type", "signal_bar", "entry_bar",
                "entry_time", "entry_price", "exit_bar", "exit_time", "exit_price", "stop_price", "target1",
                "target2", "target3", "lots", "risk_money", "r_multiple", "pnl_money", "pnl_points", "commission",
                "exit_reason", "targets_hit", "mfe_price", "mae_price", "mfe_r", "mae_r")
_INSERT_TRADE = (f"INSERT INTO trades (run_id, {', '.join(TRADE_FIELDS)}) "
                 f"VALUES (?, {', '.join('?' * len(TRADE_FIELDS))})")
_RUN_FIELDS = ("rule_id", "rule_version", "label", "symbols", "timeframe", "first_utc", "last_utc", "ingest_ids_json",
               "settings_json", "stats_json", "inputs_hash", "n_trades", "created_at", "rule_version_id",
               "warmup_bars", "warmup_from_utc")
_INSERT_RUN = f"INSERT INTO runs ({', '.join(_RUN_FIELDS)}) VALUES ({', '.join('?' * len(_RUN_FIELDS))})"


def _int(value: int | None) -> int | None:
    """A Python int (sqlite3 cannot bind a numpy integer), None kept."""
    return None if value is None else int(value)


class Runs:
    """Store and read backtest runs."""

    def __init__(self, path: Path, engine: Callable[[], Engine]) -> None:
        self._path = Path(path)
        self._engine_of = engine

    def add(self, *, rule_id: str, rule_version: str, symbols: Sequence[str], timeframe: str,
            first_utc: int | None, last_utc: int | None, ingest_ids: Sequence[int], settings: dict[str, Any],
            stats: dict[str, Any], inputs_hash: str, trades: Sequence[dict[str, Any]], label: str = "",
            rule_version_id: int | None = None, warmup_bars: int = 0, warmup_from_utc: int | None = None) -> int:
        """Write a run and all its trades; nothing is written if any row fails. Returns the run's id."""
        values = (rule_id, str(rule_version), label, ",".join(symbols), timeframe, _int(first_utc), _int(last_utc),
                  json.dumps(sorted(int(i) for i in ingest_ids)), json.dumps(settings, sort_keys=True),
                  json.dumps(stats, sort_keys=True), inputs_hash, len(trades), int(time.time()),
                  _int(rule_version_id), int(warmup_bars), _int(warmup_from_utc))
        with write_transaction(self._path) as conn:
            run_id = int(conn.execute(_INSERT_RUN, values).lastrowid)  # type: ignore[arg-type]
            conn.executemany(_INSERT_TRADE, ((run_id, *(rec[k] for k in TRADE_FIELDS)) for rec in trades))
        return run_id

    def get(self, run_id: int) -> Run | None:
        from ita_desktop.storage.db import read_session
        from ita_desktop.storage.models import Run

        with read_session(self._engine_of()) as session:
            return session.get(Run, run_id)

    def list(self, rule_id: str | None = None) -> list[Run]:
        from sqlmodel import select

        from ita_desktop.storage.db import read_session
        from ita_desktop.storage.models import Run

        with read_session(self._engine_of()) as session:
            query = select(Run).order_by(Run.run_id)
            if rule_id is not None:
                query = query.where(Run.rule_id == rule_id)
            return list(session.exec(query))

    def with_inputs(self, inputs_hash: str) -> list[Run]:
        """Earlier runs of exactly the same inputs (for the determinism check and caching)."""
        from sqlmodel import select

        from ita_desktop.storage.db import read_session
        from ita_desktop.storage.models import Run

        with read_session(self._engine_of()) as session:
            return list(session.exec(select(Run).where(Run.inputs_hash == inputs_hash).order_by(Run.run_id)))

    def trades(self, run_id: int) -> list[dict[str, Any]]:
        """The run's trades as dicts, in the order they were stored (by entry)."""
        from sqlmodel import select

        from ita_desktop.storage.db import read_session
        from ita_desktop.storage.models import TradeRecord

        with read_session(self._engine_of()) as session:
            rows = session.exec(select(TradeRecord).where(TradeRecord.run_id == run_id).order_by(TradeRecord.id))
            return [{k: getattr(row, k) for k in TRADE_FIELDS} for row in rows]
