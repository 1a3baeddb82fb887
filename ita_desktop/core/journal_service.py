"""The journal as core use cases: feedback on a signal or a backtest trade, the filtered list, R per day,
statistics by tag and mistake, and the trader's tag lists.

Feedback is stored with the rule id and version it was given under (``store.feedback``), so a rule
changing later loses nothing. Saving a signal's feedback enqueues, in the feedback's own transaction,
an outbox row (event ``feedback``) for each enabled channel that keeps a page per signal and takes
that event (Notion: the page's Taken, Label, Grade, Tags, Mistakes, Notes); then ``FeedbackSaved``
goes out on the bus. The chart picture is written as a PNG under
``<data>/journal/``. No Qt here; the window runs these in jobs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ita_desktop.bus.events import FeedbackSaved
from ita_desktop.domain.errors import InputError
from ita_desktop.learning.journal_stats import OUTCOMES, DayR, JournalEntry, TagStats, r_per_day, stats_by

if TYPE_CHECKING:
    from ita_desktop.storage.feedback_store import Feedback
    from ita_desktop.core.app_core import Core
    from ita_desktop.core.backtest_service import BacktestOutcome
    from ita_desktop.storage.signal_store import SignalRecord


@dataclass(frozen=True)
class JournalFilter:
    """What the Journal list shows; None: any. ``end_utc`` is exclusive; ``tag`` matches a setup tag or a mistake."""

    rule_id: str | None = None
    rule_version: str | None = None
    symbol: str | None = None
    tag: str | None = None
    outcome: str | None = None  # win | loss | breakeven | open
    start_utc: int | None = None
    end_utc: int | None = None

    def __post_init__(self) -> None:
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise InputError(f"outcome {self.outcome!r}: expected one of {', '.join(OUTCOMES)}")


def signal_feedback(record: SignalRecord, **values: Any) -> Feedback:
    """A blank (or filled) feedback on a stored signal, keyed by its occurrence key."""
    from ita_desktop.storage.feedback_store import Feedback  # not at the top: building a core loads no ORM

    return Feedback("signal", record.occurrence_key, record.rule_id, record.rule_version, record.symbol,
                    int(record.signal_time), **values)


def trade_key(run_id: int, occurrence: int) -> str:
    return f"{run_id}:{occurrence}"


def trade_feedback(outcome: BacktestOutcome, trade: int, **values: Any) -> Feedback:
    """A blank (or filled) feedback on a stored run's trade (row ``trade``): its R is final and kept."""
    from ita_desktop.storage.feedback_store import Feedback

    result = outcome.result
    if result.run_id is None:
        raise InputError("this run is not stored: feedback is kept with a stored run's trades only")
    row = result.trades.rows[trade]
    occ = int(row["occurrence"])
    occurrences = {o.id: o for o in outcome.occurrences}
    signal_time = occurrences[occ].signal_time if occ in occurrences else int(row["entry_time"])
    r = float(row["r_multiple"])
    return Feedback("trade", trade_key(result.run_id, occ), result.rule_id, str(result.rule_version), outcome.symbol,
                    int(signal_time), outcome_r=r if r == r else None, **values)


class JournalService:
    def __init__(self, core: Core) -> None:
        self._core = core

    @property
    def pictures(self) -> Path:
        return self._core.paths.data / "journal"

    # -- feedback -------------------------------------------------------------------------
    def save(self, feedback: Feedback, picture_png: bytes | None = None) -> Feedback:
        """Store (or replace) the feedback; a picture given is written beside the store first and its path kept.
        Bad values: InputError before anything is written."""
        feedback.check()
        if picture_png is not None:
            if not picture_png.startswith(b"\x89PNG"):
                raise InputError("the feedback picture is not a PNG")
            self.pictures.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha1(f"{feedback.target_kind}:{feedback.target_key}".encode()).hexdigest()[:16]
            path = self.pictures / f"{feedback.rule_id}-{name}.png"
            path.write_bytes(picture_png)
            feedback.picture_path = str(path)
        outputs, outbox = self._core.outputs, self._core.store.outbox

        def enqueue(session: Any, updated_at: int) -> None:  # in the feedback's transaction: both or neither
            items = outputs.feedback_items(feedback, updated_at)
            if items:
                outbox.enqueue(session, items)

        self._core.store.feedback.save(feedback, also=enqueue)
        running = outputs.running
        if running is not None and feedback.target_kind == "signal":
            running.wake.set()
        self._core.bus.publish(FeedbackSaved(target_kind=feedback.target_kind, target_key=feedback.target_key,
                                             rule_id=feedback.rule_id, rule_version=feedback.rule_version,
                                             symbol=feedback.symbol, signal_utc=feedback.signal_time))
        return feedback

    def get(self, target_kind: str, target_key: str) -> Feedback | None:
        return self._core.store.feedback.get(target_kind, target_key)

    # -- the list and its numbers -------------------------------------------------------
    def entries(self, flt: JournalFilter | None = None) -> list[JournalEntry]:
        """The feedback matching ``flt`` with each one's R (a signal's from its stored outcome), by signal time."""
        flt = flt or JournalFilter()
        store = self._core.store
        rows = store.feedback.list(rule_id=flt.rule_id, symbol=flt.symbol, tag=flt.tag, rule_version=flt.rule_version,
                                   start_utc=flt.start_utc, end_utc=flt.end_utc)
        signals = store.signals.get_many([f.target_key for f in rows if f.target_kind == "signal"])
        out = []
        for f in rows:
            r = f.outcome_r
            if f.target_kind == "signal":
                rec = signals.get(f.target_key)
                value = rec.outcome.get("r_multiple") if rec is not None and rec.outcome else None
                r = float(value) if value is not None and value == value else None
            entry = JournalEntry(f, r)
            if flt.outcome is None or entry.outcome == flt.outcome:
                out.append(entry)
        return out

    def calendar(self, flt: JournalFilter | None = None) -> dict[Any, DayR]:
        """R per New York trading day of the entries matching ``flt``."""
        return r_per_day(self.entries(flt))

    def stats(self, flt: JournalFilter | None = None) -> dict[str, list[TagStats]]:
        entries = self.entries(flt)
        return {"tags": stats_by(entries, "tags"), "mistakes": stats_by(entries, "mistakes")}

    # -- the trader's lists ----------------------------------------------------------------
    def tags(self) -> dict[str, list[str]]:
        return self._core.store.feedback.tag_list()

    def add_tag(self, kind: str, name: str) -> bool:
        return self._core.store.feedback.add_tag(kind, name)

    def remove_tag(self, kind: str, name: str) -> bool:
        return self._core.store.feedback.remove_tag(kind, name)
