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
        if path.startswith(sp.SESSIONS_PATH):  # a killzone a step names: its window first, then narrower ones
            name = path[len(sp.SESSIONS_PATH):]
            assert any(s.get("session") == name for s in data["steps"]) and len(values) >= 2
            assert values[0] == sp.current_value(text, path)
            continue
        assert path in own and own[path] in values and len(values) >= 2
        assert path.endswith(sp.CANDIDATE_ENDINGS)
    named = {s.get("session") for s in data["steps"]} - {None, "ib"}
    assert {p[len(sp.SESSIONS_PATH):] for p in grid if p.startswith(sp.SESSIONS_PATH)} == named
    if rule_id == "fvg_reversal":
        assert "steps.2.min_size.atr" in grid and "targets.0.first_of.0.r" in grid
        assert grid["steps.1.within.bars"] == [6, 9, 12, 18]  # narrower windows first


def _rows(path: str, table: dict) -> list[dict]:
    return [{path: v, "trades": n, "win_rate": 0.5, "expectancy_r": e, "profit_factor": 1.0, "net_pnl": 0.0}
            for v, (n, e) in table.items()]


EDGES = [(0, 300, 400), (400, 700, 800), (800, 1100, 1200)]  # part_edges(0, 1200, 3, 0.25)


def _fake_sweep(path: str, ins, oos, seen: list):
    """Each part's in-sample window answers ``ins`` (a table, or a list of one table per part), the rest ``oos``."""
    def sweep(grid: dict, start: int, end: int) -> list[dict]:
        assert list(grid) == [path]
        seen.append((start, end))
        is_windows = [(a, b) for a, b, _ in EDGES]
        table = ins if (start, end) in is_windows else oos
        if isinstance(table, list):
            table = table[[w[0] for w in EDGES].index(start) if (start, end) in is_windows else
                          [w[1] for w in EDGES].index(start)]
        return _rows(path, table)
    return sweep


def test_walk_forward_parts_are_the_machinerys_and_each_part_chooses_in_sample() -> None:
    from ita_desktop.workflows.walk_forward import part_edges

    assert part_edges(0, 1200, sp.WALK_FORWARD_PARTS, sp.OOS_FRACTION) == EDGES
    path, seen = "targets.0.first_of.0.r", []
    ins = [{1: (5, 0.1), 2: (5, 0.6), 3: (3, 2.0)},  # 3 has too few trades in a part (< 4) to be chosen there
           {1: (5, 0.1), 2: (5, 0.2), 3: (5, 0.5)},
           {1: (5, 0.1), 2: (5, 0.4), 3: (5, 0.3)}]
    oos = {1: (2, 0.1), 2: (2, 0.3), 3: (2, 0.2)}
    p = sp.propose_path(_text("fvg_reversal"), "fvg_reversal", "2", "EURUSD", path, [1, 2, 3], 0, 1200,
                        _fake_sweep(path, ins, oos, seen), ["2"])
    assert seen == [(0, 300), (300, 400), (400, 700), (700, 800), (800, 1100), (1100, 1200)]
    assert [w["chosen"] for w in p.walk_forward] == [2, 3, 2]  # 2, chosen most often, is the rule's own
    assert p.proposed_value is None and "already the best in-sample (chosen in 2 of 3 walk-forward parts)" in p.message
    assert [w["in_sample"] for w in p.walk_forward] == [[0, 300], [400, 700], [800, 1100]]
    assert p.walk_forward[1]["in"]["chosen"]["expectancy_r"] == 0.5 and p.walk_forward[1]["out"]["chosen"]["trades"] == 2
    # the walk-forward's own figures: each part's choice on its windows, added up
    assert p.walk_forward_result["in_sample"]["trades"] == 15
    assert p.walk_forward_result["in_sample"]["total_r"] == pytest.approx(5 * 0.6 + 5 * 0.5 + 5 * 0.4)
    assert p.walk_forward_result["out_of_sample"]["expectancy_r"] == pytest.approx((0.3 + 0.2 + 0.3) / 3)
    two = next(r for r in p.rows if r["value"] == 2)
    assert two["in_sample"]["trades"] == 15 and two["in_sample"]["expectancy_r"] == pytest.approx((3 + 1 + 2) / 15)
    assert p.in_sample["current"]["trades"] == 15 and p.out_of_sample["proposed"]["trades"] == 6


