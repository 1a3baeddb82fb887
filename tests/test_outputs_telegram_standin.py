"""The outbox and the real Telegram client (requests) against a stand-in Bot API on 127.0.0.1."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from ita_desktop.outputs.caption import CAPTION_LIMIT, signal_caption
from ita_desktop.outputs.sender import OutboxSender
from ita_desktop.outputs.telegram import TelegramChannel
from ita_desktop.storage.outbox import OutboxItem
from ita_desktop.storage.store import Store
from tests.support.outbox_child import big_picture, child_starter, kill
from tests.support.telegram_standin import TelegramStandIn

pytestmark = pytest.mark.standin

SIGNAL = {"rule_id": "asia_sweep", "rule_version": "3", "symbol": "EURUSD", "timeframe": "M5", "direction": 1,
          "signal_time": 1_700_000_000, "order_type": "limit", "entry_price": 1.0850, "stop_price": 1.0830,
          "targets": [{"price": 1.0890}, {"r": 3.0}], "signal_id": 1, "source": "live"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def _sender(store: Store, tg: TelegramStandIn, token: str | None = None, chat: str | None = None) -> OutboxSender:
    return OutboxSender(store.outbox, {"telegram": TelegramChannel(token or tg.token, chat or tg.chat_id, tg.api_root)})


def test_caption_holds_rule_prices_pips_r_and_both_clocks() -> None:
    text = signal_caption(SIGNAL)
    assert "LONG EURUSD M5 - asia_sweep v3" in text and "Stop 1.083 (20.0 pips)" in text
    assert "Target 1 1.089 (40.0 pips, 2.00R)" in text and "Target 2 1.091 (60.0 pips, 3.00R)" in text
    assert "2023-11-14 17:13 NY / 22:13 UTC" in text
    assert len(signal_caption({**SIGNAL, "rule_id": "x" * 3000})) == CAPTION_LIMIT


def test_standin_telegram_gets_the_photo_bytes_and_updates_reply_to_it(ita_home: Path, tmp_path: Path) -> None:
    picture = tmp_path / "signal.png"
    picture.write_bytes(PNG)
    with Store.open() as store, TelegramStandIn() as tg:
        store.outbox.enqueue_now([OutboxItem("telegram", "signal", "k1", SIGNAL, str(picture)),
                                  OutboxItem("telegram", "target", "k1", {"rule_id": "asia_sweep", "symbol": "EURUSD",
                                             "status": "target", "time_utc": 1_700_003_600, "r_multiple": 2.0}),
                                  OutboxItem("telegram", "signal", "k2", {**SIGNAL, "direction": -1})])
        # the same key again is not a second message
        assert store.outbox.enqueue_now([OutboxItem("telegram", "signal", "k1", SIGNAL, str(picture))]) == 0
        assert _sender(store, tg).drain(10) == 0
        photo, update, msg = tg.received
        assert photo["method"] == "sendPhoto" and photo["photo"] == PNG and photo["chat_id"] == "42"
        assert photo["caption"] == signal_caption(SIGNAL)
        assert msg["method"] == "sendMessage" and msg["text"].startswith("SHORT EURUSD")
        assert update["method"] == "sendMessage" and "target, +2.00R" in update["text"]
        assert f'"message_id": {photo["message_id"]}' in update["reply_parameters"]
        assert {r.status for r in store.outbox.list()} == {"sent"}


def test_standin_telegram_429_waits_retry_after_then_sends(ita_home: Path) -> None:
    with Store.open() as store, TelegramStandIn() as tg:
        tg.too_many = [2]
        store.outbox.enqueue_now([OutboxItem("telegram", "signal", "k1", SIGNAL)])
        sender = _sender(store, tg)
        t0 = time.time()
        assert sender.send_due() == 0
        row = store.outbox.list()[0]
        assert row.status == "pending" and row.next_attempt_at >= t0 + 2 and "Too Many Requests" in row.last_error
        assert sender.send_due() == 0 and not tg.received  # the wait is honoured
        assert sender.send_due(now=row.next_attempt_at) == 1 and len(tg.received) == 1


def test_standin_telegram_502_is_retried_with_doubling_back_off(ita_home: Path) -> None:
    with Store.open() as store, TelegramStandIn() as tg:
        tg.bad_gateways = 2
        store.outbox.enqueue_now([OutboxItem("telegram", "signal", "k1", SIGNAL)])
        sender = _sender(store, tg)
        waits = []
        for _ in range(2):
            t0 = time.time()
            assert sender.send_due(now=time.time() + 3600) == 0
            row = store.outbox.list()[0]
            assert row.status == "pending" and "502 Bad Gateway" in row.last_error
            waits.append(row.next_attempt_at - t0)
        assert 2 <= waits[0] < 3 and 4 <= waits[1] < 5
        assert sender.send_due(now=time.time() + 3600) == 1 and len(tg.received) == 1


@pytest.mark.parametrize(("token", "chat", "limit", "words"), [
    ("999:wrong", None, 1024, "401 Unauthorized"),
    (None, "7", 1024, "400 Bad Request: chat not found"),
    (None, None, 50, "400 Bad Request: message caption is too long"),
])
def test_standin_telegram_refusals_are_final_and_keep_the_far_sides_words(ita_home: Path, tmp_path: Path, token, chat,
                                                                           limit, words) -> None:
    picture = tmp_path / "signal.png"
    picture.write_bytes(PNG)
    with Store.open() as store, TelegramStandIn(caption_limit=limit) as tg:
        store.outbox.enqueue_now([OutboxItem("telegram", "signal", "k1", SIGNAL, str(picture))])
        sender = _sender(store, tg, token, chat)
        assert sender.drain(5) == 0
        row = store.outbox.list()[0]
        assert row.status == "refused" and words in row.last_error and row.attempts == 1
        assert sender.send_due(now=time.time() + 3600) == 0 and row.attempts == store.outbox.list()[0].attempts


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_standin_telegram_sigkill_before_and_during_a_send_delivers_each_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "ita.sqlite"
    picture = big_picture(tmp_path, PNG)
    with TelegramStandIn() as tg:
        child = child_starter(tmp_path, db, picture, "telegram",
                              "from ita_desktop.outputs.telegram import TelegramChannel",
                              "TelegramChannel(args[1], '42', args[0])", tg.api_root, tg.token)

        # 1. killed between enqueue and send
        proc = child("1")
        assert proc.stdout.readline().strip() == "enqueued"
        kill(proc)
        assert not tg.received
        # 2. killed during a send: the stand-in holds the first upload half-read
        tg.hold_next_upload = True
        proc = child("0")
        assert tg.holding.wait(60)
        kill(proc)
        time.sleep(0.5)
        assert not tg.received
        # 3. a restart delivers everything, each once
        proc = child("0")
        out, _ = proc.communicate(timeout=120)
        assert "left 0" in out
    captions = [r["caption"] for r in tg.received]
    assert len(captions) == 5 and len(set(captions)) == 5
    with Store.open(db) as store:
        assert {r.status for r in store.outbox.list()} == {"sent"} and len(store.outbox.list()) == 5
