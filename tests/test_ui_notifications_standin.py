"""The window's notifications in the real window (offscreen, real EURUSD store, Telegram stand-in on 127.0.0.1):
the window runs the sender, so a Bar Replay asked to send reaches Telegram with its chart picture; the
tray's Pause stops the replay's processing and Resume restarts it; Mute silences the sounds; quiet hours
hold messages back; the Notifications list shows a refusal in the far side's words; a click on a list row
or on the tray's message lands the chart on its signal; Settings' Send test shows the stand-in's answer."""

from __future__ import annotations

import time
from datetime import time as clock_time
from pathlib import Path

import pytest
import yaml

from ita_desktop import secrets
from ita_desktop.bus.events import SignalRaised, SignalUpdated
from ita_desktop.paths import app_paths
from ita_desktop.ui.main_window import MainWindow
from ita_desktop.ui.signal_tray import in_quiet_hours
from tests.support.cores import new_core
from tests.support.telegram_standin import TelegramStandIn

WAIT_MS = 180_000
pytestmark = [pytest.mark.realdata, pytest.mark.standin]


def _configure(tg: TelegramStandIn, **tray) -> None:
    path = app_paths().ensure().user_config_file
    path.write_text(yaml.safe_dump({"outputs": {"telegram": {"enabled": True, "chat_id": tg.chat_id,
                                                             "api_root": tg.api_root},
                                                "tray": tray}}))
    secrets.set_secret("telegram_bot_token", tg.token)


def _window(qtbot) -> MainWindow:
    window = MainWindow(new_core(), symbol="EURUSD", timeframe="M1")
    qtbot.addWidget(window)
    window.resize(1440, 900)
    with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
        window.show()
    qtbot.waitUntil(lambda: window.core.store_if_open is not None, timeout=WAIT_MS)
    return window


def _close(qtbot, window: MainWindow) -> None:
    qtbot.wait(300)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    window.close()


def _at(window: MainWindow, t: int) -> bool:
    first, stop = window.chart.visible_range()
    index = int(window.chart.bars.time.searchsorted(t))
    return first <= index < stop and stop - first < 2_000


def test_quiet_hours_span_midnight() -> None:
    assert in_quiet_hours("22:00-07:00", clock_time(23, 30)) and in_quiet_hours("22:00-07:00", clock_time(6, 59))
    assert not in_quiet_hours("22:00-07:00", clock_time(7, 0)) and not in_quiet_hours("", clock_time(23, 0))
    assert in_quiet_hours("12:00-13:00", clock_time(12, 0)) and not in_quiet_hours("12:00-13:00", clock_time(13, 0))


