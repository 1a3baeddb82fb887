"""The broken-rules corpus: every file's problems, each pinned as ``line:col: message``.

The table is written by hand: each position and message was checked against the file. A
file added to the corpus without an entry here fails ``test_every_corpus_file_is_pinned``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ita_desktop.rules.rule_issues import RuleValidationError
from ita_desktop.rules.loader import load_rule, rule_files, validate_file

CORPUS = Path(__file__).parent / "data" / "broken_rules"

EXPECTED: dict[str, list[str]] = {
    # unknown keys, with and without a close match, and on the wrong kind of step
    "unknown_top_key.yaml": [
        "2:1: missing required key 'entry' in the rule",
        "17:1: unknown key 'entyr' in the rule (did you mean 'entry'?)",
    ],
    "unknown_step_key.yaml": ["16:5: unknown key 'againts' in steps[1] (did you mean 'against'?)"],
    "key_on_wrong_step.yaml": [
        "17:5: unknown key 'levels' in steps[1]: it is not allowed on a choch step (only on sweep)",
    ],
    "unknown_key_no_hint.yaml": ["22:3: unknown key 'trailing' in stop; expected one of beyond, atr, pips, points, buffer"],
    # wrong types and values
    "wrong_type_int.yaml": ["17:20: steps[1].within.bars: expected a whole number, got 'twelve'"],
    "wrong_type_mapping.yaml": ["20:7: stop: expected a mapping of keys, got 'sweep'"],
    "wrong_literal.yaml": [
        "18:10: entry.order: expected one of market, limit, stop, got 'limt' (did you mean 'limit'?)",
    ],
    "bad_timeframe.yaml": [
        "9:14: market.timeframe: expected one of M1, M5, M15, M30, H1, H4, D1, W1, MN1, got 'm5'",
    ],
    "risk_over_100.yaml": ["25:12: risk.percent: expected a number of at most 100, got 150"],
    "target_r_zero.yaml": ["23:8: targets[0].r: expected a number greater than 0, got 0"],
    "session_not_hhmm.yaml": [
        "11:14: market.sessions.london[0]: expected a time of day as HH:MM (00:00 to 24:00), got '2am'",
    ],
    "unknown_event.yaml": [
        "15:12: steps[1]: unknown event 'chosh' (did you mean 'choch'?); expected one of sweep, bos, choch, fvg, "
        "order_block, displacement, retest, time",
    ],
    # missing required keys
    "missing_required.yaml": ["2:1: missing required key 'risk' in the rule"],
    "missing_instrument_key.yaml": ["8:5: missing required key 'point_value' in market.symbols.EURUSD"],
    "entry_without_direction.yaml": ["17:1: entry needs one of direction, with, against"],
    "limit_without_zone.yaml": ["17:1: a limit entry needs entry.zone"],
    # references between steps
    "unknown_step_ref.yaml": [
        "16:14: steps[1].against refers to step 'swep', which does not exist (did you mean 'sweep'?)",
    ],
    "later_step_ref.yaml": [
        "14:11: steps[0].with refers to a later step 'choch'; it can only refer to a step before it",
    ],
    "duplicate_step_name.yaml": [
        "14:11: duplicate step name 'sweep' (also step 1)",
        "19:9: entry.with refers to step 'choch', which does not exist; steps: sweep",
    ],
    "within_first_step.yaml": [
        "14:5: the first step has no previous step to count from; give within.after or remove within",
    ],
    "formed_between_order.yaml": [
        "19:29: formed_between needs the earlier step first: 'sweep' does not come after 'choch'",
    ],
    # levels and sessions
    "unknown_level.yaml": ["13:25: unknown level 'asai.low' (did you mean 'asia.low'?)"],
    "unsweepable_level.yaml": [
        "13:25: level 'ny_open' has no liquidity side and cannot be swept; sweep a high or a low",
    ],
    "unknown_session.yaml": [
        "14:14: unknown session 'londn' (did you mean 'london'?); expected one of asia, london, ny_am, ny_pm, ib",
    ],
    # impossible combinations
    "limit_at_no_zone.yaml": [
        "20:9: entry.zone step 'sweep' is a sweep step, which has no zone; a limit entry needs an fvg, "
        "order_block or retest step",
    ],
    "market_expiry.yaml": ["20:3: entry.expiry is only for limit or stop entries, not market"],
    "two_directions.yaml": [
        "20:3: 'with' and 'against' cannot be used together; give one of direction, with, against",
    ],
    "size_two_units.yaml": ["14:25: 'pips' and 'points' cannot be used together; give one of atr, pips, points"],
    "stop_beyond_time.yaml": ["24:11: stop.beyond step 'open' is a time step, which has no price extreme"],
    "opposite_not_sweep.yaml": ["23:15: opposite needs a sweep step; 'choch' is a choch step"],
    "partials_over_100.yaml": ["26:12: partial closes add up to 110% at this target; they may not exceed 100%"],
    "break_even_never.yaml": [
        "25:20: break_even_at_r 2 is not below the furthest target (2R); it can never apply",
    ],
    "timeframe_below_data.yaml": [
        "9:14: timeframe M5 is below the data timeframe M15; a setup cannot run on bars finer than the data",
    ],
    "bias_not_higher.yaml": ["10:21: bias timeframe M1 must be above the setup timeframe M5"],
    "pip_below_point.yaml": ["8:40: pip_size 1e-06 is smaller than the point 1e-05; a pip is one or more points"],
    # detector parameters are checked by the detectors' own DetectorParams.from_dict
    "bad_detector_param.yaml": [
        "25:3: detectors.swings: unknown swings parameter(s) ['lenght']; expected some of ['length', 'ties']",
    ],
    "bad_detector_group.yaml": [
        "25:3: unknown detector group 'swing' (did you mean 'swings'?); expected one of swings, structure, fvg, "
        "order_blocks, displacement, equal, sweeps, atr_length",
    ],
    # the path rules/<rule_id>/v<version>.yaml must agree with the file
    "mismatch/v2.yaml": [
        "2:10: rule_id 'broken' does not match its folder 'mismatch'",
        "3:10: version '1' does not match the file name v2.yaml",
    ],
    # YAML itself
    "yaml_syntax.yaml": ["17:6: YAML syntax error: expected ',' or ']', but got ':' (while parsing a flow sequence)"],
    "yaml_tab.yaml": [
        "18:1: YAML syntax error: found character '\\t' that cannot start any token (while scanning for the next token)",
    ],
    "duplicate_key.yaml": ["20:3: duplicate key 'with' (first written at line 19)"],
    "empty_file.yaml": ["1:1: the file is empty; expected a rule (a mapping of keys)"],
    "not_a_mapping.yaml": ["1:1: expected a rule (a mapping of keys), got a list"],
    # several faults in one file: all reported, in reading order
    "many_errors.yaml": [
        "3:1: unknown key 'colour' in the rule; expected one of rule_id, version, name, description, market, "
        "steps, entry, stop, targets, management, filters, risk, detectors",
        "17:14: steps[1].against refers to step 'nothing', which does not exist; earlier steps: sweep",
        "24:8: targets[0].r: expected a number greater than 0, got -1",
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_rule_reports_exactly_the_pinned_problems(name: str) -> None:
    path = CORPUS / name
    rule, issues = validate_file(path)
    assert rule is None
    assert [f"{i.line}:{i.column}: {i.message}" for i in issues] == EXPECTED[name]
    assert all(i.file == str(path) for i in issues)


def test_every_corpus_file_is_pinned() -> None:
    files = {p.relative_to(CORPUS).as_posix() for p in rule_files([CORPUS])}
    assert len(files) >= 20
    assert files == set(EXPECTED)


def test_load_rule_raises_one_error_carrying_every_issue() -> None:
    path = CORPUS / "many_errors.yaml"
    with pytest.raises(RuleValidationError) as info:
        load_rule(path)
    assert [(i.line, i.column) for i in info.value.issues] == [(3, 1), (17, 14), (24, 8)]
    assert str(info.value).splitlines()[1] == (
        f"{path}:17:14: steps[1].against refers to step 'nothing', which does not exist; earlier steps: sweep"
    )