def test_a_value_better_in_sample_but_worse_out_of_sample_is_not_proposed(ita_home) -> None:
    from ita_desktop.cli.core_factory import build_core

    path, text, seen = "targets.0.first_of.0.r", _text("fvg_reversal"), []
    ins = {1: (10, 0.1), 2: (10, 0.2), 3: (9, 0.5), 4: (2, 2.0)}  # 4 has too few trades to be chosen
    oos = {1: (3, 0.1), 2: (3, 0.3), 3: (3, -0.2), 4: (1, 1.0)}
    p = sp.propose_path(text, "fvg_reversal", "2", "EURUSD", path, [1, 2, 3, 4], 0, 1200,
                        _fake_sweep(path, ins, oos, seen), ["2"])
    assert len(seen) == 6 and p.parts == 3
    assert p.change is None and not p.proposed_text
    assert p.message.startswith("no proposal") and "worse out-of-sample" in p.message
    assert p.in_sample["proposed"]["expectancy_r"] == pytest.approx(0.5)
    assert p.out_of_sample["proposed"]["expectancy_r"] == pytest.approx(-0.2)
    oos[3] = (3, 0.3)  # not worse out of sample: proposed
    p = sp.propose_path(text, "fvg_reversal", "2", "EURUSD", path, [1, 2, 3, 4], 0, 1200,
                        _fake_sweep(path, ins, oos, []), ["2"])
    assert p.proposed_value == 3 and p.proposed_version == "3" and p.kind == "sweep:targets.0.first_of.0.r"
    assert "-      - r: 2" in p.yaml_diff and "+      - r: 3" in p.yaml_diff
    assert "chosen in 3 of 3 walk-forward parts" in p.change
    with build_core() as core:
        assert not (core.rules.user_dir / "fvg_reversal").exists()
        saved = core.learning.accept(p)
        assert saved == core.rules.user_dir / "fvg_reversal" / "v3.yaml"
        stored = core.rules.resolve("fvg_reversal")
        assert stored.version.version == "3" and stored.rule.targets[0].first_of[0].r == 3


def test_a_narrower_killzone_is_proposed_as_a_session_window(ita_home) -> None:
    from ita_desktop.cli.core_factory import build_core
    from ita_desktop.rules.schema import Rule

    text = _text("asia_sweep")  # names `session: london` without spelling its window (the default 02:00-05:00)
    grid = sp.candidate_grid(text)
    path = "market.sessions.london"
    assert grid[path] == [["02:00", "05:00"], ["02:45", "05:00"], ["02:00", "04:15"], ["02:45", "04:15"]]
    assert sp.candidate_grid(_text("ib_raid"))["market.sessions.ny_day"][0] == ["10:30", "15:00"]  # its own window
    ins = {("02:00", "05:00"): (10, 0.1), ("02:45", "05:00"): (10, 0.4), ("02:00", "04:15"): (8, 0.2),
           ("02:45", "04:15"): (6, 0.3)}
    oos = {("02:00", "05:00"): (3, 0.0), ("02:45", "05:00"): (3, 0.2), ("02:00", "04:15"): (3, 0.1),
           ("02:45", "04:15"): (2, 0.1)}

    def sweep(g: dict, start: int, end: int) -> list[dict]:
        table = ins if (start, end) in [(a, b) for a, b, _ in EDGES] else oos
        return [{path: list(v), "trades": table[tuple(v)][0], "win_rate": 0.5, "expectancy_r": table[tuple(v)][1],
                 "profit_factor": 1.0, "net_pnl": 0.0} for v in g[path]]

    p = sp.propose_path(text, "asia_sweep", "1", "EURUSD", path, grid[path], 0, 1200, sweep, ["1"])
    assert p.current_value == ["02:00", "05:00"] and p.proposed_value == ["02:45", "05:00"]
    assert 'london: ["02:45", "05:00"]' in p.yaml_diff and "+  sessions:" in p.yaml_diff
    new, _, _ = parse_yaml(p.proposed_text, "proposal")
    rule = Rule.model_validate(new)
    assert rule.market.windows()["london"] == ("02:45", "05:00") and rule.version == "2"
    again = sp.set_window(p.proposed_text, "london", ["03:00", "04:00"])  # an existing entry: replaced in place
    assert Rule.model_validate(parse_yaml(again, "x")[0]).market.windows()["london"] == ("03:00", "04:00")
    assert again.count("london:") == 1
    with build_core() as core:
        saved = core.learning.accept(p)
        assert core.rules.resolve("asia_sweep").rule.market.windows()["london"] == ("02:45", "05:00")
        assert saved.name == "v2.yaml"


def test_too_few_trades_says_so() -> None:
    path, seen = "steps.0.min_size.pips", []
    table = {0.25: (3, 0.5), 0.5: (3, 0.1), 0.75: (2, 1.0), 1.0: (1, -1.0)}
    p = sp.propose_path(_text("ib_raid"), "ib_raid", "1", "EURUSD", path, list(table), 0, 1200,
                        _fake_sweep(path, table, table, seen), ["1"])
    assert p.change is None and p.message.startswith("no proposal: too few trades in-sample")
    assert "the current one has 9 over all of them" in p.message


