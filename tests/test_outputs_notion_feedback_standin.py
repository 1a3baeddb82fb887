"""The trader's feedback on a signal reaches the signal's Notion page (event ``feedback``): against the Notion
stand-in on 127.0.0.1 with the real notion-client, on signals of a real EURUSD replay; an edit updates the page
again, a retry of the same save does not; Notion off, or not taking the event, or a backtest trade: nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from ita_desktop import secrets
from ita_desktop.cli.main import main
from ita_desktop.core.journal_service import signal_feedback
from ita_desktop.outputs.notion import NotionChannel
from ita_desktop.outputs.sender import OutboxSender
from ita_desktop.paths import app_paths
from ita_desktop.storage.feedback_store import Feedback
from ita_desktop.storage.outbox import OutboxItem
from ita_desktop.storage.signal_store import SignalRecord
from ita_desktop.storage.store import Store
from tests.support.cores import new_core
from tests.support.notion_standin import NotionStandIn

pytestmark = pytest.mark.standin


def _configure(notion: NotionStandIn | None, events: list[str] | None = None) -> None:
    outputs: dict = {}
    if notion is not None:
        outputs["notion"] = {"enabled": True, "database_id": notion.database_id, "api_root": notion.api_root}
        if events is not None:
            outputs["notion"]["events"] = events
        secrets.set_secret("notion_token", notion.token)
    app_paths().ensure().user_config_file.write_text(yaml.safe_dump({"outputs": outputs}))


def _feedback_rows(core) -> list:
    return [r for r in core.store.outbox.list() if r.event == "feedback"]


@pytest.mark.realdata
def test_notion_standin_feedback_on_a_replayed_signal_updates_its_page_and_an_edit_updates_it_again(
        eurusd_store: Path, capsys) -> None:
    with NotionStandIn() as notion:
        _configure(notion)
        assert main(["live", "--symbol", "EURUSD", "--rules", "asia_sweep", "--source", "replay", "--notify"]) == 0
        raised = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
        key = next(x["occurrence_key"] for x in raised if x["event"] == "signal" and x["order"] is not None)
        core = new_core()
        try:
            record = core.store.signals.get_many([key])[key]
            (page,) = notion.page_for(key)
            status_before = notion.value(page, "Status")
            fb = signal_feedback(record, taken=True, label="valid", grade="A", tags=["asia sweep", "a+, clean"],
                                 mistakes=["early entry"], notes="waited for the sweep\nthen entered")
            core.journal.save(fb)
            (row,) = _feedback_rows(core)
            assert (row.channel, row.signal_key, row.status) == ("notion", key, "pending")
            assert row.payload["label"] == "valid" and row.payload["tags"] == ["asia sweep", "a+, clean"]
            sender = OutboxSender(core.store.outbox, core.outputs.channels())
            assert sender.drain(10) == 0
            v = lambda name: notion.value(notion.pages[page["id"]], name)  # noqa: E731
            assert (v("Taken"), v("Label"), v("Grade")) == (True, "valid", "A")
            assert sorted(v("Tags")) == ["a+  clean", "asia sweep"] and v("Mistakes") == ["early entry"]
            assert v("Notes") == "waited for the sweep\nthen entered"
            assert v("Status") == status_before and len(notion.created) == len(notion.pages)  # no second page
            # the same save again (a retry) adds no row; an edit is a new row and updates the same page
            assert core.store.outbox.enqueue_now(core.outputs.feedback_items(fb, row.payload["updated_at"])) == 0
            time.sleep(1.05)  # a new second: the edit's updated_at differs too (the digest alone would do)
            core.journal.save(signal_feedback(record, taken=False, label="invalid", tags=["asia sweep"],
                                              skip_reason="news"))
            assert len(_feedback_rows(core)) == 2
            assert sender.drain(10) == 0
            assert (v("Taken"), v("Label"), v("Grade"), v("Mistakes"), v("Notes")) == (False, "invalid", None, [], "")
            assert v("Tags") == ["asia sweep"]
            assert {r.status for r in _feedback_rows(core)} == {"sent"}
            assert {r.remote_ref for r in _feedback_rows(core)} == {page["id"]}
        finally:
            core.close()


def _record(key: str) -> SignalRecord:
    return SignalRecord(occurrence_key=key, rule_id="asia_sweep", rule_version="3", symbol="EURUSD", timeframe="M5",
                        signal_time=1_700_000_000, direction=1, source="replay", status="pending", steps=[],
                        occurrence={}, order_type="limit", entry_price=1.085, stop_price=1.083,
                        targets=[{"r": 2.0}])


SIGNAL = {"rule_id": "asia_sweep", "rule_version": "3", "symbol": "EURUSD", "timeframe": "M5", "direction": 1,
          "signal_time": 1_700_000_000, "order_type": "limit", "entry_price": 1.085, "stop_price": 1.083,
          "targets": [{"r": 2.0}], "signal_id": 1, "source": "replay", "digits": 5, "pip_size": 0.0001}


def test_notion_standin_feedback_waits_for_its_signals_page_and_older_edits_go_first(ita_home: Path) -> None:
    with NotionStandIn() as notion:
        _configure(notion)
        core = new_core()
        try:
            outbox = core.store.outbox
            outbox.enqueue_now([OutboxItem("notion", "signal", "k1", SIGNAL)])
            (signal_row,) = outbox.list()
            outbox.mark_retry(signal_row.id, time.time() + 3600, "not yet")  # the page is not made yet
            record = _record("k1")
            core.journal.save(signal_feedback(record, label="valid", notes="first"))
            core.journal.save(signal_feedback(record, label="invalid", notes="second"))
            first, second = _feedback_rows(core)
            assert first.idem_key != second.idem_key
            sender = OutboxSender(outbox, core.outputs.channels())
            assert sender.send_due() == 0 and notion.page_updates == []  # both wait for the page
            outbox.mark_retry(signal_row.id, 0, "now")
            outbox.mark_retry(first.id, time.time() + 3600, "Notion said wait")  # the older edit is held back
            assert sender.send_due() == 1  # the signal's page; the newer edit waits for the older one
            assert outbox.status_of("k1", "notion", "signal") == "sent" and notion.page_updates == []
            outbox.mark_retry(first.id, 0, "now")
            assert sender.drain(10) == 0
            (page,) = notion.page_for("k1")
            assert [u["properties"]["Notes"]["rich_text"][0]["text"]["content"] for u in notion.page_updates] == \
                ["first", "second"]
            assert notion.value(page, "Label") == "invalid" and notion.value(page, "Notes") == "second"
        finally:
            core.close()


def test_notion_standin_feedback_without_a_page_is_refused_with_words(ita_home: Path) -> None:
    with NotionStandIn() as notion, Store.open() as store:
        store.outbox.enqueue_now([OutboxItem("notion", "feedback", "nopage", {"label": "valid"}, revision="1-x")])
        sender = OutboxSender(store.outbox, {"notion": NotionChannel(notion.token, notion.database_id,
                                                                     notion.api_root)})
        assert sender.drain(5) == 0
        (row,) = store.outbox.list()
        assert row.status == "refused" and "no journal page for signal nopage" in row.last_error


@pytest.mark.parametrize("setup", ["notion off", "notion without the feedback event"])
def test_feedback_is_not_enqueued_when_notion_does_not_take_it(ita_home: Path, setup: str) -> None:
    with NotionStandIn() as notion:
        _configure(None if setup == "notion off" else notion,
                   None if setup == "notion off" else ["signal", "target", "stop"])
        core = new_core()
        try:
            core.journal.save(signal_feedback(_record("k2"), taken=True, label="valid"))
            assert core.store.feedback.get("signal", "k2").label == "valid"
            assert core.store.outbox.list() == []
        finally:
            core.close()


def test_feedback_on_a_backtest_trade_sends_nothing_to_notion(ita_home: Path) -> None:
    with NotionStandIn() as notion:
        _configure(notion)
        core = new_core()
        try:
            assert "feedback" in core.outputs.events()["notion"] and "feedback" not in core.outputs.events()["telegram"]
            core.journal.save(Feedback("trade", "7:3", "asia_sweep", "3", "EURUSD", 1_700_000_000, taken=True,
                                       label="valid", outcome_r=1.5))
            assert core.store.feedback.get("trade", "7:3").outcome_r == 1.5
            assert core.store.outbox.list() == []
        finally:
            core.close()


def test_notion_standin_ita_journal_add_sends_the_signals_feedback_at_once(ita_home: Path, capsys) -> None:
    with NotionStandIn() as notion:
        _configure(notion)
        with Store.open() as store:
            store.signals.store([_record("k3")])
            store.outbox.enqueue_now([OutboxItem("notion", "signal", "k3", SIGNAL)])
            OutboxSender(store.outbox, {"notion": NotionChannel(notion.token, notion.database_id,
                                                                notion.api_root)}).drain(10)
        (page,) = notion.page_for("k3")
        assert main(["journal", "add", "--signal", "k3", "--taken", "--label", "valid", "--tag", "asia sweep"]) == 0
        out = capsys.readouterr().out
        assert f"notion: feedback sent (page {page['id']})" in out
        assert notion.value(notion.pages[page["id"]], "Tags") == ["asia sweep"]
        assert notion.value(notion.pages[page["id"]], "Taken") is True
        assert main(["journal", "add", "--signal", "k3", "--notes", "late", "--json"]) == 0
        answer = json.loads(capsys.readouterr().out)
        assert answer["notifications"] == [{"channel": "notion", "sent": True,
                                            "text": f"notion: feedback sent (page {page['id']})"}]
        assert notion.value(notion.pages[page["id"]], "Notes") == "late"
        assert notion.value(notion.pages[page["id"]], "Label") == "valid"  # the edit kept what it did not change


def test_feedback_values_are_written_in_the_traders_own_property_types() -> None:
    from ita_desktop.outputs.notion_journal import feedback_values, page_properties

    def schema(**types: str) -> dict:
        return {n: {"type": t} for n, t in types.items()}

    fb = {"taken": True, "label": "valid", "grade": "A+", "tags": ["asia, sweep", "a+"], "mistakes": [],
          "notes": "x" * 4500}
    props = page_properties(schema(Taken="select", Label="rich_text", Grade="rich_text", Tags="rich_text",
                                   Mistakes="multi_select", Notes="rich_text"), feedback_values(fb))
    assert props["Taken"] == {"select": {"name": "yes"}}
    assert props["Label"]["rich_text"][0]["text"]["content"] == "valid"
    assert props["Tags"]["rich_text"][0]["text"]["content"] == "asia, sweep, a+"  # text keeps the commas
    assert props["Mistakes"] == {"multi_select": []}  # cleared
    assert [len(x["text"]["content"]) for x in props["Notes"]["rich_text"]] == [2000, 2000, 500]
    props = page_properties(schema(Taken="checkbox", Label="select", Tags="multi_select", Notes="number"),
                            feedback_values({"tags": ["asia, sweep"]}))
    assert props == {"Taken": {"checkbox": False}, "Label": {"select": None},
                     "Tags": {"multi_select": [{"name": "asia  sweep"}]}}  # a number cannot hold the notes
