"""The status bar's connection indicator on a live MT5 session against the local MT5 stand-in (real
EURUSD ticks, a terminal clock 5 minutes off): connected, polling interval, last tick age and server
offset with the clock warning; then disconnected with the error when the terminal is gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from ita_desktop.ui.connection_indicator import ConnectionIndicator, age_text, tick_age
from tests.test_live_mt5_standin import _run, _terminal, market  # noqa: F401  (market: the fixture)

pytestmark = [pytest.mark.realdata, pytest.mark.standin]


def test_standin_connection_indicator_shows_state_interval_tick_age_and_offset(qtbot, ita_home: Path, market) -> None:  # noqa: F811
    terminal = _terminal(market, tick_offset_s=300)
    core, feed, drive = _run(market, n_polls=20, terminal=terminal)
    with core:
        indicator = ConnectionIndicator(core.live.running_feeds, clock=lambda: drive.utc_now() + 2.5)
        qtbot.addWidget(indicator)
        indicator.refresh()
        text = indicator.text()
        assert not indicator.isHidden()
        assert text.startswith("MT5 EURUSD ● connected") and "poll 500 ms" in text
        age = tick_age(feed.status, drive.utc_now() + 2.5)
        assert f"tick {age_text(age)} ago" in text and age >= 2.5
        assert f"server {feed.status.server_offset_s:+.0f} s" in text and "mt5.server_tz" in text
        assert 240 <= feed.status.server_offset_s <= 360  # the stand-in runs 300 s ahead
        terminal.gone_until = drive.now + 10_000
        drive.polls(3)
        indicator.refresh()
        assert "○ disconnected" in indicator.text() and "error:" in indicator.text()
        feed.session.stop()
        indicator.refresh()
        assert indicator.isHidden()  # no MT5 session runs: nothing shown


def test_a_tick_age_reads_in_seconds_then_minutes_hours_and_days() -> None:
    assert [age_text(s) for s in (0.04, 2.5, 59.9, 60, 754, 3_600, 7_200 + 1_080, 172_800, 1_777_000_000 / 1e3)] == [
        "0.0 s", "2.5 s", "59.9 s", "1 min", "13 min", "1.0 h", "2.3 h", "2.0 d", "20.6 d"]
