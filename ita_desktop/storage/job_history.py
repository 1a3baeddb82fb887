"""Job history in SQLite: the job engine's history sink, and reads for the GUI and the CLI.

The engine calls ``job_started`` / ``job_ended`` from the worker thread that runs the job
(never from the GUI thread: a write may wait for an import's transaction to commit).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from ita_desktop.storage.db import read_session, write_session
from ita_desktop.storage.models import Job

STATUSES = ("started", "finished", "failed", "cancelled")


class JobHistory:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def job_started(self, job_id: int, name: str, key: str | None, started_at: int) -> int:
        """Add a row for a run that starts now; returns the row id the end of the run is recorded under."""
        with write_session(self._engine) as session:
            row = Job(job_id=job_id, name=name, key=key, status="started", started_at=started_at)
            session.add(row)
            session.flush()
            assert row.id is not None
            return row.id

    def job_ended(self, row_id: int, status: str, finished_at: int, error: str | None, summary: Any) -> None:
        """Record how the run ended; ``summary`` is JSON-ready data (anything else is stored as its text)."""
        if status not in STATUSES[1:]:
            raise ValueError(f"a job ends finished, failed or cancelled, not {status!r}")
        with write_session(self._engine) as session:
            row = session.get(Job, row_id)
            if row is None:
                raise KeyError(f"no job history row {row_id}")
            row.status, row.finished_at, row.error = status, finished_at, error
            row.summary_json = None if summary is None else json.dumps(summary, default=str)
            session.add(row)

    def get(self, row_id: int) -> Job | None:
        with read_session(self._engine) as session:
            return session.get(Job, row_id)

    def list(self, *, key: str | None = None, status: str | None = None, limit: int = 100) -> list[Job]:
        """The newest runs first, optionally of one key and/or status."""
        query = select(Job).order_by(Job.id.desc()).limit(limit)  # type: ignore[union-attr]
        if key is not None:
            query = query.where(Job.key == key)
        if status is not None:
            query = query.where(Job.status == status)
        with read_session(self._engine) as session:
            return list(session.exec(query))
