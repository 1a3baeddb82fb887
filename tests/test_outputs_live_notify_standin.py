"""`ita live --notify` and `ita notify test telegram` against the Telegram stand-in on 127.0.0.1 (real EURUSD)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ita_desktop import secrets
from ita_desktop.cli.main import main
from ita_desktop.paths import app_paths
from ita_desktop.storage.store import Store
from tests.support.telegram_standin import TelegramStandIn

pytestmark = pytest.mark.standin


def eurusd_store_dir() -> Path:
    return app_paths().database.parent


def _configure(tg: TelegramStandIn, enabled: bool = True) -> None:
    path = app_paths().ensure().user_config_file
    path.write_text(yaml.safe_dump({"outputs": {"telegram": {"enabled": enabled, "chat_id": tg.chat_id,
                                                             "api_root": tg.api_root}}}))
    secrets.set_secret("telegram_bot_token", tg.token)


def test_standin_telegram_ita_notify_test_prints_the_answer(ita_home: Path, capsys) -> None:
    with TelegramStandIn() as tg:
        _configure(tg)
        assert main(["notify", "test", "telegram"]) == 0
        assert "telegram: sent (message 101)" in capsys.readouterr().out
        assert tg.received[0]["text"] == "ITA Desktop: test message"
        secrets.set_secret("telegram_bot_token", "999:revoked")
        assert main(["notify", "test", "telegram"]) == 1
        assert "telegram: refused: sendMessage: 401 Unauthorized" in capsys.readouterr().err
    assert main(["notify", "outbox", "--status", "refused"]) == 0
    (refused,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert refused["last_error"] == "sendMessage: 401 Unauthorized" and refused["attempts"] == 1
    assert main(["notify", "test", "notion"]) == 1  # not configured: says what to set
    assert "outputs.notion.database_id is not set" in capsys.readouterr().err


@pytest.mark.realdata
def test_standin_telegram_ita_live_notify_sends_each_signal_and_update_once(eurusd_store: Path, capsys) -> None:
    args = ["live", "--symbol", "EURUSD", "--rules", "asia_sweep", "--source", "replay", "--notify"]
    assert main(args) == 1  # no channel enabled: refused, nothing silently dropped
    assert "no notification channel is enabled" in capsys.readouterr().err
    with TelegramStandIn() as tg:
        _configure(tg)
        assert main(args) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
        raised = [x for x in lines if x["event"] == "signal" and x["order"] is not None]
        updates = [x for x in lines if x["event"] == "update"]
        assert raised and updates
        with Store.open() as store:
            rows = store.outbox.list()
            assert {r.status for r in rows} == {"sent"}
            assert len(rows) == len(raised) + len(updates) == len(tg.received)
        photos = [r for r in tg.received if r["method"] == "sendPhoto"]
        assert len(photos) == len(raised)  # every signal with its chart picture, drawn headless
        for r in photos:
            assert r["caption"].startswith(("LONG", "SHORT")) and r["photo"][:8] == b"\x89PNG\r\n\x1a\n"
        stored = sorted((eurusd_store_dir() / "signal_pictures").glob("*.png"))
        assert len(stored) == len(raised) and {p.read_bytes() for p in stored} == {r["photo"] for r in photos}
        signal_ids = {r["message_id"] for r in photos}
        replies = [json.loads(r["reply_parameters"])["message_id"] for r in tg.received if "reply_parameters" in r]
        assert len(replies) == len(updates) and set(replies) <= signal_ids
        # a second replay raises nothing and sends nothing
        assert main(args) == 0
        assert len(tg.received) == len(rows)
