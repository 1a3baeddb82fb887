"""pytest-qt drives the Review button against the stand-in OpenAI server on 127.0.0.1, on the real EURUSD chart.

Checks the drawings that reach the overlay layer (only grounded annotations), the legend switch,
a click that highlights, the follow-up, the earlier reviews, Cancel, and a failure shown in the panel.
"""

from __future__ import annotations

import pytest

from ita_desktop.domain.resample import resample
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.ui.main_window import MainWindow
from tests.standins.openai_server import StandinOpenAI, Step
from tests.support.cores import new_core
from tests.support.real_bars import eurusd_bars, store_bars
from tests.support.review_answers import as_text, valid_answer

pytestmark = [pytest.mark.standin, pytest.mark.realdata]
WAIT_MS = 60_000


@pytest.fixture
def window(qtbot, ita_home, eurusd_csv):
    store_bars(resample(eurusd_bars(eurusd_csv), Timeframe.M15))
    core = new_core()
    core.settings.model.name = "standin-vision"
    core.settings.model.max_retries = 0
    w = MainWindow(core, symbol="EURUSD", timeframe="M15")
    qtbot.addWidget(w)
    w.resize(1440, 900)
    with qtbot.waitSignal(w.ready, timeout=WAIT_MS):
        w.show()
    qtbot.waitUntil(lambda: core.store_if_open is not None, timeout=WAIT_MS)
    return w


def review_now(qtbot, window, script):
    desk = window.review_desk
    with StandinOpenAI(script) as server:
        window.core.settings.model.endpoint = server.endpoint
        with qtbot.waitSignals([desk.drawn], timeout=WAIT_MS, raising=False) as blocker:
            desk.review_action.trigger()
            assert desk.panel.busy.isVisible() and desk.panel.cancel_button.isVisible()
        qtbot.waitUntil(lambda: desk.job_id is None, timeout=WAIT_MS)
    return server, blocker


def context_of(window):
    chart = window.chart
    first, stop = chart.visible_range()
    return window.core.reviews.context("EURUSD", Timeframe.M15, int(chart.bars.time[stop - 1]), visible_bars=stop - first)


def test_standin_review_button_draws_grounded_annotations(qtbot, window):
    context = context_of(window)
    answer = valid_answer(context)
    answer["annotations"][0]["price"] = context.price_high * 2  # not drawn
    server, _ = review_now(qtbot, window, [Step(as_text(answer))])
    desk = window.review_desk
    assert server.requests[0].png_size is not None
    layer = window.overlays.shapes("review")
    assert layer.objects == 4  # 3 grounded annotations + the trade idea
    assert layer.of_role("review") and layer.of_role("stop") and layer.of_role("target")
    assert desk.panel.annotations.count() == 4 and desk.panel.annotations.item(0).text().startswith("✗")
    assert "4 of 5 items drawn" in desk.panel.grounding.text() and "price_off_chart 1" in desk.panel.grounding.text()
    window.legend.set_checked("review", False)
    assert not window.chart.layer("review").isVisible()
    window.legend.set_checked("review", True)
    desk.panel.annotations.setCurrentRow(1)
    assert window.overlays.shapes("review").of_role("review_hi")
    qtbot.waitUntil(lambda: desk.panel.earlier.count() == 1, timeout=WAIT_MS)
    # the follow-up
    with StandinOpenAI([Step("Because it was mitigated twice.")]) as server:
        window.core.settings.model.endpoint = server.endpoint
        desk.panel.question.setText("why not the order block at 1.0850?")
        desk.panel.ask_button.click()
        qtbot.waitUntil(lambda: "mitigated twice" in desk.panel.conversation.toPlainText(), timeout=WAIT_MS)
    assert window.core.reviews.get(desk.current.id).conversation[-1]["content"] == "Because it was mitigated twice."


def test_standin_review_failure_and_cancel_in_the_window(qtbot, window):
    desk = window.review_desk
    review_now(qtbot, window, [Step(status=500)])
    assert "HTTP 500" in desk.panel.status.text() and window.overlays.shapes("review").objects == 0
    with StandinOpenAI([Step("{}", delay_s=5)]) as server:
        window.core.settings.model.endpoint = server.endpoint
        desk.review_action.trigger()
        qtbot.waitUntil(lambda: len(server.requests) == 1, timeout=WAIT_MS)
        desk.panel.cancel_button.click()
        qtbot.waitUntil(lambda: desk.job_id is None, timeout=3000)
    assert "cancelled" in desk.panel.status.text()
    assert [r.error_kind for r in window.core.reviews.list("EURUSD")] == ["server_error"]


def test_missing_key_opens_settings_at_the_key(qtbot, window):
    """A remote endpoint with no key in the keyring: no request, the failure shown, Settings open on the key."""
    from PySide6.QtWidgets import QTabWidget

    desk = window.review_desk
    window.core.settings.model.endpoint = "https://models.example.invalid/v1"
    with qtbot.waitSignal(desk.failed, timeout=WAIT_MS) as blocker:
        desk.review_action.trigger()
    assert blocker.args == ["missing_key"]
    assert "openai_api_key" in desk.panel.status.text()
    dialog = window.settings_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    tabs = dialog.findChild(QTabWidget)
    assert tabs.tabText(tabs.currentIndex()).startswith("Keys")
    dialog.reject()
    assert window.core.reviews.list("EURUSD")[0].error_kind == "missing_key"
