"""Screenshots of the main views, saved to screenshots/ (gitignored) for a person to look at.

Each test also checks that the picture is the window's size and not a blank frame, so a
broken paint fails here rather than only looking wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from ita_desktop.domain.resample import resample
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.ui.main_window import MainWindow
from tests.conftest import PROJECT_ROOT
from tests.support.real_bars import eurusd_bars, store_bars, xauusd_bars
from tests.support.cores import new_core

SHOTS = PROJECT_ROOT / "screenshots"
SIZE = (1440, 900)
WAIT_MS = 30_000


@pytest.fixture
def window_on(qtbot, ita_home):
    def make(**kwargs) -> MainWindow:
        window = MainWindow(new_core(), **kwargs)
        qtbot.addWidget(window)
        window.resize(*SIZE)
        with qtbot.waitSignal(window.ready, timeout=WAIT_MS):
            window.show()
        return window

    yield make


def save(widget, name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / name
    assert widget.grab().save(str(path), "PNG")
    image = QImage(str(path))
    ratio = widget.devicePixelRatioF()
    assert (image.width(), image.height()) == (round(widget.width() * ratio), round(widget.height() * ratio))
    colours = {image.pixel(x, y) for x in range(0, image.width(), 9) for y in range(0, image.height(), 9)}
    assert len(colours) > 8, f"{name} looks blank"
    return path


def test_screenshot_empty_state(qtbot, window_on):
    window = window_on()
    assert window.pages.currentWidget() is window.empty_state
    save(window, "window_empty_state.png")
    qtbot.waitUntil(lambda: window.add_data_dialog is not None and window.add_data_dialog.isVisible(), timeout=WAIT_MS)
    save(window.add_data_dialog, "add_data_welcome.png")  # a window of its own: not in the window's picture
    window.import_action.trigger()
    save(window.add_data_dialog, "add_data_import.png")


def test_screenshot_eurusd_chart_views(qtbot, window_on, eurusd_csv, xauusd_csv):
    eurusd = eurusd_bars(eurusd_csv)
    store_bars(eurusd)
    store_bars(resample(eurusd, Timeframe.H1))
    store_bars(xauusd_bars(xauusd_csv))
    window = window_on(symbol="EURUSD", timeframe="M1")
    chart = window.chart
    save(window, "window_eurusd_m1_latest.png")
    chart.set_x_window(1_300, 4_300)  # two days with all four sessions
    chart.scene().sigMouseMoved.emit(chart.view.sceneBoundingRect().center())  # crosshair and readout
    save(window, "window_eurusd_m1_two_days_crosshair.png")
    chart.set_x_window(-0.5, chart.count - 0.5)
    save(window, "window_eurusd_m1_all.png")
    chart.export_png(SHOTS / "chart_export_eurusd_m1_all.png")
    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS):
        window.select("EURUSD", "H1")
    save(window, "window_eurusd_h1.png")
    window.dark_action.setChecked(False)
    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS):
        window.select("XAUUSD", "M1")
    save(window, "window_xauusd_m1_light.png")
    window.dark_action.setChecked(True)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)


def test_screenshot_demo(qtbot, window_on):
    window = window_on()
    with qtbot.waitSignal(window.loaded, timeout=WAIT_MS):
        qtbot.mouseClick(window.empty_state.demo_button, Qt.MouseButton.LeftButton)
    window.chart.zoom(4.0)
    save(window, "window_demo_eurusd_m1.png")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)


def test_screenshot_overlays(qtbot, window_on, eurusd_csv):
    from ita_desktop.data.csv_import import read_csv
    from ita_desktop.ui.chart.overlays import series_key

    store_bars(read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars)  # the file's true server clock
    window = window_on(symbol="EURUSD", timeframe="M1")
    assert window.overlays.key == series_key(window.chart.bars)  # ready waited for the overlays
    save(window, "window_eurusd_m1_overlays.png")
    window.chart.set_x_window(20_000, 21_400)  # about one trading day
    save(window, "window_eurusd_m1_overlays_day.png")
    for name in ("ib_ext", "swing_sweeps"):
        window.legend.set_checked(name, True)
    window.chart.set_x_window(20_500, 20_800)
    save(window, "window_eurusd_m1_overlays_all_layers.png")
    for name in ("ib_ext", "swing_sweeps"):
        window.legend.set_checked(name, False)
    # issue 18: the defaults must stay readable on the higher timeframes too (looked at by eye)
    for tf in ("M15", "M30", "H1"):
        with qtbot.waitSignal(window.overlays.drawn, timeout=WAIT_MS):
            window.select("EURUSD", tf)
        assert window.overlays.key == series_key(window.chart.bars)
        save(window, f"window_eurusd_{tf.lower()}_overlays_defaults.png")
        window.chart.set_x_window(-0.5, window.chart.count - 0.5)
        save(window, f"window_eurusd_{tf.lower()}_overlays_zoomed_out.png")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)


def test_screenshot_backtest_results(qtbot, window_on, eurusd_csv):
    """The trader's workflow: backtest settings, then results with a clicked trade, equity and a sweep."""
    from ita_desktop.data.csv_import import read_csv

    store_bars(read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars)
    window = window_on(symbol="EURUSD", timeframe="M1")
    bench = window.workbench
    qtbot.waitUntil(lambda: bench.backtest.rules_list.count() > 0, timeout=WAIT_MS)
    assert bench.backtest.select_rule("ib_raid")
    save(window, "window_backtest_settings.png")
    with qtbot.waitSignal(bench.backtest.backtested, timeout=WAIT_MS):
        qtbot.mouseClick(bench.backtest.run_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(bench.trade_shown, timeout=WAIT_MS):
        bench.results.choose_trade(3)
    with qtbot.waitSignal(window.overlays.drawn, timeout=WAIT_MS):
        window.chart.update()
    save(window, "window_results_trade.png")
    bench.results.tabs.setCurrentWidget(bench.results.equity.parentWidget())  # its tab: a place holder built on show
    save(window, "window_results_equity.png")
    bench.backtest.set_grid([("stop.buffer.pips", "0.5, 1, 2, 3"), ("management.break_even_at_r", "0.5, 1, 2")])
    with qtbot.waitSignal(bench.backtest.swept, timeout=WAIT_MS):
        qtbot.mouseClick(bench.backtest.sweep_button, Qt.MouseButton.LeftButton)
    assert bench.results.heatmap.matrix.shape == (3, 4)
    save(window, "window_results_sweep.png")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)


