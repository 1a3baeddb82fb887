"""Vision reviews in SQLite, their pictures as files in ``<data>/reviews/`` named by their SHA-256.

A picture is written first (to a temporary name, then renamed: content-addressed, so writing it
twice is harmless), then the row in one transaction; if the row fails, a picture no other row
uses is removed again. Nothing here ever sees an API key: the vision package hands plain values.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from ita_desktop.storage.db import read_session, write_session
from ita_desktop.storage.models import Review

PICTURES = "reviews"


@dataclass
class StoredReview:
    """A review read back, JSON columns decoded."""

    id: int
    created_at: int
    symbol: str
    timeframe: str
    window_from: int
    window_to: int
    endpoint_host: str
    model: str
    prompt_version: str
    method: str
    picture_path: Path
    picture_sha256: str
    context: dict[str, Any]
    raw_answer: list[str]
    answer: dict[str, Any] | None
    grounding: dict[str, Any] | None
    latency_ms: float
    tokens: dict[str, int]
    error_kind: str | None
    error: str | None
    conversation: list[dict[str, str]]
    subject: str


class ReviewRecords:
    def __init__(self, engine: Engine, data_folder: Path) -> None:
        self._engine = engine
        self.folder = Path(data_folder)

    def _picture(self, png: bytes) -> tuple[str, str, bool]:
        """Write the picture once; returns (relative file, sha256, whether this call created it)."""
        digest = hashlib.sha256(png).hexdigest()
        relative = f"{PICTURES}/{digest}.png"
        path = self.folder / relative
        if path.exists():
            return relative, digest, False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(png)
        os.replace(tmp, path)
        return relative, digest, True

    def add(self, *, png: bytes, symbol: str, timeframe: str, window: tuple[int, int], endpoint_host: str, model: str,
            prompt_version: str, method: str, context: dict[str, Any], raw_answer: list[str],
            answer: dict[str, Any] | None, grounding: dict[str, Any] | None, latency_ms: float,
            tokens: dict[str, int], error_kind: str | None = None, error: str | None = None,
            conversation: list[dict[str, str]] | None = None, subject: str = "chart") -> int:
        """Store one review (and its picture); returns its id. On any failure nothing new is left behind."""
        relative, digest, created = self._picture(png)
        row = Review(created_at=int(time.time()), symbol=symbol, timeframe=timeframe, window_from=int(window[0]),
                     window_to=int(window[1]), endpoint_host=endpoint_host, model=model, prompt_version=prompt_version,
                     method=method, picture_file=relative, picture_sha256=digest,
                     context_json=json.dumps(context, separators=(",", ":")),
                     raw_answer_json=json.dumps(raw_answer), answer_json=None if answer is None else json.dumps(answer),
                     grounding_json=None if grounding is None else json.dumps(grounding), latency_ms=float(latency_ms),
                     tokens_json=json.dumps(tokens), error_kind=error_kind, error=error,
                     conversation_json=json.dumps(conversation or []), subject=subject)
        try:
            with write_session(self._engine) as session:
                session.add(row)
                session.flush()
                assert row.id is not None
                return int(row.id)
        except BaseException:
            if created:
                (self.folder / relative).unlink(missing_ok=True)
            raise

    def set_conversation(self, review_id: int, conversation: list[dict[str, str]], tokens: dict[str, int]) -> None:
        """Replace the follow-up conversation and the token count of a stored review (one transaction)."""
        with write_session(self._engine) as session:
            row = session.get(Review, review_id)
            if row is None:
                raise KeyError(f"no review {review_id}")
            row.conversation_json = json.dumps(conversation)
            row.tokens_json = json.dumps(tokens)
            session.add(row)

    def _decode(self, row: Review) -> StoredReview:
        return StoredReview(
            id=int(row.id or 0), created_at=row.created_at, symbol=row.symbol, timeframe=row.timeframe,
            window_from=row.window_from, window_to=row.window_to, endpoint_host=row.endpoint_host, model=row.model,
            prompt_version=row.prompt_version, method=row.method, picture_path=self.folder / row.picture_file,
            picture_sha256=row.picture_sha256, context=json.loads(row.context_json),
            raw_answer=json.loads(row.raw_answer_json),
            answer=None if row.answer_json is None else json.loads(row.answer_json),
            grounding=None if row.grounding_json is None else json.loads(row.grounding_json),
            latency_ms=row.latency_ms, tokens=json.loads(row.tokens_json), error_kind=row.error_kind, error=row.error,
            conversation=json.loads(row.conversation_json), subject=row.subject)

    def get(self, review_id: int) -> StoredReview | None:
        with read_session(self._engine) as session:
            row = session.get(Review, review_id)
            return None if row is None else self._decode(row)

    def list(self, symbol: str | None = None, limit: int = 50) -> list[StoredReview]:
        """Newest first."""
        with read_session(self._engine) as session:
            query = select(Review).order_by(Review.id.desc()).limit(limit)  # type: ignore[union-attr]
            if symbol is not None:
                query = query.where(Review.symbol == symbol)
            return [self._decode(row) for row in session.exec(query)]
