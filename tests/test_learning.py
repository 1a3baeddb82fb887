"""Learning on the real EURUSD: features without look-ahead, the ChromaDB index across restarts and
deletion, the walk-forward scorer's honesty, and `ita learn` end to end."""

from __future__ import annotations

import json
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from ita_desktop.cli.main import main
from ita_desktop.data.csv_import import read_csv
from ita_desktop.domain.bars import Bars
from ita_desktop.learning.features import N_FEATURES, FeatureContext, features_matrix, occurrence_features
from ita_desktop.learning.scorer import walk_forward
from ita_desktop.rules.engine import run_setup
from ita_desktop.rules.loader import load_rule, repo_rules_dir

pytestmark = pytest.mark.realdata


@lru_cache(maxsize=None)
def _bars(path: str) -> Bars:
    return read_csv(Path(path), symbol="EURUSD", server_tz="-03:30").bars


@pytest.mark.parametrize("rule_id,version", [("ib_raid", "1"), ("fvg_reversal", "2")])
def test_features_at_the_signal_bar_equal_features_from_the_bars_up_to_it(eurusd_csv, rule_id, version) -> None:
    rule = load_rule(repo_rules_dir() / rule_id / f"v{version}.yaml").rule
    run = run_setup(rule, _bars(str(eurusd_csv)))
    assert run.occurrences, "the seed rule fires on the real EURUSD"
    whole = FeatureContext.of(run.bars, rule.market.clock)
    full = features_matrix(run.occurrences, whole)
    assert full.shape == (len(run.occurrences), N_FEATURES) and np.isfinite(full).all()
    for occ, row in zip(run.occurrences, full):
        cut = FeatureContext.of(run.bars.slice(0, occ.signal_bar + 1), rule.market.clock)
        np.testing.assert_array_equal(occurrence_features(occ, cut), row)
    # a change after the signal bar changes nothing; a change at it does
    occ = run.occurrences[0]
    s = occ.signal_bar
    cols = run.bars.columns()
    later = {k: v.copy() for k, v in cols.items()}
    later["high"][s + 1:] += 0.01
    moved = Bars.from_columns("EURUSD", run.bars.timeframe, later)
    np.testing.assert_array_equal(occurrence_features(occ, FeatureContext.of(moved, rule.market.clock)), full[0])
    at = {k: v.copy() for k, v in cols.items()}
    at["close"][s] += 0.001
    changed = Bars.from_columns("EURUSD", run.bars.timeframe, at)
    assert not np.array_equal(occurrence_features(occ, FeatureContext.of(changed, rule.market.clock)), full[0])


