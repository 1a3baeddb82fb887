"""The similar past setups in a signal's notification: the vector the live session put in the outbox payload, asked of
the real ChromaDB collection by the sender, the line in the Telegram stand-in's message (127.0.0.1); a retry sends the
same words; a missing collection or a failed query sends the signal without the line."""

from __future__ import annotations

import logging
import re
import time

import numpy as np
import pytest
import yaml

from ita_desktop import secrets
from ita_desktop.core.live.replay_feed import play
from ita_desktop.learning.similar_line import FIELD, SimilarLines, similar_line
from ita_desktop.outputs.caption import CAPTION_LIMIT
from ita_desktop.outputs.notion import NotionChannel
from ita_desktop.outputs.sender import OutboxSender
from ita_desktop.outputs.telegram import TelegramChannel
from ita_desktop.paths import app_paths
from ita_desktop.storage.outbox import OutboxItem
from tests.support.cores import new_core
from tests.support.notion_standin import NotionStandIn
from tests.support.telegram_standin import TelegramStandIn

pytestmark = [pytest.mark.standin, pytest.mark.realdata]
RULE = "ib_raid"


def _configure(tg: TelegramStandIn) -> None:
    path = app_paths().ensure().user_config_file
    path.write_text(yaml.safe_dump({"outputs": {"telegram": {"enabled": True, "chat_id": tg.chat_id,
                                                             "api_root": tg.api_root}}}))
    secrets.set_secret("telegram_bot_token", tg.token)


def _expected(core, ds, payload) -> str:
    i = int(np.flatnonzero((ds.all_time == payload["signal_time"]) & (ds.all_direction == payload["direction"]))[0])
    found = core.learning.index_store().similar(RULE, "EURUSD", ds.all_X[i], int(payload["signal_time"]), 10)
    assert found and all(n.signal_time < payload["signal_time"] for n in found)  # the past only
    return similar_line(found)


