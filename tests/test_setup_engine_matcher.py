"""The matcher's semantics on hand-made event streams, and the order builder's choices."""

from __future__ import annotations

import numpy as np

from ita_desktop.rules.engine.compiler import DIR_WITH, StepPlan, compile_rule, occurrence_horizon
from ita_desktop.rules.engine.matcher import match
from ita_desktop.rules.engine.streams import NEVER, Stream
from ita_desktop.rules.loader import load_rule, repo_rules_dir


def stream(times, dirs, obj=None, ok=None, rows=None) -> Stream:
    n = len(times)
    f = np.zeros(n)
    return Stream(np.array(times, np.int64), np.array(rows if rows is not None else range(n), np.int64),
                  np.array(dirs, np.int8), np.array(obj if obj is not None else times, np.int64), f, f, f, f, f,
                  np.array(ok if ok is not None else [True] * n, bool))


def plan(i, event="sweep", **kw) -> StepPlan:
    return StepPlan(i, f"s{i}", event, None, **kw)


def test_backtracks_to_a_later_step_2_when_step_3_cannot_follow_the_earliest() -> None:
    s0 = stream([0], [1])
    s1 = stream([2, 3, 5], [-1, 1, 1])  # bar 2 has the wrong direction
    s2 = stream([5], [1], obj=[4])  # a zone formed at bar 4, known at 5
    plans = [plan(0), plan(1, "choch", dir_mode=DIR_WITH, dir_ref=0, within_bars=10, within_ref=0),
             plan(2, "fvg", dir_mode=DIR_WITH, dir_ref=1, formed_a=0, formed_b=1)]
    off, ev, times = match([s0, s1, s2], plans)
    # step 2 at bar 3 leaves bar 4 outside [0, 3]: the search moves on to bar 5
    assert ev.tolist() == [[0, off[1] + 2, off[2]]] and times.tolist() == [[0, 5, 5]]


def test_within_bounds_the_search_and_a_formed_between_zone_counts_at_the_previous_step() -> None:
    s0 = stream([0, 20], [1, 1])
    s1 = stream([12, 25], [1, 1])
    s2 = stream([21], [1], obj=[20])  # known before step 2 (bar 25): happens at 25
    plans = [plan(0), plan(1, "choch", within_bars=10, within_ref=0),
             plan(2, "fvg", formed_a=0, formed_b=1)]
    _, ev, times = match([s0, s1, s2], plans)
    assert times.tolist() == [[20, 25, 25]]  # the step-1 event at bar 0 has nothing within 10 bars


def test_two_starts_ending_on_one_event_are_one_occurrence_kept_by_the_earlier() -> None:
    s0 = stream([0, 1], [1, 1])
    s1 = stream([4], [1])
    _, ev, times = match([s0, s1], [plan(0), plan(1, "choch")])
    assert times.tolist() == [[0, 4]]


def test_a_retest_is_the_first_touch_of_the_chosen_zone_after_the_previous_step() -> None:
    zones = stream([3, 4], [1, 1], rows=[7, 8])
    retest = stream([NEVER, 9], [1, 1], rows=[7, 8])  # zone row 7 never touched, row 8 at bar 9
    s0 = stream([1], [1])
    plans = [plan(0), plan(1, "fvg"), plan(2, "retest", link=1)]
    _, ev, times = match([s0, zones, retest], plans)
    assert times.tolist() == [[1, 4, 9]]  # zone 7 cannot be retested: backtrack to zone 8


def test_only_events_that_pass_their_own_conditions_start_or_continue() -> None:
    s0 = stream([0, 2], [1, 1], ok=[False, True])
    s1 = stream([1, 3], [1, 1], ok=[True, False])
    _, ev, _ = match([s0, s1], [plan(0), plan(1, "choch")])
    assert len(ev) == 0


def test_occurrence_horizon_is_bounded_only_when_every_step_has_within() -> None:
    ib = compile_rule(load_rule(repo_rules_dir() / "ib_raid" / "v1.yaml").rule, "EURUSD")
    asia = compile_rule(load_rule(repo_rules_dir() / "asia_sweep" / "v1.yaml").rule, "EURUSD")
    assert occurrence_horizon(ib) == 0 and occurrence_horizon(asia) is None
    assert asia.kinds == ("atr", "fvg", "levels", "structure", "sweeps")
    assert asia.params.sweeps.sources == ("levels",) and asia.params.swings.length == 3
    assert asia.windows["london"] == (120, 300) and asia.steps[1].within_bars == 24
