"""Sweep-based proposals on the real EURUSD: the candidate paths exist in the seed rules, the figures
are the sweep's own on the in-sample and out-of-sample ranges, a proposal differs from the rule only at
its path, and nothing is stored before the trader accepts."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ita_desktop.backtest.sweep import set_path
from ita_desktop.cli.main import main
from ita_desktop.rules.loader import repo_rules_dir
from ita_desktop.rules.sweep_paths import numeric_paths
from ita_desktop.rules.yaml_source import parse_yaml
from ita_desktop.learning import sweep_proposals as sp

SEEDS = {"asia_sweep": "v1", "ib_raid": "v1", "fvg_reversal": "v2", "Frank_raid": "v1.2"}


def _text(rule_id: str) -> str:
    return (repo_rules_dir() / rule_id / f"{SEEDS[rule_id]}.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("rule_id", list(SEEDS))
def test_the_candidates_are_paths_that_exist_in_the_seed_rules(rule_id) -> None:
    text = _text(rule_id)
    data, _, _ = parse_yaml(text, rule_id)
    own = dict(numeric_paths(data))
    grid = sp.candidate_grid(text, rule_id)
    assert grid, f"{rule_id} offers at least one path to sweep"
    for path, values in grid.items():
        assert path in own and own[path] in values and len(values) >= 2
        assert path.endswith(sp.CANDIDATE_ENDINGS)
    if rule_id == "fvg_reversal":
        assert "steps.2.min_size.atr" in grid and "targets.0.first_of.0.r" in grid
        assert grid["steps.1.within.bars"] == [6, 9, 12, 18]  # narrower windows first


def _rows(path: str, table: dict) -> list[dict]:
    return [{path: v, "trades": n, "win_rate": 0.5, "expectancy_r": e, "profit_factor": 1.0, "net_pnl": 0.0}
            for v, (n, e) in table.items()]


def _fake_sweep(path: str, ins: dict, oos: dict, split_seen: list):
    def sweep(item: str, start: int, end: int) -> list[dict]:
        assert item.startswith(path + "=")
        split_seen.append((start, end))
        return _rows(path, ins if start == 0 else oos)
    return sweep


def test_a_value_better_in_sample_but_worse_out_of_sample_is_not_proposed(ita_home) -> None:
    from ita_desktop.cli.core_factory import build_core

    path, text, seen = "targets.0.first_of.0.r", _text("fvg_reversal"), []
    ins = {1: (30, 0.1), 2: (30, 0.2), 3: (25, 0.5), 4: (5, 2.0)}  # 4 has too few trades to be chosen
    oos = {1: (10, 0.1), 2: (10, 0.3), 3: (9, -0.2), 4: (2, 1.0)}
    p = sp.propose_path(text, "fvg_reversal", "2", "EURUSD", path, [1, 2, 3, 4], 0, 1000,
                        _fake_sweep(path, ins, oos, seen), ["2"])
    assert seen == [(0, 700), (700, 1000)]
    assert p.change is None and not p.proposed_text
    assert p.message.startswith("no proposal") and "worse out-of-sample" in p.message
    assert p.in_sample["proposed"]["expectancy_r"] == 0.5 and p.out_of_sample["proposed"]["expectancy_r"] == -0.2
    oos[3] = (9, 0.3)  # not worse out of sample: proposed
    p = sp.propose_path(text, "fvg_reversal", "2", "EURUSD", path, [1, 2, 3, 4], 0, 1000,
                        _fake_sweep(path, ins, oos, []), ["2"])
    assert p.proposed_value == 3 and p.proposed_version == "3" and p.kind == "sweep:targets.0.first_of.0.r"
    assert "-      - r: 2" in p.yaml_diff and "+      - r: 3" in p.yaml_diff
    with build_core() as core:
        assert not (core.rules.user_dir / "fvg_reversal").exists()
        saved = core.learning.accept(p)
        assert saved == core.rules.user_dir / "fvg_reversal" / "v3.yaml"
        stored = core.rules.resolve("fvg_reversal")
        assert stored.version.version == "3" and stored.rule.targets[0].first_of[0].r == 3


def test_too_few_trades_says_so() -> None:
    path, seen = "steps.0.min_size.pips", []
    table = {0.25: (4, 0.5), 0.5: (3, 0.1), 0.75: (2, 1.0), 1.0: (1, -1.0)}
    p = sp.propose_path(_text("ib_raid"), "ib_raid", "1", "EURUSD", path, list(table), 0, 1000,
                        _fake_sweep(path, table, table, seen), ["1"])
    assert p.change is None and p.message.startswith("no proposal: too few trades in-sample")
    assert "the current one has 3" in p.message


def test_on_the_real_eurusd_the_figures_are_the_sweeps_own_and_nothing_is_stored(eurusd_store) -> None:
    from ita_desktop.cli.core_factory import build_core
    from ita_desktop.rules.schema import Rule

    with build_core() as core:
        proposals = core.learning.propose_sweeps("fvg_reversal", "EURUSD")
        assert [p.path for p in proposals] == list(sp.candidate_grid(_text("fvg_reversal")))
        assert not (core.rules.user_dir / "fvg_reversal").exists()  # proposing stored nothing
        for p in proposals:
            a, b = p.in_sample_range
            assert p.out_of_sample_range[0] == b and a < b < p.out_of_sample_range[1]
            item = f"{p.path}=" + ",".join(f"{r['value']:g}" for r in p.rows)
            ins = {r[p.path]: r for r in core.backtests.sweep_rule("fvg_reversal", "EURUSD", [item],
                                                                   start_utc=a, end_utc=b).rows}
            oos = {r[p.path]: r for r in core.backtests.sweep_rule("fvg_reversal", "EURUSD", [item], start_utc=b,
                                                                   end_utc=p.out_of_sample_range[1]).rows}
            for row in p.rows:
                for k in sp.STAT_KEYS:
                    assert row["in_sample"][k] == sp._clean(ins[row["value"]][k])
                    assert row["out_of_sample"][k] == sp._clean(oos[row["value"]][k])
            if p.proposed_text:
                new, _, _ = parse_yaml(p.proposed_text, "proposal")
                Rule.model_validate(new)
                old, _, _ = parse_yaml(_text("fvg_reversal"), "rule")
                assert {**set_path(old, p.path, p.proposed_value), "version": new["version"]} == new
            else:
                assert p.message.startswith("no proposal")


def test_ita_learn_propose_lists_the_sweep_proposals_with_their_kind(eurusd_store, capsys) -> None:
    assert main(["learn", "propose", "ib_raid", "--symbol", "EURUSD", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "weekday" and set(out["stats_in_sample"]) == {"weekday", "session", "step1_size_atr"}
    kinds = [p["kind"] for p in out["proposals"]]
    assert kinds == ["weekday", "sweep:steps.0.min_size.pips"]
    sweep = out["proposals"][1]
    assert [r["value"] for r in sweep["rows"]] == [0.25, 0.5, 0.75, 1.0]
    assert sweep["objective"] == "expectancy_r" and out["accepted"] is None
    assert (sweep["change"] is None) == sweep["message"].startswith("no proposal")
    # on these seven weeks 0.25 pips wins in-sample (16 trades, +0.58R) but loses out-of-sample: said so
    assert sweep["change"] is None and "better in-sample but worse out-of-sample" in sweep["message"]


def test_accept_needs_a_choice_when_there_are_several(ita_home) -> None:
    from ita_desktop.cli.learn_cmd import _choose
    from ita_desktop.domain.errors import InputError

    a = SimpleNamespace(kind="weekday", proposed_text="x", message="")
    b = SimpleNamespace(kind="sweep:targets.0.r", proposed_text="y", message="")
    c = SimpleNamespace(kind="sweep:steps.1.within.bars", proposed_text="", message="no proposal: z")
    with pytest.raises(InputError, match=r"several proposals; name one: 1 \(weekday\), 2 \(sweep:targets.0.r\)"):
        _choose([a, b, c], "")
    assert _choose([a, b, c], "2") is b and _choose([a, b, c], "sweep:targets.0.r") is b
    assert _choose([a, c], "") is a and _choose([c], "") is None
    with pytest.raises(InputError, match="has no proposal"):
        _choose([a, b, c], "3")
    with pytest.raises(InputError, match="no such proposal"):
        _choose([a, b, c], "sweep:risk.percent")


def test_ita_learn_propose_prints_each_value_in_and_out_of_sample(eurusd_store, capsys) -> None:
    assert main(["learn", "propose", "ib_raid", "--symbol", "EURUSD"]) == 0
    out = capsys.readouterr().out
    assert "[1] weekday: " in out and "[2] sweep:steps.0.min_size.pips: " in out
    for v in ("0.25", "0.5", "0.75", "1"):
        assert f"steps.0.min_size.pips = {v:<6} in-sample: " in out
    assert "objective expectancy_r, at least 10 in-sample trades" in out


def test_ita_learn_propose_accept_with_nothing_to_accept_stores_nothing(eurusd_store, capsys) -> None:
    from ita_desktop.cli.core_factory import build_core

    assert main(["learn", "propose", "ib_raid", "--symbol", "EURUSD", "--accept", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert not any(p["change"] for p in out["proposals"]) and out["accepted"] is None
    assert main(["learn", "propose", "ib_raid", "--symbol", "EURUSD", "--no-sweeps", "--accept"]) == 0
    assert "nothing to accept" in capsys.readouterr().err  # plain --accept as before
    assert main(["learn", "propose", "ib_raid", "--symbol", "EURUSD", "--accept", "sweep:steps.0.min_size.pips"]) == 1
    assert "there is no proposal to accept" in capsys.readouterr().err
    with build_core() as core:
        assert not (core.rules.user_dir / "ib_raid").exists()