def test_screenshot_journal(qtbot, window_on, eurusd_csv):
    """The Journal dock: entries with tags and R, the month's calendar of R per day, stats by tag, a picture."""
    from ita_desktop.core.journal_service import trade_feedback
    from ita_desktop.data.csv_import import read_csv

    store_bars(read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars)
    window = window_on(symbol="EURUSD", timeframe="M1")
    core, bench = window.core, window.workbench
    qtbot.waitUntil(lambda: core.store_if_open is not None, timeout=WAIT_MS)
    result = core.backtests.backtest("ib_raid", "EURUSD")
    outcome = core.runs.reopen(result.run_id)
    png = window.chart.grab().toImage()
    from ita_desktop.ui.panels.review_panel import encode_png

    picture = encode_png(png)
    tags = (["ib raid", "a+"], ["ib raid"], ["ib raid", "london"], ["london"])
    for i in range(min(len(outcome.result.trades), 16)):
        core.journal.save(trade_feedback(outcome, i, taken=i % 5 != 4, label="valid" if i % 3 else "invalid",
                                         grade="AB"[i % 2], tags=tags[i % 4], mistakes=["early entry"] if i % 4 == 1 else [],
                                         notes="waited for the raid to close" if i == 0 else None),
                          picture_png=picture if i == 0 else None)
    window.journal.show()
    panel = window.journal.panel
    qtbot.waitUntil(lambda: panel.table.rowCount() > 0, timeout=WAIT_MS)
    window.resizeDocks([window.journal.dock], [420], Qt.Orientation.Vertical)
    panel.table.selectRow(panel.table.rowCount() - 1)  # the oldest: the one with the picture
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
    qtbot.wait(300)
    save(window, "window_journal.png")
    panel.tabs.setCurrentWidget(panel.tag_stats)
    save(window, "window_journal_by_tag.png")
    bench.results.choose_trade(0)
    bench.results.feedback_action.trigger()
    qtbot.waitUntil(lambda: window.journal.dialog is not None and window.journal.dialog.isVisible(), timeout=WAIT_MS)
    save(window.journal.dialog, "feedback_dialog.png")
    window.journal.dialog.close()


