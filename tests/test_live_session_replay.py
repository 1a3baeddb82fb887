"""Live sessions over a replay of the real EURUSD: the signals equal a full-pass scan's occurrences,
a restart raises nothing twice, a gap's setups are stored as missed, paper trades follow the
backtester's fill rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from ita_desktop.bus.events import BarClosed, SignalRaised, SignalUpdated
from ita_desktop.config import load_settings
from ita_desktop.core.app_core import Core
from ita_desktop.core.live.replay_feed import play
from ita_desktop.paths import app_paths

pytestmark = pytest.mark.realdata
RULES = ["asia_sweep", "ib_raid"]


def _core() -> Core:
    return Core(load_settings(), app_paths().ensure())


def _scan(core: Core, rule: str) -> list[dict]:
    return [o.to_dict() for o in core.backtests.scan(rule, "EURUSD").occurrences]


def _comparable(d: dict) -> dict:
    """An occurrence without the order's bar indexes a live run cannot know at the signal (an exit time's
    bar lies in the future); the times those bars come from are compared."""
    d = dict(d)
    if d.get("order"):
        d["order"] = {k: v for k, v in d["order"].items() if k not in ("time_exit_bar", "expiry_bar")}
    return d


def test_a_replay_over_the_whole_file_signals_what_a_full_pass_scan_finds(eurusd_store: Path) -> None:
    with _core() as core:
        seen: list = []
        for t in (BarClosed, SignalRaised, SignalUpdated):
            core.bus.subscribe(t, seen.append)
        plan = core.live.replay("EURUSD", RULES)
        step = play(plan.session, plan.to_play)
        core.bus.shutdown(timeout=5)
        for rule in RULES:
            expected = [_comparable(o) for o in _scan(core, rule)]
            got = [_comparable(r.occurrence) for r in step.raised if r.rule_id == rule]
            assert expected, f"{rule} finds nothing on the real file: the comparison would be empty"
            assert got == expected
            assert [r.signal_time for r in step.raised if r.rule_id == rule] == \
                   [o["signal_time"] for o in expected]
        stored = core.store.signals.list(symbol="EURUSD")
        assert len(stored) == len(step.raised) and {r.source for r in stored} == {"replay"}
        assert len({r.occurrence_key for r in stored}) == len(stored)
        raised = [e for e in seen if isinstance(e, SignalRaised)]
        assert sorted(e.occurrence_key for e in raised) == sorted(r.occurrence_key for r in stored)
        assert sum(isinstance(e, BarClosed) for e in seen) == len(plan.to_play)
        # every signal with an order ended somewhere the backtester can end it (the file is long past them)
        final = {r.status for r in stored if r.order_type is not None}
        assert final <= {"expired", "target", "stop", "breakeven", "time", "invalid_stop", "not_filled"}, final
        assert any(isinstance(e, SignalUpdated) and e.r_multiple is not None for e in seen)


def test_a_restart_in_the_middle_raises_nothing_twice_and_a_gap_is_stored_as_missed(eurusd_store: Path) -> None:
    with _core() as core:
        bars = core.store.bars.load("EURUSD", "M1")
        t1, t2 = int(bars.time[len(bars) // 3]), int(bars.time[2 * len(bars) // 3])
        # first session: the start to t2
        plan = core.live.replay("EURUSD", RULES, publish=False)
        first = play(plan.session, plan.to_play.between(None, t2))
        # restart from t1 (an overlap with what was stored): nothing raised again before t2
        plan = core.live.replay("EURUSD", RULES, start_utc=t1, publish=False)
        second = play(plan.session, plan.to_play)
        assert first.raised and second.raised
        assert not {r.occurrence_key for r in first.raised} & {r.occurrence_key for r in second.raised}
        assert all(r.signal_time >= t2 - 86_400 for r in second.raised)
        whole = [_comparable(o) for rule in RULES for o in _scan(core, rule)]
        stored = core.store.signals.list(symbol="EURUSD")
        assert sorted(map(str, (_comparable(r.occurrence) for r in stored))) == sorted(map(str, whole))


def test_bars_of_a_gap_are_processed_as_missed_not_raised(eurusd_store: Path) -> None:
    with _core() as core:
        bars = core.store.bars.load("EURUSD", "M1")
        half = len(bars) // 2
        plan = core.live.replay("EURUSD", RULES, start_utc=int(bars.time[half]), publish=False)
        from ita_desktop.core.live.replay_feed import _closed
        from ita_desktop.data.replay import Replay

        player = Replay(plan.to_play)
        closed = [_closed(e.bar) for e in iter(player.next_event, None)]
        missed = plan.session.process(closed[:5000], missed=True)
        live = plan.session.process(closed[5000:])
        live.extend(plan.session.finish())
        assert missed.missed and not missed.raised
        assert {r.source for r in core.store.signals.list(source="missed")} == {"missed"}
        again = plan.session.process(closed[4000:6000])  # a reconnect's overlap: ignored, nothing twice
        assert not again.bars and not again.raised and not again.missed
