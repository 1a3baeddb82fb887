"""The notification outbox: what outputs/ must deliver, durable in SQLite.

A row is enqueued in the caller's transaction (the one that stores the signal or its update), so
a crash either loses both or keeps both. ``idem_key`` (signal x channel x event) is UNIQUE: a
restart that stores the same signal again enqueues nothing. An event that can happen again for
the same signal (the trader's feedback, edited) adds its ``revision`` to the key: an edit is a new
row, a retry of the same save is not. The sender claims a row (``sending``)
before it asks the far side and marks it ``sent`` with the far side's reference (Telegram's
message id) right after; ``refused`` rows keep the far side's words and are never retried.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session

from ita_desktop.storage.db import read_session, write_session

OUTBOX_STATUSES = ("pending", "sending", "sent", "refused")


def idem_key(signal_key: str, channel: str, event: str, revision: str | None = None) -> str:
    key = f"{signal_key}|{channel}|{event}"
    return key if revision is None else f"{key}|{revision}"


@dataclass
class OutboxItem:
    """One notification to enqueue: ``event`` is ``signal`` (raised) or the update's status (filled, target, ...)."""

    channel: str
    event: str
    signal_key: str
    payload: dict[str, Any]
    picture_path: str | None = None
    #: what makes a repeated event new (the feedback's edit); None for the events a signal has once
    revision: str | None = None


@dataclass
class OutboxRow:
    id: int
    idem_key: str
    channel: str
    event: str
    signal_key: str
    payload: dict[str, Any]
    picture_path: str | None
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    remote_ref: str | None


