"""The four seed setups in rules/: each loads, and says what its description promises."""

from __future__ import annotations


import pytest

from ita_desktop.detectors.objects import LevelKind
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.rules.loader import load_rule, repo_rules_dir, rule_files
from ita_desktop.rules.vocabulary import resolve_level

SEEDS = {
    "asia_sweep": "1",
    "ib_raid": "1",
    "fvg_reversal": "2",
    "Frank_raid": "1.2",
}


@pytest.mark.parametrize("rule_id,version", sorted(SEEDS.items()))
def test_seed_rule_loads_and_matches_its_path(rule_id: str, version: str) -> None:
    loaded = load_rule(repo_rules_dir() / rule_id / f"v{version}.yaml")
    assert (loaded.rule.rule_id, loaded.rule.version) == (rule_id, version)
    assert (loaded.version.rule_id, loaded.version.version) == (rule_id, version)
    assert len(loaded.version.content_hash) == 64
    assert len(loaded.rule.description.split()) >= 30  # the idea, in words


def test_the_rules_folder_holds_exactly_the_seeds() -> None:
    found = {(p.parent.name, p.stem[1:]) for p in rule_files([repo_rules_dir()])}
    assert found == set(SEEDS.items())


def _load(rule_id: str):
    return load_rule(repo_rules_dir() / rule_id / f"v{SEEDS[rule_id]}.yaml").rule


def test_asia_sweep_is_a_london_raid_of_asia_then_choch_against_then_fvg_entry() -> None:
    rule = _load("asia_sweep")
    sweep, choch, fvg = rule.steps
    assert (sweep.event, sweep.levels, sweep.session) == ("sweep", ["asia.high", "asia.low"], "london")
    # a sweep of the high is bearish (docs/rules.md), so the CHOCH away from the raid is WITH the sweep
    assert (choch.event, choch.with_, rule.market.timeframe) == ("choch", "sweep", Timeframe.M5)
    assert (fvg.event, fvg.formed_between) == ("fvg", ("sweep", "choch"))
    assert (rule.entry.order, rule.entry.zone, rule.stop.beyond) == ("limit", "fvg", "sweep")
    [target] = rule.targets
    assert [(t.opposite, t.r) for t in target.first_of] == [("sweep", None), (None, 2)]


def test_ib_raid_enters_on_the_return_and_targets_the_mid_then_the_other_side() -> None:
    rule = _load("ib_raid")
    [raid] = rule.steps
    assert raid.levels == ["ib.high", "ib.low"] and rule.entry.order == "market"
    assert [(t.level, t.opposite, t.close) for t in rule.targets] == [("ib.mid", None, 50), (None, "raid", None)]
    assert rule.market.windows()["ib"] == ("09:30", "10:30")


def test_fvg_reversal_enters_at_the_ce_after_a_previous_day_sweep() -> None:
    rule = _load("fvg_reversal")
    assert rule.steps[0].levels == ["pdh", "pdl"]
    assert (rule.steps[1].event, rule.steps[1].with_) == ("displacement", "sweep")
    assert (rule.entry.zone, rule.entry.at, rule.stop.beyond) == ("fvg", "ce", "sweep")
    assert rule.targets[0].first_of[0].r == 2


def test_frank_raid_raids_the_prior_session_in_ny_am_and_retests_the_order_block() -> None:
    rule = _load("Frank_raid")
    raid, shift, ob = rule.steps
    # the break the other way right after a raid is a CHOCH in the detectors' terms (see the rule)
    assert (raid.session, shift.event, ob.event) == ("ny_am", "choch", "order_block")
    assert (rule.entry.order, rule.entry.zone, rule.management.close_at) == ("limit", "ob", "11:00")
    ref = resolve_level("prior_session.high", rule.market.windows())
    assert ref.latest_session and LevelKind.LONDON_HIGH in ref.kinds and ref.side == 1