def test_standin_telegram_replayed_signals_carry_their_similar_setups_from_the_collection(eurusd_store) -> None:
    with TelegramStandIn() as tg:
        _configure(tg)
        with new_core() as core:
            ds, state = core.learning.index(RULE, "EURUSD")  # the real collection, as `ita learn index` builds it
            assert state == "rebuilt"
            sender = core.outputs.start_sender(pictures=False)
            assert sender is not None and core.outputs.similar_lines().ready.wait(120)
            bars = core.store.bars.load("EURUSD", "M1")
            plan = core.live.replay("EURUSD", [RULE], start_utc=int(bars.time[len(bars) // 2]), publish=False,
                                    notify=True)
            play(plan.session, plan.to_play)
            assert sender.drain(60) == 0
            rows = [r for r in core.store.outbox.list() if r.event == "signal"]
            assert len(rows) >= 2
            texts = {m["text"] for m in tg.received if m["method"] == "sendMessage"}
            for row in rows:
                line = _expected(core, ds, row.payload)
                assert row.payload[FIELD] == line and re.match(r"Similar past setups \((10|[1-9]), similarity 0\.\d\d\): win "
                                                              r"rate \d+%, average [+-]\d\.\d\dR$", line)
                sent = [t for t in texts if t.endswith(line) and row.payload["symbol"] in t]
                assert sent and all(len(t) <= CAPTION_LIMIT for t in sent)
            assert core.outputs.similar_lines().query_ms  # asked of the collection, not rebuilt


def test_standin_telegram_retry_sends_the_settled_line_and_no_collection_sends_none(eurusd_store, caplog) -> None:
    with new_core() as core, TelegramStandIn() as tg:
        ds, _ = core.learning.index(RULE, "EURUSD")
        index = core.learning.index_store()
        outbox = core.store.outbox
        i = len(ds.all_time) - 1
        payload = {"rule_id": RULE, "rule_version": ds.rule_version, "symbol": "EURUSD", "timeframe": "M5",
                   "direction": int(ds.all_direction[i]), "signal_time": int(ds.all_time[i]), "order_type": "market",
                   "entry_price": 1.13, "stop_price": 1.129, "targets": [{"r": 2.0}], "signal_id": 1,
                   "source": "live", "features": [float(x) for x in ds.all_X[i]]}
        outbox.enqueue_now([OutboxItem("telegram", "signal", "sig-a", payload),
                            OutboxItem("notion", "signal", "sig-a", payload)])  # the signal's other channel's row
        lines = SimilarLines(core.learning.index_store, outbox)
        assert lines.ready.wait(120)
        sender = OutboxSender(outbox, {"telegram": TelegramChannel(tg.token, tg.chat_id, tg.api_root)},
                              annotate=lines)
        tg.bad_gateways = 1
        assert sender.send_due() == 0 and not tg.received  # the first attempt fails after the line was settled
        settled = {r.channel: r.payload[FIELD] for r in outbox.list()}
        expected = similar_line(index.similar(RULE, "EURUSD", ds.all_X[i], int(ds.all_time[i]), 10))
        assert settled == {"telegram": expected, "notion": expected}
        index._client.delete_collection(index._collection(RULE, "EURUSD").name)  # the collection goes away
        assert sender.send_due(now=time.time() + 3600) == 1
        assert tg.received[-1]["text"].endswith("\n" + expected)  # the retry sends the same words
        with NotionStandIn() as notion:  # the signal's other channel: its page's text ends with the same line
            to_notion = OutboxSender(outbox, {"notion": NotionChannel(notion.token, notion.database_id,
                                                                      notion.api_root)}, annotate=lines)
            assert to_notion.send_due() == 1
            (page,) = notion.page_for("sig-a")
            assert any(expected in str(b) for b in page["children"])

        caplog.set_level(logging.INFO, logger="ita.outputs")
        outbox.enqueue_now([OutboxItem("telegram", "signal", "sig-b", {**payload, "signal_id": 2})])
        assert sender.send_due() == 1
        assert "Similar" not in tg.received[-1]["text"] and tg.received[-1]["text"].startswith(("LONG", "SHORT"))
        assert "no collection (run `ita learn index`)" in caplog.text
        assert next(r for r in outbox.list() if r.signal_key == "sig-b").payload[FIELD] == ""


def test_standin_telegram_a_failed_query_or_index_sends_the_signal_without_the_line(eurusd_store, caplog) -> None:
    caplog.set_level(logging.INFO, logger="ita.outputs")
    with new_core() as core, TelegramStandIn() as tg:
        ds, _ = core.learning.index(RULE, "EURUSD")
        outbox = core.store.outbox
        base = {"rule_id": RULE, "rule_version": ds.rule_version, "symbol": "EURUSD", "timeframe": "M5",
                "direction": 1, "signal_time": int(ds.all_time[-1]), "order_type": "market", "entry_price": 1.13,
                "stop_price": 1.129, "targets": [], "signal_id": 1, "source": "live"}
        channel = {"telegram": TelegramChannel(tg.token, tg.chat_id, tg.api_root)}

        def broken_index():
            raise RuntimeError("chromadb cannot open its folder")

        outbox.enqueue_now([OutboxItem("telegram", "signal", "s1", {**base, "features": [0.0] * 3}),  # bad vector
                            OutboxItem("telegram", "signal", "s2", {**base, "rule_version": "999",
                                                                    "features": [0.0] * ds.X.shape[1]})])
        assert OutboxSender(outbox, channel, annotate=SimilarLines(core.learning.index_store, outbox)).send_due() == 2
        assert "similar setups for signal s1 failed" in caplog.text and "holds v" in caplog.text  # stale version
        outbox.enqueue_now([OutboxItem("telegram", "signal", "s3", {**base, "features": [0.0] * ds.X.shape[1]})])
        broken = SimilarLines(broken_index, outbox)
        assert broken.ready.wait(10)
        assert OutboxSender(outbox, channel, annotate=broken).send_due() == 1
        assert "the index could not be opened" in caplog.text
        assert len(tg.received) == 3 and not any("Similar" in m["text"] for m in tg.received)
        assert {r.payload[FIELD] for r in outbox.list()} == {""}


def test_the_caption_ends_with_the_line_and_stays_within_telegrams_limit() -> None:
    from ita_desktop.outputs.caption import signal_caption

    p = {"rule_id": RULE, "rule_version": "1", "symbol": "EURUSD", "timeframe": "M5", "direction": -1,
         "signal_time": 1_700_000_000, "order_type": "market", "entry_price": 1.085, "stop_price": 1.087,
         "targets": [{"r": 1.0}, {"r": 2.0}, {"r": 3.0}], "digits": 5, "pip_size": 0.0001}
    plain = signal_caption(p)
    line = "Similar past setups (10, similarity 0.71): win rate 60%, average +0.42R"
    assert signal_caption({**p, FIELD: line}) == plain + "\n" + line
    assert signal_caption({**p, FIELD: ""}) == plain  # settled empty: no line
    long = signal_caption({**p, FIELD: "x" * 2000})
    assert len(long) == CAPTION_LIMIT and long.startswith(plain)


def test_before_any_collection_is_built_chromadb_is_not_opened(ita_home, tmp_path, caplog) -> None:
    from ita_desktop.learning.similar_index import SimilarIndex
    from ita_desktop.storage.store import Store

    caplog.set_level(logging.INFO, logger="ita.outputs")
    built, opened = [False], []

    def open_index():
        opened.append(1)
        return SimilarIndex(tmp_path / "chroma")

    payload = {"rule_id": RULE, "rule_version": "1", "symbol": "EURUSD", "signal_time": 1_700_000_000,
               "direction": 1, "features": [0.0] * 40}
    with Store.open() as store:
        store.outbox.enqueue_now([OutboxItem("telegram", "signal", "k1", payload),
                                  OutboxItem("telegram", "signal", "k2", payload)])
        lines = SimilarLines(open_index, store.outbox, exists=lambda: built[0])
        rows = store.outbox.list()
        assert lines(rows[:1])[0].payload[FIELD] == "" and not opened and not lines.ready.is_set()
        assert "no collection (run `ita learn index`)" in caplog.text
        built[0] = True  # `ita learn index` ran meanwhile: the index opens now (on its thread)
        lines.wait_s = 60
        assert lines(rows[1:])[0].payload[FIELD] == "" and opened == [1] and lines.ready.is_set()