def test_on_the_real_eurusd_the_figures_are_the_walk_forward_sweeps_own_and_nothing_is_stored(eurusd_store) -> None:
    from ita_desktop.cli.core_factory import build_core
    from ita_desktop.rules.schema import Rule
    from ita_desktop.workflows.walk_forward import walk_forward_rule

    with build_core() as core:
        runs_before = len(core.store.runs.list()) if hasattr(core.store.runs, "list") else None
        proposals = core.learning.propose_sweeps("ib_raid", "EURUSD")
        assert [p.path for p in proposals] == list(sp.candidate_grid(_text("ib_raid")))
        assert not (core.rules.user_dir / "ib_raid").exists()  # proposing stored nothing
        if runs_before is not None:
            assert len(core.store.runs.list()) == runs_before
        p = next(p for p in proposals if p.path == "steps.0.min_size.pips")
        grid = {p.path: [r["value"] for r in p.rows]}
        for w in p.walk_forward:  # each part's figures are the sweep's own on its windows
            (a, b), (_, c) = w["in_sample"], w["out_of_sample"]
            ins = {r[p.path]: r for r in core.backtests.sweep_rule("ib_raid", "EURUSD", grid, start_utc=a,
                                                                   end_utc=b).rows}
            oos = {r[p.path]: r for r in core.backtests.sweep_rule("ib_raid", "EURUSD", grid, start_utc=b,
                                                                   end_utc=c).rows}
            for k in sp.STAT_KEYS:
                assert w["in"]["current"][k] == sp._clean(ins[p.current_value][k])
                assert w["out"]["current"][k] == sp._clean(oos[p.current_value][k])
        total = {r["value"]: r["in_sample"]["trades"] for r in p.rows}
        assert total[p.current_value] == sum(w["in"]["current"]["trades"] for w in p.walk_forward)
        # the same parts and (where a value has enough trades) the same choices as `ita sweep --walk-forward 3`
        first, end = p.in_sample_range[0], p.out_of_sample_range[1]
        wf = walk_forward_rule(core.store, "ib_raid", "EURUSD", grid, 3, start_utc=first, end_utc=end)
        assert [list(x.in_sample) for x in wf.parts] == [w["in_sample"] for w in p.walk_forward]
        for x, w in zip(wf.parts, p.walk_forward):
            if x.in_run.stats.to_dict()["summary"]["trades"] >= sp.part_min_trades(3):
                assert w["chosen"] == x.params[p.path]
                assert w["out"]["chosen"]["trades"] == x.out_run.stats.to_dict()["summary"]["trades"]
        for q in proposals:
            if q.proposed_text:
                new, _, _ = parse_yaml(q.proposed_text, "proposal")
                Rule.model_validate(new)
            else:
                assert q.message.startswith("no proposal")


def test_ita_learn_propose_lists_the_sweep_proposals_with_their_kind(eurusd_store, capsys) -> None:
    assert main(["learn", "propose", "ib_raid", "--symbol", "EURUSD", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "weekday" and set(out["stats_in_sample"]) == {"weekday", "session", "step1_size_atr"}
    kinds = [p["kind"] for p in out["proposals"]]
    assert kinds == ["weekday", "sweep:steps.0.min_size.pips", "sweep:market.sessions.ny_day"]
    sweep = out["proposals"][1]
    assert [r["value"] for r in sweep["rows"]] == [0.25, 0.5, 0.75, 1.0]
    assert sweep["objective"] == "expectancy_r" and out["accepted"] is None
    assert (sweep["change"] is None) == sweep["message"].startswith("no proposal")
    for field in ("in_sample_range", "out_of_sample_range", "rows", "in_sample", "out_of_sample", "yaml_diff",
                  "proposed_version", "current_value", "min_trades"):  # the earlier fields are kept
        assert field in sweep
    assert sweep["parts"] == 3 and len(sweep["walk_forward"]) == 3
    assert set(sweep["walk_forward_result"]) == {"in_sample", "out_of_sample"}
    # on these seven weeks 0.25 pips wins two of the three parts in-sample, but over the parts' in-sample windows
    # it does not beat 0.5: said so
    assert [w["chosen"] for w in sweep["walk_forward"]] == [0.25, 0.25, 0.5]
    assert sweep["change"] is None and "beats the current 0.5 in-sample" in sweep["message"]
    killzone = out["proposals"][2]
    assert killzone["current_value"] == ["10:30", "15:00"] and killzone["rows"][1]["value"] == ["11:30", "15:00"]
    assert killzone["change"] is None and killzone["message"].startswith("no proposal")
    assert main(["learn", "propose", "ib_raid", "--symbol", "EURUSD", "--walk-forward", "2", "--json"]) == 0
    two = json.loads(capsys.readouterr().out)["proposals"][1]
    assert two["parts"] == 2 and [w["part"] for w in two["walk_forward"]] == [1, 2]
    assert main(["learn", "propose", "ib_raid", "--symbol", "EURUSD", "--walk-forward", "1"]) == 1
    assert "--walk-forward needs at least 2 parts" in capsys.readouterr().err


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
    assert "market.sessions.ny_day = 11:30-15:00 in-sample: " in out
    assert "objective expectancy_r, at least 10 in-sample trades" in out
    assert "walk-forward in 3 parts from " in out and "part 2/3 " in out and "chose 0.25" in out
    assert "  walk-forward         in-sample: " in out


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
