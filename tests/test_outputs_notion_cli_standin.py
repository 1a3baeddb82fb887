"""`ita notify test notion`, `ita live --notify` with Notion and Telegram (events per channel), the daily summary
with a fixed clock, against the stand-ins on 127.0.0.1 (real notion-client, real requests)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml

from ita_desktop import secrets
from ita_desktop.cli.main import main
from ita_desktop.outputs.daily_summary import NY
from ita_desktop.paths import app_paths
from ita_desktop.storage.signal_store import SignalRecord
from ita_desktop.storage.store import Store
from tests.support.cores import new_core
from tests.support.notion_standin import NotionStandIn
from tests.support.telegram_standin import TelegramStandIn

pytestmark = pytest.mark.standin


def _configure(notion: NotionStandIn | None = None, tg: TelegramStandIn | None = None,
               events: dict[str, list[str]] | None = None) -> None:
    outputs: dict = {}
    if notion is not None:
        outputs["notion"] = {"enabled": True, "database_id": notion.database_id, "api_root": notion.api_root}
        secrets.set_secret("notion_token", notion.token)
    if tg is not None:
        outputs["telegram"] = {"enabled": True, "chat_id": tg.chat_id, "api_root": tg.api_root}
        secrets.set_secret("telegram_bot_token", tg.token)
    for name, chosen in (events or {}).items():
        outputs[name]["events"] = chosen
    app_paths().ensure().user_config_file.write_text(yaml.safe_dump({"outputs": outputs}))


def test_notion_standin_ita_notify_test_notion_reports_and_creates_missing_properties(ita_home: Path, capsys) -> None:
    with NotionStandIn(schema={"Name": "title", "Date": "date", "Symbol": "select"}) as notion:
        _configure(notion)
        assert main(["notify", "test", "notion"]) == 0
        out = capsys.readouterr().out
        page_id = notion.created[0]
        assert f"notion: sent (page {page_id})" in out and "missing properties: Timeframe, Rule, Version" in out
        assert notion.value(notion.pages[page_id], "Name") == "ITA Desktop: test message"
        assert main(["notify", "test", "notion", "--create-properties"]) == 0
        out = capsys.readouterr().out
        assert "notion: added properties: Timeframe, Rule, Version, Direction, Entry" in out
        assert "every journal property is there" in out and notion.schema["R"]["type"] == "number"
        secrets.set_secret("notion_token", "ntn_revoked")
        assert main(["notify", "test", "notion"]) == 1
        assert "notion: refused: retrieve database: 401 unauthorized: API token is invalid." in capsys.readouterr().err
    assert main(["notify", "test", "telegram", "--create-properties"]) == 1
    assert "--create-properties is for notion" in capsys.readouterr().err


@pytest.mark.realdata
def test_notion_and_telegram_standins_ita_live_notify_each_channel_gets_its_events(eurusd_store: Path, capsys) -> None:
    with NotionStandIn() as notion, TelegramStandIn() as tg:
        _configure(notion, tg, {"telegram": ["signal"]})  # Telegram: the signals only; Notion: signals and outcomes
        args = ["live", "--symbol", "EURUSD", "--rules", "asia_sweep", "--source", "replay", "--notify"]
        assert main(args) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
        raised = [x for x in lines if x["event"] == "signal" and x["order"] is not None]
        updates = [x for x in lines if x["event"] == "update"]
        assert raised and updates
        assert len(tg.received) == len(raised) and {r["method"] for r in tg.received} == {"sendPhoto"}
        with Store.open() as store:
            rows = store.outbox.list()
            assert {r.status for r in rows} == {"sent"}
            assert len([r for r in rows if r.channel == "notion"]) == len(raised) + len(updates)
            assert not [r for r in rows if r.channel == "telegram" and r.event != "signal"]
            instrument = store.instruments.get("EURUSD")
            digits = instrument.digits
            for r in rows:  # the prices' grid comes from the stored instrument, not a guess from the symbol
                if r.event == "signal":
                    assert (r.payload["digits"], r.payload["pip_size"]) == (instrument.digits, instrument.pip_size)
            stored = {s.occurrence_key: s for s in store.signals.list(symbol="EURUSD")}
        assert len(notion.created) == len(raised)
        for line in raised:
            (page,) = notion.page_for(line["occurrence_key"])
            rec = stored[line["occurrence_key"]]
            assert notion.value(page, "Status") == rec.status  # the last outcome is on the page
            assert notion.value(page, "Entry") == round(rec.entry_price, digits)
            if isinstance(rec.outcome.get("r_multiple"), float):
                assert notion.value(page, "R") == pytest.approx(rec.outcome["r_multiple"], abs=1e-4)
            (upload_id,) = notion.value(page, "Chart")
            assert notion.uploads[upload_id]["bytes"][:8] == b"\x89PNG\r\n\x1a\n"


def _signal(key: str, rule: str, t: int, status: str, exit_time: int | None = None, r: float | None = None,
            source: str = "live") -> SignalRecord:
    outcome = {} if exit_time is None else {"entry_time": t + 60, "exit_time": exit_time, "r_multiple": r}
    return SignalRecord(occurrence_key=key, rule_id=rule, rule_version="1", symbol="EURUSD", timeframe="M5",
                        signal_time=t, direction=1, source=source, status=status, steps=[], occurrence={},
                        order_type="limit", entry_price=1.1, stop_price=1.09, targets=[{"price": 1.12}],
                        outcome=outcome)


def test_daily_summary_with_a_fixed_clock_goes_once_per_day_to_the_channels_that_take_it(ita_home: Path) -> None:
    ny = lambda *a: int(datetime(*a, tzinfo=NY).timestamp())  # noqa: E731
    with NotionStandIn() as notion, TelegramStandIn() as tg:
        everything = ["signal", "target", "stop", "daily_summary"]
        _configure(notion, tg, {"notion": everything, "telegram": everything})
        with new_core() as core:
            core.store.signals.store([
                _signal("a", "asia_sweep", ny(2026, 12, 4, 20, 0), "target", ny(2026, 12, 5, 3, 0), 2.0),
                _signal("b", "asia_sweep", ny(2026, 12, 5, 9, 0), "stop", ny(2026, 12, 5, 10, 0), -1.0),
                _signal("c", "london_fvg", ny(2026, 12, 5, 4, 0), "pending"),
                _signal("d", "london_fvg", ny(2026, 12, 5, 5, 0), "target", ny(2026, 12, 5, 18, 0), 3.0),  # next day
                _signal("e", "asia_sweep", ny(2026, 12, 4, 16, 0), "stop", ny(2026, 12, 4, 16, 30), -1.0),  # day before
                _signal("m", "asia_sweep", ny(2026, 12, 5, 6, 0), "pending", source="missed"),
            ])
            clock = ny(2026, 12, 5, 17, 0, 30)  # just after the 17:00 New York summary time
            assert core.outputs.enqueue_daily_summary(now_utc=clock) == 2
            assert core.outputs.enqueue_daily_summary(now_utc=clock + 3600) == 0  # one per day and channel
            assert core.outputs.sender().drain(10) == 0
            (msg,) = tg.received
            assert msg["method"] == "sendMessage" and msg["text"] == (
                "ITA Desktop daily summary 2026-12-05 (24 h to 17:00 New York)\n"
                "Signals: 4\nOutcomes: 1 stop, 1 target\n"
                "asia_sweep: 2 signal(s), 1 stop, 1 target, +1.00R\nlondon_fvg: 2 signal(s), no outcome\n"
                "Total: +1.00R")
            (page,) = notion.pages.values()
            assert notion.value(page, "Name") == "Daily summary 2026-12-05"
            assert notion.value(page, "Date") == "2026-12-05T17:00:00-05:00"
            assert [b["paragraph"]["rich_text"][0]["text"]["content"] for b in page["children"]][-1] == "Total: +1.00R"
            # before 17:00 the last summary is the day before's
            assert core.outputs.enqueue_daily_summary(now_utc=ny(2026, 12, 5, 16, 59)) == 2
            assert [r.signal_key for r in core.store.outbox.list(status="pending")] == ["daily-summary-2026-12-04"] * 2
            # the core job runs every day at 17:00 New York
            schedule = core.outputs.schedule_daily_summary()
            nxt = core.jobs.next_run_time(schedule).astimezone(NY)
            assert (nxt.hour, nxt.minute) == (17, 0) and nxt.date() >= date.today().replace(day=1)
            core.jobs.unschedule(schedule)
