"""Replay: stored bars played forward as live events, paced by an injected clock (no real waiting)."""

from __future__ import annotations

import numpy as np
import pytest

from ita_desktop.data.replay import BarClosed, Replay, Tick, infer_point, tick_path
from ita_desktop.domain.bars import Bars
from ita_desktop.domain.timeframes import Timeframe
from tests.support.real_bars import xauusd_bars


class FakeTime:
    """clock() and sleep() sharing one virtual time line; sleep advances it and runs an optional hook."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.on_sleep = None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep()


def bars_of(rows: list[tuple[float, float, float, float]], tf: Timeframe = Timeframe.M1) -> Bars:
    o, h, l, c = (np.array(col) for col in zip(*rows))
    n = len(rows)
    return Bars.from_columns("EURUSD", tf, {
        "time": 1_700_000_040 + tf.seconds * np.arange(n), "open": o, "high": h, "low": l, "close": c,
        "tick_volume": np.full(n, 40), "spread": np.full(n, 7),
    })


BARS = bars_of([
    (1.10000, 1.10010, 1.09950, 1.10005),  # high nearer the open: up first
    (1.10005, 1.10040, 1.09995, 1.09998),  # low nearer: down first
    (1.09998, 1.10008, 1.09988, 1.10001),  # tie, up close: low first
    (1.10001, 1.10011, 1.09991, 1.09996),  # tie, down close: high first
])


def test_bar_mode_yields_one_bar_closed_per_bar_in_order_with_the_stored_values():
    events = list(Replay(BARS))
    assert all(isinstance(e, BarClosed) for e in events)
    assert [e.index for e in events] == [0, 1, 2, 3]
    assert [e.bar.time for e in events] == BARS.time.tolist()
    assert [(e.bar.open, e.bar.high, e.bar.low, e.bar.close) for e in events] == list(
        zip(BARS.open.tolist(), BARS.high.tolist(), BARS.low.tolist(), BARS.close.tolist()))
    assert events[0].symbol == "EURUSD" and events[0].timeframe is Timeframe.M1


def test_tick_path_visits_the_nearer_extreme_first():
    assert tick_path(*[float(BARS.open[0]), float(BARS.high[0]), float(BARS.low[0]), float(BARS.close[0])]) == (
        1.10000, 1.10010, 1.09950, 1.10005)
    assert tick_path(1.10005, 1.10040, 1.09995, 1.09998) == (1.10005, 1.09995, 1.10040, 1.09998)
    assert tick_path(1.09998, 1.10008, 1.09988, 1.10001) == (1.09998, 1.09988, 1.10008, 1.10001)
    assert tick_path(1.10001, 1.10011, 1.09991, 1.09996) == (1.10001, 1.10011, 1.09991, 1.09996)


def test_tick_mode_plays_four_ticks_then_the_close_with_a_growing_forming_bar():
    events = list(Replay(BARS, ticks=True))
    assert len(events) == 5 * len(BARS)
    first_bar = events[:5]
    ticks, closed = first_bar[:4], first_bar[4]
    assert all(isinstance(t, Tick) and t.index == 0 for t in ticks) and isinstance(closed, BarClosed)
    assert [t.bid for t in ticks] == [1.10000, 1.10010, 1.09950, 1.10005]
    assert [t.ask for t in ticks] == pytest.approx([t.bid + 7e-5 for t in ticks])
    assert [t.forming.high for t in ticks] == [1.10000, 1.10010, 1.10010, 1.10010]
    assert [t.forming.low for t in ticks] == [1.10000, 1.10000, 1.09950, 1.09950]
    assert [t.forming.close for t in ticks] == [t.bid for t in ticks]
    assert [t.forming.tick_volume for t in ticks] == [10, 20, 30, 40]
    assert ticks[-1].forming == closed.bar
    bar_ms = int(BARS.time[0]) * 1000
    assert [t.time_msc - bar_ms for t in ticks] == [0, 19_999, 39_999, 59_999]


def test_replay_is_deterministic():
    assert list(Replay(BARS, ticks=True)) == list(Replay(BARS, ticks=True))


def test_as_fast_as_possible_never_sleeps():
    fake = FakeTime()
    list(Replay(BARS, ticks=True, clock=fake.clock, sleep=fake.sleep))
    assert fake.sleeps == []


def test_bars_per_second_paces_bar_closes():
    fake = FakeTime()
    stamps = [fake.now for _ in Replay(BARS, speed=2.0, clock=fake.clock, sleep=fake.sleep)]
    assert stamps == pytest.approx([100.0, 100.5, 101.0, 101.5])


def test_tick_mode_spreads_ticks_over_the_bar_slot_and_closes_with_the_last_tick():
    fake = FakeTime()
    stamps = [(type(e).__name__, fake.now) for e in Replay(BARS.slice(0, 2), ticks=True, speed=1.0,
                                                            clock=fake.clock, sleep=fake.sleep)]
    assert [s for _, s in stamps] == pytest.approx([100.0, 100.25, 100.5, 100.75, 100.75,
                                                    101.0, 101.25, 101.5, 101.75, 101.75])
    assert [name for name, _ in stamps][4] == "BarClosed"


def test_pause_holds_events_and_resume_does_not_catch_up():
    fake = FakeTime()
    replay = Replay(BARS, speed=1.0, clock=fake.clock, sleep=fake.sleep, poll_s=0.1)
    stamps: list[float] = []
    polls = []

    def resume_after_three_polls():
        if replay.paused:
            polls.append(fake.now)
            if len(polls) == 3:
                replay.resume()

    fake.on_sleep = resume_after_three_polls
    for event in replay:
        stamps.append(fake.now)
        if event.index == 1:
            replay.pause()
    # bar 1 at 101.0; three polls of 0.1 s while paused; bar 2 right on resume, bar 3 one second later
    assert stamps == pytest.approx([100.0, 101.0, 101.3, 102.3])
    assert len(polls) == 3


def test_stop_during_a_long_wait_takes_effect_within_one_poll():
    fake = FakeTime()
    replay = Replay(BARS, speed=0.1, clock=fake.clock, sleep=fake.sleep, poll_s=0.5)  # ten seconds a bar
    fake.on_sleep = lambda: replay.stop() if fake.now >= 102.0 else None
    events = list(replay)
    assert [e.index for e in events] == [0]
    assert fake.now == pytest.approx(102.0) and max(fake.sleeps) <= 0.5
    assert replay.position == 1  # the bar that was waiting has not been played


def test_step_plays_one_bar_and_history_holds_the_closed_bars():
    replay = Replay(BARS, ticks=True)
    assert len(replay.history()) == 0
    first = replay.step()
    assert [type(e) for e in first] == [Tick, Tick, Tick, Tick, BarClosed]
    assert replay.position == 1
    np.testing.assert_array_equal(replay.history().time, BARS.time[:1])
    tick = replay.next_event()
    assert isinstance(tick, Tick) and tick.index == 1
    rest = replay.step()  # finishes bar 1 from where next_event left it
    assert len(rest) == 4 and isinstance(rest[-1], BarClosed) and rest[-1].index == 1
    assert replay.position == 2 and len(replay.history()) == 2


def test_seek_stop_and_end():
    replay = Replay(BARS, start=2)
    assert [e.index for e in replay] == [2, 3]
    assert replay.done and replay.next_event() is None and replay.step() == []
    replay.seek(0)
    for event in replay:
        replay.stop()
    assert replay.position == 1
    with pytest.raises(IndexError):
        replay.seek(len(BARS) + 1)


def test_speed_can_change_while_playing():
    fake = FakeTime()
    replay = Replay(BARS, speed=1.0, clock=fake.clock, sleep=fake.sleep)
    stamps = []
    for event in replay:
        stamps.append(fake.now)
        if event.index == 1:
            replay.speed = 4.0
    assert stamps == pytest.approx([100.0, 101.0, 101.0, 101.25])
    with pytest.raises(ValueError):
        replay.speed = 0


def test_without_full_speed_ticks_as_fast_as_it_goes_plays_the_closes_alone_and_paced_play_the_ticks_again():
    """Bar Replay's player (full_speed_ticks=False): at speed None a bar not begun is its BarClosed alone, the
    same closes as a bar-mode replay; a bar begun at a paced speed finishes with its ticks; stepping and a
    paced speed play the ticks."""
    fake = FakeTime()
    replay = Replay(BARS, ticks=True, speed=None, full_speed_ticks=False, clock=fake.clock, sleep=fake.sleep)
    assert [type(e) for e in replay.step()] == [Tick, Tick, Tick, Tick, BarClosed]  # stepping: the ticks
    replay.speed = 4.0
    played = []
    for event in replay:
        played.append(event)
        if isinstance(event, Tick) and event.index == 1 and len(played) == 2:
            replay.speed = None  # bar 1 is begun: it finishes with its ticks, then closes alone
    assert [(type(e), e.index) for e in played] == [(Tick, 1)] * 4 + [(BarClosed, 1), (BarClosed, 2), (BarClosed, 3)]
    closes = [e for e in played if isinstance(e, BarClosed)]
    assert closes == list(Replay(BARS))[1:]
    assert fake.sleeps, "the paced ticks waited"
    assert [type(e) for e in Replay(BARS, ticks=True, full_speed_ticks=True)][:5] == [Tick, Tick, Tick, Tick, BarClosed]


def test_infer_point_from_quotes():
    assert infer_point(np.array([1.08123, 1.0815, 1.08])) == pytest.approx(1e-5)
    assert infer_point(np.array([2351.27, 2351.3])) == pytest.approx(0.01)
    assert infer_point(np.array([151.234, 151.2])) == pytest.approx(0.001)


@pytest.mark.realdata
def test_real_xauusd_replays_as_ticks_that_stay_inside_each_bar_and_close_on_it(xauusd_csv):
    bars = xauusd_bars(xauusd_csv)
    replay = Replay(bars, ticks=True)
    assert replay.point == pytest.approx(0.01)
    closes = 0
    last_forming = None
    for event in replay:
        if isinstance(event, Tick):
            i = event.index
            assert bars.low[i] <= event.bid <= bars.high[i]
            assert event.ask == pytest.approx(event.bid + bars.spread[i] * 0.01)
            assert event.forming.low <= event.forming.close <= event.forming.high
            last_forming = event.forming
        else:
            assert last_forming == event.bar and event.index == closes
            closes += 1
    assert closes == len(bars)
