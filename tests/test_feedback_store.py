"""Feedback in a real SQLite store: saved, edited in place, filtered by tag, bad values refused with nothing stored."""

from __future__ import annotations

import pytest

from ita_desktop.domain.errors import InputError
from ita_desktop.storage.feedback_store import Feedback
from ita_desktop.storage.store import Store


def test_feedback_is_saved_replaced_on_edit_and_kept_with_its_rule_version(ita_home) -> None:
    with Store.open() as store:
        fb = Feedback("signal", "k1", "ib_raid", "1", "EURUSD", 1_700_000_000, taken=False, skip_reason="news",
                      label="valid", grade="B", tags=["ib", "raid", "ib"], mistakes=[], notes="late")
        store.feedback.save(fb)
        store.feedback.save(Feedback("trade", "12:3", "ib_raid", "2", "EURUSD", 1_700_000_300, taken=True,
                                     label="invalid", mistakes=["early entry"]))
        fb.grade, fb.tags = "A", ["ib", "a+"]
        store.feedback.save(fb)  # an edit replaces the row
    with Store.open() as store:  # reopened: it is in the file
        rows = store.feedback.list(rule_id="ib_raid")
        assert [(f.target_key, f.rule_version, f.grade) for f in rows] == [("k1", "1", "A"), ("12:3", "2", None)]
        assert rows[0].tags == ["a+", "ib"] and rows[0].taken is False and rows[0].skip_reason == "news"
        assert [f.target_key for f in store.feedback.list(tag="early entry")] == ["12:3"]


def test_bad_feedback_is_refused_and_nothing_is_stored(ita_home) -> None:
    with Store.open() as store:
        with pytest.raises(InputError, match="label 'maybe'"):
            store.feedback.save(Feedback("signal", "k", "r", "1", "EURUSD", 0, label="maybe"))
        with pytest.raises(InputError, match="target_kind 'order'"):
            store.feedback.save(Feedback("order", "k", "r", "1", "EURUSD", 0))
        assert store.feedback.list() == []
