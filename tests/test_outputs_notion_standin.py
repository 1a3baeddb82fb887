"""The Notion channel (the real notion-client, API 2025-09-03) and the outbox against a stand-in Notion on 127.0.0.1."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from notion_client import Client
from notion_client.errors import HTTPResponseError

from ita_desktop.outputs.caption import signal_caption
from ita_desktop.outputs.notion import NOTION_VERSION, NotionChannel
from ita_desktop.outputs.sender import OutboxSender
from ita_desktop.storage.outbox import OutboxItem
from ita_desktop.storage.store import Store
from tests.support.notion_standin import NotionStandIn
from tests.support.outbox_child import big_picture, child_starter, kill

pytestmark = pytest.mark.standin

SIGNAL = {"rule_id": "asia_sweep", "rule_version": "3", "symbol": "EURUSD", "timeframe": "M5", "direction": 1,
          "signal_time": 1_700_000_000, "order_type": "limit", "entry_price": 1.085004, "stop_price": 1.0830,
          "targets": [{"r": 2.0}], "signal_id": 1, "source": "live", "digits": 5, "pip_size": 0.0001}
TARGET = {"rule_id": "asia_sweep", "symbol": "EURUSD", "status": "target", "time_utc": 1_700_003_600, "r_multiple": 2.0}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def _channel(notion: NotionStandIn, token: str | None = None, database: str | None = None) -> NotionChannel:
    return NotionChannel(token or notion.token, database or notion.database_id, notion.api_root)


def _sender(store: Store, notion: NotionStandIn, **kw) -> OutboxSender:
    return OutboxSender(store.outbox, {"notion": _channel(notion, **kw)})


def test_notion_channel_against_local_notion_standin_writes_a_typed_page_with_the_chart_and_updates_it(
        ita_home: Path, tmp_path: Path) -> None:
    picture = tmp_path / "k1.png"
    picture.write_bytes(PNG)
    with Store.open() as store, NotionStandIn() as notion:
        store.outbox.enqueue_now([OutboxItem("notion", "signal", "k1", SIGNAL, str(picture)),
                                  OutboxItem("notion", "target", "k1", TARGET)])
        assert store.outbox.enqueue_now([OutboxItem("notion", "signal", "k1", SIGNAL, str(picture))]) == 0
        sender = _sender(store, notion)
        assert sender.drain(10) == 0
        assert sender.channels["notion"].data_source_id == notion.data_source_id  # found from the database, kept
        (page,) = notion.page_for("k1")
        v = lambda name: notion.value(page, name)  # noqa: E731
        assert (v("Symbol"), v("Timeframe"), v("Rule"), v("Version"), v("Direction")) == ("EURUSD", "M5", "asia_sweep",
                                                                                           "3", "Long")
        assert v("Entry") == 1.085 and v("Stop") == 1.083 and v("Target") == 1.08901  # priced from the entry and 2R, at 5 digits
        assert v("Date") == "2023-11-14T17:13:20-05:00" and v("Name") == "Long EURUSD M5 - asia_sweep v3"
        assert v("Status") == "target" and v("R") == 2.0  # the outcome updated the same page
        (upload_id,) = v("Chart")
        assert notion.uploads[upload_id]["bytes"] == PNG and notion.uploads[upload_id]["content_type"] == "image/png"
        image = [b for b in page["children"] if b["type"] == "image"]
        assert image[0]["image"]["file_upload"]["id"] == upload_id
        assert any("Stop 1.08300 (20.0 pips)" in str(b) for b in page["children"])  # the caption, at 5 digits
        rows = store.outbox.list()
        assert {r.status for r in rows} == {"sent"} and {r.remote_ref for r in rows} == {page["id"]}
        assert {ver for _, _, ver in notion.requests} == {NOTION_VERSION} and len(notion.created) == 1


def test_caption_pips_and_digits_come_from_the_instrument_in_the_payload() -> None:
    gold = {**SIGNAL, "symbol": "XAUUSD", "entry_price": 2000.0, "stop_price": 1995.0, "targets": [{"price": 2010.0}]}
    assert "Stop 1995.00 (50.0 pips)" in signal_caption({**gold, "digits": 2, "pip_size": 0.1})
    assert "Target 1 2010.00 (100.0 pips, 2.00R)" in signal_caption({**gold, "digits": 2, "pip_size": 0.1})
    old_row = {k: v for k, v in gold.items() if k not in ("digits", "pip_size")}  # enqueued before: the guess
    assert "Stop 1995.000 (500.0 pips)" in signal_caption(old_row)


def test_notion_standin_requires_the_version_header_and_the_token(ita_home: Path) -> None:
    with Store.open() as store, NotionStandIn() as notion:
        bare = Client(auth=notion.token, base_url=notion.api_root, notion_version="", retry=False)
        with pytest.raises(HTTPResponseError) as refusal:
            bare.databases.retrieve(notion.database_id)
        assert refusal.value.status == 400 and '"code": "missing_version"' in refusal.value.body
        store.outbox.enqueue_now([OutboxItem("notion", "signal", "k1", SIGNAL)])
        sender = _sender(store, notion, token="ntn_revoked")
        assert sender.drain(5) == 0
        row = store.outbox.list()[0]
        assert row.status == "refused" and row.attempts == 1
        assert row.last_error == "retrieve database: 401 unauthorized: API token is invalid."
        store.outbox.enqueue_now([OutboxItem("notion", "signal", "k2", SIGNAL)])
        assert _sender(store, notion, database="0" * 32).drain(5) == 0
        assert "404 object_not_found: Could not find database with ID" in store.outbox.list()[1].last_error
        assert not notion.pages


@pytest.mark.parametrize(("script", "words"), [("too_many", "429 rate_limited"), ("overloaded", "529 service_overload")])
def test_notion_standin_429_and_529_wait_retry_after_then_send(ita_home: Path, script: str, words: str) -> None:
    with Store.open() as store, NotionStandIn() as notion:
        getattr(notion, script).append(7)
        store.outbox.enqueue_now([OutboxItem("notion", "signal", "k1", SIGNAL)])
        sender = _sender(store, notion)
        t0 = time.time()
        assert sender.send_due() == 0
        row = store.outbox.list()[0]
        assert row.status == "pending" and words in row.last_error and 7 <= row.next_attempt_at - t0 < 8
        assert sender.send_due() == 0 and not notion.pages  # the wait is honoured
        assert sender.send_due(now=row.next_attempt_at) == 1 and len(notion.created) == 1


def test_notion_unreachable_is_retried_with_back_off(ita_home: Path) -> None:
    with Store.open() as store:
        store.outbox.enqueue_now([OutboxItem("notion", "signal", "k1", SIGNAL)])
        sender = OutboxSender(store.outbox, {"notion": NotionChannel("ntn_x", "db", "http://127.0.0.1:9")})
        t0 = time.time()
        assert sender.send_due() == 0
        row = store.outbox.list()[0]
        assert row.status == "pending" and "retrieve database: ConnectError" in row.last_error
        assert 2 <= row.next_attempt_at - t0 < 3


def test_notion_standin_missing_properties_are_listed_then_created_and_pages_fit_the_types_there(ita_home: Path) -> None:
    # the trader's own database: a title called "Trade", Symbol as text, no Entry/Chart/Signal key/...
    with Store.open() as store, NotionStandIn(schema={"Trade": "title", "Symbol": "rich_text", "Date": "date",
                                                      "R": "checkbox"}) as notion:
        channel = _channel(notion)
        missing = [p.name for p in channel.missing()]
        assert "Entry" in missing and "Signal key" in missing and "Symbol" not in missing
        assert "R is checkbox, wanted number" in channel.report()
        store.outbox.enqueue_now([OutboxItem("notion", "signal", "k1", SIGNAL)])
        assert OutboxSender(store.outbox, {"notion": channel}).drain(5) == 0
        (page,) = notion.pages.values()
        assert notion.value(page, "Symbol") == "EURUSD" and notion.value(page, "Trade").startswith("Long EURUSD")
        assert set(page["properties"]) == {"Trade", "Symbol", "Date"}  # what the database can hold, nothing else
        assert channel.create_missing() == missing
        assert notion.schema["Entry"]["type"] == "number" and notion.schema["Chart"]["type"] == "files"
        assert notion.schema["Signal key"]["type"] == "rich_text" and channel.missing() == []


def test_notion_standin_type_checks_properties_and_the_refusal_keeps_notions_words(ita_home: Path) -> None:
    with NotionStandIn() as notion:
        client = Client(auth=notion.token, base_url=notion.api_root, notion_version=NOTION_VERSION, retry=False)
        parent = {"type": "data_source_id", "data_source_id": notion.data_source_id}
        with pytest.raises(Exception, match="Entry is expected to be number"):
            client.pages.create(parent=parent, properties={"Name": {"title": [{"text": {"content": "x"}}]},
                                                           "Entry": {"rich_text": [{"text": {"content": "1.1"}}]}})
        with pytest.raises(Exception, match="Nope is not a property that exists"):
            client.pages.create(parent=parent, properties={"Name": {"title": [{"text": {"content": "x"}}]},
                                                           "Nope": {"number": 1}})
        with pytest.raises(Exception, match="Could not find file upload"):
            client.pages.create(parent=parent, properties={
                "Name": {"title": [{"text": {"content": "x"}}]},
                "Chart": {"files": [{"type": "file_upload", "file_upload": {"id": "nope"}}]}})
        assert not notion.pages


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_notion_standin_sigkill_before_during_and_after_a_send_makes_each_page_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "ita.sqlite"
    picture = big_picture(tmp_path, PNG)
    with NotionStandIn() as notion:
        child = child_starter(tmp_path, db, picture, "notion",
                              "from ita_desktop.outputs.notion import NotionChannel",
                              "NotionChannel(args[1], args[2], args[0])", notion.api_root, notion.token,
                              notion.database_id)

        # 1. killed between enqueue and send
        proc = child("1")
        assert proc.stdout.readline().strip() == "enqueued"
        kill(proc)
        assert not notion.created
        # 2. killed during a send: the stand-in holds the first picture upload half-read
        notion.hold_next_upload = True
        proc = child("0")
        assert notion.holding.wait(60)
        kill(proc)
        time.sleep(0.5)
        assert not notion.created
        # 3. killed after Notion made the page, before its answer came back (so before we marked it sent)
        notion.hold_next_page_reply = True
        proc = child("0")
        assert notion.page_held.wait(60)
        kill(proc)
        assert len(notion.created) == 1
        # 4. a restart makes every missing page, and finds the one already made instead of making it again
        proc = child("0")
        out, _ = proc.communicate(timeout=180)
        assert "left 0" in out
    assert len(notion.created) == 5 and all(len(notion.page_for(f"k{i}")) == 1 for i in range(5))
    for page in notion.pages.values():
        (upload_id,) = notion.value(page, "Chart")
        assert notion.uploads[upload_id]["bytes"] == picture.read_bytes()
    with Store.open(db) as store:
        rows = store.outbox.list()
        assert {r.status for r in rows} == {"sent"} and len(rows) == 5
        assert {r.remote_ref for r in rows} == set(notion.created)
