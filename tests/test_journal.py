"""The journal on a real SQLite store with the real EURUSD: feedback on a stored run's trades and on signals,
kept when the rule gets a new version; filters; R per New York day equals the sum of that day's R; statistics
by tag and mistake; the trader's tag lists; `ita journal add|list|tags`; FeedbackSaved on the bus."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ita_desktop.bus.events import FeedbackSaved
from ita_desktop.cli.main import main
from ita_desktop.core.journal_service import JournalFilter, signal_feedback, trade_feedback
from ita_desktop.domain.errors import InputError
from ita_desktop.storage.signal_store import SignalRecord
from tests.support.cores import new_core

pytestmark = pytest.mark.realdata


def _signal(key: str, t: int, r: float | None) -> SignalRecord:
    return SignalRecord(occurrence_key=key, rule_id="ib_raid", rule_version="1", symbol="EURUSD", timeframe="M1",
                        signal_time=t, direction=-1, source="replay", status="stop" if r is not None else "pending",
                        steps=[], occurrence={}, outcome={"r_multiple": r} if r is not None else {})


@pytest.fixture
def journal_core(eurusd_store: Path):
    core = new_core()
    result = core.backtests.backtest("ib_raid", "EURUSD")
    assert result.run_id is not None and len(result.trades) >= 10
    yield core, core.runs.reopen(result.run_id)
    core.close()


def test_feedback_survives_a_rule_version_change_and_the_filters_pick_entries(journal_core) -> None:
    core, outcome = journal_core
    rows = outcome.result.trades.rows
    saved = threading.Event()
    core.bus.subscribe(FeedbackSaved, lambda e: saved.set())
    for i in range(6):
        tags = ["ib raid", "a+"] if i % 2 == 0 else ["ib raid"]
        core.journal.save(trade_feedback(outcome, i, taken=True, label="valid" if i < 4 else "invalid", grade="A",
                                         tags=tags, mistakes=["early entry"] if i == 1 else []))
    assert saved.wait(5)
    # a new version of the rule is stored: the feedback given under v1 is still there, with its version
    text = core.rules.resolve("ib_raid").path.read_text(encoding="utf-8")
    core.rules.save(text.replace("version: 1", 'version: "7"', 1))
    assert core.rules.resolve("ib_raid").version.version == "7"
    entries = core.journal.entries()
    assert len(entries) == 6 and {e.feedback.rule_version for e in entries} == {"1"}
    assert [e.r for e in entries] == pytest.approx([float(rows[i]["r_multiple"]) for i in range(6)])
    assert core.journal.entries(JournalFilter(rule_version="7")) == []
    assert len(core.journal.entries(JournalFilter(rule_id="ib_raid", rule_version="1", symbol="EURUSD"))) == 6
    assert len(core.journal.entries(JournalFilter(tag="a+"))) == 3
    assert [e.feedback.target_key for e in core.journal.entries(JournalFilter(tag="early entry"))] == \
        [f"{outcome.result.run_id}:{int(rows[1]['occurrence'])}"]
    wins = core.journal.entries(JournalFilter(outcome="win"))
    assert wins and all(e.r > 0 for e in wins)
    assert len(wins) + len(core.journal.entries(JournalFilter(outcome="loss"))) + \
        len(core.journal.entries(JournalFilter(outcome="breakeven"))) == 6
    t3 = entries[3].feedback.signal_time
    assert [e.feedback.signal_time for e in core.journal.entries(JournalFilter(start_utc=t3))] == \
        [e.feedback.signal_time for e in entries[3:]]
    assert len(core.journal.entries(JournalFilter(end_utc=t3))) == 3
    # editing replaces the entry; the tag lists hold the words used
    fb = core.journal.get("trade", entries[0].feedback.target_key)
    fb.notes, fb.grade = "waited for the retest", "B"
    core.journal.save(fb)
    assert core.journal.get("trade", fb.target_key).notes == "waited for the retest" and len(core.journal.entries()) == 6
    assert core.journal.tags() == {"setup": ["a+", "ib raid"], "mistake": ["early entry"]}


def test_r_per_day_is_the_sum_of_the_days_r_and_stats_by_tag(journal_core) -> None:
    core, outcome = journal_core
    rows = outcome.result.trades.rows
    n = min(len(rows), 12)
    for i in range(n):
        core.journal.save(trade_feedback(outcome, i, tags=["odd" if i % 2 else "even"],
                                         mistakes=["late"] if i % 3 == 0 else []))
    t = int(outcome.result.trades.rows[0]["entry_time"])
    core.store.signals.store([_signal("s-win", t, 2.0), _signal("s-open", t + 60, None)])
    record = core.store.signals.get_many(["s-win"])["s-win"]
    core.journal.save(signal_feedback(record, taken=False, skip_reason="news", tags=["even"]))
    core.journal.save(signal_feedback(core.store.signals.get_many(["s-open"])["s-open"], tags=["even"]))
    entries = core.journal.entries()
    assert len(entries) == n + 2
    days = core.journal.calendar()
    ny = ZoneInfo("America/New_York")
    expected: dict = {}
    for e in entries:
        if e.r is not None:
            d = datetime.fromtimestamp(e.feedback.signal_time, ny).date()
            expected[d] = expected.get(d, 0.0) + e.r
    assert {d: v.r for d, v in days.items() if v.trades} == pytest.approx(expected)
    assert sum(v.entries for v in days.values()) == n + 2
    stats = {s.name: s for s in core.journal.stats()["tags"]}
    even = [e for e in entries if "even" in e.feedback.tags]
    even_r = [e.r for e in even if e.r is not None]
    assert stats["even"].count == len(even) and stats["even"].trades == len(even_r) == len(even) - 1  # s-open: no R
    assert stats["even"].expectancy_r == pytest.approx(sum(even_r) / len(even_r))
    assert stats["even"].win_rate == pytest.approx(sum(r > 0 for r in even_r) / len(even_r))
    late = {s.name: s for s in core.journal.stats()["mistakes"]}["late"]
    assert late.count == len(range(0, n, 3))


def test_bad_feedback_is_refused_and_nothing_is_stored(journal_core) -> None:
    core, outcome = journal_core
    with pytest.raises(InputError, match="not a PNG"):
        core.journal.save(trade_feedback(outcome, 0, tags=["x"]), picture_png=b"GIF89a")
    with pytest.raises(InputError, match="empty tag"):
        core.journal.save(trade_feedback(outcome, 0, tags=[" "]))
    with pytest.raises(InputError, match="outcome 'won'"):
        JournalFilter(outcome="won")
    assert core.journal.entries() == [] and core.journal.tags() == {"setup": [], "mistake": []}


def test_ita_journal_add_list_tags(eurusd_store: Path, capsys, tmp_path: Path) -> None:
    assert main(["backtest", "ib_raid", "--symbol", "EURUSD", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    run_id = run["run_id"]
    with new_core() as core:
        occ = int(core.runs.reopen(run_id).result.trades.rows[0]["occurrence"])
    picture = tmp_path / "chart.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    assert main(["journal", "add", "--trade", f"{run_id}:{occ}", "--taken", "--label", "valid", "--grade", "A",
                 "--tag", "ib raid", "--mistake", "moved stop", "--notes", "clean", "--picture", str(picture),
                 "--json"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert added["label"] == "valid" and added["tags"] == ["ib raid"] and added["r"] is not None
    assert Path(added["picture_path"]).read_bytes() == picture.read_bytes()
    assert main(["journal", "add", "--trade", f"{run_id}:{occ}", "--grade", "B"]) == 0  # an edit keeps the rest
    capsys.readouterr()
    assert main(["journal", "list", "--tag", "moved stop", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    (entry,) = listed["entries"]
    assert (entry["grade"], entry["notes"], entry["taken"]) == ("B", "clean", True)
    assert sum(d["r"] for d in listed["r_per_day"].values()) == pytest.approx(entry["r"])
    assert listed["stats"]["mistakes"][0]["name"] == "moved stop"
    assert main(["journal", "tags", "--add", "london", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["setup"] == ["ib raid", "london"]
    assert main(["journal", "tags", "--remove", "moved stop", "--mistake"]) == 0
    assert "mistake: (none)" in capsys.readouterr().out
    assert main(["journal", "add", "--signal", "nope", "--taken"]) != 0
    assert "no stored signal" in capsys.readouterr().err
