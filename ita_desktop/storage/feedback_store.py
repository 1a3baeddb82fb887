"""The trader's feedback in SQLite: one row per signal or backtest trade, replaced when edited.

What a row is about is a key the caller gives (``signal``: the signal's occurrence key; ``trade``:
``<run_id>:<occurrence>``); the rule id, version, symbol and signal time are kept with it so the
journal still reads it after the rule has changed. Labels are ``valid`` / ``invalid`` (the seed's
labelling); tags and mistakes are the trader's own words.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from ita_desktop.domain.errors import InputError
from ita_desktop.storage.db import read_session, write_session

TARGET_KINDS = ("signal", "trade")
LABELS = ("valid", "invalid")


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

    def check(self) -> None:
        if self.target_kind not in TARGET_KINDS:
            raise InputError(f"feedback target_kind {self.target_kind!r}: expected one of {', '.join(TARGET_KINDS)}")
        if self.label is not None and self.label not in LABELS:
            raise InputError(f"feedback label {self.label!r}: expected one of {', '.join(LABELS)}")
        if not self.target_key:
            raise InputError("feedback target_key is empty")


_COLUMNS = ("target_kind", "target_key", "rule_id", "rule_version", "symbol", "signal_time", "taken", "skip_reason",
            "label", "grade", "tags_json", "mistakes_json", "emotions", "notes", "picture_path")


class FeedbackStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def save(self, fb: Feedback) -> None:
        """Insert or replace the feedback on ``fb``'s target (bad values: InputError, nothing stored)."""
        fb.check()
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

    def list(self, *, rule_id: str | None = None, symbol: str | None = None, tag: str | None = None) -> list[Feedback]:
        where, args = [], {}
        if rule_id:
            where.append("rule_id = :rule_id")
            args["rule_id"] = rule_id
        if symbol:
            where.append("symbol = :symbol")
            args["symbol"] = symbol
        sql = "SELECT * FROM feedback" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY signal_time"
        with read_session(self._engine) as session:
            rows = session.execute(text(sql), args).mappings().all()
        out = [_record(r) for r in rows]
        return [f for f in out if tag is None or tag in f.tags or tag in f.mistakes]


def _record(r: Any) -> Feedback:
    return Feedback(r["target_kind"], r["target_key"], r["rule_id"], r["rule_version"], r["symbol"],
                    int(r["signal_time"]), None if r["taken"] is None else bool(r["taken"]), r["skip_reason"],
                    r["label"], r["grade"], json.loads(r["tags_json"]), json.loads(r["mistakes_json"]),
                    r["emotions"], r["notes"], r["picture_path"])