def _restart_chroma() -> None:
    """Forget the in-process Chroma clients, as a new process would."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def test_index_survives_a_restart_and_is_rebuilt_after_deletion_with_the_same_neighbours(eurusd_store, tmp_path) -> None:
    from ita_desktop.learning.similar_index import SimilarIndex
    from ita_desktop.cli.core_factory import build_core

    with build_core() as core:
        ds = core.learning.dataset("ib_raid", "EURUSD")
    assert len(ds) >= 20
    folder = tmp_path / "chroma"
    last = len(ds) - 1
    query = (ds.rule_id, "EURUSD", ds.X[last], int(ds.signal_time[last]), 10)
    progress: list[str] = []
    index = SimilarIndex(folder)
    assert index.ensure(ds, lambda f, m: progress.append(m)) == "rebuilt"
    assert progress[-1] == f"indexed {len(ds)} of {len(ds)} ib_raid occurrences on EURUSD"
    first = index.similar(*query)
    assert len(first) == 10 and all(n.signal_time < ds.signal_time[last] for n in first)  # the past only
    assert [n.distance for n in first] == sorted(n.distance for n in first)
    del index
    _restart_chroma()
    again = SimilarIndex(folder)
    assert again.ensure(ds) == "current" and again.count() == len(ds)
    assert [n.id for n in again.similar(*query)] == [n.id for n in first]
    del again
    _restart_chroma()
    shutil.rmtree(folder)
    rebuilt = SimilarIndex(folder)
    assert rebuilt.count() == 0
    assert rebuilt.ensure(ds) == "rebuilt"
    assert [(n.id, round(n.distance, 4)) for n in rebuilt.similar(*query)] == \
        [(n.id, round(n.distance, 4)) for n in first]
    ds.fingerprint += ":more-bars"  # the store changed: stale
    assert rebuilt.ensure(ds) == "rebuilt" and rebuilt.count() == len(ds)


def test_scorer_beats_the_base_rate_only_when_the_features_carry_information() -> None:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 6))
    y = X[:, 0] + 0.5 * rng.normal(size=300) > 0
    good = walk_forward(X, y)
    assert good.beats_base_rate and good.brier < good.base_rate_brier and good.log_loss < good.base_rate_log_loss
    assert good.n_test + (300 - good.n_test) == 300 and good.n_train < 300
    flat = walk_forward(np.zeros((300, 6)), rng.random(300) < 0.4)
    assert not flat.beats_base_rate and "no score" in flat.message
    few = walk_forward(X[:25], y[:25])
    assert few.brier is None and not few.beats_base_rate and "not enough" in few.message


def test_ita_learn_index_similar_score_on_the_real_eurusd(eurusd_store, capsys) -> None:
    assert main(["learn", "index", "--rule", "ib_raid", "--symbol", "EURUSD", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rules"]["ib_raid"]["indexed"] == out["indexed"] >= 20
    assert out["rules"]["ib_raid"]["state"] == "rebuilt"
    assert (eurusd_store / "data" / "chroma").is_dir() or any(eurusd_store.rglob("chroma"))
    assert main(["learn", "index", "--rule", "ib_raid", "--symbol", "EURUSD"]) == 0
    assert "indexed (current)" in capsys.readouterr().out
    assert main(["learn", "similar", "ib_raid", "--symbol", "EURUSD", "--at", "2022-02-10", "--k", "3", "--json"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert sim["k"] == 3 and all(n["signal_utc"] < sim["signal_utc"] for n in sim["neighbours"])
    assert main(["learn", "score", "ib_raid", "--symbol", "EURUSD", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("brier", "base_rate_brier", "log_loss", "base_rate_log_loss", "n_train", "n_test", "beats_base_rate"):
        assert key in report
    assert report["beats_base_rate"] is False  # 22 occurrences: too few for a walk-forward, said so
    assert main(["learn", "similar", "ib_raid", "--symbol", "EURUSD", "--at", "2000-01-01"]) == 1
    assert "no ib_raid occurrence" in capsys.readouterr().err


def _synthetic_dataset(n: int = 60):
    """Trades on known weekdays: Tuesdays lose, the other days win (features laid out as features.py does)."""
    from types import SimpleNamespace

    from ita_desktop.learning.dataset import Dataset
    from ita_desktop.learning.features import FEATURE_NAMES

    X = np.zeros((n, N_FEATURES), dtype=np.float32)
    days = np.arange(n) % 5
    X[np.arange(n), [FEATURE_NAMES.index(f"weekday_{d}") for d in np.array(["mon", "tue", "wed", "thu", "fri"])[days]]] = 1
    X[:, FEATURE_NAMES.index("session_new_york")] = 1
    X[:, FEATURE_NAMES.index("step1_size_atr")] = np.arange(n) % 7
    r = np.where(days == 1, -1.0, 1.0)
    return Dataset("ib_raid", "1", 1, "EURUSD", [SimpleNamespace(id=i) for i in range(n)], X, r > 0, r,
                   1_700_000_000 + np.arange(n, dtype=np.int64) * 86_400, "synthetic")


def test_a_proposal_shows_both_samples_and_the_diff_and_becomes_a_version_only_on_acceptance(ita_home) -> None:
    from ita_desktop.cli.core_factory import build_core
    from ita_desktop.learning.proposals import propose

    text = (repo_rules_dir() / "ib_raid" / "v1.yaml").read_text(encoding="utf-8")
    proposal = propose(_synthetic_dataset(), text, ["1"])
    assert proposal.change == "filters.days: drop tue (negative in-sample expectancy)"
    assert proposal.proposed_version == "2" and proposal.n_in_sample == 42 and proposal.n_out_of_sample == 18
    assert proposal.in_sample["proposed"]["expectancy_r"] == 1.0 and proposal.out_of_sample["proposed"]["trades"] < 18
    assert "-  days: [mon, tue, wed, thu, fri]" in proposal.yaml_diff and "+  days: [mon, wed, thu, fri]" in proposal.yaml_diff
    assert "-version: 1" in proposal.yaml_diff and '+version: "2"' in proposal.yaml_diff
    with build_core() as core:
        user_rules = core.rules.user_dir / "ib_raid"
        assert not user_rules.exists()  # proposing stored nothing
        saved = core.learning.accept(proposal)
        assert saved == user_rules / "v2.yaml"
        assert core.rules.resolve("ib_raid").rule.filters.days is not None
        assert "tue" not in core.rules.resolve("ib_raid").rule.filters.days


def test_no_proposal_when_no_day_loses_and_nothing_to_accept(ita_home) -> None:
    from ita_desktop.cli.core_factory import build_core
    from ita_desktop.domain.errors import InputError
    from ita_desktop.learning.proposals import propose

    ds = _synthetic_dataset()
    ds.r[:] = 1.0
    proposal = propose(ds, (repo_rules_dir() / "ib_raid" / "v1.yaml").read_text(encoding="utf-8"), ["1"])
    assert proposal.change is None and proposal.message.startswith("no proposal")
    with build_core() as core, pytest.raises(InputError, match="no proposal to accept"):
        core.learning.accept(proposal)


def test_ita_learn_propose_on_the_real_eurusd_prints_the_in_sample_statistics(eurusd_store, capsys) -> None:
    assert main(["learn", "propose", "ib_raid", "--symbol", "EURUSD", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_in_sample"] + out["n_out_of_sample"] >= 20
    assert set(out["stats_in_sample"]) == {"weekday", "session", "step1_size_atr"}
    assert out["accepted"] is None


def test_the_numpy_signal_scorer_equals_the_calibrated_models_probabilities() -> None:
    from ita_desktop.learning.scorer import SignalScorer, fit

    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, N_FEATURES))
    y = X[:, 2] - X[:, 5] + rng.normal(size=200) > 0
    model = fit(X, y)
    fast = SignalScorer(model)
    probe = rng.normal(size=(40, N_FEATURES))
    np.testing.assert_allclose([fast.probability(x) for x in probe], model.predict_proba(probe)[:, 1], atol=1e-9)