def test_standin_telegram_window_sends_replay_signals_pause_resume_and_list_click(qtbot, eurusd_store: Path) -> None:
    with TelegramStandIn() as tg:
        _configure(tg)
        window = _window(qtbot)
        core, wb = window.core, window.workbench
        qtbot.waitUntil(lambda: core.outputs.running is not None, timeout=WAIT_MS)  # the window's sender runs
        assert core.outputs.sending_channels == ("telegram",)
        bars = core.store.bars.load("EURUSD", "M1")
        start = int(bars.time[30_000]) // 3600 * 3600
        wb.replay_action.trigger()
        panel = wb.replay
        qtbot.waitUntil(lambda: panel.timeframe_box.findText("M1") >= 0, timeout=WAIT_MS)
        panel.symbol_box.setCurrentText("EURUSD")
        panel.timeframe_box.setCurrentText("M1")
        panel.rules_edit.setText("asia_sweep")
        panel.set_start(start)
        panel.speed_box.setCurrentText("100")
        panel.notify_box.setChecked(True)
        with qtbot.waitSignal(panel.started, timeout=WAIT_MS):
            panel.start_button.click()
        panel.play_button.click()
        qtbot.waitUntil(lambda: panel.control.played > 200, timeout=WAIT_MS)

        wb.tray.set_paused(True)  # the tray menu's Pause live
        assert wb.tray.pause_action.text() == "Resume live" and core.live.paused.is_set()
        qtbot.waitUntil(lambda: panel.control.paused, timeout=WAIT_MS)
        qtbot.wait(300)
        held = panel.control.played
        qtbot.wait(1500)
        assert panel.control.played == held  # nothing processed while paused
        wb.tray.set_paused(False)
        assert not core.live.paused.is_set() and wb.tray.pause_action.text() == "Pause live"
        qtbot.waitUntil(lambda: panel.control.played > held + 50, timeout=WAIT_MS)  # resumed
        panel.speed_box.setCurrentText("max")

        # the replay's signals reach Telegram from the window, each with its chart picture
        qtbot.waitUntil(lambda: any(r["method"] == "sendPhoto" for r in tg.received), timeout=WAIT_MS)
        photo = next(r for r in tg.received if r["method"] == "sendPhoto")
        assert photo["photo"].startswith(b"\x89PNG") and photo["caption"].startswith(("LONG EURUSD", "SHORT EURUSD"))

        # the list shows the sent notification; a click on it lands the chart on its signal
        wb.notifications.show_list()
        listed = wb.notifications.list
        qtbot.waitUntil(lambda: listed.row_of("telegram", "sent") is not None, timeout=WAIT_MS)
        row = listed.row_of("telegram", "sent")
        record = core.store.signals.get_many([row.data(0, 0x0100)])[row.data(0, 0x0100)]
        window.select("EURUSD", "M1")
        listed.tree.itemClicked.emit(row, 0)
        qtbot.waitUntil(lambda: window.chart.bars is not None and _at(window, record.signal_time), timeout=WAIT_MS)
        panel.stop()
        _close(qtbot, window)
    assert core.outputs.running is None  # the window closed the core: the sender job and its picture process ended


def test_standin_telegram_tray_mute_quiet_hours_send_test_and_a_refusal_in_the_list(qtbot, eurusd_store: Path) -> None:
    with TelegramStandIn() as tg:
        _configure(tg, updates=["target"])
        window = _window(qtbot)
        core, wb = window.core, window.workbench
        tray = wb.tray
        t = int(core.store.bars.load("EURUSD", "M1").time[20_000])
        raised = SignalRaised(rule_id="ib_raid", rule_version="1", symbol="EURUSD", timeframe="M1", occurrence_id=1,
                              direction=-1, signal_utc=t, occurrence_key="k1")
        noted: list[tuple] = []
        tray.noted.connect(lambda *args: noted.append(args))

        core.bus.publish(raised)
        qtbot.waitUntil(lambda: len(noted) == 1, timeout=WAIT_MS)
        assert noted[0][0] == "signal" and noted[0][4] in ("shown", "no tray") and tray.last_key == "k1"
        played = len(tray.sounds.played)
        assert played == 1 or tray.sounds.why  # a sound for the signal (where QtMultimedia loads)

        tray.mute_action.trigger()  # the menu's Mute
        assert tray.sounds.muted
        core.bus.publish(SignalUpdated(rule_id="ib_raid", symbol="EURUSD", occurrence_id=1, state="target",
                                       time_utc=t + 600, occurrence_key="k1", r_multiple=2.0))
        core.bus.publish(SignalUpdated(rule_id="ib_raid", symbol="EURUSD", occurrence_id=1, state="filled",
                                       time_utc=t + 60, occurrence_key="k1"))  # not a chosen update kind
        qtbot.waitUntil(lambda: len(noted) == 2, timeout=WAIT_MS)
        qtbot.wait(200)
        assert [n[0] for n in noted] == ["signal", "target"] and "+2.00R" in noted[1][2]
        assert len(tray.sounds.played) == played  # muted: no sound
        tray.mute_action.trigger()
        tray.clock = lambda: clock_time(23, 30)
        core.settings = core.settings.model_copy(update={"outputs": core.settings.outputs.model_copy(
            update={"tray": core.settings.outputs.tray.model_copy(update={"quiet_hours": "22:00-07:00"})})})
        core.bus.publish(raised)
        qtbot.waitUntil(lambda: len(noted) == 3, timeout=WAIT_MS)
        assert noted[2][4] == "quiet hours" and len(tray.sounds.played) == played  # held back, silent
        listed = wb.notifications.list
        assert listed.row_of("tray", "quiet hours") is not None

        # the tray message's click (Qt's messageClicked) lands the chart on the last message's signal
        from ita_desktop.storage.signal_store import SignalRecord

        core.store.signals.store([SignalRecord(occurrence_key="k1", rule_id="ib_raid", rule_version="1",
                                               symbol="EURUSD", timeframe="M1", signal_time=t, direction=-1,
                                               source="live", status="pending", steps=[], occurrence={},
                                               order_type="market", entry_price=1.13, stop_price=1.131)])
        tray.open_last()
        qtbot.waitUntil(lambda: _at(window, t), timeout=WAIT_MS)

        # Settings > Notifications > Send test: the stand-in's answer, then a refusal in its own words
        dialog = window.open_settings()
        fields = dialog.channel_fields["telegram"]
        fields["test"].click()
        qtbot.waitUntil(lambda: fields["answer"].text().startswith("telegram: sent"), timeout=WAIT_MS)
        assert '"message_id":' in fields["answer"].text()  # the Bot API's own answer, as it came
        assert tg.received[-1]["text"] == "ITA Desktop: test message"
        fields["chat_id"].setText("-1000")  # a chat the bot is not in
        fields["test"].click()
        qtbot.waitUntil(lambda: "refused" in fields["answer"].text(), timeout=WAIT_MS)
        assert fields["answer"].text() == "telegram: refused: sendMessage: 400 Bad Request: chat not found"
        dialog.reject()
        wb.notifications.show_list()
        qtbot.waitUntil(lambda: listed.row_of("telegram", "refused") is not None, timeout=WAIT_MS)
        assert listed.row_of("telegram", "refused").text(5) == "sendMessage: 400 Bad Request: chat not found"
        assert "1 refused" in listed.summary.text()
        _close(qtbot, window)
        assert "chat not found" not in (app_paths().user_config_file.read_text())  # nothing saved by a test