@pytest.mark.standin
def test_screenshot_standin_vision_review_on_eurusd(qtbot, window_on, eurusd_csv):
    """A review from the stand-in model on 127.0.0.1 drawn on the real EURUSD M15 chart: a zone on a detected
    gap or order block, a level on a detected liquidity level, an arrow, the trade idea; one invented level
    that grounding keeps off the chart (listed as not drawn in the Review dock)."""
    from ita_desktop.domain.clock import utc_iso
    from tests.standins.openai_server import StandinOpenAI, Step
    from tests.support.review_answers import as_text

    eurusd = eurusd_bars(eurusd_csv)
    store_bars(eurusd)
    window = window_on(symbol="EURUSD", timeframe="M15")
    core, desk, chart = window.core, window.review_desk, window.chart
    qtbot.waitUntil(lambda: core.store_if_open is not None, timeout=WAIT_MS)
    chart.set_x_window(chart.count - 140.5, chart.count + 5.5)  # the last day and a half, as a trader would look
    first, stop = chart.visible_range()
    ctx = core.reviews.context("EURUSD", Timeframe.M15, int(chart.bars.time[stop - 1]), visible_bars=stop - first)
    objs = list(ctx.objects.values())
    zone = next(o for o in reversed(objs) if o.table in ("fvg", "order_blocks"))
    level = next((o for o in reversed(objs) if o.table == "levels" and ctx.price_low <= o.price <= ctx.price_high), objs[-1])
    last_close = float(chart.bars.close[stop - 1])
    t = lambda i: utc_iso(int(ctx.times[i]))  # noqa: E731
    n = len(ctx.times)
    answer = {
        "bias": "bullish", "confidence": 0.58,
        "summary": "Sell-side liquidity was taken and price reclaimed the gap; the draw is the level above.",
        "annotations": [
            {"kind": "zone", "text": "demand (gap)", "price": zone.top, "price2": zone.bottom,
             "time": t(max(zone.bar, 0)), "time2": t(n - 1), "ref_id": zone.id},
            {"kind": "level", "text": "draw on liquidity", "price": level.price, "price2": None, "time": t(n // 2),
             "time2": None, "ref_id": level.id},
            {"kind": "arrow", "text": "expected path", "price": ctx.price_high, "price2": last_close, "time": t(n - 12),
             "time2": t(n - 1), "ref_id": None},
            {"kind": "label", "text": "reclaim", "price": ctx.price_low, "price2": None, "time": t(n - 20), "time2": None,
             "ref_id": None},
            {"kind": "level", "text": "invented round number", "price": round(ctx.price_high * 1.05, 4), "price2": None,
             "time": None, "time2": None, "ref_id": None},
        ],
        "trade_idea": {"direction": "long", "entry": last_close, "stop": ctx.price_low,
                       "targets": [ctx.price_high], "invalidation": "a close below the swept low"},
        "risks": ["a counter-trend move into the New York open"],
    }
    with StandinOpenAI([Step(as_text(answer))]) as server:
        core.settings.model.endpoint = server.endpoint
        with qtbot.waitSignal(desk.drawn, timeout=WAIT_MS):
            desk.review_action.trigger()
    assert window.overlays.shapes("review").objects == 5  # 4 grounded annotations + the idea
    with qtbot.waitSignal(window.overlays.drawn, timeout=WAIT_MS):
        chart.update()
    desk.dock.raise_()
    save(window, "window_eurusd_m15_vision_review.png")


def test_screenshot_rule_editor_try_draws_the_scan_occurrences(qtbot, window_on, eurusd_csv):
    """The rule editor open on asia_sweep beside the chart; Try draws on the chart what `ita scan` finds."""
    from ita_desktop.data.csv_import import read_csv

    bars = read_csv(eurusd_csv, symbol="EURUSD", server_tz="-03:30").bars
    store_bars(bars)
    store_bars(resample(bars, Timeframe.M5))
    window = window_on(symbol="EURUSD", timeframe="M5")
    panel = window.rule_editor.panel
    panel.ask = lambda _message: "discard"
    with qtbot.waitSignal(panel.validated, timeout=WAIT_MS):
        window.rule_editor.edit("asia_sweep")
    assert window.rule_editor.dock.isVisible()
    with qtbot.waitSignal(panel.tried, timeout=WAIT_MS * 2) as tried:
        panel.try_rule()
    scope = window.rule_editor.chart_scope()
    scan = window.core.backtests.scan("asia_sweep", "EURUSD", timeframe="M5", start_utc=scope.start_utc,
                                      end_utc=scope.end_utc)
    assert scan.occurrences
    assert [o.key() for o in tried.args[0].occurrences] == [o.key() for o in scan.occurrences]
    drawn = window.overlays.shapes("setups")
    assert drawn is not None and drawn.objects == len(scan.occurrences)
    first = scan.occurrences[0]
    chart_bar = int(np.searchsorted(window.chart.bars.time, first.steps[0].time, side="right") - 1)
    window.chart.show_range(max(chart_bar - 40, 0), chart_bar + 80)
    qtbot.wait(200)
    save(window, "window_rule_editor_try.png")
    row = next(i for i, line in enumerate(panel.text.split("\n")) if "zone: fvg" in line)
    with qtbot.waitSignal(panel.validated, timeout=WAIT_MS):
        panel.editor.setPlainText(panel.text.replace("zone: fvg", "zone: fvgg").replace("  at: near_edge",
                                                                                       "  att: near_edge"))
    assert any(p.line == row for p in panel.editor.problems)
    panel.editor.go_to(row, 0)
    save(window, "window_rule_editor_problems.png")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)


