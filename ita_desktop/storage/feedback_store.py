"""The trader's feedback in SQLite: one row per signal or backtest trade, replaced when edited.

What a row is about is a key the caller gives (``signal``: the signal's occurrence key; ``trade``:
``<run_id>:<occurrence>``); the rule id, version, symbol and signal time are kept with it so the
journal still reads it after the rule has changed. Labels are ``valid`` / ``invalid`` (the seed's
labelling); tags and mistakes are the trader's own words, and the words used are kept in the
``journal_tags`` table (the trader's editable lists: a tag is added there when first used, and can
be added or removed there without touching the entries that carry it). ``outcome_r`` is a backtest
trade's R, known when the feedback is given; a signal's R is read from the signals table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session

from ita_desktop.domain.errors import InputError
from ita_desktop.storage.db import read_session, write_session

TARGET_KINDS = ("signal", "trade")
LABELS = ("valid", "invalid")
TAG_KINDS = ("setup", "mistake")


@dataclass
class Feedback:
    target_kind: str
    target_key: str
    rule_id: str
    rule_version: str
    symbol: str
    signal_time: int
    taken: bool | None = None
    skip_reason: str | None = None
    label: str | None = None
    grade: str | None = None
    tags: list[str] = field(default_factory=list)
    mistakes: list[str] = field(default_factory=list)
    emotions: str | None = None
    notes: str | None = None
    picture_path: str | None = None
    outcome_r: float | None = None

    def check(self) -> None:
        if self.target_kind not in TARGET_KINDS:
            raise InputError(f"feedback target_kind {self.target_kind!r}: expected one of {', '.join(TARGET_KINDS)}")
        if self.label is not None and self.label not in LABELS:
            raise InputError(f"feedback label {self.label!r}: expected one of {', '.join(LABELS)}")
        if not self.target_key:
            raise InputError("feedback target_key is empty")
        for word in (*self.tags, *self.mistakes):
            if not word.strip():
                raise InputError("feedback: an empty tag")


_COLUMNS = ("target_kind", "target_key", "rule_id", "rule_version", "symbol", "signal_time", "taken", "skip_reason",
            "label", "grade", "tags_json", "mistakes_json", "emotions", "notes", "picture_path", "outcome_r")


class FeedbackStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def save(self, fb: Feedback, also: Callable[[Session, int], object] | None = None) -> int:
        """Insert or replace the feedback on ``fb``'s target (bad values: InputError, nothing stored);
        its tags and mistakes join the trader's lists in the same transaction, and ``also(session,
        updated_at)`` runs in it too (the outbox's row for the signal's Notion page). Returns ``updated_at``."""
        fb.check()
        fb.tags = [t.strip() for t in fb.tags]
        fb.mistakes = [m.strip() for m in fb.mistakes]
        now = int(time.time())
        row = {**{k: getattr(fb, k) for k in _COLUMNS if hasattr(fb, k)},
               "taken": None if fb.taken is None else int(fb.taken),
               "tags_json": json.dumps(sorted(set(fb.tags))), "mistakes_json": json.dumps(sorted(set(fb.mistakes))),
               "created_at": now, "updated_at": now}
        cols = ", ".join(row)
        updates = ", ".join(f"{c} = excluded.{c}" for c in row if c not in ("created_at", "target_kind", "target_key"))
        with write_session(self._engine) as session:
            session.execute(text(f"INSERT INTO feedback ({cols}) VALUES ({', '.join(':' + c for c in row)}) "
                                 f"ON CONFLICT (target_kind, target_key) DO UPDATE SET {updates}"), row)
            for kind, words in (("setup", fb.tags), ("mistake", fb.mistakes)):
                for word in set(words):
                    session.execute(text("INSERT OR IGNORE INTO journal_tags (kind, name, created_at) "
                                         "VALUES (:kind, :name, :now)"), {"kind": kind, "name": word, "now": now})
            if also is not None:
                also(session, now)
        return now

    def get(self, target_kind: str, target_key: str) -> Feedback | None:
        with read_session(self._engine) as session:
            row = session.execute(text("SELECT * FROM feedback WHERE target_kind = :k AND target_key = :key"),
                                  {"k": target_kind, "key": target_key}).mappings().first()
        return None if row is None else _record(row)

    def delete(self, target_kind: str, target_key: str) -> bool:
        with write_session(self._engine) as session:
            done = session.execute(text("DELETE FROM feedback WHERE target_kind = :k AND target_key = :key"),
                                   {"k": target_kind, "key": target_key})
            return bool(done.rowcount)

    # -- the trader's tag lists ------------------------------------------------------------
    def tag_list(self, kind: str | None = None) -> dict[str, list[str]]:
        """The trader's words per kind (``setup``, ``mistake``), sorted."""
        out: dict[str, list[str]] = {k: [] for k in TAG_KINDS}
        with read_session(self._engine) as session:
            for k, name in session.execute(text("SELECT kind, name FROM journal_tags ORDER BY kind, name")):
                if k in out and (kind is None or k == kind):
                    out[k].append(name)
        return out if kind is None else {kind: out[kind]}

    def add_tag(self, kind: str, name: str) -> bool:
        """Add a word to a list; False when it was there already."""
        _check_tag(kind, name)
        with write_session(self._engine) as session:
            done = session.execute(text("INSERT OR IGNORE INTO journal_tags (kind, name, created_at) "
                                        "VALUES (:kind, :name, :now)"),
                                   {"kind": kind, "name": name.strip(), "now": int(time.time())})
            return bool(done.rowcount)

    def remove_tag(self, kind: str, name: str) -> bool:
        """Take a word off a list (entries that carry it keep it); False when it was not there."""
        _check_tag(kind, name)
        with write_session(self._engine) as session:
            done = session.execute(text("DELETE FROM journal_tags WHERE kind = :kind AND name = :name"),
                                   {"kind": kind, "name": name.strip()})
            return bool(done.rowcount)

    def list(self, *, rule_id: str | None = None, symbol: str | None = None, tag: str | None = None,
             rule_version: str | None = None, start_utc: int | None = None,
             end_utc: int | None = None) -> list[Feedback]:
        """Entries by signal time; ``tag`` matches a setup tag or a mistake; ``end_utc`` is exclusive."""
        where, args = [], {}
        for column, value in (("rule_id", rule_id), ("symbol", symbol), ("rule_version", rule_version)):
            if value:
                where.append(f"{column} = :{column}")
                args[column] = value
        if start_utc is not None:
            where.append("signal_time >= :start")
            args["start"] = start_utc
        if end_utc is not None:
            where.append("signal_time < :end")
            args["end"] = end_utc
        sql = "SELECT * FROM feedback" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY signal_time"
        with read_session(self._engine) as session:
            rows = session.execute(text(sql), args).mappings().all()
        out = [_record(r) for r in rows]
        return [f for f in out if tag is None or tag in f.tags or tag in f.mistakes]


def _record(r: Any) -> Feedback:
    return Feedback(r["target_kind"], r["target_key"], r["rule_id"], r["rule_version"], r["symbol"],
                    int(r["signal_time"]), None if r["taken"] is None else bool(r["taken"]), r["skip_reason"],
                    r["label"], r["grade"], json.loads(r["tags_json"]), json.loads(r["mistakes_json"]),
                    r["emotions"], r["notes"], r["picture_path"],
                    None if r.get("outcome_r") is None else float(r["outcome_r"]))


def _check_tag(kind: str, name: str) -> None:
    if kind not in TAG_KINDS:
        raise InputError(f"tag kind {kind!r}: expected one of {', '.join(TAG_KINDS)}")
    if not name.strip():
        raise InputError("a tag must not be empty")
