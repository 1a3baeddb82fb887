"""A live signal's feature vector, computed at raise time from the live setup's bars (no dataset rebuild), equals
the vector the learning dataset computes for the same occurrence from every stored bar (real EURUSD, a replay with
history before its start, as the window plays it)."""

from __future__ import annotations

import numpy as np
import pytest

from ita_desktop.core.live.replay_feed import play
from tests.support.cores import new_core

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize("rule", ["ib_raid", "fvg_reversal"])
def test_raise_time_features_equal_the_datasets_for_the_same_occurrence(eurusd_store, rule) -> None:
    with new_core() as core:
        ds = core.learning.dataset(rule, "EURUSD")
        bars = core.store.bars.load("EURUSD", "M1")
        start = int(bars.time[len(bars) // 3])  # history before it: the window and the ATR recursion both matter
        plan = core.live.replay("EURUSD", [rule], start_utc=start, publish=False)
        plan.session.notify = ("telegram",)  # rows enqueued with the payload; no sender runs
        play(plan.session, plan.to_play)
        rows = [r for r in core.store.outbox.list() if r.event == "signal"]
    assert len(rows) >= 2, f"{rule}: too few replayed signals to compare"
    for row in rows:
        p = row.payload
        match = np.flatnonzero((ds.all_time == p["signal_time"]) & (ds.all_direction == p["direction"]))
        assert len(match) == 1, f"{rule} signal at {p['signal_time']} is not one dataset occurrence"
        vec = np.asarray(p["features"], dtype=np.float32)
        np.testing.assert_array_equal(vec, ds.all_X[match[0]])


def test_features_do_not_read_bars_after_the_signal_bar(eurusd_store) -> None:
    """Changing every bar after the signal bar changes nothing: no look-ahead."""
    from ita_desktop.learning.signal_features import features_at_signal
    from ita_desktop.rules.engine.runner import run_setup
    from ita_desktop.workflows.rule_backtest import prepare

    with new_core() as core:
        prep = prepare(core.store, "ib_raid", "EURUSD")
        run = run_setup(prep.compiled, prep.bars, rule_version_id=prep.version_id, fine_bars=prep.level_bars)
    occ = run.occurrences[len(run.occurrences) // 2]
    cols = {k: np.array(getattr(run.bars, k)) for k in ("time", "open", "high", "low", "close")}
    before = features_at_signal(occ, cols, "EURUSD", run.bars.timeframe, prep.compiled.clock)
    s = occ.signal_bar
    for k in ("open", "high", "low", "close"):
        cols[k][s + 1:] *= 1.5
    np.testing.assert_array_equal(before, features_at_signal(occ, cols, "EURUSD", run.bars.timeframe,
                                                             prep.compiled.clock))
