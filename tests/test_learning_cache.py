"""The learning dataset cache on the real EURUSD: a second call (and a new process's core) reads the rows back
instead of recomputing them, equal to the recomputed ones; new bars stored make the next call recompute."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.support.cores import new_core
from tests.support.real_bars import eurusd_bars, store_bars

pytestmark = pytest.mark.realdata


def test_dataset_is_cached_across_cores_and_recomputed_after_new_bars(ita_home, eurusd_csv) -> None:
    bars = eurusd_bars(eurusd_csv)
    cut = int(bars.time[len(bars) * 3 // 4])
    store_bars(bars.between(None, cut))
    with new_core() as core:
        t0 = time.perf_counter()
        first = core.learning.dataset("ib_raid", "EURUSD")
        built_s = time.perf_counter() - t0
        assert (core.learning.cache.misses, core.learning.cache.hits) == (1, 0)
        assert core.learning.dataset("ib_raid", "EURUSD") is first  # memory
        assert core.learning.cache.hits == 1
    with new_core() as core:  # a new process: the file
        t0 = time.perf_counter()
        again = core.learning.dataset("ib_raid", "EURUSD")
        read_s = time.perf_counter() - t0
        assert (core.learning.cache.misses, core.learning.cache.hits) == (0, 1)
        assert again.fingerprint == first.fingerprint and len(again) == len(first)
        np.testing.assert_array_equal(again.X, first.X)
        np.testing.assert_array_equal(again.r, first.r)
        assert read_s < built_s  # gross bound only: reading back is never slower than the backtest it replaces
    store_bars(bars.between(cut, None))  # the rest of the file arrives
    with new_core() as core:
        longer = core.learning.dataset("ib_raid", "EURUSD")
        assert core.learning.cache.misses == 1
        assert len(longer) > len(first) and longer.fingerprint != first.fingerprint
        np.testing.assert_array_equal(longer.signal_time[: len(first)], first.signal_time)


def _signal_of(ds, i: int):
    from ita_desktop.storage.signal_store import SignalRecord

    t, direction = int(ds.all_time[i]), int(ds.all_direction[i])
    return SignalRecord(occurrence_key=f"sig-{i}", rule_id=ds.rule_id, rule_version=ds.rule_version, symbol=ds.symbol,
                        timeframe="M5", signal_time=t, direction=direction, source="replay", status="pending",
                        steps=[], occurrence={})


def test_similar_setups_of_a_signal_are_its_occurrences_neighbours_and_a_summary_line(eurusd_store) -> None:
    with new_core() as core:
        ds = core.learning.dataset("ib_raid", "EURUSD")
        assert ds.all_X is not None and len(ds.all_time) >= len(ds)
        last_traded = len(ds) - 1  # an occurrence that traded: the index's own query answers the same
        i = int(np.flatnonzero(ds.all_time == ds.signal_time[last_traded])[0])
        found = core.learning.similar_to_signal(_signal_of(ds, i), k=5)
        same = core.learning.similar("ib_raid", "EURUSD", int(ds.signal_time[last_traded]), k=5)
        assert [n.id for n in found.neighbours] == [n.id for n in same.neighbours] and len(found.neighbours) == 5
        assert all(n.signal_time < found.signal_time for n in found.neighbours)  # the past only
        assert all(0 < n.similarity <= 1 for n in found.neighbours)
        sims = [n.similarity for n in found.neighbours]
        assert sims == sorted(sims, reverse=True)
        line = core.learning.similar_summary(_signal_of(ds, i), k=5)
        assert line == f"5 similar past setups: win rate {found.win_rate:.0%}, average {found.average_r:+.2f}R"
        stray = _signal_of(ds, i)
        stray.signal_time += 60  # not an occurrence of the rule
        assert core.learning.similar_summary(stray) is None


def test_the_traders_labels_join_the_training_rows() -> None:
    from ita_desktop.learning.scorer import LABEL_INVALID, NO_LABEL, training_rows, walk_forward

    from ita_desktop.learning.scorer import LABEL_VALID, fit

    rng = np.random.default_rng(3)
    n = 300
    X = rng.normal(size=(n, 6))
    y = X[:, 0] + 0.4 * rng.normal(size=n) > 0
    labels = np.full(n, NO_LABEL, dtype=np.int8)
    labels[rng.random(n) < 0.3] = LABEL_INVALID
    labels[rng.random(n) < 0.1] = LABEL_VALID
    keep, again = labels != LABEL_INVALID, labels == LABEL_VALID
    by_labels = fit(X, y, labels).predict_proba(X[:20])[:, 1]
    by_hand = fit(np.concatenate([X[keep], X[again]]), np.concatenate([y[keep], y[again]])).predict_proba(X[:20])[:, 1]
    np.testing.assert_allclose(by_labels, by_hand)
    plain, labelled = walk_forward(X, y), walk_forward(X, y, labels=labels)
    assert plain.n_labelled == 0 and labelled.n_labelled == int((labels[: labelled.n_train] != NO_LABEL).sum()) > 0
    assert labelled.brier != plain.brier  # the labels changed what the windows learnt ...
    assert labelled.n_test == plain.n_test and labelled.base_rate_brier == pytest.approx(plain.base_rate_brier)  # ... not what they are judged on
    Xt, yt = training_rows(X[:4], y[:4], np.array([1, 0, -1, 1], dtype=np.int8))
    assert len(Xt) == 5 and list(yt) == [y[0], y[2], y[3], y[0], y[3]]


def test_labels_come_from_the_journal_by_signal_time(eurusd_store) -> None:
    from ita_desktop.core.journal_service import trade_feedback

    with new_core() as core:
        result = core.backtests.backtest("ib_raid", "EURUSD")
        outcome = core.runs.reopen(result.run_id)
        core.journal.save(trade_feedback(outcome, 0, label="invalid"))
        core.journal.save(trade_feedback(outcome, 1, label="valid"))
        core.journal.save(trade_feedback(outcome, 2, grade="A"))  # no label
        ds = core.learning.dataset("ib_raid", "EURUSD")
        labels = core.learning.labels(ds)
        occ = {o.id: o.signal_time for o in outcome.occurrences}
        t0, t1 = (occ[int(outcome.result.trades.rows[i]["occurrence"])] for i in (0, 1))
        assert labels[list(ds.signal_time).index(t0)] == 0 and labels[list(ds.signal_time).index(t1)] == 1
        assert int((labels != -1).sum()) == 2
        _, report = core.learning.score("ib_raid", "EURUSD")
        assert report.n_labelled == 0 and report.brier is None  # 7 weeks: no walk-forward, said so


def test_a_changed_instrument_setting_is_a_cache_miss(eurusd_store) -> None:
    """The outcomes are measured in the instrument's units: a changed pip size (the stored instrument or the rule's)
    must recompute, not keep the old rows."""
    from ita_desktop.learning.dataset_cache import dataset_key

    with new_core() as core:
        core.learning.dataset("ib_raid", "EURUSD")
        core.learning.dataset("ib_raid", "EURUSD")
        assert (core.learning.cache.misses, core.learning.cache.hits) == (1, 1)
        row = core.store.instruments.get("EURUSD")
        core.store.instruments.define("EURUSD", digits=row.digits, pip_size=row.pip_size * 10)
        core.learning.dataset("ib_raid", "EURUSD")
        assert core.learning.cache.misses == 2  # recomputed after the pip size changed
        series = core.store.bars.series()
    base = {"rule_point": 1e-05, "rule_pip_size": 0.0001, "rule_point_value": 1.0}
    assert dataset_key("h", "EURUSD", series, base) == dataset_key("h", "EURUSD", series, dict(base))
    assert dataset_key("h", "EURUSD", series, base) != dataset_key("h", "EURUSD", series,
                                                                    {**base, "rule_pip_size": 0.001})