def test_no_tray_here_shows_the_list_and_says_why(qtbot, eurusd_store: Path) -> None:
    window = _window(qtbot)
    tray = window.workbench.tray
    if tray.available:
        pytest.skip("this desktop has a tray")
    assert tray.no_tray_label is not None and tray.no_tray_label.isVisible()
    t = int(time.time())
    window.core.bus.publish(SignalRaised(rule_id="ib_raid", rule_version="1", symbol="EURUSD", timeframe="M1",
                                         occurrence_id=1, direction=1, signal_utc=t, occurrence_key="k2"))
    center = window.workbench.notifications
    qtbot.waitUntil(lambda: center.dock is not None and center.dock.isVisible(), timeout=WAIT_MS)
    assert center.list.row_of("tray", "no tray").text(3) == "LONG EURUSD M1"
    _close(qtbot, window)


def test_standin_notion_settings_send_test_shows_notion_answer_and_missing_properties(qtbot, ita_home: Path) -> None:
    """Settings > Notifications > Notion: the events each channel takes are offered, and Send test creates a page
    on the Notion stand-in (real notion-client) and shows Notion's answer with the properties the database lacks."""
    from tests.support.notion_standin import NotionStandIn

    with NotionStandIn(schema={"Name": "title", "Date": "date", "Symbol": "select"}) as notion:
        app_paths().ensure().user_config_file.write_text(yaml.safe_dump({"outputs": {"notion": {
            "enabled": True, "database_id": notion.database_id, "api_root": notion.api_root}}}))
        secrets.set_secret("notion_token", notion.token)
        window = MainWindow(new_core())
        qtbot.addWidget(window)
        with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
            window.show()
        dialog = window.open_settings()
        fields = dialog.channel_fields["notion"]
        assert set(fields["events"]) >= {"signal", "target", "stop", "daily_summary"}
        assert fields["events"]["signal"].isChecked() and not fields["events"]["daily_summary"].isChecked()
        assert dialog.channel_fields["telegram"]["events"]["daily_summary"].isChecked()  # Telegram takes every event
        fields["test"].click()
        qtbot.waitUntil(lambda: fields["answer"].text().startswith("notion: sent (page "), timeout=WAIT_MS)
        assert "Timeframe" in fields["answer"].text()  # a property the database lacks, named
        assert len(notion.pages) == 1
        dialog.reject()
        _close(qtbot, window)
