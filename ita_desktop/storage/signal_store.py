"""Signals in SQLite: one row per setup occurrence a live session or Bar Replay raised.

The ``occurrence_key`` is deterministic (rule version, symbol, timeframe, signal time, direction,
the steps' times and prices) and UNIQUE: inserting a signal that is already stored does
nothing and says so, which is what keeps a restart, a reconnect's gap fill or a second session
from raising a signal twice. Rows are plain values here; ``core.live`` turns occurrences into
them. ``insert`` takes the caller's session so a signal lands in the same transaction as the
bars that produced it (``BarStore.write(..., also=...)``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session

from ita_desktop.storage.db import read_session, write_session

SIGNAL_SOURCES = ("live", "replay", "missed")
#: pending: the order waits for its entry; filled: in the trade; the rest are final
SIGNAL_STATUSES = ("pending", "filled", "expired", "skipped", "target", "stop", "breakeven", "time", "not_filled",
                   "invalid_stop")
OPEN_STATUSES = ("pending", "filled")

_COLUMNS = ("occurrence_key", "rule_id", "rule_version", "rule_version_id", "symbol", "timeframe", "signal_time",
            "direction", "order_type", "entry_price", "stop_price", "stop_distance", "targets_json", "expiry_time",
            "time_exit_time", "steps_json", "occurrence_json", "skipped", "source", "status", "outcome_json",
            "ingest_id", "created_at", "updated_at")


@dataclass
class SignalRecord:
    """One signal as stored (floats NaN-free: None where unused)."""

    occurrence_key: str
    rule_id: str
    rule_version: str
    symbol: str
    timeframe: str
    signal_time: int
    direction: int
    source: str
    status: str
    steps: list[dict[str, Any]]
    occurrence: dict[str, Any]
    order_type: str | None = None
    entry_price: float | None = None
    stop_price: float | None = None
    stop_distance: float | None = None
    targets: list[dict[str, float]] = field(default_factory=list)
    expiry_time: int | None = None
    time_exit_time: int | None = None
    skipped: str | None = None
    rule_version_id: int | None = None
    outcome: dict[str, Any] = field(default_factory=dict)
    ingest_id: int | None = None
    id: int | None = None

    def row(self, now: int) -> dict[str, Any]:
        if self.source not in SIGNAL_SOURCES:
            raise ValueError(f"unknown signal source {self.source!r}; expected one of {', '.join(SIGNAL_SOURCES)}")
        if self.status not in SIGNAL_STATUSES:
            raise ValueError(f"unknown signal status {self.status!r}")
        values = {c: getattr(self, c, None) for c in _COLUMNS}
        values.update(targets_json=json.dumps(self.targets), steps_json=json.dumps(self.steps),
                      occurrence_json=json.dumps(self.occurrence), outcome_json=json.dumps(self.outcome),
                      created_at=now, updated_at=now)
        return values


def _record(row: Any) -> SignalRecord:
    m = row._mapping
    return SignalRecord(
        occurrence_key=m["occurrence_key"], rule_id=m["rule_id"], rule_version=m["rule_version"], symbol=m["symbol"],
        timeframe=m["timeframe"], signal_time=m["signal_time"], direction=m["direction"], source=m["source"],
        status=m["status"], steps=json.loads(m["steps_json"]), occurrence=json.loads(m["occurrence_json"]),
        order_type=m["order_type"], entry_price=m["entry_price"], stop_price=m["stop_price"],
        stop_distance=m["stop_distance"], targets=json.loads(m["targets_json"]), expiry_time=m["expiry_time"],
        time_exit_time=m["time_exit_time"], skipped=m["skipped"], rule_version_id=m["rule_version_id"],
        outcome=json.loads(m["outcome_json"]), ingest_id=m["ingest_id"], id=m["id"])


class Signals:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @staticmethod
    def insert(session: Session, records: list[SignalRecord], ingest_id: int | None = None) -> list[bool]:
        """Insert in the caller's transaction; per record, True if new, False if its key was stored already."""
        now = int(time.time())
        sql = text(f"INSERT OR IGNORE INTO signals ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)})")
        fresh = []
        for rec in records:
            if ingest_id is not None:
                rec.ingest_id = ingest_id
            result = session.connection().execute(sql, rec.row(now))
            fresh.append(result.rowcount == 1)
            if result.rowcount == 1:
                rec.id = result.lastrowid
        return fresh

    def store(self, records: list[SignalRecord],
              also: Callable[[Session, list[bool]], object] | None = None) -> list[bool]:
        """Insert in a transaction of its own (signals of bars already stored: Bar Replay);
        ``also(session, fresh)`` runs in that transaction (the outbox's notifications)."""
        if not records:
            return []
        with write_session(self._engine) as session:
            fresh = self.insert(session, records)
            if also is not None:
                also(session, fresh)
            return fresh

    def update(self, occurrence_key: str, status: str, outcome: dict[str, Any],
               also: Callable[[Session], object] | None = None) -> None:
        """A signal's new status; ``also(session)`` runs in the same transaction (the outbox's notifications)."""
        if status not in SIGNAL_STATUSES:
            raise ValueError(f"unknown signal status {status!r}")
        with write_session(self._engine) as session:
            session.connection().execute(
                text("UPDATE signals SET status = :s, outcome_json = :o, updated_at = :t WHERE occurrence_key = :k"),
                {"s": status, "o": json.dumps(outcome), "t": int(time.time()), "k": occurrence_key})
            if also is not None:
                also(session)

    def list(self, *, symbol: str | None = None, source: str | None = None, status: tuple[str, ...] | None = None,
             rule_id: str | None = None) -> list[SignalRecord]:
        """Signals in signal-time order, filtered by what is given."""
        where, params = [], {}
        for name, value in (("symbol", symbol), ("source", source), ("rule_id", rule_id)):
            if value is not None:
                where.append(f"{name} = :{name}")
                params[name] = value
        if status:
            where.append(f"status IN ({', '.join(f':st{i}' for i in range(len(status)))})")
            params.update({f"st{i}": s for i, s in enumerate(status)})
        sql = "SELECT * FROM signals" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY signal_time, id"
        with read_session(self._engine) as session:
            return [_record(r) for r in session.connection().execute(text(sql), params)]

    def keys(self, symbol: str) -> set[str]:
        with read_session(self._engine) as session:
            return {r[0] for r in session.connection().execute(
                text("SELECT occurrence_key FROM signals WHERE symbol = :s"), {"s": symbol})}

    def get_many(self, occurrence_keys: list[str]) -> dict[str, SignalRecord]:
        """The stored signals among ``occurrence_keys``, by key."""
        out: dict[str, SignalRecord] = {}
        with read_session(self._engine) as session:
            for lo in range(0, len(occurrence_keys), 500):
                part = occurrence_keys[lo:lo + 500]
                sql = f"SELECT * FROM signals WHERE occurrence_key IN ({', '.join(f':k{i}' for i in range(len(part)))})"
                for r in session.connection().execute(text(sql), {f"k{i}": k for i, k in enumerate(part)}):
                    rec = _record(r)
                    out[rec.occurrence_key] = rec
        return out