def test_screenshot_bar_replay(qtbot, window_on, eurusd_csv):
    """Bar Replay playing on the real EURUSD: history up to the replay point, a replay signal with its
    entry/stop/targets, the forming candle right of the closed bars, the Bar Replay dock."""
    store_bars(eurusd_bars(eurusd_csv))
    window = window_on(symbol="EURUSD", timeframe="M1")
    qtbot.waitUntil(lambda: window.core.store_if_open is not None, timeout=WAIT_MS)
    bars = window.core.store.bars.load("EURUSD", "M1")
    wb = window.workbench
    wb.replay_action.trigger()
    panel = wb.replay
    qtbot.waitUntil(lambda: panel.timeframe_box.findText("M1") >= 0, timeout=WAIT_MS)
    panel.symbol_box.setCurrentText("EURUSD")
    panel.timeframe_box.setCurrentText("M1")
    panel.set_start(int(bars.time[35_000]) // 3600 * 3600)
    panel.speed_box.setCurrentText("max")
    with qtbot.waitSignal(panel.started, timeout=4 * WAIT_MS):
        panel.start_button.click()
    panel.play_button.click()
    qtbot.waitUntil(lambda: len(window.chart.signal_marks.marks) >= 1, timeout=4 * WAIT_MS)
    panel.pause_button.click()
    panel.speed_box.setCurrentText("1")
    for _ in range(5):  # pause with a candle forming (a pause may land just after a close: play on)
        panel.play_button.click()
        qtbot.waitUntil(lambda: window.chart.forming.bar is not None, timeout=WAIT_MS)
        panel.pause_button.click()
        qtbot.wait(400)
        if window.chart.forming.bar is not None:
            break
    assert window.chart.forming.bar is not None
    # the detector overlays followed the replayed bars (advanced from the detectors' changes)
    feed = wb.live_chart.overlays
    qtbot.waitUntil(lambda: feed.idle and feed.n_bars == window.chart.count, timeout=4 * WAIT_MS)
    start_index = int(np.searchsorted(bars.time, int(bars.time[35_000]) // 3600 * 3600))
    drawn_after = [b for name in ("fvg", "structure", "liquidity") for b in window.overlays.shapes(name).batches
                   if hasattr(b, "x1") and (b.x1 > start_index).any()]
    assert drawn_after, "no overlay over the replayed bars"
    save(window, "bar_replay.png")
    panel.stop()
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)


def test_screenshot_standin_telegram_picture_of_a_real_eurusd_signal(qtbot, window_on, eurusd_csv):
    """What the trader's phone shows: the Telegram picture (and caption) of a real EURUSD replay signal as the
    stand-in on 127.0.0.1 received it, beside the window with its Notifications list and Settings' channels."""
    import yaml

    from ita_desktop import secrets
    from ita_desktop.paths import app_paths
    from tests.support.telegram_standin import TelegramStandIn

    store_bars(eurusd_bars(eurusd_csv))
    with TelegramStandIn() as tg:
        app_paths().ensure().user_config_file.write_text(yaml.safe_dump(
            {"outputs": {"telegram": {"enabled": True, "chat_id": tg.chat_id, "api_root": tg.api_root}}}))
        secrets.set_secret("telegram_bot_token", tg.token)
        window = window_on(symbol="EURUSD", timeframe="M1")
        qtbot.waitUntil(lambda: window.core.outputs.running is not None, timeout=4 * WAIT_MS)
        bars = window.core.store.bars.load("EURUSD", "M1")
        wb = window.workbench
        wb.replay_action.trigger()
        panel = wb.replay
        qtbot.waitUntil(lambda: panel.timeframe_box.findText("M1") >= 0, timeout=WAIT_MS)
        panel.symbol_box.setCurrentText("EURUSD")
        panel.timeframe_box.setCurrentText("M1")
        panel.rules_edit.setText("asia_sweep")
        panel.set_start(int(bars.time[35_000]) // 3600 * 3600)
        panel.speed_box.setCurrentText("max")
        panel.notify_box.setChecked(True)
        with qtbot.waitSignal(panel.started, timeout=4 * WAIT_MS):
            panel.start_button.click()
        panel.play_button.click()
        qtbot.waitUntil(lambda: any(r["method"] == "sendPhoto" for r in tg.received), timeout=8 * WAIT_MS)
        photo = next(r for r in tg.received if r["method"] == "sendPhoto")
        SHOTS.mkdir(exist_ok=True)
        (SHOTS / "telegram_signal_eurusd.png").write_bytes(photo["photo"])
        (SHOTS / "telegram_signal_eurusd_caption.txt").write_text(photo["caption"], encoding="utf-8")
        image = QImage(str(SHOTS / "telegram_signal_eurusd.png"))
        assert (image.width(), image.height()) == (1280, 720)
        panel.stop()
        wb.notifications.show_list()
        qtbot.waitUntil(lambda: wb.notifications.list.row_of("telegram", "sent") is not None, timeout=WAIT_MS)
        save(window, "window_notifications.png")
        dialog = window.open_settings()
        from PySide6.QtWidgets import QTabWidget

        tab_widget = dialog.findChild(QTabWidget)
        tab_widget.setCurrentIndex(next(i for i in range(tab_widget.count()) if tab_widget.tabText(i) == "Notifications"))
        dialog.resize(760, 620)
        fields = dialog.channel_fields["telegram"]
        fields["test"].click()
        qtbot.waitUntil(lambda: fields["answer"].text().startswith("telegram: sent"), timeout=WAIT_MS)
        save(dialog, "settings_notifications.png")
        dialog.reject()
        qtbot.waitUntil(lambda: not window.runner.busy, timeout=WAIT_MS)