def _row(r: Any) -> OutboxRow:
    m = r._mapping
    return OutboxRow(id=m["id"], idem_key=m["idem_key"], channel=m["channel"], event=m["event"],
                     signal_key=m["signal_key"], payload=json.loads(m["payload_json"]), picture_path=m["picture_path"],
                     status=m["status"], attempts=m["attempts"], next_attempt_at=m["next_attempt_at"],
                     last_error=m["last_error"], remote_ref=m["remote_ref"])


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @staticmethod
    def enqueue(session: Session, items: list[OutboxItem]) -> int:
        """Insert in the caller's transaction; returns how many were new (a stored key is ignored)."""
        now = time.time()
        sql = text("INSERT OR IGNORE INTO outbox (idem_key, channel, event, signal_key, payload_json, picture_path, "
                   "status, attempts, next_attempt_at, created_at) VALUES (:k, :c, :e, :s, :p, :pic, 'pending', 0, "
                   ":n, :t)")
        new = 0
        for it in items:
            res = session.connection().execute(sql, {
                "k": idem_key(it.signal_key, it.channel, it.event, it.revision), "c": it.channel, "e": it.event,
                "s": it.signal_key,
                "p": json.dumps(it.payload), "pic": it.picture_path, "n": now, "t": int(now)})
            new += res.rowcount
        return new

    def enqueue_now(self, items: list[OutboxItem]) -> int:
        """Enqueue in a transaction of its own (a test message, a daily summary)."""
        with write_session(self._engine) as session:
            return self.enqueue(session, items)

    def due(self, now: float, channels: tuple[str, ...], limit: int = 50) -> list[OutboxRow]:
        """Rows to try now, oldest first: pending ones whose wait is over, and ``sending`` ones a killed
        process left behind (delivered again: the far side may not have taken them). A test message is
        not among them: Send test delivers its own row once, at once (a running sender must not race it)."""
        if not channels:
            return []
        names = ", ".join(f":c{i}" for i in range(len(channels)))
        sql = (f"SELECT * FROM outbox WHERE status IN ('pending', 'sending') AND event != 'test' AND next_attempt_at <= :n "
               f"AND channel IN ({names}) ORDER BY id LIMIT :lim")
        params: dict[str, Any] = {"n": now, "lim": limit, **{f"c{i}": c for i, c in enumerate(channels)}}
        with read_session(self._engine) as session:
            return [_row(r) for r in session.connection().execute(text(sql), params)]

    def _set(self, row_id: int, sets: str, params: dict[str, Any]) -> None:
        with write_session(self._engine) as session:
            session.connection().execute(text(f"UPDATE outbox SET {sets} WHERE id = :id"), {"id": row_id, **params})

    def mark_sending(self, row_id: int) -> None:
        self._set(row_id, "status = 'sending', attempts = attempts + 1", {})

    def mark_sent(self, row_id: int, remote_ref: str | None) -> None:
        self._set(row_id, "status = 'sent', remote_ref = :r, sent_at = :t, last_error = NULL",
                  {"r": remote_ref, "t": int(time.time())})

    def mark_retry(self, row_id: int, next_attempt_at: float, error: str) -> None:
        self._set(row_id, "status = 'pending', next_attempt_at = :n, last_error = :e", {"n": next_attempt_at, "e": error})

    def mark_refused(self, row_id: int, error: str) -> None:
        self._set(row_id, "status = 'refused', last_error = :e", {"e": error})

    def remote_ref(self, signal_key: str, channel: str, event: str = "signal") -> str | None:
        """The far side's reference of a sent row (an update replies to its signal's message)."""
        with read_session(self._engine) as session:
            return session.connection().execute(
                text("SELECT remote_ref FROM outbox WHERE idem_key = :k AND status = 'sent'"),
                {"k": idem_key(signal_key, channel, event)}).scalar()

    def status_of(self, signal_key: str, channel: str, event: str = "signal") -> str | None:
        with read_session(self._engine) as session:
            return session.connection().execute(text("SELECT status FROM outbox WHERE idem_key = :k"),
                                                {"k": idem_key(signal_key, channel, event)}).scalar()

    def earlier_waiting(self, row: OutboxRow) -> bool:
        """Whether an older row of the same signal, channel and event is still to be sent (an older edit of the
        feedback goes first, so the page ends with the newest)."""
        with read_session(self._engine) as session:
            return session.connection().execute(
                text("SELECT 1 FROM outbox WHERE signal_key = :s AND channel = :c AND event = :e AND id < :id "
                     "AND status IN ('pending', 'sending') LIMIT 1"),
                {"s": row.signal_key, "c": row.channel, "e": row.event, "id": row.id}).first() is not None

    def settle_field(self, signal_key: str, event: str, field: str, value: Any) -> Any:
        """Write ``field`` into the payload of every ``event`` row of the signal that lacks it, and return the value
        those rows now hold: the first one written wins, so every channel's row of a signal and every retry of it
        carry the same (the notification's similar-setups line, decided once per signal)."""
        path = f"$.{field}"
        with write_session(self._engine) as session:
            conn = session.connection()
            conn.execute(text("UPDATE outbox SET payload_json = json_set(payload_json, :p, :v) WHERE signal_key = :s "
                              "AND event = :e AND json_type(payload_json, :p) IS NULL"),
                         {"p": path, "v": value, "s": signal_key, "e": event})
            return conn.execute(text("SELECT json_extract(payload_json, :p) FROM outbox WHERE signal_key = :s AND "
                                     "event = :e AND json_type(payload_json, :p) IS NOT NULL ORDER BY id LIMIT 1"),
                                {"p": path, "s": signal_key, "e": event}).scalar()

    def waiting(self, channels: tuple[str, ...] | None = None) -> int:
        """How many rows are not yet sent nor refused (the drain at exit waits for none)."""
        sql = "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')"
        params: dict[str, Any] = {}
        if channels is not None:
            if not channels:
                return 0
            sql += f" AND channel IN ({', '.join(f':c{i}' for i in range(len(channels)))})"
            params = {f"c{i}": c for i, c in enumerate(channels)}
        with read_session(self._engine) as session:
            return int(session.connection().execute(text(sql), params).scalar_one())

    def list(self, status: str | None = None) -> list[OutboxRow]:
        sql = "SELECT * FROM outbox" + (" WHERE status = :s" if status else "") + " ORDER BY id"
        with read_session(self._engine) as session:
            return [_row(r) for r in session.connection().execute(text(sql), {"s": status})]
